package nn

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "ConvTranspose", 1, buildConvTranspose)
}

// convTKernel is a compiled ConvTranspose node. It computes, per image and
// group, cols = W_gᵀ · X_g (a (M/g·Πk) × Πin matrix) and scatters (col2im)
// the columns into the output. Constant weights are transposed at build time
// so the product needs no transposed operand.
type convTKernel struct {
	g        geom
	group    int
	outPad   []int
	outShape []int
	act      Activation
	wt       any // per group, (M/g·Πk) × C/g: Wᵀ of the group's rows; or nil
	bias     any
}

func buildConvTranspose(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("ConvTranspose needs inputs X and W")
	}
	if err := checkFloat("ConvTranspose", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	g, err := parseGeom(b, false)
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	k := &convTKernel{g: g, group: int(b.Attrs().Int("group", 1))}
	if k.group < 1 || k.group > maxAttr {
		return nil, b.Errorf("group %d", k.group)
	}
	if k.outPad, err = intsAttr(b.Attrs(), "output_padding", 0); err != nil {
		return nil, b.Errorf("%v", err)
	}
	if k.outShape, err = intsAttr(b.Attrs(), "output_shape", 1); err != nil {
		return nil, b.Errorf("%v", err)
	}
	if k.act, err = ParseActivation(b.Attrs()); err != nil {
		return nil, b.Errorf("%v", err)
	}
	if w := b.ConstInput(1); w != nil && len(w.Shape) >= 3 && w.Shape[0]%k.group == 0 && isFloatDT(w.DType) {
		cg := w.Shape[0] / k.group
		rows := prod(w.Shape[1:])
		switch v := constAs(b, 1).(type) {
		case []float32:
			k.wt = transposeGroups(v, k.group, cg, rows)
		case []float64:
			k.wt = transposeGroups(v, k.group, cg, rows)
		}
	}
	if b.HasInput(2) {
		k.bias = constAs(b, 2)
	}
	return k, nil
}

// transposeGroups transposes each of the group cg×rows blocks of w.
func transposeGroups[F float](w []F, group, cg, rows int) []F {
	out := make([]F, len(w))
	for g := 0; g < group; g++ {
		src, dst := w[g*cg*rows:], out[g*cg*rows:]
		for c := 0; c < cg; c++ {
			for r := 0; r < rows; r++ {
				dst[r*cg+c] = src[c*rows+r]
			}
		}
	}
	return out
}

func (k *convTKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	switch dt := in[0].DType; dt {
	case tensor.Float32:
		return convTRun[float32](ctx, k, in, out)
	case tensor.Float64:
		return convTRun[float64](ctx, k, in, out)
	case tensor.Float16, tensor.BFloat16:
		return runWidened(ctx, k, dt, in, out)
	default:
		return kernels.Unsupported("ConvTranspose", "dtype %v", dt)
	}
}

// floorHalf is ⌊t/2⌋ for any sign.
func floorHalf(t int) int {
	if t >= 0 {
		return t / 2
	}
	return -((-t + 1) / 2)
}

// resolveT computes the output spatial sizes and begin pads of a transposed
// convolution (the ONNX formulas: out = s·(in-1) + output_padding + dk -
// pads; with output_shape or SAME auto_pad the pads follow from the size).
func (k *convTKernel) resolveT(in, kernel []int) (window, error) {
	nd := len(in)
	g := &k.g
	if g.kernel != nil && !tensor.EqualShapes(g.kernel, kernel) {
		return window{}, fmt.Errorf("kernel_shape %v does not match W's %v", g.kernel, kernel)
	}
	if g.strides != nil && len(g.strides) != nd || g.dilations != nil && len(g.dilations) != nd ||
		g.pads != nil && len(g.pads) != 2*nd || k.outPad != nil && len(k.outPad) != nd {
		return window{}, fmt.Errorf("strides, dilations, pads or output_padding do not match %d spatial dims", nd)
	}
	outShape := k.outShape
	if len(outShape) == nd+2 { // a full shape was given
		outShape = outShape[2:]
	}
	if outShape != nil && len(outShape) != nd {
		return window{}, fmt.Errorf("output_shape %v does not match %d spatial dims", k.outShape, nd)
	}
	buf := make([]int, 5*nd)
	w := window{in: in, k: kernel, out: buf[:nd], s: buf[nd : 2*nd], d: buf[2*nd : 3*nd],
		pb: buf[3*nd : 4*nd], pe: buf[4*nd:]}
	for i := 0; i < nd; i++ {
		s, d, op := 1, 1, 0
		if g.strides != nil {
			s = g.strides[i]
		}
		if g.dilations != nil {
			d = g.dilations[i]
		}
		if k.outPad != nil {
			op = k.outPad[i]
		}
		natural := s*(in[i]-1) + op + (kernel[i]-1)*d + 1
		var out, pb, pe int
		switch {
		case g.pads != nil && g.auto == padNotSet:
			pb, pe = g.pads[i], g.pads[nd+i]
			out = natural - pb - pe
			if outShape != nil {
				out = outShape[i]
			}
		case outShape != nil || g.auto == padSameUpper || g.auto == padSameLower:
			out = in[i] * s
			if outShape != nil {
				out = outShape[i]
			}
			total := natural - out
			if g.auto == padSameUpper {
				pb = floorHalf(total)
			} else {
				pb = total - floorHalf(total)
			}
			pe = total - pb
		default:
			out = natural
		}
		if out < 1 {
			return window{}, fmt.Errorf("empty output in spatial dim %d", i)
		}
		w.out[i], w.s[i], w.d[i], w.pb[i], w.pe[i] = out, s, d, pb, pe
	}
	return w, nil
}

func convTRun[F float](ctx *kernels.Ctx, k *convTKernel, in, out []*tensor.Tensor) error {
	x, w := in[0], in[1]
	if len(x.Shape) < 3 || len(w.Shape) != len(x.Shape) {
		return fmt.Errorf("X shape %v and W shape %v: need equal ranks >= 3", x.Shape, w.Shape)
	}
	n, c := x.Shape[0], x.Shape[1]
	if w.Shape[0] != c || c%k.group != 0 {
		return fmt.Errorf("X has %d channels; W shape %v with group %d", c, w.Shape, k.group)
	}
	cg, mg := c/k.group, w.Shape[1]
	m := mg * k.group
	win, err := k.resolveT(x.Shape[2:], w.Shape[2:])
	if err != nil {
		return err
	}
	var bias []F
	if len(in) > 2 && in[2] != nil {
		if in[2].Len() != m {
			return fmt.Errorf("B has %d elements, want %d", in[2].Len(), m)
		}
		if bias, err = paramData[F](k.bias, in[2], "B"); err != nil {
			return err
		}
	}
	wd, transA := []F(nil), false
	if pre, ok := k.wt.([]F); ok {
		wd = pre
	} else if wd, err = paramData[F](nil, w, "W"); err != nil {
		return err
	} else {
		transA = true
	}
	y, err := ctx.Alloc(x.DType, append([]int{n, m}, win.out...))
	if err != nil {
		return err
	}
	out[0] = y
	yd, xd := y.Data.([]F), x.Data.([]F)
	inSize, outSize, kk := prod(win.in), prod(win.out), prod(win.k)
	rows := mg * kk
	if n == 0 || m == 0 || inSize == 0 {
		return nil
	}
	tn := max(64, (1<<18)/rows)
	tn = min(tn, inSize)
	scratch, err := ctx.Alloc(x.DType, []int{rows * tn})
	if err != nil {
		return err
	}
	col := scratch.Data.([]F)
	d2, is2d := to2d(win)
	for ni := 0; ni < n; ni++ {
		for g := 0; g < k.group; g++ {
			wg := wd[g*cg*rows : (g+1)*cg*rows]
			xg := xd[(ni*c+g*cg)*inSize:]
			for j0 := 0; j0 < inSize; j0 += tn {
				j1 := min(j0+tn, inSize)
				nn := j1 - j0
				if transA {
					parallelGemm(ctx, true, false, rows, nn, cg, 1, wg, rows, xg[j0:], inSize, 0, col, nn)
				} else {
					parallelGemm(ctx, false, false, rows, nn, cg, 1, wg, cg, xg[j0:], inSize, 0, col, nn)
				}
				ctx.Parallel(mg, 1, func(lo, hi int) {
					for mi := lo; mi < hi; mi++ {
						plane := yd[(ni*m+g*mg+mi)*outSize : (ni*m+g*mg+mi+1)*outSize]
						src := col[mi*kk*nn : (mi+1)*kk*nn]
						if is2d {
							col2im2d(src, plane, &d2, j0, j1)
						} else {
							col2imND(src, plane, &win, j0, j1)
						}
					}
				})
			}
		}
	}
	if bias != nil || k.act.Kind != ActNone {
		ctx.Parallel(n*m, 1, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				var b F
				if bias != nil {
					b = bias[p%m]
				}
				biasAct(yd[p*outSize:(p+1)*outSize], b, k.act)
			}
		})
	}
	return nil
}

// col2im2d adds the kh·kw rows of src (input positions [j0, j1) each) into
// the output plane: input (ih, iw) with tap (ki, kj) lands on
// (ih·sh - ph + ki·dh, iw·sw - pw + kj·dw). Here d2 describes the transposed
// problem: h, w are the input sizes and oh, ow the output sizes.
func col2im2d[F float](src, plane []F, d *conv2d, j0, j1 int) {
	nn := j1 - j0
	for ki := 0; ki < d.kh; ki++ {
		for kj := 0; kj < d.kw; kj++ {
			row := src[(ki*d.kw+kj)*nn : (ki*d.kw+kj+1)*nn]
			off := kj*d.dw - d.pw
			lo, hi := outRange(off, d.sw, d.ow, d.w)
			ih, iw := j0/d.w, j0%d.w
			for pos := 0; pos < nn; ih, iw = ih+1, 0 {
				cnt := min(d.w-iw, nn-pos)
				seg := row[pos : pos+cnt]
				pos += cnt
				oh := ih*d.sh - d.ph + ki*d.dh
				if oh < 0 || oh >= d.oh {
					continue
				}
				orow := plane[oh*d.ow : (oh+1)*d.ow]
				a, b := max(lo, iw), min(hi, iw+cnt)
				for i := a; i < b; i++ {
					orow[i*d.sw+off] += seg[i-iw]
				}
			}
		}
	}
}

// col2imND is col2im2d for any spatial rank.
func col2imND[F float](src, plane []F, win *window, j0, j1 int) {
	nd := len(win.in)
	nn := j1 - j0
	kk := prod(win.k)
	kidx := make([]int, nd)
	ic := make([]int, nd)
	for kf := 0; kf < kk; kf++ {
		for i, f := nd-1, kf; i >= 0; i-- {
			kidx[i] = f % win.k[i]
			f /= win.k[i]
		}
		row := src[kf*nn : (kf+1)*nn]
		for i, f := nd-1, j0; i >= 0; i-- {
			ic[i] = f % win.in[i]
			f /= win.in[i]
		}
		for pos := 0; pos < nn; pos++ {
			idx, ok := 0, true
			for i := 0; i < nd; i++ {
				v := ic[i]*win.s[i] - win.pb[i] + kidx[i]*win.d[i]
				if v < 0 || v >= win.out[i] {
					ok = false
					break
				}
				idx = idx*win.out[i] + v
			}
			if ok {
				plane[idx] += row[pos]
			}
			for i := nd - 1; i >= 0; i-- {
				if ic[i]++; ic[i] < win.in[i] {
					break
				}
				ic[i] = 0
			}
		}
	}
}
