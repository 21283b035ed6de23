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
// bytes, repeated over rows rows (y and x advancing by ldy and ldx); m
// holds the lane masks of the partial block (see byteMasks).

//go:noescape
func maxTapsI8AVX512(y, x *int8, n, k, step int, m uint64, rows, ldy, ldx int)

//go:noescape
func maxTapsU8AVX512(y, x *uint8, n, k, step int, m uint64, rows, ldy, ldx int)

//go:noescape
func maxTapsS2I8AVX512(y, x *int8, n, k int, m0, m1, m2 uint64, rows, ldy, ldx int)

//go:noescape
func maxTapsS2U8AVX512(y, x *uint8, n, k int, m0, m1, m2 uint64, rows, ldy, ldx int)

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
	maxTapsRows8(y, x, len(y), k, step, 1, 0, 0)
}

// maxTapsS28 sets y[i] = max_{t<k} x[2i + t] for int8 or uint8
// (len(x) ≥ 2·len(y)+k-2).
func maxTapsS28[T int8 | uint8](y, x []T, k int) {
	maxTapsS2Rows8(y, x, len(y), k, 1, 0, 0)
}

// maxTapsRows8 sets y[r·ldy + i] = max_{t<k} x[r·ldx + i + t·step] for
// r < rows, i < n: one kernel call for many rows.
func maxTapsRows8[T int8 | uint8](y, x []T, n, k, step, rows, ldy, ldx int) {
	if !hasPool8 || n == 0 || rows == 0 {
		maxTapsRows8Go(y, x, n, k, step, rows, ldy, ldx)
		return
	}
	_ = x[(rows-1)*ldx+n-1+(k-1)*step]
	_ = y[(rows-1)*ldy+n-1]
	m, _, _ := byteMasks(n)
	if signed[T]() {
		maxTapsI8AVX512((*int8)(unsafe.Pointer(&y[0])), (*int8)(unsafe.Pointer(&x[0])), n, k, step, m, rows, ldy, ldx)
	} else {
		maxTapsU8AVX512((*uint8)(unsafe.Pointer(&y[0])), (*uint8)(unsafe.Pointer(&x[0])), n, k, step, m, rows, ldy, ldx)
	}
}

// maxTapsS2Rows8 sets y[r·ldy + i] = max_{t<k} x[r·ldx + 2i + t] for
// r < rows, i < n (x reaching x[(rows-1)·ldx + 2n+k-3]).
func maxTapsS2Rows8[T int8 | uint8](y, x []T, n, k, rows, ldy, ldx int) {
	if !hasPool8 || n == 0 || rows == 0 {
		maxTapsS2Rows8Go(y, x, n, k, rows, ldy, ldx)
		return
	}
	_ = x[(rows-1)*ldx+2*n+k-3]
	_ = y[(rows-1)*ldy+n-1]
	m0, m1, m2 := byteMasks(n)
	if signed[T]() {
		maxTapsS2I8AVX512((*int8)(unsafe.Pointer(&y[0])), (*int8)(unsafe.Pointer(&x[0])), n, k, m0, m1, m2, rows, ldy, ldx)
	} else {
		maxTapsS2U8AVX512((*uint8)(unsafe.Pointer(&y[0])), (*uint8)(unsafe.Pointer(&x[0])), n, k, m0, m1, m2, rows, ldy, ldx)
	}
}
