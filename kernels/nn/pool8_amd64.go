//go:build !noasm

package nn

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hasPool8 tells that the byte max-pooling kernels of pool8_amd64.s can
// run (AVX-512BW for the byte maxima and masks, VBMI for VPERMT2B).
var hasPool8 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VBMI

// The kernels of pool8_amd64.s, as maxTapsAVX512 and maxTapsS2AVX512 on
// bytes; m holds the lane masks of the partial block (see byteMasks).

//go:noescape
func maxTapsI8AVX512(y, x *int8, n, k, step int, m uint64)

//go:noescape
func maxTapsU8AVX512(y, x *uint8, n, k, step int, m uint64)

//go:noescape
func maxTapsS2I8AVX512(y, x *int8, n, k int, m0, m1, m2 uint64)

//go:noescape
func maxTapsS2U8AVX512(y, x *uint8, n, k int, m0, m1, m2 uint64)

// byteMasks returns the masks of the partial block of n outputs: stores
// (and stride-1 loads), then the stride-2 loads of its window starts
// 0-63 and 64-127 (starts up to 2r-2 of its r outputs).
func byteMasks(n int) (store, lo, hi uint64) {
	r := n & 63
	if r == 0 {
		return 0, 0, 0
	}
	starts := 2*r - 1
	if starts >= 64 {
		return 1<<r - 1, ^uint64(0), 1<<(starts-64) - 1
	}
	return 1<<r - 1, 1<<starts - 1, 0
}

// signed tells whether T is int8 (a constant per instantiation).
func signed[T int8 | uint8]() bool { return ^T(0) < 0 }

// maxTaps8 sets y[i] = max_{t<k} x[i + t·step] for int8 or uint8.
func maxTaps8[T int8 | uint8](y, x []T, k, step int) {
	if !hasPool8 || len(y) == 0 {
		maxTaps8Go(y, x, k, step)
		return
	}
	_ = x[len(y)-1+(k-1)*step]
	m, _, _ := byteMasks(len(y))
	if signed[T]() {
		maxTapsI8AVX512((*int8)(unsafe.Pointer(&y[0])), (*int8)(unsafe.Pointer(&x[0])), len(y), k, step, m)
	} else {
		maxTapsU8AVX512((*uint8)(unsafe.Pointer(&y[0])), (*uint8)(unsafe.Pointer(&x[0])), len(y), k, step, m)
	}
}

// maxTapsS28 sets y[i] = max_{t<k} x[2i + t] for int8 or uint8
// (len(x) ≥ 2·len(y)+k-2).
func maxTapsS28[T int8 | uint8](y, x []T, k int) {
	if !hasPool8 || len(y) == 0 {
		maxTapsS28Go(y, x, k)
		return
	}
	_ = x[2*len(y)+k-3]
	m0, m1, m2 := byteMasks(len(y))
	if signed[T]() {
		maxTapsS2I8AVX512((*int8)(unsafe.Pointer(&y[0])), (*int8)(unsafe.Pointer(&x[0])), len(y), k, m0, m1, m2)
	} else {
		maxTapsS2U8AVX512((*uint8)(unsafe.Pointer(&y[0])), (*uint8)(unsafe.Pointer(&x[0])), len(y), k, m0, m1, m2)
	}
}
