// RUN: not moa-opt %s -moa-cost=output=%t.missing-dir/report.txt -o /dev/null 2>&1 | FileCheck %s

// CHECK: error: moa-cost: cannot open output file '{{.*}}.missing-dir/report.txt'
func.func @f() {
  return
}

// A misspelled option names the pass and lists its options.
// RUN: not moa-opt %s -moa-cost=outptu=x -o /dev/null 2>&1 | FileCheck %s --check-prefix=OPTION
// RUN: not moa-opt %s -moa-generate-train-step=lrr=1 -o /dev/null 2>&1 | FileCheck %s --check-prefix=TRAIN
// OPTION: no such option outptu (moa-cost's options, with their defaults: moa-cost{output=-})
// TRAIN: no such option lrr (moa-generate-train-step's options, with their defaults: moa-generate-train-step{beta1={{.*}} lr={{.*}}})
