// A module named without a slash is the file in the current directory, never
// a search along LD_LIBRARY_PATH or the system's library directories; the
// tools and libraries carry no empty RUNPATH entries (an empty entry means
// the current directory to the dynamic loader).
// RUN: rm -rf %t && mkdir -p %t/elsewhere
// RUN: moa-compile %S/Inputs/entries.mlir -o %t/entries.so
// RUN: cd %t && moa-run entries.so constant | FileCheck %s --check-prefix=LOCAL
// RUN: cd %t/elsewhere && env LD_LIBRARY_PATH=%t not moa-run entries.so constant 2>&1 | FileCheck %s --check-prefix=NOTHERE
// LOCAL: result 0: f32 [4]
// NOTHERE: moa-run: cannot load module 'entries.so': ./entries.so: cannot open shared object file
// RUN: readelf -d %moa_tools/moa-run | FileCheck %s --check-prefix=RUNPATH
// RUN: readelf -d %moa_tools/../lib/libMoARuntime.so | FileCheck %s --check-prefix=RUNPATH
// RUNPATH-NOT: {{R(UN)?PATH.*(\[:|::|:\])}}
