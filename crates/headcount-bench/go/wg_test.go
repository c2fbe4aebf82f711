// Go's sync.WaitGroup under the workloads of headcount-bench, W1–W7 and CPU.
// The Rust tool runs these with `go test -bench` and reads ns/op (or cpu-ns/op).
// No external modules: the standard library only.
package wgbench

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	fanOut = 1000  // W5
	items  = 10000 // W6, W7
	limit  = 100   // W6
)

// W1: an uncontended Add(1)+Done() pair.
func BenchmarkW1AddDone(b *testing.B) {
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		wg.Done()
	}
}

// W2: Wait() when the counter is already zero.
func BenchmarkW2WaitAtZero(b *testing.B) {
	var wg sync.WaitGroup
	for i := 0; i < b.N; i++ {
		wg.Wait()
	}
}

// W3: GOMAXPROCS goroutines (2 on the reference machine) hammering one group.
// RunParallel reports wall time divided by the total number of pairs.
func BenchmarkW3Hammer(b *testing.B) {
	var wg sync.WaitGroup
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			wg.Add(1)
			wg.Done()
		}
	})
}

// W4: ping-pong over two groups; ns/op is one round trip (the tool halves it).
func BenchmarkW4PingPong(b *testing.B) {
	var ping, pong sync.WaitGroup
	ping.Add(1)
	pong.Add(1)
	n := b.N
	go func() {
		for i := 0; i < n; i++ {
			ping.Wait()
			ping.Add(1) // re-armed by its only waiter, after its Wait returned
			pong.Done()
		}
	}()
	b.ResetTimer()
	for i := 0; i < n; i++ {
		ping.Done()
		pong.Wait()
		pong.Add(1)
	}
}

// W5: 1000 goroutines, each Done(), then Wait().
func BenchmarkW5FanOut(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for j := 0; j < fanOut; j++ {
			wg.Add(1)
			go func() {
				wg.Done()
			}()
		}
		wg.Wait()
	}
}

func process(item uint64, sum *uint64) {
	atomic.AddUint64(sum, item)
}

func checkSum(b *testing.B, sum *uint64) {
	if got := atomic.LoadUint64(sum); got != items*(items-1)/2 {
		b.Fatalf("checksum %d: an item was lost or repeated", got)
	}
}

// W6: exercise 5, bounded processing, in its usual Go shape: 10,000 goroutines,
// at most 100 inside at once through a semaphore channel, and a WaitGroup.
func BenchmarkW6Bounded(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var sum uint64
		semaphore := make(chan struct{}, limit)
		for j := 0; j < items; j++ {
			wg.Add(1)
			go func(item uint64) {
				defer wg.Done()
				semaphore <- struct{}{}        // acquire a slot
				defer func() { <-semaphore }() // release it
				process(item, &sum)
			}(uint64(j))
		}
		wg.Wait()
		checkSum(b, &sum)
	}
}

// W7 reference: 10,000 goroutines and a WaitGroup (Go has no separate async flavour).
func BenchmarkW7Goroutines(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var sum uint64
		for j := 0; j < items; j++ {
			wg.Add(1)
			go func(item uint64) {
				defer wg.Done()
				process(item, &sum)
			}(uint64(j))
		}
		wg.Wait()
		checkSum(b, &sum)
	}
}

func cpuTime(usage *syscall.Rusage) time.Duration {
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// CPU: the CPU time the whole process uses while one goroutine is blocked in Wait() for
// HEADCOUNT_BENCH_BLOCK_MS milliseconds (default 1000). Go parks goroutines, not threads,
// so the honest figure is the process's (getrusage RUSAGE_SELF), reported as cpu-ns/op.
func BenchmarkCPUBlockedWaiter(b *testing.B) {
	blockMs := 1000
	if env := os.Getenv("HEADCOUNT_BENCH_BLOCK_MS"); env != "" {
		parsed, err := strconv.Atoi(env)
		if err != nil {
			b.Fatalf("HEADCOUNT_BENCH_BLOCK_MS: %v", err)
		}
		blockMs = parsed
	}
	block := time.Duration(blockMs) * time.Millisecond
	var total time.Duration
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			time.Sleep(block)
			wg.Done()
		}()
		var before, after syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
			b.Fatal(err)
		}
		total += cpuTime(&after) - cpuTime(&before)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
