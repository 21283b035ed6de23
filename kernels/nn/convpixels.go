package nn

import (
	"github.com/edgedl/edgedl/kernels/gemm"
)

// The pixel path: output channels in the vector lanes, segments of up to
// 14 pixels of one output row in the rows of the register tile, the
// input read in place from its phase planes (see convindirect.go) through
// the same tap offsets: gemm.SgemmPixels. Unlike the indirect product it
// computes no padding columns and needs no compaction, and 7- or 14-wide
// rows fill whole tiles, which is what ONNX Runtime's NCHWc convolutions
// get from their layout. Its epilogue scatters each tile down the
// channels, a fixed cost per tile that small K does not repay.
//
// BenchmarkConvReuse, 1 thread, GFLOP/s, pixel path vs the best other:
// 256->256 3x3 14x14 112 vs 98, 512->512 7x7 111 vs 93, 160->224 7x7 105
// vs 82, 128->160 14x14 109 vs 96, 128->32 14x14 93 vs 83, 64->64 56x56
// 108 vs 106; but K = 144 (16->64 3x3) 93 vs 98, K = 147 (3->64 7x7
// stride 2) 93 vs 100, K = 27 45 vs 71: hence minPixelK.

// noPixels turns the pixel path off (tests and A/B benchmarks).
var noPixels = false

// minPixelK is the smallest K = C/group·kh·kw that takes the pixel path.
const minPixelK = 256

// pixelWeightsFit tells whether constant float32 weights of shape wShape
// are packed for the pixel path at build time: at most two spatial dims,
// K >= minPixelK, at least 16 output channels per group, and a CPU with
// pixel kernels. (A pointwise convolution that then runs on a large map
// derives the other packing on first use: see packedA.)
func pixelWeightsFit(wShape []int, group int) bool {
	if !gemm.HasPixels() || len(wShape) < 3 || len(wShape) > 4 {
		return false
	}
	return prod(wShape[1:]) >= minPixelK && wShape[0]/group >= 16
}

// maxPointwisePixels is the largest map on which a pointwise convolution
// takes the pixel path. BenchmarkConvReuse, GFLOP/s (pixel vs the plain
// product from the input): 320->1280 on 7x7 106 vs 87, 960->160 on 7x7
// 111 vs 88 (2 threads 180 vs 163); 14x14 and 13x13 even at 1 thread and
// mixed at 2; 256->64 on 56x56 104 vs 114.
const maxPointwisePixels = 100

// usePixels tells whether a convolution of cg input channels per group
// whose weights were packed for the pixel path takes it at run time: its
// tap offsets must fit in int32, and pointwise ones only on small maps.
func usePixels(d *conv2d, cg int, pointwise bool) bool {
	if pointwise {
		return d.oh*d.ow <= maxPointwisePixels
	}
	return newPhased(d).offsetsFit(cg)
}

// hasPacked tells whether the weights are packed, one way or the other.
func (k *convKernel) hasPacked() bool { return k.packed != nil || k.pixelW != nil }

// packedA returns the weights packed for the other float32 paths,
// deriving them once from the pixel packing if that is all there is.
func (k *convKernel) packedA() []*gemm.PackedA {
	if k.pixelW == nil {
		return k.packed
	}
	k.packedOnce.Do(func() {
		for _, pw := range k.pixelW {
			k.packed = append(k.packed, gemm.PackA(false, pw.M(), pw.K(), pw.Unpack(), pw.K()))
		}
	})
	return k.packed
}

// segments splits each output row into runs of at most 14 pixels.
func (q phased) segments() []gemm.Segment {
	d := q.d
	var segs []gemm.Segment
	for oy := 0; oy < d.oh; oy++ {
		for ox := 0; ox < d.ow; ox += gemm.MaxSegment {
			n := min(gemm.MaxSegment, d.ow-ox)
			segs = append(segs, gemm.Segment{Base: int32(oy*q.wq + ox), Pixel: int32(oy*d.ow + ox), N: int32(n)})
		}
	}
	return segs
}

// pointwiseSegments splits n pixels of a pointwise convolution, which
// reads its input where it lies, into runs of at most 14, and returns the
// tap offsets of its cg channel planes of n pixels.
func pointwiseSegments(cg, n int) ([]gemm.Segment, []int32) {
	segs := make([]gemm.Segment, 0, (n+gemm.MaxSegment-1)/gemm.MaxSegment)
	for j := 0; j < n; j += gemm.MaxSegment {
		segs = append(segs, gemm.Segment{Base: int32(j), Pixel: int32(j), N: int32(min(gemm.MaxSegment, n-j))})
	}
	off := make([]int32, cg)
	for c := range off {
		off[c] = int32(c * n)
	}
	return segs, off
}

// pixelProduct computes the convolution with gemm.SgemmPixels; d2 nil
// marks a pointwise one (1x1, unit strides, no padding), whose input is
// read in place.
func (p *convProblem[F]) pixelProduct(d2 *conv2d) error {
	x32, y32 := any(p.x).([]float32), any(p.y).([]float32)
	mg := p.m / p.group
	opt := p.gemmOptions()
	_, fused := gemmEpilogue(p.act)
	var q phased
	var xq []float32
	var off []int32
	var segs []gemm.Segment
	if d2 != nil {
		q = newPhased(d2)
		xqT, err := p.allocPlanes(q)
		if err != nil {
			return err
		}
		defer p.ctx.Free(xqT)
		xq = xqT.F32()
		off, segs = q.offsets(p.cg), q.segments()
	} else {
		segs, off = pointwiseSegments(p.cg, p.inSize)
	}
	for ni := 0; ni < p.n; ni++ {
		for g := 0; g < p.group; g++ {
			if d2 != nil {
				p.fillPlanes(q, xq, ni, g)
			} else {
				xq = x32[(ni*p.c+g*p.cg)*p.inSize : (ni*p.c+(g+1)*p.cg)*p.inSize]
			}
			opt.Epilogue.RowBias = p.groupBias(g)
			ys := y32[(ni*p.m+g*mg)*p.outSize : (ni*p.m+(g+1)*mg)*p.outSize]
			gemm.SgemmPixels(p.kern.pixelW[g], xq, off, segs, float32(p.beta), ys, p.outSize, &opt)
			if !fused {
				p.epilogue(ni, g*mg, mg, 0, p.outSize, false)
			}
		}
	}
	return nil
}
