//go:build !noasm

package nn

import (
	"unsafe"

	"github.com/edgedl/edgedl/kernels"
)

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

// poolPlanesF32 returns the AVX-512 kernel of a float32 MaxPool (inv nil)
// or AveragePool (inv: the reciprocal tap counts of a plane, avgPoolInv)
// of geometry d over all planes, one call per parallel chunk, so that
// many small planes cost little more than their outputs: for the
// geometries of poolSame3 and poolS2 and rows narrow enough for
// poolNarrowF32, nil for others or where there is no AVX-512.
func poolPlanesF32(d *conv2d, inv []float32) func(ctx *kernels.Ctx, x, y []float32, planes, grain int) {
	switch {
	case !hasAVX512 || d.h < 1 || d.w < 1 || d.oh < 1 || d.ow < 1:
		return nil
	case poolSame3(d):
		return poolSame3F32(d, inv)
	case d.w <= 32 && d.ow <= 16:
		return poolNarrowF32(d, inv)
	case poolS2(d):
		return poolS2F32(d, inv)
	}
	return nil
}

// overPlanes runs kernel k, which pools n consecutive planes of inSize
// inputs into outSize outputs, over the planes of x in parallel chunks.
func overPlanes(inSize, outSize int, k func(y, x *float32, n int)) func(ctx *kernels.Ctx, x, y []float32, planes, grain int) {
	return func(ctx *kernels.Ctx, x, y []float32, planes, grain int) {
		if planes == 0 {
			return
		}
		_, _ = x[planes*inSize-1], y[planes*outSize-1]
		ctx.Parallel(planes, grain, func(lo, hi int) { k(&y[lo*outSize], &x[lo*inSize], hi-lo) })
	}
}

// samePool is the geometry of poolSame3SumAVX512 and poolSame3MaxAVX512
// (offsets SP_* in pool512_amd64.s): planes as flat vectors of nb blocks
// of 16.
type samePool struct {
	masks    *uint16  // per block and one past the plane: 8 lane masks (see poolSame3SumAVX512)
	inv      *float32 // per output: the reciprocal tap count (16·nb; sums)
	lastOff  int      // 64(nb-1)
	end      int      // 64nb
	lastMask int      // lanes of the last block
	plane    int      // bytes per plane
	up       int      // byte offset of the row above
}

//go:noescape
func poolSame3SumAVX512(y, x *float32, planes int, p *samePool)

//go:noescape
func poolSame3MaxAVX512(y, x *float32, planes int, p *samePool)

// poolSame3 reports whether d is a 3x3 stride-1 pool padded by one on each
// side (the output the size of the input), for poolSame3F32.
func poolSame3(d *conv2d) bool {
	return d.kh == 3 && d.kw == 3 && d.sh == 1 && d.sw == 1 && d.dh == 1 && d.dw == 1 &&
		d.ph == 1 && d.pw == 1 && d.eh == 1 && d.ew == 1
}

// poolSame3F32 is poolPlanesF32 for the geometries of poolSame3.
func poolSame3F32(d *conv2d, inv []float32) func(ctx *kernels.Ctx, x, y []float32, planes, grain int) {
	hw := d.h * d.w
	nb := (hw + 15) / 16
	m := make([]uint16, 8*(nb+1))
	for i, c := 0, 0; i < hw; i, c = i+1, c+1 {
		if c == d.w {
			c = 0
		}
		e, bit := m[i>>4*8:i>>4*8+5], uint16(1)<<(i&15)
		if i >= d.w {
			e[0] |= bit
		}
		if i+d.w < hw {
			e[1] |= bit
		}
		e[2] |= bit
		if c > 0 {
			e[3] |= bit
		}
		if c < d.w-1 {
			e[4] |= bit
		}
	}
	p := &samePool{masks: &m[0], lastOff: 64 * (nb - 1), end: 64 * nb, lastMask: 1<<(hw-16*(nb-1)) - 1,
		plane: 4 * hw, up: -4 * d.w}
	if inv == nil {
		return overPlanes(hw, hw, func(y, x *float32, n int) { poolSame3MaxAVX512(y, x, n, p) })
	}
	binv := make([]float32, 16*nb)
	copy(binv, inv)
	p.inv = &binv[0]
	return overPlanes(hw, hw, func(y, x *float32, n int) { poolSame3SumAVX512(y, x, n, p) })
}

// narrowPool is the geometry of poolNarrowMaxAVX512 and
// poolNarrowSumAVX512 (offsets NP_* in pool512_amd64.s).
type narrowPool struct {
	rows    *[2]int // per output row: byte offset of the window's first valid input row, valid rows
	rowsEnd uintptr
	idx     *[16]int32 // per tap: the input column of each output, in the row's two blocks
	masks   *uint16    // per tap: the outputs whose window holds it; then the store mask
	inv     *float32   // per output row: 16 reciprocal tap counts (sums)
	kw      int        // taps: at least 3, the others masked out
	rowStep int        // bytes between vertical taps
	ldy     int        // bytes per output row
	inPlane int        // bytes per input plane
	load    [2]uint16  // the input columns in the row's two blocks
}

//go:noescape
func poolNarrowMaxAVX512(y, x *float32, planes int, p *narrowPool)

//go:noescape
func poolNarrowSumAVX512(y, x *float32, planes int, p *narrowPool)

// poolRows returns per output row of d the byte offset of the window's
// first valid input row and the number of valid rows.
func poolRows(d *conv2d) (*[2]int, uintptr) {
	rows := make([][2]int, d.oh)
	for oh := range rows {
		ih0 := oh*d.sh - d.ph
		lo, hi := validRange(ih0, d.kh, d.dh, d.h)
		if hi > lo {
			rows[oh] = [2]int{(ih0 + lo*d.dh) * d.w * 4, hi - lo}
		}
	}
	return &rows[0], uintptr(unsafe.Pointer(&rows[0])) + uintptr(len(rows))*unsafe.Sizeof(rows[0])
}

// poolNarrowF32 is poolPlanesF32 for input rows of up to 32 floats and
// output rows of up to 16.
func poolNarrowF32(d *conv2d, inv []float32) func(ctx *kernels.Ctx, x, y []float32, planes, grain int) {
	idx := make([][16]int32, max(d.kw, 3)) // at least the 3 taps of NARROW3
	m := make([]uint16, len(idx)+1)
	for j := 0; j < d.kw; j++ {
		for c := 0; c < d.ow; c++ {
			if i := c*d.sw + j*d.dw - d.pw; i >= 0 && i < d.w {
				idx[j][c], m[j] = int32(i), m[j]|1<<c
			}
		}
	}
	m[len(idx)] = 1<<d.ow - 1
	p := &narrowPool{idx: &idx[0], masks: &m[0], kw: len(idx), rowStep: 4 * d.dh * d.w, ldy: 4 * d.ow,
		inPlane: 4 * d.h * d.w, load: [2]uint16{uint16(1<<min(d.w, 16) - 1), uint16(1<<max(d.w-16, 0) - 1)}}
	p.rows, p.rowsEnd = poolRows(d)
	inSize, outSize := d.h*d.w, d.oh*d.ow
	if inv == nil {
		return overPlanes(inSize, outSize, func(y, x *float32, n int) { poolNarrowMaxAVX512(y, x, n, p) })
	}
	binv := make([]float32, 16*d.oh)
	for oh := 0; oh < d.oh; oh++ {
		copy(binv[16*oh:], inv[oh*d.ow:(oh+1)*d.ow])
	}
	p.inv = &binv[0]
	return overPlanes(inSize, outSize, func(y, x *float32, n int) { poolNarrowSumAVX512(y, x, n, p) })
}

// s2Pool is the geometry of poolS2MaxAVX512 and poolS2SumAVX512 (offsets
// S2_* in pool512_amd64.s).
type s2Pool struct {
	rows    *[2]int // per output row: byte offset of the window's first valid input row, valid rows
	rowsEnd uintptr
	masks   *uint16  // per pair of input blocks: 8 lane masks (see poolS2MaxAVX512)
	inv     *float32 // per output row and block of 16: the reciprocal tap counts (sums)
	rowStep int      // bytes between vertical taps
	pairs   int      // output blocks + 1
	ldy     int      // bytes per output row
	pw      int
	inPlane int // bytes per input plane
}

//go:noescape
func poolS2MaxAVX512(y, x *float32, planes int, p *s2Pool)

//go:noescape
func poolS2SumAVX512(y, x *float32, planes int, p *s2Pool)

// poolS2 reports whether d has windows of at most 3 columns at stride 2
// and left padding at most 1, for poolS2F32.
func poolS2(d *conv2d) bool {
	return d.kw <= 3 && d.sw == 2 && d.dw == 1 && d.pw <= 1
}

// poolS2F32 is poolPlanesF32 for the geometries of poolS2.
func poolS2F32(d *conv2d, inv []float32) func(ctx *kernels.Ctx, x, y []float32, planes, grain int) {
	nob := (d.ow + 15) / 16
	m := make([]uint16, 8*(nob+1))
	for b := 0; b <= nob; b++ {
		e := m[8*b : 8*b+6]
		for l := 0; l < 16; l++ {
			bit := uint16(1) << l
			if 32*b+l < d.w {
				e[0] |= bit
			}
			if 32*b+16+l < d.w {
				e[1] |= bit
			}
			c := 16*b + l
			if c >= d.ow {
				continue
			}
			e[5] |= bit
			for j := 0; j < d.kw; j++ {
				// tap j is E[c], O[c], E[c+1] (pw 0) or O[c-1] (pw 1)
				if i := 2*c - d.pw + j; i >= 0 && i < d.w {
					e[2+(i-2*c+3)%3] |= bit
				}
			}
		}
	}
	p := &s2Pool{masks: &m[0], rowStep: 4 * d.dh * d.w, pairs: nob + 1, ldy: 4 * d.ow,
		pw: d.pw, inPlane: 4 * d.h * d.w}
	p.rows, p.rowsEnd = poolRows(d)
	inSize, outSize := d.h*d.w, d.oh*d.ow
	if inv == nil {
		return overPlanes(inSize, outSize, func(y, x *float32, n int) { poolS2MaxAVX512(y, x, n, p) })
	}
	binv := make([]float32, d.oh*nob*16)
	for oh := 0; oh < d.oh; oh++ {
		for b := 0; b < nob; b++ {
			copy(binv[(oh*nob+b)*16:(oh*nob+b+1)*16], inv[oh*d.ow+16*b:(oh+1)*d.ow])
		}
	}
	p.inv = &binv[0]
	return overPlanes(inSize, outSize, func(y, x *float32, n int) { poolS2SumAVX512(y, x, n, p) })
}

//go:noescape
func sumPlanesAVX512(y, x *float32, planes, n int, scale float32, m int)

// meanPlanesF32 sets y[p] to the mean of the p-th n floats of x (float32
// sums, in blocks of 16), reporting false where there is no AVX-512.
func meanPlanesF32(ctx *kernels.Ctx, x, y []float32, planes, n int) bool {
	if !hasAVX512 || n < 1 {
		return false
	}
	if planes == 0 {
		return true
	}
	_, _ = x[planes*n-1], y[planes-1]
	ctx.Parallel(planes, max(1, 8192/n), func(lo, hi int) {
		sumPlanesAVX512(&y[lo], &x[lo*n], hi-lo, n, 1/float32(n), 1<<(n%16)-1)
	})
	return true
}
