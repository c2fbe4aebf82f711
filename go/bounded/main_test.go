package main

import "testing"

// BenchmarkBounded: one op is the whole exercise, 10,000 items at most 100 at once.
// Run: cd go/bounded && go test -run '^$' -bench . -benchtime 30x
func BenchmarkBounded(b *testing.B) {
	for i := 0; i < b.N; i++ {
		processBounded(items, limit)
	}
}

func want() uint64 {
	var sum uint64
	for i := uint64(0); i < items; i++ {
		sum += process(i)
	}
	return sum
}

func TestBounded(t *testing.T) {
	if sum := processBounded(items, limit); sum != want() {
		t.Fatalf("sum %d, want %d", sum, want())
	}
	sum, high := processBoundedHighWater(items, limit)
	if sum != want() {
		t.Fatalf("sum %d, want %d", sum, want())
	}
	if high < 1 || high > limit {
		t.Fatalf("high-water mark %d, limit %d", high, limit)
	}
}
