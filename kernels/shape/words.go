package shape

import (
	"fmt"
	"unsafe"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// Data-movement kernels never look at the values they move, so they are
// instantiated once per storage width rather than once per dtype: float32,
// int32 and uint32 data are all moved as []uint32. Strings carry pointers
// and are never reinterpreted; they get their own instantiation.

// word is the set of element types data-movement kernels are instantiated for.
type word interface {
	uint8 | uint16 | uint32 | uint64 | string
}

// rawData returns the base pointer, length and element width of a tensor's
// storage slice; the width is 0 for strings and unknown types.
func rawData(data any) (unsafe.Pointer, int, int) {
	switch d := data.(type) {
	case []float32:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 4
	case []float64:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 8
	case []int8:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 1
	case []uint8:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 1
	case []int16:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 2
	case []uint16:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 2
	case []int32:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 4
	case []uint32:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 4
	case []int64:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 8
	case []uint64:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 8
	case []bool:
		return unsafe.Pointer(unsafe.SliceData(d)), len(d), 1
	}
	return nil, 0, 0
}

// view returns a tensor's storage slice as []W. W must be string for string
// data and an unsigned word of the element's width otherwise; anything else
// is a programming error and panics.
func view[W word](data any) []W {
	if s, ok := data.([]W); ok {
		return s
	}
	p, n, size := rawData(data)
	var z W
	if size == 0 || uintptr(size) != unsafe.Sizeof(z) {
		panic(fmt.Sprintf("shape: cannot view %T as []%T", data, z))
	}
	return unsafe.Slice((*W)(p), n)
}

// width is the storage width class of dt: 1, 2, 4 or 8 bytes, or 0 for
// strings. It is -1 for dtypes edgedl cannot store.
func width(dt tensor.DType) int {
	if dt == tensor.String {
		return 0
	}
	if !dt.Supported() {
		return -1
	}
	return dt.Size()
}

// byWidth holds the instantiations of one generic data-movement routine,
// so a kernel dispatches with a single call: impl.call(dt, args).
type byWidth[A any] struct {
	w1, w2, w4, w8, str func(A) error
}

// instantiate builds a byWidth from a generic routine's instantiations.
// Go cannot pass an uninstantiated generic function, hence five arguments.
func instantiate[A any](w1, w2, w4, w8, str func(A) error) byWidth[A] {
	return byWidth[A]{w1, w2, w4, w8, str}
}

func (b byWidth[A]) call(dt tensor.DType, a A) error {
	switch width(dt) {
	case 0:
		return b.str(a)
	case 1:
		return b.w1(a)
	case 2:
		return b.w2(a)
	case 4:
		return b.w4(a)
	case 8:
		return b.w8(a)
	}
	return kernels.Unsupported("data movement", "dtype %v", dt)
}
