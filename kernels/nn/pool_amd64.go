//go:build !noasm

package nn

// maxTapsAVX2 computes, for n a positive multiple of 8 and k ≥ 1,
//
//	y[i] = max_{t<k} x[i + t·step]    (NaN if any tap is NaN)
//
//go:noescape
func maxTapsAVX2(y, x *float32, n, k, step int)

// maxTapsS2AVX2 computes, for n a positive multiple of 8 and k ≥ 1,
//
//	y[i] = max_{t<k} x[2i + t]    (NaN if any tap is NaN)
//
// reading x[0 .. 2n+k-2].
//
//go:noescape
func maxTapsS2AVX2(y, x *float32, n, k int)

// The AVX-512 kernels of pool512_amd64.s: the same for any n, the last
// partial block of 16 under the masks of tapMasks.

//go:noescape
func maxTapsAVX512(y, x *float32, n, k, step int, m *[3]uint16, rows, ldy, ldx int)

//go:noescape
func maxTapsS2AVX512(y, x *float32, n, k int, m *[3]uint16, rows, ldy, ldx int)

//go:noescape
func sumTapsAVX512(y, x *float32, n, k, step int, m *[3]uint16, rows, ldy, ldx int)

//go:noescape
func sumTapsS2AVX512(y, x *float32, n, k int, m *[3]uint16, rows, ldy, ldx int)

// tapMasks returns the masks of the partial block of n outputs: stores
// (and stride-1 loads), then the stride-2 loads of window starts 0-15 and
// 16-31 (starts up to 2r-2 of its r outputs).
func tapMasks(n int) *[3]uint16 {
	r := n & 15
	m := &[3]uint16{uint16(1<<r - 1), 0, 0}
	if r > 0 {
		starts := 2*r - 1
		m[1] = uint16(1<<min(16, starts) - 1)
		if starts > 16 {
			m[2] = uint16(1<<(starts-16) - 1)
		}
	}
	return m
}

// maxTaps sets y[i] = max_{t<k} x[i + t·step] (NaN if any tap is NaN).
func maxTaps(y, x []float32, k, step int) {
	if hasAVX512 && len(y) > 0 {
		_ = x[len(y)-1+(k-1)*step]
		maxTapsAVX512(&y[0], &x[0], len(y), k, step, tapMasks(len(y)), 1, 0, 0)
		return
	}
	n8 := len(y) &^ 7
	if hasAVX2FMA && n8 > 0 {
		_ = x[n8-1+(k-1)*step]
		maxTapsAVX2(&y[0], &x[0], n8, k, step)
	}
	maxTapsGo(y[n8:], x[n8:], k, step)
}

// maxTapsRows sets y[r·ldy + i] = max_{t<k} x[r·ldx + i + t·step] for
// r < rows, i < n: one AVX-512 call for many rows.
func maxTapsRows(y, x []float32, n, k, step, rows, ldy, ldx int) {
	if hasAVX512 && n > 0 && rows > 0 {
		_ = x[(rows-1)*ldx+n-1+(k-1)*step]
		_ = y[(rows-1)*ldy+n-1]
		maxTapsAVX512(&y[0], &x[0], n, k, step, tapMasks(n), rows, ldy, ldx)
		return
	}
	for r := 0; r < rows; r++ {
		maxTaps(y[r*ldy:r*ldy+n], x[r*ldx:], k, step)
	}
}

// maxTapsS2Rows sets y[r·ldy + i] = max_{t<k} x[r·ldx + 2i + t] for
// r < rows, i < n (each row of x with maxTapsS2's one float of slack).
func maxTapsS2Rows(y, x []float32, n, k, rows, ldy, ldx int) {
	if hasAVX512 && n > 0 && rows > 0 {
		_ = x[(rows-1)*ldx+2*n+k-2]
		_ = y[(rows-1)*ldy+n-1]
		maxTapsS2AVX512(&y[0], &x[0], n, k, tapMasks(n), rows, ldy, ldx)
		return
	}
	for r := 0; r < rows; r++ {
		maxTapsS2(y[r*ldy:r*ldy+n], x[r*ldx:], k)
	}
}

// maxTapsS2 sets y[i] = max_{t<k} x[2i + t] (NaN if any tap is NaN); x
// must hold one float of slack past the last tap (len(x) ≥ 2·len(y)+k-1).
func maxTapsS2(y, x []float32, k int) {
	if hasAVX512 && len(y) > 0 {
		_ = x[2*len(y)+k-2]
		maxTapsS2AVX512(&y[0], &x[0], len(y), k, tapMasks(len(y)), 1, 0, 0)
		return
	}
	n8 := len(y) &^ 7
	if hasAVX2FMA && n8 > 0 {
		_ = x[2*n8+k-2]
		maxTapsS2AVX2(&y[0], &x[0], n8, k)
	}
	maxTapsS2Go(y[n8:], x[2*n8:], k)
}

// sumTapsAVX2 is maxTapsAVX2 with a sum: y[i] = Σ_{t<k} x[i + t·step].
//
//go:noescape
func sumTapsAVX2(y, x *float32, n, k, step int)

// sumTapsS2AVX2 is maxTapsS2AVX2 with a sum: y[i] = Σ_{t<k} x[2i + t].
//
//go:noescape
func sumTapsS2AVX2(y, x *float32, n, k int)

// sumTaps sets y[i] = Σ_{t<k} x[i + t·step].
func sumTaps(y, x []float32, k, step int) {
	if hasAVX512 && len(y) > 0 {
		_ = x[len(y)-1+(k-1)*step]
		sumTapsAVX512(&y[0], &x[0], len(y), k, step, tapMasks(len(y)), 1, 0, 0)
		return
	}
	n8 := len(y) &^ 7
	if hasAVX2FMA && n8 > 0 {
		_ = x[n8-1+(k-1)*step]
		sumTapsAVX2(&y[0], &x[0], n8, k, step)
	}
	sumTapsGo(y[n8:], x[n8:], k, step)
}

// sumTapsS2 sets y[i] = Σ_{t<k} x[2i + t]; x must hold one float of slack
// past the last tap (len(x) ≥ 2·len(y)+k-1).
func sumTapsS2(y, x []float32, k int) {
	if hasAVX512 && len(y) > 0 {
		_ = x[2*len(y)+k-2]
		sumTapsS2AVX512(&y[0], &x[0], len(y), k, tapMasks(len(y)), 1, 0, 0)
		return
	}
	n8 := len(y) &^ 7
	if hasAVX2FMA && n8 > 0 {
		_ = x[2*n8+k-2]
		sumTapsS2AVX2(&y[0], &x[0], n8, k)
	}
	sumTapsS2Go(y[n8:], x[2*n8:], k)
}

// sumTapsRows sets y[r·ldy + i] = Σ_{t<k} x[r·ldx + i + t·step] for
// r < rows, i < n: one AVX-512 call for many rows.
func sumTapsRows(y, x []float32, n, k, step, rows, ldy, ldx int) {
	if hasAVX512 && n > 0 && rows > 0 {
		_ = x[(rows-1)*ldx+n-1+(k-1)*step]
		_ = y[(rows-1)*ldy+n-1]
		sumTapsAVX512(&y[0], &x[0], n, k, step, tapMasks(n), rows, ldy, ldx)
		return
	}
	for r := 0; r < rows; r++ {
		sumTaps(y[r*ldy:r*ldy+n], x[r*ldx:], k, step)
	}
}

// sumTapsS2Rows sets y[r·ldy + i] = Σ_{t<k} x[r·ldx + 2i + t] for
// r < rows, i < n (each row of x with sumTapsS2's one float of slack).
func sumTapsS2Rows(y, x []float32, n, k, rows, ldy, ldx int) {
	if hasAVX512 && n > 0 && rows > 0 {
		_ = x[(rows-1)*ldx+2*n+k-2]
		_ = y[(rows-1)*ldy+n-1]
		sumTapsS2AVX512(&y[0], &x[0], n, k, tapMasks(n), rows, ldy, ldx)
		return
	}
	for r := 0; r < rows; r++ {
		sumTapsS2(y[r*ldy:r*ldy+n], x[r*ldx:], k)
	}
}
