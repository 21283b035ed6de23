package gemm

import "unsafe"

// microKernel describes one register-blocked micro-kernel and the cache
// blocking that suits it.
//
// fn computes the mr×nr product of a packed A panel (k steps of mr values)
// and a packed B panel (k steps of nr values), then, as p.flags say,
// scales it by alpha, adds beta*C, adds row and column bias, clips, and
// stores it to the tile at c (row stride ldc elements).
type microKernel struct {
	name   string
	mr, nr int
	kc     int // largest K block: an mr×kc A panel should sit in L1
	nc     int // N block (multiple of nr): a kc×nc B block should sit in L2
	// maskRows/maskCols tell that fn honours p.rows / p.cols (p.mask0,
	// p.mask1) itself; otherwise partial tiles go through edgeTile.
	maskRows, maskCols bool
	// padRowBias tells that fn reads mr row-bias values even when fewer
	// rows are stored.
	padRowBias bool
	fn         func(k int, a, b, c *float32, ldc int, p *kparams)
	// direct, if set, is fn reading a row-major B in place (row stride
	// p.ldb, partial rows masked), which saves packing B when it would be
	// used by few A panels.
	direct func(k int, a, b, c *float32, ldc int, p *kparams)
	// indirect, if set, is fn reading row p of B at b + p.off[p] (see
	// SgemmPackedAIndirect).
	indirect func(k int, a, b, c *float32, ldc int, p *kparams)
	// short lists cheaper variants, by increasing height, that compute
	// only the first h rows of an A panel: used for panels with rows ≤ h
	// (the last panel of M, and small M such as a batch-1 Gemm).
	short []shortKernel
	// narrow lists variants, by increasing height (the last one full
	// height), that compute only the first nr/2 columns of a tile: used
	// for tiles with cols ≤ nr/2 (the last panel of N).
	narrow []shortKernel
}

// shortKernel is a variant of a micro-kernel for short panels.
type shortKernel struct {
	h                    int
	fn, direct, indirect func(k int, a, b, c *float32, ldc int, p *kparams)
}

// activeKernel is the micro-kernel used by new calls and new packings,
// chosen at init from the CPU's features (see stubs_*.go).
var activeKernel = bestKernel()

// kernelGo is the portable micro-kernel.
var kernelGo = &microKernel{
	name: "go4x4", mr: 4, nr: 4, kc: 256, nc: 512,
	maskRows: true, maskCols: true,
	fn: sgemmKernelGo4x4,
}

// sgemmKernelGo4x4 is the portable 4×4 micro-kernel.
func sgemmKernelGo4x4(k int, a, b, c *float32, ldc int, p *kparams) {
	const mr, nr = 4, 4
	as := unsafe.Slice(a, k*mr)
	bs := unsafe.Slice(b, k*nr)
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < k; p++ {
		av := (*[mr]float32)(as[p*mr:])
		bv := (*[nr]float32)(bs[p*nr:])
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [mr * nr]float32{
		c00, c01, c02, c03,
		c10, c11, c12, c13,
		c20, c21, c22, c23,
		c30, c31, c32, c33,
	}
	storeTile(acc[:], nr, c, ldc, p)
}

// storeTile finishes and stores a tile computed into acc (rows of nr
// values, at least p.rows of them): the scalar form of the kernels'
// store phase.
func storeTile(acc []float32, nr int, c *float32, ldc int, p *kparams) {
	rows, cols := int(p.rows), int(p.cols)
	cs := unsafe.Slice(c, (rows-1)*ldc+cols)
	var rb, cb []float32
	if p.flags&flagRowBias != 0 {
		rb = unsafe.Slice(p.rowBias, rows)
	}
	if p.flags&flagColBias != 0 {
		cb = unsafe.Slice(p.colBias, cols)
	}
	for r := 0; r < rows; r++ {
		row := cs[r*ldc : r*ldc+cols]
		for j := range row {
			v := acc[r*nr+j]
			if p.flags&flagAlpha != 0 {
				v *= p.alpha
			}
			if p.flags&flagLoadC != 0 {
				v += p.beta * row[j]
			}
			row[j] = finish(v, r, j, p, rb, cb)
		}
	}
}

// edgeTile runs kern on a partial tile it cannot store itself: the full
// product goes to a scratch tile, then storeTile finishes it into C.
func edgeTile(kern *microKernel, k int, a, b, c *float32, ldc int, p *kparams, tmp []float32) {
	q := kparams{rows: uint32(kern.mr), cols: uint32(kern.nr), mask0: 0xffff, mask1: 0xffff}
	kern.fn(k, a, b, &tmp[0], kern.nr, &q)
	storeTile(tmp, kern.nr, c, ldc, p)
}
