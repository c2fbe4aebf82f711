// Command bounded is exercise 5, bounded processing, in Go: process 10,000 items with at most 100
// running at once, using a sync.WaitGroup and a semaphore channel. main_test.go benchmarks it
// against headcount's Rust version (crates/headcount/benches/groups.rs, which runs this
// benchmark too and prints the ratio).
package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

const (
	items = 10000
	limit = 100
)

// process is the work for one item; the Rust benchmark does the same arithmetic.
func process(item uint64) uint64 {
	x := item | 1
	for i := 0; i < 64; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// processBounded is Go's usual bounded pattern: a goroutine per item, a semaphore channel
// bounding how many run at once. It returns the (wrapping) sum of the results. This is what
// the benchmark times; the Rust contenders do the same work per item.
func processBounded(n, maxConcurrency int) uint64 {
	var wg sync.WaitGroup
	semaphore := make(chan struct{}, maxConcurrency)
	var sum uint64
	for item := 0; item < n; item++ {
		wg.Add(1)
		go func(it uint64) {
			defer wg.Done()
			semaphore <- struct{}{}        // acquire a slot
			defer func() { <-semaphore }() // release it
			atomic.AddUint64(&sum, process(it))
		}(uint64(item))
	}
	wg.Wait()
	return sum
}

// processBoundedHighWater is processBounded that also records the high-water mark of
// goroutines holding a slot at once.
func processBoundedHighWater(n, maxConcurrency int) (uint64, int64) {
	var wg sync.WaitGroup
	semaphore := make(chan struct{}, maxConcurrency)
	var sum uint64
	var running, high int64
	for item := 0; item < n; item++ {
		wg.Add(1)
		go func(it uint64) {
			defer wg.Done()
			semaphore <- struct{}{}
			defer func() { <-semaphore }()
			now := atomic.AddInt64(&running, 1)
			for {
				h := atomic.LoadInt64(&high)
				if now <= h || atomic.CompareAndSwapInt64(&high, h, now) {
					break
				}
			}
			atomic.AddUint64(&sum, process(it))
			atomic.AddInt64(&running, -1)
		}(uint64(item))
	}
	wg.Wait()
	return sum, high
}

func main() {
	sum, high := processBoundedHighWater(items, limit)
	if high > limit {
		panic(fmt.Sprintf("%d goroutines ran at once, limit %d", high, limit))
	}
	fmt.Printf("processed %d items, high-water mark %d (limit %d), checksum %d\n", items, high, limit, sum)
}
