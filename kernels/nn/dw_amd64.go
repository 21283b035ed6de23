//go:build !noasm

package nn

import "golang.org/x/sys/cpu"

// dwRow3s1AVX2 computes n (a positive multiple of 8) outputs of a 3×3,
// stride-1 depthwise row:
//
//	y[i] = min(max(ep[0] + Σ_{r,k<3} w[3r+k]·x[r·ld + i + k], ep[1]), ep[2])
//
// x holds three input rows ld floats apart. A NaN sum stays NaN.
//
//go:noescape
func dwRow3s1AVX2(x *float32, ld int, w *[9]float32, y *float32, n int, ep *[3]float32)

// dwRow3s2AVX2 is dwRow3s1AVX2 with stride 2: x[r·ld + 2i + k]. It reads
// up to x[2·ld + 2n + 7].
//
//go:noescape
func dwRow3s2AVX2(x *float32, ld int, w *[9]float32, y *float32, n int, ep *[3]float32)

var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dwRow3s1F32 is dwRow3s1 for float32, vectorised where the CPU allows.
func dwRow3s1F32(x []float32, ld int, w *[9]float32, y []float32, bias, lo, hi float32) {
	n8 := len(y) &^ 7
	if !hasAVX2FMA || n8 == 0 {
		dwRow3s1(x, ld, w, y, bias, lo, hi)
		return
	}
	_ = x[2*ld+len(y)+1] // the three rows hold every tap
	ep := [3]float32{bias, lo, hi}
	dwRow3s1AVX2(&x[0], ld, w, &y[0], n8, &ep)
	if n8 < len(y) {
		dwRow3s1(x[n8:], ld, w, y[n8:], bias, lo, hi)
	}
}

// dwRow3s2F32 is dwRow3s2 for float32, vectorised where the CPU allows.
// x must hold 6 floats of slack after the last tap (x[2·ld + 2·len(y) + 6]).
func dwRow3s2F32(x []float32, ld int, w *[9]float32, y []float32, bias, lo, hi float32) {
	n8 := len(y) &^ 7
	if !hasAVX2FMA || n8 == 0 {
		dwRow3s2(x, ld, w, y, bias, lo, hi)
		return
	}
	_ = x[2*ld+2*len(y)+6]
	ep := [3]float32{bias, lo, hi}
	dwRow3s2AVX2(&x[0], ld, w, &y[0], n8, &ep)
	if n8 < len(y) {
		dwRow3s2(x[2*n8:], ld, w, y[n8:], bias, lo, hi)
	}
}
