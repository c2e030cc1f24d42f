// RUN: not moa-opt %s -moa-cost=output=%t.missing-dir/report.txt -o /dev/null 2>&1 | FileCheck %s

// CHECK: error: moa-cost: cannot open output file '{{.*}}.missing-dir/report.txt'
func.func @f() {
  return
}
