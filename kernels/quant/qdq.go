package quant

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "QuantizeLinear", 10, buildQuantize)
	kernels.Register("", "DequantizeLinear", 10, buildDequantize)
	kernels.Register("", "DynamicQuantizeLinear", 11, buildDynamicQuantize)
}

// layout maps each element of x to the scale and zero point that apply to
// it. x is viewed as [outer, dim, inner] around the quantization axis.
type layout struct {
	outer, dim, inner int
	mode              int // perTensor, perAxis or blocked
	block, nblocks    int
}

const (
	perTensor = iota
	perAxis
	blocked
)

// resolveLayout validates the scale shape against x (per-tensor when the
// scale has one element, per-axis for a 1-D scale, blocked when block > 0)
// and checks that the zero point, if any, has the scale's shape.
func resolveLayout(x, scale, zero *tensor.Tensor, axis, block int64) (layout, error) {
	l := layout{outer: 1, dim: 1, inner: x.Len()}
	if zero != nil && (zero.Len() != scale.Len() || (zero.Rank() > 1 && !tensor.EqualShapes(zero.Shape, scale.Shape))) {
		return l, fmt.Errorf("zero point shape %v does not match scale shape %v", zero.Shape, scale.Shape)
	}
	if isScalarLike(scale) {
		return l, nil
	}
	if x.Rank() == 0 {
		return l, fmt.Errorf("scale of shape %v for a scalar input", scale.Shape)
	}
	ax, err := normAxis(axis, x.Rank())
	if err != nil {
		return l, err
	}
	l.outer, l.dim, l.inner = product(x.Shape[:ax]), x.Shape[ax], product(x.Shape[ax+1:])
	if block <= 0 {
		if scale.Rank() != 1 || scale.Shape[0] != l.dim {
			return l, fmt.Errorf("per-axis scale of shape %v does not match axis %d of input shape %v", scale.Shape, ax, x.Shape)
		}
		l.mode = perAxis
		return l, nil
	}
	if block > int64(math.MaxInt32) {
		return l, fmt.Errorf("block_size %d too large", block)
	}
	l.mode, l.block = blocked, int(block)
	l.nblocks = (l.dim + l.block - 1) / l.block
	ok := scale.Rank() == x.Rank()
	for i := 0; ok && i < x.Rank(); i++ {
		if i == ax {
			ok = scale.Shape[i] == l.nblocks
		} else {
			ok = scale.Shape[i] == x.Shape[i]
		}
	}
	if !ok {
		return l, fmt.Errorf("blocked scale of shape %v does not match input shape %v with block_size %d on axis %d", scale.Shape, x.Shape, block, ax)
	}
	return l, nil
}

// walk calls seg for maximal runs [i0,i1) of flat indices in [lo,hi) whose
// parameter index is p + (i−i0)·ps (ps is 0 or 1).
func (l layout) walk(lo, hi int, seg func(i0, i1, p, ps int)) {
	switch {
	case l.mode == perTensor:
		seg(lo, hi, 0, 0)
	case l.mode == perAxis && l.inner == 1:
		for i := lo; i < hi; {
			e := min(hi, (i/l.dim+1)*l.dim)
			seg(i, e, i%l.dim, 1)
			i = e
		}
	case l.mode == perAxis:
		for i := lo; i < hi; {
			r := i / l.inner
			e := min(hi, (r+1)*l.inner)
			seg(i, e, r%l.dim, 0)
			i = e
		}
	case l.inner == 1: // blocked along the last axis: runs of one block
		for i := lo; i < hi; {
			o, d := i/l.dim, i%l.dim
			e := min(hi, i+min(l.block-d%l.block, l.dim-d))
			seg(i, e, o*l.nblocks+d/l.block, 0)
			i = e
		}
	default: // blocked: a row of inner elements has its own row of scales
		for i := lo; i < hi; {
			r := i / l.inner
			o, d := r/l.dim, r%l.dim
			e := min(hi, (r+1)*l.inner)
			seg(i, e, (o*l.nblocks+d/l.block)*l.inner+(i-r*l.inner), 1)
			i = e
		}
	}
}

// elementGrain is the minimum number of elements per parallel chunk of the
// element-wise quantisation loops.
const elementGrain = 1 << 14

// ---- QuantizeLinear ----

type quantizeKernel struct {
	axis, block int64
	outDT       tensor.DType // Undefined: decided by the zero point at run time
	precision   tensor.DType // dtype of x/scale; Undefined: the scale's
}

func buildQuantize(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &quantizeKernel{axis: a.Int("axis", 1), block: a.Int("block_size", 0)}
	if od := tensor.DType(a.Int("output_dtype", 0)); od != 0 {
		if _, _, ok := qrange(od); !ok {
			return nil, kernels.Unsupported("QuantizeLinear", "output dtype %v", od)
		}
		k.outDT = od
	}
	if b.HasInput(2) {
		zdt := b.Inputs[2].DType
		if zdt != tensor.Undefined {
			if _, _, ok := qrange(zdt); !ok {
				return nil, kernels.Unsupported("QuantizeLinear", "zero point dtype %v", zdt)
			}
			if k.outDT != tensor.Undefined && k.outDT != zdt {
				return nil, b.Errorf("output_dtype %v differs from the zero point's dtype %v", k.outDT, zdt)
			}
			k.outDT = zdt
		}
	} else if k.outDT == tensor.Undefined {
		k.outDT = tensor.Uint8
	}
	if p := tensor.DType(a.Int("precision", 0)); p != 0 {
		if !p.IsFloat() {
			return nil, kernels.Unsupported("QuantizeLinear", "precision %v", p)
		}
		k.precision = p
	}
	if len(b.Inputs) < 2 || !b.Inputs[1].Present {
		return nil, b.Errorf("needs x and y_scale")
	}
	return k, nil
}

func (k *quantizeKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, scale := in[0], in[1]
	var zero *tensor.Tensor
	if len(in) > 2 {
		zero = in[2]
	}
	outDT := k.outDT
	if zero != nil {
		if _, _, ok := qrange(zero.DType); !ok {
			return kernels.Unsupported("QuantizeLinear", "zero point dtype %v", zero.DType)
		}
		if outDT != tensor.Undefined && outDT != zero.DType {
			return fmt.Errorf("zero point dtype %v, want %v", zero.DType, outDT)
		}
		outDT = zero.DType
	}
	sc, err := scaleValues("QuantizeLinear", scale)
	if err != nil {
		return err
	}
	l, err := resolveLayout(x, scale, zero, k.axis, k.block)
	if err != nil {
		return err
	}
	var zp []int32
	if zero != nil {
		zp = zeroValues(zero)
	} else {
		zp = make([]int32, len(sc))
	}
	if outDT == tensor.Undefined {
		outDT = tensor.Uint8
	}
	prec := k.precision
	if prec == tensor.Undefined {
		prec = scale.DType
		if x.DType == tensor.Float64 || x.DType == tensor.Int32 {
			prec = tensor.Float64 // numpy promotes these divisions to double
		}
	}
	// The division runs in float64 when asked to, else in float32 (with
	// 16-bit precisions rounded after it).
	var x32 []float32
	var x64 []float64
	switch xd := x.Data.(type) {
	case []float32:
		x32 = xd
	case []float64:
		x64 = xd
	case []int32:
		x64 = make([]float64, len(xd))
		for i, v := range xd {
			x64[i] = float64(v)
		}
	case []uint16:
		if !x.DType.IsFloat() {
			return kernels.Unsupported("QuantizeLinear", "input dtype %v", x.DType)
		}
		x32 = x.Float32Values()
	default:
		return kernels.Unsupported("QuantizeLinear", "input dtype %v", x.DType)
	}
	if x32 != nil && prec == tensor.Float64 {
		x64 = make([]float64, len(x32))
		for i, v := range x32 {
			x64[i] = float64(v)
		}
	}
	y, err := ctx.Alloc(outDT, x.Shape)
	if err != nil {
		return err
	}
	lo, hi, _ := qrange(outDT)
	if x64 != nil {
		err = quantizeAny(ctx, y, x64, l, sc, zp, lo, hi, prec)
	} else {
		err = quantizeAny(ctx, y, x32, l, sc, zp, lo, hi, prec)
	}
	if err != nil {
		return err
	}
	out[0] = y
	return nil
}

func quantizeAny[TX float32 | float64](ctx *kernels.Ctx, y *tensor.Tensor, x []TX, l layout, sc []float32, zp []int32, lo, hi int64, prec tensor.DType) error {
	switch yd := y.Data.(type) {
	case []int8:
		quantize(ctx, yd, x, l, sc, zp, lo, hi, prec)
	case []uint8:
		quantize(ctx, yd, x, l, sc, zp, lo, hi, prec)
	case []int16:
		quantize(ctx, yd, x, l, sc, zp, lo, hi, prec)
	case []uint16:
		quantize(ctx, yd, x, l, sc, zp, lo, hi, prec)
	case []int32:
		quantize(ctx, yd, x, l, sc, zp, lo, hi, prec)
	default:
		return kernels.Unsupported("QuantizeLinear", "output dtype %v", y.DType)
	}
	return nil
}

// quantize computes y = saturate(round(x / scale) + zero) with the division
// done in TX and rounded to prec when that is a 16-bit float.
func quantize[TX float32 | float64, TY qint](ctx *kernels.Ctx, y []TY, x []TX, l layout, sc []float32, zp []int32, lo, hi int64, prec tensor.DType) {
	flo, fhi := float64(lo), float64(hi)
	half := prec == tensor.Float16 || prec == tensor.BFloat16
	ctx.Parallel(len(x), elementGrain, func(a, b int) {
		l.walk(a, b, func(i0, i1, p, ps int) {
			xs, ys := x[i0:i1], y[i0:i1]
			if ps == 0 {
				s, z := TX(sc[p]), float64(zp[p])
				if !half {
					for i, v := range xs {
						ys[i] = TY(saturate(float64(v/s), z, flo, fhi))
					}
					return
				}
				for i, v := range xs {
					ys[i] = TY(saturate(float64(roundScale(float32(v/s), prec)), z, flo, fhi))
				}
				return
			}
			scs, zps := sc[p:p+len(xs)], zp[p:p+len(xs)]
			for i, v := range xs {
				q := v / TX(scs[i])
				if half {
					q = TX(roundScale(float32(q), prec))
				}
				ys[i] = TY(saturate(float64(q), float64(zps[i]), flo, fhi))
			}
		})
	})
}

// ---- DequantizeLinear ----

type dequantizeKernel struct {
	axis, block int64
	outDT       tensor.DType // Undefined: the scale's dtype
}

func buildDequantize(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &dequantizeKernel{axis: a.Int("axis", 1), block: a.Int("block_size", 0)}
	if od := tensor.DType(a.Int("output_dtype", 0)); od != 0 {
		if od != tensor.Float32 && od != tensor.Float16 && od != tensor.BFloat16 {
			return nil, kernels.Unsupported("DequantizeLinear", "output dtype %v", od)
		}
		k.outDT = od
	}
	if len(b.Inputs) < 2 || !b.Inputs[1].Present {
		return nil, b.Errorf("needs x and x_scale")
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined {
		if _, _, ok := qrange(dt); !ok {
			return nil, kernels.Unsupported("DequantizeLinear", "input dtype %v", dt)
		}
	}
	return k, nil
}

func (k *dequantizeKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, scale := in[0], in[1]
	var zero *tensor.Tensor
	if len(in) > 2 {
		zero = in[2]
	}
	if _, _, ok := qrange(x.DType); !ok {
		return kernels.Unsupported("DequantizeLinear", "input dtype %v", x.DType)
	}
	if zero != nil && zero.DType != x.DType {
		return fmt.Errorf("zero point dtype %v differs from input dtype %v", zero.DType, x.DType)
	}
	sc, err := scaleValues("DequantizeLinear", scale)
	if err != nil {
		return err
	}
	l, err := resolveLayout(x, scale, zero, k.axis, k.block)
	if err != nil {
		return err
	}
	var zp []int32
	if zero != nil {
		zp = zeroValues(zero)
	} else {
		zp = make([]int32, len(sc))
	}
	outDT := k.outDT
	if outDT == tensor.Undefined {
		outDT = scale.DType
	}
	y, err := ctx.Alloc(outDT, x.Shape)
	if err != nil {
		return err
	}
	var yf []float32
	if outDT == tensor.Float32 {
		yf = y.F32()
	} else {
		yf = make([]float32, x.Len())
	}
	switch xd := x.Data.(type) {
	case []int8:
		dequantize(ctx, yf, xd, l, sc, zp, false)
	case []uint8:
		dequantize(ctx, yf, xd, l, sc, zp, false)
	case []int16:
		dequantize(ctx, yf, xd, l, sc, zp, false)
	case []uint16:
		dequantize(ctx, yf, xd, l, sc, zp, false)
	case []int32:
		dequantize(ctx, yf, xd, l, sc, zp, true)
	}
	switch outDT {
	case tensor.Float16:
		yd := y.Data.([]uint16)
		for i, v := range yf {
			yd[i] = tensor.FloatToHalf(v)
		}
	case tensor.BFloat16:
		yd := y.Data.([]uint16)
		for i, v := range yf {
			yd[i] = tensor.FloatToBFloat16(v)
		}
	}
	out[0] = y
	return nil
}

// dequantize computes y = (x − zero) · scale. The difference is exact in
// integers; wide (32-bit) inputs are scaled in float64, as numpy does.
func dequantize[TX qint](ctx *kernels.Ctx, y []float32, x []TX, l layout, sc []float32, zp []int32, wide bool) {
	ctx.Parallel(len(x), elementGrain, func(a, b int) {
		l.walk(a, b, func(i0, i1, p, ps int) {
			xs, ys := x[i0:i1], y[i0:i1]
			if ps == 0 {
				s, z := sc[p], int64(zp[p])
				if wide {
					for i, v := range xs {
						ys[i] = float32(float64(int64(v)-z) * float64(s))
					}
					return
				}
				for i, v := range xs {
					ys[i] = float32(int64(v)-z) * s
				}
				return
			}
			scs, zps := sc[p:p+len(xs)], zp[p:p+len(xs)]
			for i, v := range xs {
				d := int64(v) - int64(zps[i])
				if wide {
					ys[i] = float32(float64(d) * float64(scs[i]))
				} else {
					ys[i] = float32(d) * scs[i]
				}
			}
		})
	})
}

// ---- DynamicQuantizeLinear ----

type dynQuantKernel struct{}

func buildDynamicQuantize(b *kernels.BuildContext) (kernels.Kernel, error) {
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && dt != tensor.Float32 {
		return nil, kernels.Unsupported("DynamicQuantizeLinear", "input dtype %v", dt)
	}
	return dynQuantKernel{}, nil
}

// Run computes the uint8 affine quantisation of x whose range [min(x,0),
// max(x,0)] maps onto [0,255], following the ONNX definition step by step
// in float32.
func (dynQuantKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	xd, ok := x.Data.([]float32)
	if !ok {
		return kernels.Unsupported("DynamicQuantizeLinear", "input dtype %v", x.DType)
	}
	var minx, maxx float32
	for _, v := range xd {
		// NaN never compares, so it leaves the range untouched
		if v < minx {
			minx = v
		}
		if v > maxx {
			maxx = v
		}
	}
	scale := float32(1)
	if maxx != minx {
		scale = (maxx - minx) / 255
	}
	zpf := float64(0 - minx/scale)
	zpf = math.RoundToEven(max(0, min(255, zpf)))
	y, err := ctx.Alloc(tensor.Uint8, x.Shape)
	if err != nil {
		return err
	}
	yd := y.Data.([]uint8)
	ctx.Parallel(len(xd), elementGrain, func(a, b int) {
		for i := a; i < b; i++ {
			yd[i] = uint8(saturate(float64(xd[i]/scale), zpf, 0, 255))
		}
	})
	ys, err := ctx.Alloc(tensor.Float32, []int{})
	if err != nil {
		return err
	}
	ys.F32()[0] = scale
	yz, err := ctx.Alloc(tensor.Uint8, []int{})
	if err != nil {
		return err
	}
	yz.Data.([]uint8)[0] = uint8(zpf)
	out[0], out[1], out[2] = y, ys, yz
	return nil
}
