package control

import (
	"fmt"

	"github.com/edgedl/edgedl/tensor"
)

// copyBlocks copies count blocks of n elements from src (block i at
// srcOff + i·srcStride) to dst (block i at dstOff + i·dstStride). dst and
// src are tensor data slices of the same type.
func copyBlocks(dst, src any, dstOff, dstStride, srcOff, srcStride, n, count int) {
	switch d := dst.(type) {
	case []float32:
		blocks(d, src.([]float32), dstOff, dstStride, srcOff, srcStride, n, count)
	case []float64:
		blocks(d, src.([]float64), dstOff, dstStride, srcOff, srcStride, n, count)
	case []int8:
		blocks(d, src.([]int8), dstOff, dstStride, srcOff, srcStride, n, count)
	case []uint8:
		blocks(d, src.([]uint8), dstOff, dstStride, srcOff, srcStride, n, count)
	case []int16:
		blocks(d, src.([]int16), dstOff, dstStride, srcOff, srcStride, n, count)
	case []uint16:
		blocks(d, src.([]uint16), dstOff, dstStride, srcOff, srcStride, n, count)
	case []int32:
		blocks(d, src.([]int32), dstOff, dstStride, srcOff, srcStride, n, count)
	case []uint32:
		blocks(d, src.([]uint32), dstOff, dstStride, srcOff, srcStride, n, count)
	case []int64:
		blocks(d, src.([]int64), dstOff, dstStride, srcOff, srcStride, n, count)
	case []uint64:
		blocks(d, src.([]uint64), dstOff, dstStride, srcOff, srcStride, n, count)
	case []bool:
		blocks(d, src.([]bool), dstOff, dstStride, srcOff, srcStride, n, count)
	case []string:
		blocks(d, src.([]string), dstOff, dstStride, srcOff, srcStride, n, count)
	default:
		panic(fmt.Sprintf("control: copy of %T", dst))
	}
}

func blocks[T any](dst, src []T, dstOff, dstStride, srcOff, srcStride, n, count int) {
	if n == dstStride && n == srcStride {
		copy(dst[dstOff:dstOff+n*count], src[srcOff:srcOff+n*count])
		return
	}
	for i := 0; i < count; i++ {
		copy(dst[dstOff+i*dstStride:dstOff+i*dstStride+n], src[srcOff+i*srcStride:srcOff+i*srcStride+n])
	}
}

// axisView describes a tensor as [outer, dim, inner] around an axis.
type axisView struct{ outer, dim, inner int }

func viewAt(shape []int, axis int) axisView {
	v := axisView{1, shape[axis], 1}
	for _, d := range shape[:axis] {
		v.outer *= d
	}
	for _, d := range shape[axis+1:] {
		v.inner *= d
	}
	return v
}

// takeSlice copies src's slice at index idx along axis into dst, whose
// shape is src's without that axis.
func takeSlice(dst, src *tensor.Tensor, axis, idx int) {
	v := viewAt(src.Shape, axis)
	copyBlocks(dst.Data, src.Data, 0, v.inner, idx*v.inner, v.dim*v.inner, v.inner, v.outer)
}

// putSlice copies src into dst at index idx along axis; src's shape is
// dst's without that axis.
func putSlice(dst, src *tensor.Tensor, axis, idx int) {
	v := viewAt(dst.Shape, axis)
	copyBlocks(dst.Data, src.Data, idx*v.inner, v.dim*v.inner, 0, v.inner, v.inner, v.outer)
}

// without returns shape with the axis removed.
func without(shape []int, axis int) []int {
	return append(append([]int{}, shape[:axis]...), shape[axis+1:]...)
}

// with returns shape with dim inserted at axis.
func with(shape []int, axis, dim int) []int {
	out := append([]int{}, shape[:axis]...)
	out = append(out, dim)
	return append(out, shape[axis:]...)
}

// alias returns a new tensor header over t's data (an output that passes
// an input through unchanged).
func alias(t *tensor.Tensor) *tensor.Tensor {
	return &tensor.Tensor{DType: t.DType, Shape: append([]int{}, t.Shape...), Data: t.Data}
}

// truth reads a condition tensor: its single element, non-zero is true.
func truth(t *tensor.Tensor, what string) (bool, error) {
	if t == nil || t.Len() != 1 {
		return false, fmt.Errorf("%s must hold one element", what)
	}
	if b, ok := t.Data.([]bool); ok {
		return b[0], nil
	}
	if t.DType == tensor.String {
		return false, fmt.Errorf("%s is a string", what)
	}
	return t.Float64At(0) != 0, nil
}
