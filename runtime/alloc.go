package runtime

import (
	"reflect"
	"sort"

	"github.com/edgedl/edgedl/tensor"
)

// runState is the per-call state of a Session: recycled buffers.
type runState struct{ alloc *recycler }

func newRunState() *runState { return &runState{alloc: newRecycler()} }

// recycler is an Allocator that reference-counts the buffers it hands out
// (several values may share one through aliasing kernels such as Reshape)
// and reuses them once dead. It is used by one run at a time.
//
// A request is served by the smallest free buffer of its dtype that holds
// it, if that buffer is less than four times the size asked for (the
// tensor sees a prefix of it): a run's values then share a set of buffers
// not much larger than its peak of live values, rather than one buffer per
// distinct size (MobileNetV2: 12.5 MB instead of about 20), which bounds
// the resident memory.
type recycler struct {
	// free lists the dead buffers of each dtype by ascending capacity.
	free map[tensor.DType][]freeBuf
	// live holds every buffer handed out during the current run, keyed by
	// address. Holding the slice keeps the address from being reused by
	// the garbage collector while we track it.
	live map[uintptr]*liveBuf
}

type freeBuf struct {
	n    int // capacity in elements
	data any // the whole buffer
}

type liveBuf struct {
	dt   tensor.DType
	data any // the whole buffer (tensors may hold a prefix)
	refs int
}

func newRecycler() *recycler {
	return &recycler{free: map[tensor.DType][]freeBuf{}, live: map[uintptr]*liveBuf{}}
}

func bufPtr(data any) uintptr {
	v := reflect.ValueOf(data)
	if v.Len() == 0 {
		return 0
	}
	return v.Pointer()
}

// Alloc implements kernels.Allocator: a zeroed tensor.
func (r *recycler) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return r.alloc(dt, shape, true)
}

// AllocUninit is Alloc without the zeroing of a recycled buffer: its
// contents are whatever an earlier value left there. Kernels that write
// every element of an output before reading any (most of them, through
// the matrix products with beta = 0, the pools, element-wise ops) ask for
// it to save a pass over the memory; packages kernels/nn and kernels/shape
// find it by this method name.
func (r *recycler) AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return r.alloc(dt, shape, false)
}

func (r *recycler) alloc(dt tensor.DType, shape []int, zero bool) (*tensor.Tensor, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, err
	}
	if n == 0 || dt == tensor.String {
		return tensor.Make(dt, shape)
	}
	if full, ok := r.take(dt, n); ok {
		data := prefix(full, n)
		if zero {
			clearData(data)
		}
		r.live[bufPtr(full)] = &liveBuf{dt: dt, data: full}
		return &tensor.Tensor{DType: dt, Shape: append([]int{}, shape...), Data: data}, nil
	}
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, err
	}
	r.live[bufPtr(t.Data)] = &liveBuf{dt: dt, data: t.Data}
	return t, nil
}

// take removes and returns the smallest free buffer of dtype dt holding n
// elements, unless it would waste three quarters of itself.
func (r *recycler) take(dt tensor.DType, n int) (any, bool) {
	l := r.free[dt]
	i := sort.Search(len(l), func(i int) bool { return l[i].n >= n })
	if i == len(l) || l[i].n >= 4*n {
		return nil, false
	}
	data := l[i].data
	r.free[dt] = append(l[:i], l[i+1:]...)
	return data, true
}

// prefix returns the first n elements of the slice full.
func prefix(full any, n int) any {
	if f, ok := full.([]float32); ok { // the common case, without reflect
		return f[:n]
	}
	return reflect.ValueOf(full).Slice(0, n).Interface()
}

// retain counts one more live value using t's buffer, if we own it.
func (r *recycler) retain(t *tensor.Tensor) {
	if t == nil || t.Data == nil {
		return
	}
	if b, ok := r.live[bufPtr(t.Data)]; ok {
		b.refs++
	}
}

// sole reports whether t's buffer is ours and held by one value only.
func (r *recycler) sole(t *tensor.Tensor) bool {
	if t == nil || t.Data == nil {
		return false
	}
	b, ok := r.live[bufPtr(t.Data)]
	return ok && b.refs == 1
}

// release drops one reference; at zero the buffer goes to the free list.
func (r *recycler) release(t *tensor.Tensor) {
	if t == nil || t.Data == nil {
		return
	}
	p := bufPtr(t.Data)
	b, ok := r.live[p]
	if !ok {
		return
	}
	if b.refs > 1 {
		b.refs--
		return
	}
	delete(r.live, p)
	r.putFree(b)
}

func (r *recycler) putFree(b *liveBuf) {
	n := reflect.ValueOf(b.data).Len()
	l := r.free[b.dt]
	i := sort.Search(len(l), func(i int) bool { return l[i].n >= n })
	l = append(l, freeBuf{})
	copy(l[i+1:], l[i:])
	l[i] = freeBuf{n: n, data: b.data}
	r.free[b.dt] = l
}

// Free takes back a scratch buffer a kernel is done with (one that no
// value references: outputs are retained before they could be freed).
func (r *recycler) Free(t *tensor.Tensor) {
	if t == nil || t.Data == nil {
		return
	}
	p := bufPtr(t.Data)
	if b, ok := r.live[p]; ok && b.refs == 0 {
		delete(r.live, p)
		r.putFree(b)
	}
}

// detach hands t's buffer to the caller for good; it reports whether the
// buffer was ours (false: a constant or an input, which the caller must copy).
func (r *recycler) detach(t *tensor.Tensor) bool {
	p := bufPtr(t.Data)
	if _, ok := r.live[p]; ok {
		delete(r.live, p)
		return true
	}
	return p == 0 && t.DType != tensor.String // empty tensors own nothing
}

// endRun reclaims every buffer still tracked: scratch space kernels did not
// return, and values of a run that failed.
func (r *recycler) endRun() {
	for p, b := range r.live {
		delete(r.live, p)
		r.putFree(b)
	}
}
func clearData(data any) {
	switch d := data.(type) {
	case []float32:
		clear(d)
	case []float64:
		clear(d)
	case []int8:
		clear(d)
	case []uint8:
		clear(d)
	case []int16:
		clear(d)
	case []uint16:
		clear(d)
	case []int32:
		clear(d)
	case []uint32:
		clear(d)
	case []int64:
		clear(d)
	case []uint64:
		clear(d)
	case []bool:
		clear(d)
	}
}
