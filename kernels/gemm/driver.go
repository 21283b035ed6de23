package gemm

import (
	"sync"
)

// call is one GEMM after argument checking: op(A) is always packed (by
// the caller or at the start of the call), op(B) is packed block by block
// unless pre-packed.
type call struct {
	kern    *microKernel
	m, n, k int
	alpha   float32 // applied by the kernel
	beta    float32
	c       []float32
	ldc     int

	pa  []float32 // packed op(A), K blocks of kcA
	kcA int

	pb     *PackedB // pre-packed op(B), or nil
	src    BSource  // op(B) produced block by block, or nil
	b      []float32
	ldb    int
	transB bool
	off    []int32 // row offsets of B in b (indirect kernels), or nil

	epFlags uint32
	lo, hi  float32
	rowBias []float32
	colBias []float32
	par     ParallelFor
}

func (g *call) setOptions(opt *Options) {
	g.lo, g.hi = 0, 0
	if opt == nil {
		return
	}
	g.par = opt.Parallel
	g.epFlags, g.lo, g.hi = epilogueFlags(&opt.Epilogue)
	g.rowBias = opt.Epilogue.RowBias
	g.colBias = opt.Epilogue.ColBias
}

// workspace holds per-goroutine scratch buffers.
type workspace struct {
	a, b, bias, tmp, fill []float32
}

var wsPool = sync.Pool{New: func() any { return new(workspace) }}

func getWorkspace() *workspace   { return wsPool.Get().(*workspace) }
func putWorkspace(ws *workspace) { wsPool.Put(ws) }

// minParallelWork is the multiply-add count below which a call, or a
// chunk of one, is not split further.
const minParallelWork = 1 << 18

// maxPackedA bounds, in floats, the packed copy of A that a call makes:
// taller A is processed in chunks of rows.
var maxPackedA = 2 << 20

// runPackingA packs op(A) in chunks of rows and runs each chunk. A chunk
// is packed once and shared by all threads.
func (g *call) runPackingA(ws *workspace, transA bool, a []float32, lda int) {
	kern := g.kern
	chunk := max(kern.mr, maxPackedA/g.k/kern.mr*kern.mr)
	for i0 := 0; i0 < g.m; i0 += chunk {
		h := *g
		h.m = min(chunk, g.m-i0)
		h.c = g.c[i0*g.ldc:]
		if g.rowBias != nil {
			h.rowBias = g.rowBias[i0:]
		}
		var as []float32
		if transA {
			as = a[i0:]
		} else {
			as = a[i0*lda:]
		}
		ws.a = grow(ws.a, packedASize(kern, h.m, g.k, g.kcA))
		packA(kern, transA, h.m, g.k, g.kcA, as, lda, 1, ws.a)
		h.pa = ws.a
		h.run(ws)
	}
}

// run computes C, split over g.par when set.
func (g *call) run(ws *workspace) {
	kern := g.kern
	if g.epFlags&flagRowBias != 0 && kern.padRowBias && len(g.rowBias) < roundUp(g.m, kern.mr) {
		// The kernel reads mr biases per tile: pad to whole panels.
		ws.bias = grow(ws.bias, roundUp(g.m, kern.mr))
		clear(ws.bias[copy(ws.bias, g.rowBias[:g.m]):])
		g.rowBias = ws.bias
	}
	work := g.m * g.n * g.k
	if g.par == nil || work < 2*minParallelWork {
		g.block(ws, 0, g.m, 0, g.n)
		return
	}
	nPanels := (g.n + kern.nr - 1) / kern.nr
	mPanels := (g.m + kern.mr - 1) / kern.mr
	// Prefer splitting N: each thread then packs its own part of B.
	// Split M only when N is too narrow to share out.
	if nPanels >= 8 || nPanels >= mPanels {
		grain := max(1, minParallelWork/(g.m*g.k*kern.nr))
		g.par(nPanels, grain, func(lo, hi int) {
			w := getWorkspace()
			g.block(w, 0, g.m, lo*kern.nr, min(hi*kern.nr, g.n))
			putWorkspace(w)
		})
		return
	}
	grain := max(1, minParallelWork/(g.n*g.k*kern.mr))
	g.par(mPanels, grain, func(lo, hi int) {
		w := getWorkspace()
		g.block(w, lo*kern.mr, min(hi*kern.mr, g.m), 0, g.n)
		putWorkspace(w)
	})
}

// block computes rows i0..i1 and columns j0..j1 of C; i0 is a multiple of
// mr and j0 of nr.
func (g *call) block(ws *workspace, i0, i1, j0, j1 int) {
	if g.off != nil {
		g.blockIndirect(ws, i0, i1, j0, j1)
		return
	}
	kern := g.kern
	mr, nr := kern.mr, kern.nr
	kc := g.kcA
	mpad := roundUp(g.m, mr)
	npad := roundUp(g.n, nr)
	nc := kern.nc
	direct := g.useDirect()
	if g.pb == nil && !direct {
		ws.b = grow(ws.b, kc*roundUp(min(nc, j1-j0), nr))
	}
	fillLd := 0
	if g.src != nil {
		fillLd = min(nc, j1-j0)
		if fillLd%1024 == 0 {
			fillLd += 16 // rows 4 KiB apart would alias in L1
		}
		ws.fill = grow(ws.fill, kc*fillLd)
	}
	fn := kern.fn
	if direct {
		fn = kern.direct
	}
	if len(ws.tmp) < mr*nr {
		ws.tmp = alignedFloats(mr * nr)
	}
	var p kparams
	for jc := j0; jc < j1; jc += nc {
		ncb := min(nc, j1-jc)
		for p0 := 0; p0 < g.k; p0 += kc {
			kb := min(kc, g.k-p0)
			var bblk []float32
			bstep := kb // distance between B panels, in units of nr
			switch {
			case g.pb != nil:
				bblk = g.pb.data[p0*npad+jc*kb:]
			case g.src != nil:
				fill := ws.fill[:kb*fillLd]
				g.src(fill, fillLd, p0, kb, jc, ncb)
				if direct {
					bblk = fill
					bstep = 1
					p.ldb = fillLd
				} else {
					packBBlock(nr, false, fill, fillLd, 0, kb, 0, ncb, ws.b)
					bblk = ws.b
				}
			case direct:
				bblk = g.b[p0*g.ldb+jc:]
				bstep = 1
				p.ldb = g.ldb
			default:
				packBBlock(nr, g.transB, g.b, g.ldb, p0, kb, jc, ncb, ws.b)
				bblk = ws.b
			}
			ablk := g.pa[p0*mpad+i0*kb:]

			g.setKBlock(&p, p0, kb)
			for i := i0; i < i1; i += mr {
				ap := &ablk[(i-i0)*kb]
				rows := min(mr, i1-i)
				p.rows = uint32(rows)
				fn := fn
				if s := variantFor(kern.short, rows); s != nil && rows < mr && !noShort {
					fn = s.pick(direct)
				}
				if p.flags&flagRowBias != 0 {
					p.rowBias = &g.rowBias[i]
				}
				// the narrow variant for a last panel of at most nr/2 columns
				var nfn func(k int, a, b, c *float32, ldc int, p *kparams)
				if s := variantFor(kern.narrow, rows); s != nil && !noNarrow {
					nfn = s.pick(direct)
				}
				for j := jc; j < jc+ncb; j += nr {
					bp := &bblk[(j-jc)*bstep]
					cols := min(nr, jc+ncb-j)
					p.cols = uint32(cols)
					fn := fn
					if cols <= nr/2 && nfn != nil {
						fn = nfn
					}
					p.mask0, p.mask1 = laneMasks(cols)
					if p.flags&flagColBias != 0 {
						p.colBias = &g.colBias[j]
					}
					cp := &g.c[i*g.ldc+j]
					if (rows < mr && !kern.maskRows) || (cols < nr && !kern.maskCols) {
						edgeTile(kern, kb, ap, bp, cp, g.ldc, &p, ws.tmp)
					} else {
						fn(kb, ap, bp, cp, g.ldc, &p)
					}
				}
			}
		}
	}
}

// useDirect tells whether to read B in place rather than pack it.
func (g *call) useDirect() bool {
	return g.pb == nil && !g.transB && g.kern.direct != nil && !forcePack &&
		(forceDirect || g.m <= directMaxM)
}

// directMaxM is the largest M for which B is read in place: packing B
// pays off only when each B panel is reused by enough A panels.
var directMaxM = 1024

// Test hooks forcing one B path, or the full-height kernel for short
// panels.
var forcePack, forceDirect, noShort, noNarrow bool

// laneMasks returns the AVX-512 store masks for the first cols columns of
// a 32-wide tile.
func laneMasks(cols int) (uint32, uint32) {
	if cols >= 32 {
		return 0xffff, 0xffff
	}
	if cols >= 16 {
		return 0xffff, 1<<(cols-16) - 1
	}
	return 1<<cols - 1, 0
}

// scaleOnly handles k == 0: C = act(beta*C + bias).
func (g *call) scaleOnly() {
	p := kparams{flags: g.epFlags, lo: g.lo, hi: g.hi}
	for i := 0; i < g.m; i++ {
		row := g.c[i*g.ldc : i*g.ldc+g.n]
		for j := range row {
			v := float32(0)
			if g.beta != 0 {
				v = g.beta * row[j]
			}
			var rb, cb []float32
			if g.rowBias != nil {
				rb = g.rowBias[i:]
			}
			if g.colBias != nil {
				cb = g.colBias[j:]
			}
			row[j] = finish(v, 0, 0, &p, rb, cb)
		}
	}
}

// blockIndirect is block for an indirect B (g.off). The loops run K
// blocks, then B tiles, then A panels: a tile's B rows (for a
// convolution, a few rows of a few padded input planes) stay in L1 while
// every A panel passes over them, and the packed A block streams from L2
// in order.
func (g *call) blockIndirect(ws *workspace, i0, i1, j0, j1 int) {
	kern := g.kern
	mr, nr := kern.mr, kern.nr
	kc := g.kcA
	mpad := roundUp(g.m, mr)
	if len(ws.tmp) < mr*nr {
		ws.tmp = alignedFloats(mr * nr)
	}
	var p kparams
	for p0 := 0; p0 < g.k; p0 += kc {
		kb := min(kc, g.k-p0)
		ablk := g.pa[p0*mpad+i0*kb:]
		p.off = &g.off[p0]
		g.setKBlock(&p, p0, kb)
		for j := j0; j < j1; j += nr {
			cols := min(nr, j1-j)
			p.cols = uint32(cols)
			p.mask0, p.mask1 = laneMasks(cols)
			if p.flags&flagColBias != 0 {
				p.colBias = &g.colBias[j]
			}
			bp := &g.b[j]
			for i := i0; i < i1; i += mr {
				rows := min(mr, i1-i)
				p.rows = uint32(rows)
				fn := kern.indirect
				if s := variantFor(kern.narrow, rows); s != nil && cols <= nr/2 && !noNarrow {
					fn = s.indirect
				} else if s := variantFor(kern.short, rows); s != nil && rows < mr && !noShort {
					fn = s.indirect
				}
				if p.flags&flagRowBias != 0 {
					p.rowBias = &g.rowBias[i]
				}
				fn(kb, &ablk[(i-i0)*kb], bp, &g.c[i*g.ldc+j], g.ldc, &p)
			}
		}
	}
}

// setKBlock sets the flags, alpha and beta of the kernel calls for K block
// [p0, p0+kb): C is loaded back after the first block, and the epilogue
// is applied after the last.
func (g *call) setKBlock(p *kparams, p0, kb int) {
	p.flags = 0
	p.alpha, p.beta = g.alpha, g.beta
	if g.alpha != 1 {
		p.flags |= flagAlpha
	}
	if p0 > 0 {
		p.flags |= flagLoadC
		p.beta = 1
	} else if g.beta != 0 {
		p.flags |= flagLoadC
	}
	if p0+kb == g.k {
		p.flags |= g.epFlags
		p.lo, p.hi = g.lo, g.hi
	}
}

// variantFor returns the first of variants (by increasing height) that
// computes rows rows, or nil.
func variantFor(variants []shortKernel, rows int) *shortKernel {
	for i := range variants {
		if rows <= variants[i].h {
			return &variants[i]
		}
	}
	return nil
}

// pick returns the variant's kernel for packed or in-place B.
func (s *shortKernel) pick(direct bool) func(k int, a, b, c *float32, ldc int, p *kparams) {
	if direct {
		return s.direct
	}
	return s.fn
}
