//go:build !noasm

package nn

import "golang.org/x/sys/cpu"

// hasAVX512 selects the AVX-512 depthwise kernels, which read the input
// planes in place (masked loads do the zero padding).
var hasAVX512 = cpu.X86.HasAVX512F

// dwArgs is what the AVX-512 depthwise kernels read (offsets A_* in
// dw512_amd64.s).
type dwArgs struct {
	x     *float32    // input plane
	y     *float32    // output plane
	w     *[9]float32 // the channel's filter
	ep    [4]float32  // bias, lo, hi (clamp bounds), unused
	zero  *float32    // ld zeros: the rows above and below the plane
	masks *uint16     // per block of 16 outputs: tap masks, then the store mask
	h     int         // input rows
	ld    int         // input row length
	oh    int         // output rows
	ow    int         // output row length
	nblk  int         // blocks of 16 outputs per row
	sh    int         // vertical stride
	ph    int         // top padding
	off   int         // input column of output 0's first tap (-left padding)
}

// Both kernels compute, for every output (r, c) of a plane,
//
//	y[r·ow + c] = min(max(bias + Σ_{i,j<3} w[3i+j]·X(r·sh - ph + i, c·s + off + j), lo), hi)
//
// where X is the input plane, zero outside [0, h) × [0, ld); s is 1 or 2.

//go:noescape
func dw3x3s1AVX512(a *dwArgs)

//go:noescape
func dw3x3s2AVX512(a *dwArgs)

// dwPlan is the per-layer part of dwArgs for the AVX-512 kernels.
type dwPlan struct {
	masks []uint16
	zero  []float32
	args  dwArgs
}

// newDWPlan prepares the AVX-512 depthwise kernels for a 3×3 layer with
// stride 1 or 2 in both directions and no dilation, or returns nil when
// they do not apply.
func newDWPlan(d *conv2d) *dwPlan {
	if !hasAVX512 || d.kh != 3 || d.kw != 3 || d.dh != 1 || d.dw != 1 || d.sw != d.sh || (d.sw != 1 && d.sw != 2) {
		return nil
	}
	nblk := (d.ow + 15) / 16
	// lanes j with 0 <= base+j < d.w
	mask := func(base int) uint16 {
		var m uint16
		for j := 0; j < 16; j++ {
			if c := base + j; c >= 0 && c < d.w {
				m |= 1 << j
			}
		}
		return m
	}
	store := func(b int) uint16 {
		n := min(16, d.ow-16*b)
		return uint16(1<<n - 1)
	}
	p := &dwPlan{zero: make([]float32, d.w)}
	for b := 0; b < nblk; b++ {
		if d.sw == 1 {
			c := 16*b - d.pw
			p.masks = append(p.masks, mask(c), mask(c+1), mask(c+2), store(b))
		} else {
			c := 32*b - d.pw
			p.masks = append(p.masks, mask(c), mask(c+16), mask(c+2), mask(c+18), store(b))
		}
	}
	p.args = dwArgs{zero: &p.zero[0], masks: &p.masks[0], h: d.h, ld: d.w, oh: d.oh, ow: d.ow,
		nblk: nblk, sh: d.sh, ph: d.ph, off: -d.pw}
	return p
}

// run computes one plane.
func (p *dwPlan) run(x []float32, w *[9]float32, y []float32, bias, lo, hi float32) {
	a := p.args
	_ = x[a.h*a.ld-1]
	_ = y[a.oh*a.ow-1]
	a.x, a.y, a.w = &x[0], &y[0], w
	a.ep = [4]float32{bias, lo, hi, 0}
	if p.args.sh == 1 {
		dw3x3s1AVX512(&a)
	} else {
		dw3x3s2AVX512(&a)
	}
}
