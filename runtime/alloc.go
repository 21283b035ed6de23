package runtime

import (
	"reflect"

	"github.com/edgedl/edgedl/tensor"
)

// runState is the per-call state of a Session: recycled buffers.
type runState struct{ alloc *recycler }

func newRunState() *runState { return &runState{alloc: newRecycler()} }

type bufKey struct {
	dt tensor.DType
	n  int
}

// recycler is an Allocator that reference-counts the buffers it hands out
// (several values may share one through aliasing kernels such as Reshape)
// and reuses them once dead. It is used by one run at a time.
type recycler struct {
	free map[bufKey][]any
	// live holds every buffer handed out during the current run, keyed by
	// address. Holding the slice keeps the address from being reused by
	// the garbage collector while we track it.
	live map[uintptr]*liveBuf
}

type liveBuf struct {
	dt   tensor.DType
	data any
	refs int
}

func newRecycler() *recycler {
	return &recycler{free: map[bufKey][]any{}, live: map[uintptr]*liveBuf{}}
}

func bufPtr(data any) uintptr {
	v := reflect.ValueOf(data)
	if v.Len() == 0 {
		return 0
	}
	return v.Pointer()
}

func (r *recycler) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, err
	}
	if n == 0 || dt == tensor.String {
		return tensor.Make(dt, shape)
	}
	k := bufKey{dt, n}
	if l := r.free[k]; len(l) > 0 {
		data := l[len(l)-1]
		r.free[k] = l[:len(l)-1]
		clearData(data)
		r.live[bufPtr(data)] = &liveBuf{dt: dt, data: data}
		return &tensor.Tensor{DType: dt, Shape: append([]int{}, shape...), Data: data}, nil
	}
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, err
	}
	r.live[bufPtr(t.Data)] = &liveBuf{dt: dt, data: t.Data}
	return t, nil
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
	k := bufKey{b.dt, reflect.ValueOf(b.data).Len()}
	r.free[k] = append(r.free[k], b.data)
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
