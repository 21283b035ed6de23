package nn

import (
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

// Small output maps (7x7, 14x14): the usual product W·im2col puts output
// pixels in the vector lanes, and 49 pixels fill 49 of 64 lanes (two
// 32-wide tiles), 196 pixels (or 224 grid columns) 196 of 208-224. The
// small-map path computes the transpose instead, Yᵀ = im2colᵀ·Wᵀ: output
// channels in the lanes (multiples of 32 in most networks) and pixels in
// the 12-row panels, which is what ONNX Runtime's NCHWc convolutions get
// from their layout. It costs the unfolded copy (which the packing of
// im2colᵀ reads) and a transpose of the output, both small next to the
// product when the maps are small and the channels many; and a second
// packing of the weights, made on first use from the packed copy.

// noSmallMap turns the small-map path off (tests and A/B benchmarks).
var noSmallMap = false

// useSmallMap tells whether a convolution with kdim = C/g·kh·kw inputs
// per output and mg output channels per group takes the small-map path:
// when its lanes are better filled that way, by an estimate of the tiles
// each way, and the copies it adds are small next to the product, which
// BenchmarkConvReuse found only with many output channels: 512->512 3x3
// on 7x7 maps 92 vs 84 GFLOP/s, but 160->224 on 7x7 even (82), 128->160
// on 14x14 90 vs 96 and 128->32 on 14x14 51 vs 83 (the indirect path).
func useSmallMap(d *conv2d, kdim, mg int) bool {
	if !gemm.HasIndirect() || mg < 256 || kdim < 64 {
		return false
	}
	n := d.oh * d.ow
	if n > 100 {
		return false
	}
	// the usual product: 32-wide tiles over pixels, a 16-wide last one
	lanes := func(x int) int {
		full := x / 32 * 32
		switch r := x - full; {
		case r == 0:
			return full
		case r <= 16:
			return full + 16
		default:
			return full + 32
		}
	}
	// the transpose: 12-row panels over pixels, 4- or 8-row last ones
	rows := func(x int) int {
		full := x / 12 * 12
		switch r := x - full; {
		case r == 0:
			return full
		case r <= 4:
			return full + 4
		case r <= 8:
			return full + 8
		default:
			return full + 12
		}
	}
	usual := float64(n) / float64(lanes(n))
	small := float64(n) / float64(rows(n)) * float64(mg) / float64(lanes(mg))
	return small > usual+0.05
}

// weightsT returns Wᵀ of each group, packed for gemm.SgemmPackedB,
// derived once from the packed W.
func (k *convKernel) weightsT() []*gemm.PackedB {
	k.transposedOnce.Do(func() {
		for _, pa := range k.packed {
			w := pa.Unpack() // mg × kdim
			k.transposed = append(k.transposed, gemm.PackB(true, pa.K(), pa.M(), w, pa.K()))
		}
	})
	return k.transposed
}

// smallMap computes the convolution as Yᵀ = im2colᵀ·Wᵀ (see above).
func (p *convProblem[F]) smallMap(d2 *conv2d) error {
	x32, y32 := any(p.x).([]float32), any(p.y).([]float32)
	mg := p.m / p.group
	kdim := p.cg * p.kk
	n := p.outSize
	wt := p.kern.weightsT()
	e, fused := gemmEpilogue(p.act)
	opt := gemm.Options{Parallel: p.ctx.Parallel, Epilogue: e}
	pd := newPadded(d2)
	xpT, err := allocFull(p.ctx, tensor.Float32, []int{p.cg, pd.hp, pd.wp}) // pad writes every element
	if err != nil {
		return err
	}
	defer p.ctx.Free(xpT)
	colT, err := allocFull(p.ctx, tensor.Float32, []int{kdim, n}) // im2col writes every element
	if err != nil {
		return err
	}
	defer p.ctx.Free(colT)
	ctT, err := allocFull(p.ctx, tensor.Float32, []int{n, mg})
	if err != nil {
		return err
	}
	defer p.ctx.Free(ctT)
	xp, col, ct := xpT.F32(), colT.F32(), ctT.F32()
	for ni := 0; ni < p.n; ni++ {
		for g := 0; g < p.group; g++ {
			xs := x32[(ni*p.c+g*p.cg)*p.inSize : (ni*p.c+(g+1)*p.cg)*p.inSize]
			ys := y32[(ni*p.m+g*mg)*n : (ni*p.m+(g+1)*mg)*n]
			p.ctx.Parallel(p.cg, max(1, 4096/p.inSize), func(lo, hi int) { pd.pad(xs, xp, lo, hi) })
			p.ctx.Parallel(kdim, max(1, 8192/n), func(lo, hi int) { pd.im2col(xp, lo, hi, 0, n, col[lo*n:], n) })
			if p.beta != 0 { // the residual, transposed
				p.ctx.Parallel(n, max(1, 8192/mg), func(lo, hi int) { transposeRows(ys, ct, n, mg, lo, hi) })
			}
			opt.Epilogue.ColBias = nil
			if p.bias != nil {
				opt.Epilogue.ColBias = any(p.bias).([]float32)[g*mg : (g+1)*mg]
			}
			gemm.SgemmPackedB(true, n, mg, kdim, 1, col, n, wt[g], float32(p.beta), ct, mg, &opt)
			p.ctx.Parallel(mg, max(1, 8192/n), func(lo, hi int) { transposeRows(ct, ys, mg, n, lo, hi) })
			if !fused {
				p.epilogue(ni, g*mg, mg, 0, n, false)
			}
		}
	}
	return nil
}

// transposeRows writes rows [lo, hi) of dst (cols wide) from the columns
// of src (cols rows of w values): dst[r][c] = src[c][r].
func transposeRows(src, dst []float32, w, cols, lo, hi int) {
	const blk = 16
	for r0 := lo; r0 < hi; r0 += blk {
		r1 := min(r0+blk, hi)
		for c0 := 0; c0 < cols; c0 += blk {
			c1 := min(c0+blk, cols)
			for r := r0; r < r1; r++ {
				d := dst[r*cols+c0 : r*cols+c1]
				for i := range d {
					d[i] = src[(c0+i)*w+r]
				}
			}
		}
	}
}
