package nn

import (
	"math"

	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

// Indirect convolution: the 2-D float32 convolutions with packed weights
// multiply the weights by the input in place, with no unfolded (im2col)
// copy. The input is copied once into zero-padded planes, split by stride
// phase; the output is computed on a grid as wide as those planes, where
// output (oy, ox) is column oy·wq + ox, so that the unfolded row of tap
// (channel, ky, kx) is the phase plane itself shifted by a constant: the
// product reads B rows through a table of offsets
// (gemm.SgemmPackedAIndirect). The grid's extra columns (wq - ow per output
// row, the horizontal padding) are computed and dropped when the grid is
// compacted into the output, which costs a copy of the output; the im2col
// path it replaces copied the input once per tap.

// phased is the geometry of the phase planes: padded input row r, column
// c lies in phase (r mod sh, c mod sw) at (r / sh, c / sw), each phase a
// hq×wq plane, the sh·sw phases of a channel one after the other.
type phased struct {
	d      *conv2d
	hp, wp int // the padded input (see padded)
	hq, wq int
}

func newPhased(d *conv2d) phased {
	p := newPadded(d)
	return phased{d: d, hp: p.hp, wp: p.wp, hq: (p.hp + d.sh - 1) / d.sh, wq: (p.wp + d.sw - 1) / d.sw}
}

// channel is the size of one channel's phase planes.
func (q phased) channel() int { return q.d.sh * q.d.sw * q.hq * q.wq }

// gridN is the number of grid columns that hold or precede an output:
// the last output row ends the grid.
func (q phased) gridN() int { return (q.d.oh-1)*q.wq + q.d.ow }

// useIndirect tells whether the indirect path serves a convolution of cg
// input channels and mg output channels per group: the gemm package has
// an indirect kernel for this CPU, the offsets fit in int32, and it saves
// more than it costs. It saves the unfolded copy (K = cg·kh·kw values per
// output pixel) and costs the grid's compaction (mg values per output
// pixel) unless the grid is the output: with K <= mg (the first
// convolutions of a network, such as 3->32 3x3) im2col is faster
// (BenchmarkConvReuse: 3->32 3x3 stride 2 on 224x224, 71 vs 60 GFLOP/s).
func useIndirect(d *conv2d, cg, mg int) bool {
	if !gemm.HasIndirect() {
		return false
	}
	q := newPhased(d)
	return q.offsetsFit(cg) && (q.wq == d.ow || cg*d.kh*d.kw > mg)
}

// offsetsFit tells whether the tap offsets into the phase planes of cg
// channels fit in int32.
func (q phased) offsetsFit(cg int) bool {
	return int64(cg)*int64(q.channel()) < math.MaxInt32
}

// groupBias returns the float32 bias of the output channels of group g,
// or nil.
func (p *convProblem[F]) groupBias(g int) []float32 {
	if p.bias == nil {
		return nil
	}
	mg := p.m / p.group
	return any(p.bias).([]float32)[g*mg : (g+1)*mg]
}

// allocPlanes returns scratch for the phase planes of one group's input.
func (p *convProblem[F]) allocPlanes(q phased) (*tensor.Tensor, error) {
	return allocFull(p.ctx, tensor.Float32, []int{p.cg, q.channel()}) // fill writes every element
}

// fillPlanes copies group g of image ni into the phase planes xq.
func (p *convProblem[F]) fillPlanes(q phased, xq []float32, ni, g int) {
	xs := any(p.x).([]float32)[(ni*p.c+g*p.cg)*p.inSize : (ni*p.c+(g+1)*p.cg)*p.inSize]
	p.ctx.Parallel(p.cg, max(1, 4096/p.inSize), func(lo, hi int) { q.fill(xs, xq, lo, hi) })
}

// offsets returns the B row offsets of the unfolded input, row (c, ky, kx)
// in the order of the packed weights.
func (q phased) offsets(cg int) []int32 {
	d := q.d
	off := make([]int32, 0, cg*d.kh*d.kw)
	for c := 0; c < cg; c++ {
		for ky := 0; ky < d.kh; ky++ {
			ry := ky * d.dh
			for kx := 0; kx < d.kw; kx++ {
				rx := kx * d.dw
				phase := (ry%d.sh)*d.sw + rx%d.sw
				o := c*q.channel() + phase*q.hq*q.wq + ry/d.sh*q.wq + rx/d.sw
				off = append(off, int32(o))
			}
		}
	}
	return off
}

// fill copies channels [c0, c1) of x into their phase planes in xq,
// zeros included (xq need not be cleared beforehand).
func (q phased) fill(x, xq []float32, c0, c1 int) {
	d := q.d
	if d.sh == 1 && d.sw == 1 {
		padded{d: d, hp: q.hp, wp: q.wp}.pad(x, xq, c0, c1)
		return
	}
	plane := d.h * d.w
	for c := c0; c < c1; c++ {
		dst := xq[c*q.channel() : (c+1)*q.channel()]
		clear(dst)
		xc := x[c*plane : (c+1)*plane]
		for ih := 0; ih < d.h; ih++ {
			r := ih + d.ph
			if r < 0 || r >= q.hp {
				continue
			}
			src := xc[ih*d.w : (ih+1)*d.w]
			for b := 0; b < d.sw; b++ {
				// padded columns b, b+sw, ...: input columns b-pw+t·sw
				row := dst[((r%d.sh)*d.sw+b)*q.hq*q.wq+r/d.sh*q.wq:][:q.wq]
				first := b - d.pw // input column of t = 0
				t0 := 0
				if first < 0 {
					t0 = (-first + d.sw - 1) / d.sw
				}
				t1 := min(q.wq, (d.w-1-first)/d.sw+1)
				if first > d.w-1 || t0 >= t1 {
					continue
				}
				seg := row[t0:t1]
				s := src[first+t0*d.sw:]
				if d.sw == 2 && len(s) >= 2*len(seg) {
					gatherS2(seg, s)
					continue
				}
				for i := range seg {
					seg[i] = s[i*d.sw]
				}
			}
		}
	}
}

// indirect is im2colGemm's float32 path: see the comment at the top of
// this file. y32 is the output (holding the residual when p.beta = 1).
func (p *convProblem[F]) indirect(d2 *conv2d) error {
	y32 := any(p.y).([]float32)
	mg := p.m / p.group
	opt := p.gemmOptions()
	q := newPhased(d2)
	xqT, err := p.allocPlanes(q)
	if err != nil {
		return err
	}
	defer p.ctx.Free(xqT)
	xq := xqT.F32()
	off := q.offsets(p.cg)
	n := q.gridN()
	direct := q.wq == d2.ow // the grid is the output
	var grid []float32
	if !direct {
		gT, err := allocFull(p.ctx, tensor.Float32, []int{mg, n})
		if err != nil {
			return err
		}
		defer p.ctx.Free(gT)
		grid = gT.F32()
	}
	for ni := 0; ni < p.n; ni++ {
		for g := 0; g < p.group; g++ {
			p.fillPlanes(q, xq, ni, g)
			opt.Epilogue.RowBias = p.groupBias(g)
			ys := y32[(ni*p.m+g*mg)*p.outSize : (ni*p.m+(g+1)*mg)*p.outSize]
			c, ldc := ys, p.outSize
			if !direct {
				c, ldc = grid, n
				if p.beta != 0 { // the residual, onto the grid
					p.ctx.Parallel(mg, 1, func(lo, hi int) { q.regrid(ys, grid, lo, hi) })
				}
			}
			gemm.SgemmPackedAIndirect(mg, n, p.cg*p.kk, 1, p.packed[g], xq, off, float32(p.beta), c, ldc, &opt)
			if !direct {
				p.ctx.Parallel(mg, max(1, 8192/p.outSize), func(lo, hi int) { q.compact(grid, ys, lo, hi) })
			}
			if _, fused := gemmEpilogue(p.act); !fused {
				p.epilogue(ni, g*mg, mg, 0, p.outSize, false)
			}
		}
	}
	return nil
}

// compact copies rows [m0, m1) of the grid into the output.
func (q phased) compact(grid, y []float32, m0, m1 int) {
	d := q.d
	n, size := q.gridN(), d.oh*d.ow
	for m := m0; m < m1; m++ {
		gr, yr := grid[m*n:(m+1)*n], y[m*size:(m+1)*size]
		for oy := 0; oy < d.oh; oy++ {
			copy(yr[oy*d.ow:(oy+1)*d.ow], gr[oy*q.wq:])
		}
	}
}

// regrid is compact's inverse, for rows [m0, m1) (the grid's extra columns
// are left as they are).
func (q phased) regrid(y, grid []float32, m0, m1 int) {
	d := q.d
	n, size := q.gridN(), d.oh*d.ow
	for m := m0; m < m1; m++ {
		gr, yr := grid[m*n:(m+1)*n], y[m*size:(m+1)*size]
		for oy := 0; oy < d.oh; oy++ {
			copy(gr[oy*q.wq:oy*q.wq+d.ow], yr[oy*d.ow:(oy+1)*d.ow])
		}
	}
}
