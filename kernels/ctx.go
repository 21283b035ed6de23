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
// A Parallel call is split into up to one chunk per thread, which the
// caller and the workers claim from a shared counter: a chunk no worker
// has started yet is run by the caller once it is done with its own, so
// a late worker delays nothing. (Splitting finer, four chunks per thread,
// was measured slower per node on MobileNetV2 and SqueezeNet at two
// threads and dropped.)
//
// A worker that finishes a task polls for the next one for a while
// (spinFor) before it parks: the nodes of a model follow each other within
// microseconds, and waking a parked thread costs tens of microseconds on
// virtual machines (the idle vCPU halts), as much as a small node's work.
// The caller, once no chunk is left to claim, spins too (waitSpins) until
// the chunks claimed by workers are done, rather than parking at once:
// being woken up again would cost as much as the wait, and can move the
// caller's goroutine to another thread.
type Pool struct {
	n    int
	work chan *poolJob
	once sync.Once
}

// poolJob is one Parallel call: chunks claimed through next by whoever
// runs the job, counted through done.
type poolJob struct {
	next     atomic.Int64 // next chunk to claim
	done     atomic.Int64 // chunks finished
	chunks   int
	n, step  int
	fn       func(lo, hi int)
	panicked atomic.Pointer[any]
	fin      chan struct{} // closed by whoever finishes the last chunk
}

// waitSpins is how many times a caller polls for the workers' last chunks
// before it blocks (an estimated 10-30 µs).
const waitSpins = 1 << 12

// spinFor is how long an idle worker polls for work before parking.
const spinFor = 200 * time.Microsecond

// NewPool starts a pool using n threads in total (the caller counts as one).
func NewPool(n int) *Pool {
	if n < 1 {
		n = 1
	}
	p := &Pool{n: n, work: make(chan *poolJob, 4*n)}
	for i := 1; i < n; i++ {
		go p.worker()
	}
	return p
}

func (p *Pool) worker() {
	for {
		var j *poolJob
		select {
		case j = <-p.work:
		default:
			j = p.poll()
		}
		if j == nil {
			return // closed
		}
		j.runChunks()
	}
}

// runChunks claims and runs chunks of j until none is left.
func (j *poolJob) runChunks() {
	for {
		c := int(j.next.Add(1) - 1)
		if c >= j.chunks {
			return
		}
		j.runChunk(c)
		if j.done.Add(1) == int64(j.chunks) {
			close(j.fin)
		}
	}
}

// runChunk runs chunk c; a panic (which on a worker would kill the
// process) is kept for the caller, where the runtime turns it into an
// error.
func (j *poolJob) runChunk(c int) {
	defer func() {
		if r := recover(); r != nil {
			j.panicked.CompareAndSwap(nil, &r)
		}
	}()
	lo := c * j.step
	j.fn(lo, min(lo+j.step, j.n))
}

// poll waits for a task, spinning for spinFor before blocking; nil means
// the pool was closed.
func (p *Pool) poll() *poolJob {
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

// Parallel runs fn over [0,n) in up to p.n contiguous chunks of at least
// grain items, on the caller and the workers.
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
	step := (n + chunks - 1) / chunks
	j := &poolJob{chunks: (n + step - 1) / step, n: n, step: step, fn: fn, fin: make(chan struct{})}
	// Wake as many workers as can get a chunk besides the caller's.
wake:
	for w := min(p.n, j.chunks) - 1; w > 0; w-- {
		select {
		case p.work <- j:
		default: // queue full: the caller runs the chunks itself
			break wake
		}
	}
	j.runChunks()
	// Spin while the workers finish their last chunks, then block: when
	// the threads outnumber the CPUs that are free, spinning would take
	// the CPU from the very worker being waited for.
	for i := 0; j.done.Load() < int64(j.chunks); i++ {
		if i == waitSpins {
			<-j.fin
			break
		}
		if i&63 == 63 {
			runtime.Gosched()
		}
	}
	if r := j.panicked.Load(); r != nil {
		panic(*r)
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
