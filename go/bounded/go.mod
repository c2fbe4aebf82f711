module headcount/go/bounded

go 1.18
