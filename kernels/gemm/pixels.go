package gemm

import "fmt"

// The pixel products serve convolutions on small maps: the output channels
// are the vector lanes and a segment of up to 14 pixels of one output row
// the rows of the register tile, so 7x7 and 14x14 maps fill their tiles
// (in the usual product, with pixels in the lanes, 49 pixels fill 49 of 64
// lanes). The input is read in place through a table of offsets, as in
// SgemmPackedAIndirect, and the tile is scattered into the channel-major
// output.

// PixelWeights is W (m output channels × k taps) packed for SgemmPixels:
// panels of 32 channels, k-major, the whole K in one block.
type PixelWeights struct {
	m, k int
	data []float32
}

// PackPixelWeights packs the m×k row-major matrix w (row stride ldw).
func PackPixelWeights(m, k int, w []float32, ldw int) *PixelWeights {
	checkMat("W", false, m, k, w, ldw)
	panels := (m + 31) / 32
	pw := &PixelWeights{m: m, k: k, data: alignedFloats(panels * 32 * k)}
	for j := 0; j < panels; j++ {
		panel := pw.data[j*32*k : (j+1)*32*k]
		for c := 0; c < 32; c++ {
			if j*32+c >= m {
				for p := 0; p < k; p++ {
					panel[p*32+c] = 0
				}
				continue
			}
			row := w[(j*32+c)*ldw : (j*32+c)*ldw+k]
			for p, v := range row {
				panel[p*32+c] = v
			}
		}
	}
	return pw
}

// Unpack returns the m×k matrix that was packed, row-major (for a caller
// that kept only this packing and needs another one).
func (pw *PixelWeights) Unpack() []float32 {
	out := make([]float32, pw.m*pw.k)
	for c := 0; c < pw.m; c++ {
		panel := pw.data[c/32*32*pw.k:]
		row := out[c*pw.k : (c+1)*pw.k]
		for p := range row {
			row[p] = panel[p*32+c%32]
		}
	}
	return out
}

// M is the number of output channels of pw.
func (pw *PixelWeights) M() int { return pw.m }

// K is the number of taps of pw.
func (pw *PixelWeights) K() int { return pw.k }

// Segment is a run of N ≤ 14 output pixels (Pixel, Pixel+1, ...) whose
// inputs for tap p are x[Base+off[p]], x[Base+off[p]+1], ...
type Segment struct {
	Base, Pixel, N int32
}

// MaxSegment is the longest Segment SgemmPixels takes.
const MaxSegment = 14

type pixelKernel struct {
	h  int
	fn func(k int, w, x, y *float32, ldy int, p *kparams)
}

// HasPixels reports whether SgemmPixels has kernels on this CPU (it
// computes the same result without them, slowly: a reference loop).
func HasPixels() bool { return pixelKernels != nil }

// SgemmPixels computes, for every segment s and output channel c < pw.M(),
//
//	y[c*ldy + s.Pixel+i] = act(Σ_p W[c,p]·x[s.Base+off[p]+i] + beta·y[...] + RowBias[c])
//
// for i < s.N. opt.Epilogue.RowBias is per channel (as for W·X); ColBias
// is not allowed. Segments run in parallel over opt.Parallel and must not
// share output pixels.
func SgemmPixels(pw *PixelWeights, x []float32, off []int32, segs []Segment, beta float32,
	y []float32, ldy int, opt *Options) {
	m, k := pw.m, pw.k
	if len(off) < k {
		panic(fmt.Sprintf("gemm: SgemmPixels: %d offsets for k=%d", len(off), k))
	}
	if opt != nil && opt.Epilogue.ColBias != nil {
		panic("gemm: SgemmPixels: ColBias not supported")
	}
	if opt != nil && opt.Epilogue.RowBias != nil && len(opt.Epilogue.RowBias) < m {
		panic(fmt.Sprintf("gemm: SgemmPixels: RowBias has %d values, want %d", len(opt.Epilogue.RowBias), m))
	}
	lo, hi := int32(0), int32(0)
	for p, o := range off[:k] {
		if p == 0 || o < lo {
			lo = o
		}
		if p == 0 || o > hi {
			hi = o
		}
	}
	end := 0 // one past the last output pixel of any segment
	for _, s := range segs {
		if s.N < 1 || s.N > MaxSegment || s.Pixel < 0 || int(s.Pixel)+int(s.N) > ldy ||
			(k > 0 && (int(s.Base)+int(lo) < 0 || int(s.Base)+int(hi)+int(s.N) > len(x))) {
			panic(fmt.Sprintf("gemm: SgemmPixels: segment %+v outside x (%d floats, offsets %d..%d) or y (ldy %d)",
				s, len(x), lo, hi, ldy))
		}
		end = max(end, int(s.Pixel)+int(s.N))
	}
	// The kernels scatter without bounds checks: y must hold every row.
	if m > 0 && len(segs) > 0 && len(y) < (m-1)*ldy+end {
		panic(fmt.Sprintf("gemm: SgemmPixels: y has %d floats, want %d rows of stride %d reaching pixel %d",
			len(y), m, ldy, end))
	}
	if m == 0 || len(segs) == 0 {
		return
	}
	var g call
	g.setOptions(opt)
	// Work items are (segment, 32-channel panel) pairs, handed out in
	// contiguous ranges. Segment-major on large maps (threads share the
	// input of their rows); panel-major on small ones, whose few segments
	// differ in length (49 pixels are 14+14+14+7: halves of 28 and 21).
	panels := (m + 31) / 32
	items := len(segs) * panels
	panelMajor := len(segs) < 16
	run := func(lo, hi int) { pixelsRange(pw, x, off, segs, lo, hi, panelMajor, beta, y, ldy, &g) }
	work := 32 * k * MaxSegment
	if g.par == nil || work*items < 2*minParallelWork {
		run(0, items)
		return
	}
	g.par(items, max(1, minParallelWork/work), run)
}

// pixelsRange computes work items [lo, hi) of SgemmPixels.
func pixelsRange(pw *PixelWeights, x []float32, off []int32, segs []Segment, lo, hi int, panelMajor bool,
	beta float32, y []float32, ldy int, g *call) {
	m, k := pw.m, pw.k
	panels := (m + 31) / 32
	item := func(it int) (Segment, int) {
		if panelMajor {
			return segs[it%len(segs)], it / len(segs) * 32
		}
		return segs[it/panels], it % panels * 32
	}
	if pixelKernels == nil || k == 0 {
		for it := lo; it < hi; it++ {
			s, c0 := item(it)
			pixelsRef(pw, x, off, []Segment{s}, c0, min(m, c0+32), beta, y, ldy, g)
		}
		return
	}
	var idx [16]int32
	for i := range idx {
		idx[i] = int32(i * ldy)
	}
	var p kparams
	p.off, p.idx = &off[0], &idx[0]
	p.lo, p.hi = g.lo, g.hi
	p.beta = beta
	p.flags = g.epFlags &^ flagColBias
	if beta != 0 {
		p.flags |= flagLoadC
	}
	for it := lo; it < hi; it++ {
		s, c0 := item(it)
		var fn func(k int, w, x, y *float32, ldy int, p *kparams)
		for _, pk := range pixelKernels {
			if int(s.N) <= pk.h {
				fn = pk.fn
				break
			}
		}
		p.rows = uint32(s.N)
		p.mask0, p.mask1 = laneMasks(min(32, m-c0))
		if g.rowBias != nil {
			p.rowBias = &g.rowBias[c0]
		}
		fn(k, &pw.data[c0*k], &x[s.Base], &y[c0*ldy+int(s.Pixel)], ldy, &p)
	}
}

// pixelsRef is the portable SgemmPixels, for channels [c0, c1).
func pixelsRef(pw *PixelWeights, x []float32, off []int32, segs []Segment, c0, c1 int, beta float32,
	y []float32, ldy int, g *call) {
	k := pw.k
	p := kparams{flags: g.epFlags &^ flagColBias, lo: g.lo, hi: g.hi}
	for _, s := range segs {
		for c := c0; c < c1; c++ {
			panel := pw.data[c/32*32*k:]
			for i := 0; i < int(s.N); i++ {
				var acc float32
				for t := 0; t < k; t++ {
					acc += panel[t*32+c%32] * x[int(s.Base)+int(off[t])+i]
				}
				dst := &y[c*ldy+int(s.Pixel)+i]
				if beta != 0 {
					acc += beta * *dst
				}
				var rb []float32
				if g.rowBias != nil {
					rb = g.rowBias[c:]
				}
				*dst = finish(acc, 0, 0, &p, rb, nil)
			}
		}
	}
}
