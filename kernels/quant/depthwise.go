package quant

import (
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// depthwise computes a 1-D or 2-D convolution in which every output
// channel reads a single input channel (C/group = 1) directly: an im2row
// and a one-column GEMM per group would cost more than the arithmetic.
// Output channel m reads input channel m / (M/group); w holds the weights
// minus their zero points, [M, kh·kw].
func depthwise[T int8 | uint8](ctx *kernels.Ctx, g *convGeom, x []T, xZero int32, w []int32, st *outputStage, y *tensor.Tensor) {
	sp := len(g.in)
	ih, iw, oh, ow, kh, kw := 1, g.in[sp-1], 1, g.out[sp-1], 1, g.kernel[sp-1]
	sh, sw, dh, dw, ph, pw := 1, g.strides[sp-1], 1, g.dilations[sp-1], 0, g.padBegin[sp-1]
	if sp == 2 {
		ih, oh, kh, sh, dh, ph = g.in[0], g.out[0], g.kernel[0], g.strides[0], g.dilations[0], g.padBegin[0]
	}
	perIn := g.cout / g.group
	planes := g.n * g.cout
	ctx.Parallel(planes, max(1, (1<<15)/(oh*ow*kh*kw)), func(lo, hi int) {
		acc := make([]int32, oh*ow)
		in := make([]int32, ih*iw)
		prev := -1
		for p := lo; p < hi; p++ {
			n, m := p/g.cout, p%g.cout
			if c := n*g.cin + m/perIn; c != prev {
				// (x − x_zero) once per input plane: every value is read kh·kw times
				for i, v := range x[c*ih*iw : (c+1)*ih*iw] {
					in[i] = int32(v) - xZero
				}
				prev = c
			}
			clear(acc)
			wk := w[m*kh*kw : (m+1)*kh*kw]
			for ky := 0; ky < kh; ky++ {
				for kx := 0; kx < kw; kx++ {
					wv := wk[ky*kw+kx]
					if wv == 0 {
						continue
					}
					// output columns whose tap lands inside the row
					x0 := kx*dw - pw
					c0 := 0
					if x0 < 0 {
						c0 = (-x0 + sw - 1) / sw
					}
					c1 := min(ow, (iw-1-x0)/sw+1)
					if iw-1-x0 < 0 {
						c1 = 0
					}
					for oy := 0; oy < oh; oy++ {
						iy := oy*sh - ph + ky*dh
						if iy < 0 || iy >= ih || c0 >= c1 {
							continue
						}
						row := acc[oy*ow : (oy+1)*ow]
						line := in[iy*iw : (iy+1)*iw]
						if sw == 1 {
							src := line[x0+c0 : x0+c1]
							dst := row[c0:c1]
							for i, v := range src {
								dst[i] += v * wv
							}
							continue
						}
						for ox := c0; ox < c1; ox++ {
							row[ox] += line[x0+ox*sw] * wv
						}
					}
				}
			}
			st.channel(y, p*oh*ow, acc, m)
		}
	})
}
