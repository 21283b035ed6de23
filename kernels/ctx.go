package kernels

import (
	"reflect"
	"sync"

	"github.com/edgedl/edgedl/tensor"
)

// Allocator hands out tensors for kernel outputs and scratch space.
type Allocator interface {
	// Alloc returns a zeroed tensor of the given dtype and shape, or an
	// error if the shape is invalid or too large.
	Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error)
}

// HeapAllocator allocates fresh memory every time.
type HeapAllocator struct{}

// Alloc implements Allocator.
func (HeapAllocator) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return tensor.Make(dt, shape)
}

// Ctx is what a kernel sees of the run it is part of.
type Ctx struct {
	Allocator
	// Pool runs parallel loops; nil means serial.
	Pool *Pool
	// Lookup resolves values of enclosing scopes for subgraph kernels.
	Lookup func(name string) (*tensor.Tensor, bool)
}

// Alloc allocates an output tensor.
func (c *Ctx) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if c == nil || c.Allocator == nil {
		return tensor.Make(dt, shape)
	}
	return c.Allocator.Alloc(dt, shape)
}

// Free returns a scratch tensor obtained from Alloc that the kernel no
// longer needs, so later nodes of the same run can reuse its memory. It
// must not be called on outputs, inputs, or anything still referenced.
func (c *Ctx) Free(t *tensor.Tensor) {
	if c == nil || t == nil {
		return
	}
	if f, ok := c.Allocator.(interface{ Free(*tensor.Tensor) }); ok {
		f.Free(t)
	}
}

// Threads is the number of workers Parallel may use.
func (c *Ctx) Threads() int {
	if c == nil || c.Pool == nil {
		return 1
	}
	return c.Pool.n
}

// Parallel calls fn over [0,n) split into at most Threads() contiguous
// chunks of at least grain items, and waits for all of them.
func (c *Ctx) Parallel(n, grain int, fn func(lo, hi int)) {
	if c == nil || c.Pool == nil {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	c.Pool.Parallel(n, grain, fn)
}

// Pool is a persistent set of worker goroutines shared by all runs of a
// session. Work that finds every worker busy runs on the calling goroutine,
// so nested or concurrent use cannot deadlock.
type Pool struct {
	n    int
	work chan func()
	once sync.Once
}

// NewPool starts a pool using n threads in total (the caller counts as one).
func NewPool(n int) *Pool {
	if n < 1 {
		n = 1
	}
	p := &Pool{n: n, work: make(chan func())}
	for i := 1; i < n; i++ {
		go func() {
			for f := range p.work {
				f()
			}
		}()
	}
	return p
}

// Threads is the pool's thread count.
func (p *Pool) Threads() int { return p.n }

// Close stops the workers; the pool must not be used afterwards.
func (p *Pool) Close() { p.once.Do(func() { close(p.work) }) }

// Parallel runs fn over [0,n) in up to p.n chunks of at least grain items.
func (p *Pool) Parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := p.n
	if max := (n + grain - 1) / grain; chunks > max {
		chunks = max
	}
	if chunks <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	var panicOnce sync.Once
	var panicked any
	step := (n + chunks - 1) / chunks
	for lo := step; lo < n; lo += step {
		hi := lo + step
		if hi > n {
			hi = n
		}
		lo := lo
		wg.Add(1)
		task := func() {
			defer wg.Done()
			// A panic on a worker would kill the process; carry it back to
			// the caller, where the runtime turns it into an error.
			defer func() {
				if r := recover(); r != nil {
					panicOnce.Do(func() { panicked = r })
				}
			}()
			fn(lo, hi)
		}
		select {
		case p.work <- task:
		default:
			task()
		}
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				panicOnce.Do(func() { panicked = r })
			}
		}()
		fn(0, step)
	}()
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}

// SameBuffer reports whether two tensors share backing memory (used by the
// runtime to track aliases).
func SameBuffer(a, b *tensor.Tensor) bool {
	if a == nil || b == nil || a.Data == nil || b.Data == nil {
		return false
	}
	va, vb := reflect.ValueOf(a.Data), reflect.ValueOf(b.Data)
	if va.Len() == 0 || vb.Len() == 0 {
		return false
	}
	return va.Pointer() == vb.Pointer()
}
