package kernels

import (
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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
	// Overwritable, if set, reports whether the kernel may return an
	// output that shares the buffer of input i of the current call (and
	// so overwrite it): the runtime says yes when nothing reads that
	// buffer after this node. Nil means no.
	Overwritable func(i int) bool
}

// CanOverwrite reports whether input i of the current call may be
// overwritten by (returned as) an output; see Ctx.Overwritable.
func (c *Ctx) CanOverwrite(i int) bool {
	return c != nil && c.Overwritable != nil && c.Overwritable(i)
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
//
// A worker that finishes a task polls for the next one for a while
// (spinFor) before it parks: the nodes of a model follow each other within
// microseconds, and waking a parked thread costs tens of microseconds on
// virtual machines (the idle vCPU halts), as much as a small node's work.
// A caller that has finished its own chunk runs the chunks no worker has
// started yet itself, so a late worker delays nothing.
type Pool struct {
	n    int
	work chan *poolTask
	once sync.Once
}

// poolTask is one chunk of a Parallel call, run by whoever claims it first.
type poolTask struct {
	claimed atomic.Bool
	run     func()
}

// spinFor is how long an idle worker polls for work before parking.
const spinFor = 200 * time.Microsecond

// NewPool starts a pool using n threads in total (the caller counts as one).
func NewPool(n int) *Pool {
	if n < 1 {
		n = 1
	}
	p := &Pool{n: n, work: make(chan *poolTask, 4*n)}
	for i := 1; i < n; i++ {
		go p.worker()
	}
	return p
}

func (p *Pool) worker() {
	for {
		var t *poolTask
		select {
		case t = <-p.work:
		default:
			t = p.poll()
		}
		if t == nil {
			return // closed
		}
		if t.claimed.CompareAndSwap(false, true) {
			t.run()
		}
	}
}

// poll waits for a task, spinning for spinFor before blocking; nil means
// the pool was closed.
func (p *Pool) poll() *poolTask {
	deadline := time.Now().Add(spinFor)
	for i := 0; ; i++ {
		select {
		case t, ok := <-p.work:
			if !ok {
				return nil
			}
			return t
		default:
		}
		if i&63 == 63 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	t, ok := <-p.work
	if !ok {
		return nil
	}
	return t
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
	// A panic on a worker would kill the process; carry it back to the
	// caller, where the runtime turns it into an error.
	guard := func(lo, hi int) {
		defer func() {
			if r := recover(); r != nil {
				panicOnce.Do(func() { panicked = r })
			}
		}()
		fn(lo, hi)
	}
	step := (n + chunks - 1) / chunks
	tasks := make([]*poolTask, 0, chunks-1)
	for lo := step; lo < n; lo += step {
		hi := min(lo+step, n)
		lo := lo
		t := &poolTask{}
		t.run = func() { defer wg.Done(); guard(lo, hi) }
		wg.Add(1)
		tasks = append(tasks, t)
		select {
		case p.work <- t:
		default: // queue full: the caller runs it below
		}
	}
	guard(0, step)
	for _, t := range tasks {
		if t.claimed.CompareAndSwap(false, true) {
			t.run()
		}
	}
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
