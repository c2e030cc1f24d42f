//===- TrainingPlot.h - An SVG report of a training run ---------*- C++ -*-===//
//
// One standalone SVG file, no dependencies: the loss (and weighted aux loss)
// over the steps, and below it a heatmap of how much each head (expert) is
// used over time, the routing collapse that aux losses exist to prevent.
//
//===----------------------------------------------------------------------===//

#ifndef MOA_RUNTIME_TRAIN_TRAININGPLOT_H
#define MOA_RUNTIME_TRAIN_TRAININGPLOT_H

#include <cstdint>
#include <string>
#include <vector>

namespace moa::train {

struct TrainingHistory {
  std::vector<int64_t> steps;  // step number of each record
  std::vector<double> loss;    // main loss per record
  std::vector<double> auxLoss; // weighted aux loss per record (may be empty)
  // Per record: the fraction of (token, slot) assignments that went to each
  // expert (E values; may be empty).
  std::vector<std::vector<double>> headUsage;
  std::string title;
};

/// Writes `history` to `path` as SVG: a line chart of the loss (and aux
/// loss) over the steps with labelled axes and ticks, and, if there is head
/// usage, a heatmap of it (x: step, y: head, colour: fraction) with a colour
/// legend. Non-finite losses are skipped and counted in the chart; more
/// records than 400 are averaged into 400 heatmap columns. Returns false and
/// sets `error` if the series have inconsistent lengths or the file cannot
/// be written.
bool writeTrainingSvg(const std::string &path, const TrainingHistory &history,
                      std::string &error);

} // namespace moa::train

#endif // MOA_RUNTIME_TRAIN_TRAININGPLOT_H
