package image

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "DeformConv", 19, buildDeformConv)
}

// deformConv is a compiled 2-D DeformConv node: a convolution whose kernel
// taps are displaced by learned per-position offsets (and optionally
// scaled by a mask). Taps are gathered by bilinear interpolation (zero
// outside the image) into an im2col matrix, then multiplied by the
// weights with gemm.Sgemm.
type deformConv struct {
	dilations, pads, strides, kernel []int
	group, offsetGroup               int
}

func buildDeformConv(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &deformConv{
		dilations: a.IntsAsInt("dilations", []int{1, 1}), pads: a.IntsAsInt("pads", []int{0, 0, 0, 0}),
		strides: a.IntsAsInt("strides", []int{1, 1}), kernel: a.IntsAsInt("kernel_shape", nil),
		group: int(a.Int("group", 1)), offsetGroup: int(a.Int("offset_group", 1)),
	}
	if len(k.dilations) != 2 || len(k.pads) != 4 || len(k.strides) != 2 || (k.kernel != nil && len(k.kernel) != 2) {
		return nil, kernels.Unsupported("DeformConv", "only 2-D convolutions")
	}
	for _, v := range append(append([]int{}, k.dilations...), k.strides...) {
		if v <= 0 {
			return nil, b.Errorf("dilations %v and strides %v must be positive", k.dilations, k.strides)
		}
	}
	if k.group <= 0 || k.offsetGroup <= 0 {
		return nil, b.Errorf("group %d and offset_group %d must be positive", k.group, k.offsetGroup)
	}
	if len(b.Inputs) < 3 {
		return nil, b.Errorf("needs X, W and offset")
	}
	return k, nil
}

func (k *deformConv) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, w, off, bias, mask := in[0], in[1], in[2], optional(in, 3), optional(in, 4)
	if len(x.Shape) != 4 || len(w.Shape) != 4 || len(off.Shape) != 4 {
		return kernels.Unsupported("DeformConv", "X %v, W %v: only 2-D convolutions", x.Shape, w.Shape)
	}
	if !isFloat(x.DType) {
		return kernels.Unsupported("DeformConv", "dtype %v", x.DType)
	}
	n, ic, ih, iw := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oc, icg, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	if k.kernel != nil && (k.kernel[0] != kh || k.kernel[1] != kw) {
		return fmt.Errorf("kernel_shape %v does not match W %v", k.kernel, w.Shape)
	}
	g, og := k.group, k.offsetGroup
	if icg*g != ic || oc%g != 0 || ic%og != 0 {
		return fmt.Errorf("X %v, W %v do not fit group %d / offset_group %d", x.Shape, w.Shape, g, og)
	}
	kk := kh * kw
	oh, ow := off.Shape[2], off.Shape[3]
	wantH := (ih+k.pads[0]+k.pads[2]-((kh-1)*k.dilations[0]+1))/k.strides[0] + 1
	wantW := (iw+k.pads[1]+k.pads[3]-((kw-1)*k.dilations[1]+1))/k.strides[1] + 1
	if off.Shape[0] != n || off.Shape[1] != og*kk*2 || oh != wantH || ow != wantW {
		return fmt.Errorf("offset %v must be [%d,%d,%d,%d]", off.Shape, n, og*kk*2, wantH, wantW)
	}
	if mask != nil && !tensor.EqualShapes(mask.Shape, []int{n, og * kk, oh, ow}) {
		return fmt.Errorf("mask %v must be [%d,%d,%d,%d]", mask.Shape, n, og*kk, oh, ow)
	}
	if bias != nil && bias.Len() != oc {
		return fmt.Errorf("bias %v must have %d values", bias.Shape, oc)
	}
	y, err := ctx.Alloc(x.DType, []int{n, oc, oh, ow})
	if err != nil {
		return err
	}
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	conv := func(t *tensor.Tensor) []float32 {
		if t == nil {
			return nil
		}
		v, e := f32(t)
		if e != nil {
			err = e
		}
		return v
	}
	xf, wf, of, mf, bf := conv(x), conv(w), conv(off), conv(mask), conv(bias)
	if err != nil {
		return err
	}
	yf := scratch(y)
	p := oh * ow
	if _, err := tensor.NumElements([]int{icg * kk, p}); err != nil {
		return err
	}
	col := make([]float32, icg*kk*p)
	icpo := ic / og
	ocg := oc / g
	for b := 0; b < n; b++ {
		for gi := 0; gi < g; gi++ {
			// im2col with deformed, bilinearly sampled taps.
			ctx.Parallel(icg*kk, 1, func(lo, hi int) {
				for row := lo; row < hi; row++ {
					cl, t := row/kk, row%kk
					c := gi*icg + cl
					o := c / icpo
					plane := xf[(b*ic+c)*ih*iw : (b*ic+c+1)*ih*iw]
					dy := of[((b*og+o)*kk*2+2*t)*p:][:p]
					dx := of[((b*og+o)*kk*2+2*t+1)*p:][:p]
					var m []float32
					if mf != nil {
						m = mf[((b*og+o)*kk+t)*p:][:p]
					}
					ki, kj := t/kw, t%kw
					dst := col[row*p : (row+1)*p]
					for i := 0; i < oh; i++ {
						hb := float32(i*k.strides[0] - k.pads[0] + ki*k.dilations[0])
						for j := 0; j < ow; j++ {
							q := i*ow + j
							v := bilinearZero(plane, ih, iw, hb+dy[q], float32(j*k.strides[1]-k.pads[1]+kj*k.dilations[1])+dx[q])
							if m != nil {
								v *= m[q]
							}
							dst[q] = v
						}
					}
				}
			})
			yo := yf[(b*oc+gi*ocg)*p:]
			gemm.Sgemm(false, false, ocg, p, icg*kk, 1, wf[gi*ocg*icg*kk:], icg*kk, col, p, 0, yo, p)
		}
		if bf != nil {
			for o := 0; o < oc; o++ {
				row := yf[(b*oc+o)*p : (b*oc+o+1)*p]
				for i := range row {
					row[i] += bf[o]
				}
			}
		}
	}
	store(y, yf)
	return nil
}

// bilinearZero samples an h×w plane at (y, x) in pixel units, treating
// pixels outside the plane as zero.
func bilinearZero(plane []float32, h, w int, y, x float32) float32 {
	if !(y > -1 && y < float32(h) && x > -1 && x < float32(w)) {
		return 0
	}
	y0f, x0f := float32(math.Floor(float64(y))), float32(math.Floor(float64(x)))
	fy, fx := y-y0f, x-x0f
	y0, x0 := int(y0f), int(x0f)
	at := func(r, c int) float32 {
		if r < 0 || r >= h || c < 0 || c >= w {
			return 0
		}
		return plane[r*w+c]
	}
	return (1-fy)*((1-fx)*at(y0, x0)+fx*at(y0, x0+1)) + fy*((1-fx)*at(y0+1, x0)+fx*at(y0+1, x0+1))
}
