//===- TrainingPlot.cpp - An SVG report of a training run -----------------===//

#include "runtime/train/TrainingPlot.h"
#include "runtime/AtomicFile.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace moa::train {

namespace {
// Both plots share the left edge and width, so their step axes line up.
constexpr double kLeft = 80, kWidth = 680, kTop = 60, kChartHeight = 260;
constexpr double kSvgWidth = kLeft + kWidth + 130;
// Beyond this many records, heatmap columns average several: one rectangle
// per record and head would make the file huge for no visible gain.
constexpr size_t kMaxColumns = 400;
const char *const kSeriesColour[2] = {"#1f77b4", "#ff7f0e"};
const char *const kSeriesName[2] = {"loss", "aux loss (weighted)"};

std::string format(const char *pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}
std::string at(double coordinate) { return format("%.1f", coordinate); }
std::string label(double value) { return format("%.4g", value); }

std::string escapeXml(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '&' || c == '<' || c == '>' || c == '"')
      out += c == '&'   ? "&amp;"
             : c == '<' ? "&lt;"
             : c == '>' ? "&gt;"
                        : "&quot;";
    else if (static_cast<unsigned char>(c) >= 0x20 || c == '\t')
      out += c; // other control characters are not allowed in XML 1.0
  }
  return out;
}

void line(std::ostringstream &svg, double x1, double y1, double x2, double y2,
          const std::string &stroke) {
  svg << "<line x1=\"" << at(x1) << "\" y1=\"" << at(y1) << "\" x2=\"" << at(x2)
      << "\" y2=\"" << at(y2) << "\" stroke=\"" << stroke << "\"/>";
}

void text(std::ostringstream &svg, double x, double y,
          const std::string &content, const std::string &attributes = "") {
  svg << "<text x=\"" << at(x) << "\" y=\"" << at(y) << "\" " << attributes
      << ">" << escapeXml(content) << "</text>\n";
}

/// About `count` ticks in [lo, hi], at 1, 2 or 5 times a power of ten; only
/// whole numbers if `integral` (steps, record indices).
std::vector<double> niceTicks(double lo, double hi, int count,
                              bool integral = false) {
  if (!(hi > lo))
    return {lo};
  const double raw = (hi - lo) / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double ratio = raw / magnitude;
  const double step = magnitude * (ratio < 1.5   ? 1
                                   : ratio < 3.5 ? 2
                                   : ratio < 7.5 ? 5
                                                 : 10);
  std::vector<double> ticks;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9;
       ++k)
    if (!integral || k * step == std::floor(k * step))
      ticks.push_back(k == 0 ? 0.0 : k * step); // no "-0"
  return ticks;
}

/// Viridis, interpolated between five stops; `f` in [0, 1].
std::string colour(double f) {
  static const int kStops[5][3] = {{68, 1, 84},
                                   {59, 82, 139},
                                   {33, 145, 140},
                                   {94, 201, 98},
                                   {253, 231, 37}};
  f = std::clamp(f, 0.0, 1.0) * 4;
  const int i = std::min(int(f), 3);
  int rgb[3];
  for (int c = 0; c < 3; ++c)
    rgb[c] = int(std::lround(kStops[i][c] +
                             (f - i) * (kStops[i + 1][c] - kStops[i][c])));
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buffer;
}

/// The frame of a plot, its axis names, and its ticks: `xTicks` as (x,
/// label) pairs, `yTicks` as (y, label) pairs, with grid lines if `grid`.
void axes(std::ostringstream &svg, double top, double height,
          const std::string &xName, const std::string &yName,
          const std::vector<std::pair<double, std::string>> &xTicks,
          const std::vector<std::pair<double, std::string>> &yTicks,
          bool grid) {
  const double bottom = top + height;
  for (const auto &[y, name] : yTicks) {
    if (grid)
      line(svg, kLeft, y, kLeft + kWidth, y, "#dddddd");
    line(svg, kLeft - 5, y, kLeft, y, "black");
    text(svg, kLeft - 8, y + 4, name, "text-anchor=\"end\"");
  }
  for (const auto &[x, name] : xTicks) {
    line(svg, x, bottom, x, bottom + 5, "black");
    text(svg, x, bottom + 18, name, "text-anchor=\"middle\"");
  }
  svg << "<rect x=\"" << at(kLeft) << "\" y=\"" << at(top) << "\" width=\""
      << at(kWidth) << "\" height=\"" << at(height)
      << "\" fill=\"none\" stroke=\"black\"/>\n";
  text(svg, kLeft + kWidth / 2, bottom + 36, xName, "text-anchor=\"middle\"");
  svg << "<text transform=\"translate(" << at(kLeft - 55) << ","
      << at(top + height / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
      << yName << "</text>\n";
}
} // namespace

bool writeTrainingSvg(const std::string &path, const TrainingHistory &history,
                      std::string &error) {
  const size_t n = history.steps.size();
  const size_t heads =
      history.headUsage.empty() ? 0 : history.headUsage[0].size();
  bool consistent =
      history.loss.size() == n &&
      (history.auxLoss.empty() || history.auxLoss.size() == n) &&
      (history.headUsage.empty() || history.headUsage.size() == n);
  for (const std::vector<double> &row : history.headUsage)
    consistent = consistent && row.size() == heads;
  if (!consistent) {
    error =
        "training report '" + path + "': the history's series differ in length";
    return false;
  }

  // The loss chart's ranges cover the finite values only.
  const std::vector<double> *series[2] = {&history.loss, &history.auxLoss};
  double xLo = 0, xHi = 0, yLo = INFINITY, yHi = -INFINITY;
  if (n) {
    auto [lo, hi] =
        std::minmax_element(history.steps.begin(), history.steps.end());
    xLo = double(*lo), xHi = double(*hi);
  }
  if (xHi == xLo)
    xLo -= 1, xHi += 1; // one record: a point in the middle
  size_t skipped[2] = {0, 0};
  for (int s = 0; s < 2; ++s)
    for (double v : *series[s])
      if (std::isfinite(v))
        yLo = std::min(yLo, v), yHi = std::max(yHi, v);
      else
        ++skipped[s];
  const bool anyFinite = yLo <= yHi;
  if (!anyFinite)
    yLo = yHi = 0.5;
  const double pad = !anyFinite  ? 0.5
                     : yHi > yLo ? (yHi - yLo) * 0.05
                                 : std::max(std::abs(yLo) * 0.1, 1e-3);
  yLo -= pad, yHi += pad;
  auto xPos = [&](double s) {
    return kLeft + (s - xLo) / (xHi - xLo) * kWidth;
  };
  auto yPos = [&](double v) {
    return kTop + (yHi - v) / (yHi - yLo) * kChartHeight;
  };

  const double heatTop = kTop + kChartHeight + 90;
  const double cell =
      std::clamp(220.0 / double(std::max<size_t>(heads, 1)), 3.0, 24.0);
  const double heatHeight = double(heads) * cell;
  const double legendHeight = std::max(heatHeight, 120.0);
  const double svgHeight =
      heads && n ? heatTop + legendHeight + 50 : kTop + kChartHeight + 60;

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << at(kSvgWidth)
      << "\" height=\"" << at(svgHeight) << "\" viewBox=\"0 0 " << at(kSvgWidth)
      << " " << at(svgHeight)
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(svg, kSvgWidth / 2, 24, history.title,
       "text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\"");
  std::string note = n == 0       ? "no records"
                     : !anyFinite ? "no finite loss values"
                                  : "";
  for (int s = 0; s < 2; ++s)
    if (skipped[s])
      note += (note.empty() ? "" : "; ") + std::string("skipped ") +
              std::to_string(skipped[s]) + " non-finite " + kSeriesName[s] +
              " value" + (skipped[s] > 1 ? "s" : "");
  if (!note.empty())
    text(svg, kSvgWidth / 2, 44, note,
         "text-anchor=\"middle\" fill=\"#c00000\"");

  std::vector<std::pair<double, std::string>> xTicks, yTicks;
  for (double t : niceTicks(xLo, xHi, 8, /*integral=*/true))
    xTicks.push_back({xPos(t), label(t)});
  for (double t : niceTicks(yLo, yHi, 6))
    yTicks.push_back({yPos(t), label(t)});
  axes(svg, kTop, kChartHeight, "step", "loss", xTicks, yTicks, true);
  for (int s = 0; s < 2; ++s) {
    const std::vector<double> &v = *series[s];
    if (v.empty())
      continue;
    std::string d;
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(v[i]))
        continue; // the line breaks around skipped values
      const bool joined = i > 0 && std::isfinite(v[i - 1]);
      const double x = xPos(double(history.steps[i])), y = yPos(v[i]);
      d += (joined ? " L" : " M") + at(x) + "," + at(y);
      // A point with no finite neighbour would not show as a line.
      if (!joined && (i + 1 == n || !std::isfinite(v[i + 1])))
        svg << "<circle cx=\"" << at(x) << "\" cy=\"" << at(y)
            << "\" r=\"3\" fill=\"" << kSeriesColour[s] << "\"/>\n";
    }
    if (!d.empty())
      svg << "<path d=\"" << d.substr(1) << "\" fill=\"none\" stroke=\""
          << kSeriesColour[s] << "\" stroke-width=\"1.5\"/>\n";
    const double y = kTop + 16 + 18 * s, x = kLeft + kWidth - 150;
    line(svg, x, y - 4, x + 22, y - 4, kSeriesColour[s]);
    text(svg, x + 28, y, kSeriesName[s]);
  }

  if (heads && n) {
    // Colours run from 0 to the largest fraction, but at least to twice the
    // uniform share, so that balanced use does not look saturated.
    const double uniform = 1.0 / double(heads);
    double top = 2 * uniform;
    for (const std::vector<double> &row : history.headUsage)
      for (double v : row)
        if (std::isfinite(v))
          top = std::max(top, v);
    text(svg, kLeft, heatTop - 10,
         "head utilisation (fraction of (token, slot) assignments)",
         "font-weight=\"bold\"");
    // Cell edges on whole pixels, so that no seams show between them.
    const size_t columns = std::min(n, kMaxColumns);
    svg << "<g shape-rendering=\"crispEdges\">\n";
    for (size_t c = 0; c < columns; ++c) {
      const double x0 = std::round(kLeft + kWidth * double(c) / columns);
      const double x1 = std::round(kLeft + kWidth * double(c + 1) / columns);
      for (size_t e = 0; e < heads; ++e) {
        double sum = 0;
        size_t count = 0;
        for (size_t i = c * n / columns; i < (c + 1) * n / columns; ++i)
          if (std::isfinite(history.headUsage[i][e]))
            sum += history.headUsage[i][e], ++count;
        const double y0 = std::round(heatTop + double(e) * cell);
        const double y1 = std::round(heatTop + double(e + 1) * cell);
        svg << "<rect x=\"" << at(x0) << "\" y=\"" << at(y0) << "\" width=\""
            << at(x1 - x0) << "\" height=\"" << at(y1 - y0) << "\" fill=\""
            << (count ? colour(sum / double(count) / top) : "#cccccc")
            << "\"/>\n";
      }
    }
    svg << "</g>\n";
    // x ticks at record indices (cell centres), labelled with their steps.
    xTicks.clear(), yTicks.clear();
    for (double t : niceTicks(0, double(n - 1), 8, /*integral=*/true))
      xTicks.push_back({kLeft + (t + 0.5) / double(n) * kWidth,
                        std::to_string(history.steps[size_t(t)])});
    for (size_t e = 0; e < heads; e += (heads + 15) / 16)
      yTicks.push_back({heatTop + (double(e) + 0.5) * cell, std::to_string(e)});
    axes(svg, heatTop, heatHeight, "step", "head", xTicks, yTicks, false);

    // The colour legend: a vertical gradient from 0 at the bottom, with the
    // uniform share marked.
    const double lx = kLeft + kWidth + 60;
    auto legendY = [&](double v) {
      return heatTop + legendHeight * (1 - v / top);
    };
    svg << "<defs><linearGradient id=\"usage\" x1=\"0\" y1=\"1\" x2=\"0\" "
           "y2=\"0\">";
    for (int k = 0; k <= 4; ++k)
      svg << "<stop offset=\"" << label(k / 4.0) << "\" stop-color=\""
          << colour(k / 4.0) << "\"/>";
    svg << "</linearGradient></defs>\n<rect x=\"" << at(lx) << "\" y=\""
        << at(heatTop) << "\" width=\"14\" height=\"" << at(legendHeight)
        << "\" fill=\"url(#usage)\" stroke=\"black\"/>\n";
    for (double t : niceTicks(0, top, 4)) {
      line(svg, lx + 14, legendY(t), lx + 19, legendY(t), "black");
      text(svg, lx + 22, legendY(t) + 4, label(t));
    }
    line(svg, lx - 4, legendY(uniform), lx + 18, legendY(uniform), "red");
    text(svg, lx - 6, legendY(uniform) + 4, "uniform",
         "text-anchor=\"end\" fill=\"red\"");
  }
  svg << "</svg>\n";

  const std::string text = svg.str();
  if (runtime::writeFileAtomically(
          path,
          [&](const runtime::WriteBytes &write) {
            return write(text.data(), text.size());
          },
          error))
    return true;
  error = "training report: " + error;
  return false;
}

} // namespace moa::train
