// docs/ must match the reference generated from ODS (refresh: ninja moa-docs).
// RUN: diff -u %moa_src_root/docs/MoADialect.md %moa_obj_root/docs/moa/MoADialect.md
// RUN: diff -u %moa_src_root/docs/MoAPasses.md %moa_obj_root/docs/moa/MoAPasses.md
// RUN: diff -u %moa_src_root/docs/MoALoweringPasses.md %moa_obj_root/docs/moa/MoALoweringPasses.md
