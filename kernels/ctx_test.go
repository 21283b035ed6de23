package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPoolParallelCovers checks that every index is visited exactly once,
// in at most Threads() chunks and no more than n/grain (rounded up), for
// many sizes and thread counts.
func TestPoolParallelCovers(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		p := NewPool(threads)
		for _, n := range []int{1, 2, 3, 7, 64, 1000} {
			for _, grain := range []int{0, 1, 5, 100} {
				seen := make([]atomic.Int32, n)
				var mu sync.Mutex
				var chunks [][2]int
				p.Parallel(n, grain, func(lo, hi int) {
					mu.Lock()
					chunks = append(chunks, [2]int{lo, hi})
					mu.Unlock()
					for i := lo; i < hi; i++ {
						seen[i].Add(1)
					}
				})
				for i := range seen {
					if c := seen[i].Load(); c != 1 {
						t.Fatalf("threads %d n %d grain %d: index %d visited %d times", threads, n, grain, i, c)
					}
				}
				if len(chunks) > min(threads, (n+max(grain, 1)-1)/max(grain, 1)) {
					t.Fatalf("threads %d n %d grain %d: %d chunks", threads, n, grain, len(chunks))
				}
			}
		}
		p.Close()
	}
}

// TestPoolParallelPanic checks that a panic in any chunk reaches the
// caller and leaves the pool usable.
func TestPoolParallelPanic(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	for _, bad := range []int{0, 99} {
		func() {
			defer func() {
				if r := recover(); r != fmt.Sprint("boom ", bad) {
					t.Fatalf("recovered %v", r)
				}
			}()
			p.Parallel(100, 1, func(lo, hi int) {
				if lo <= bad && bad < hi {
					panic(fmt.Sprint("boom ", bad))
				}
			})
		}()
	}
	var sum atomic.Int64
	p.Parallel(100, 1, func(lo, hi int) { sum.Add(int64(hi - lo)) })
	if sum.Load() != 100 {
		t.Fatalf("after a panic: sum %d", sum.Load())
	}
}

// TestPoolParallelNested checks nested and concurrent calls (which find
// the workers busy) complete, including with more threads than CPUs.
func TestPoolParallelNested(t *testing.T) {
	p := NewPool(4)
	defer p.Close()
	var total atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				p.Parallel(8, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						p.Parallel(16, 1, func(lo, hi int) { total.Add(int64(hi - lo)) })
					}
				})
			}
		}()
	}
	wg.Wait()
	if want := int64(3 * 50 * 8 * 16); total.Load() != want {
		t.Fatalf("total %d, want %d", total.Load(), want)
	}
}
