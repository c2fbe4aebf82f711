module headcount.invalid/wgbench

go 1.19
