package quant

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "ConvInteger", 10, buildConvInteger)
	kernels.Register("", "QLinearConv", 10, buildQLinearConv)
}

// weightSource yields a convolution's packed weights: packed once at build
// time when the weights and their zero points are constants, else per run
// into scratch memory.
type weightSource struct {
	group  int
	packed *packedConvWeights
}

func newWeightSource(b *kernels.BuildContext, group, wIdx, zIdx int) (weightSource, error) {
	ws := weightSource{group: group}
	w := b.ConstInput(wIdx)
	if w == nil || (b.HasInput(zIdx) && b.ConstInput(zIdx) == nil) {
		return ws, nil
	}
	if !is8bit(w.DType) {
		return ws, kernels.Unsupported(b.Node.OpType, "weight dtype %v", w.DType)
	}
	var zero []int32
	if z := b.ConstInput(zIdx); z != nil {
		if z.DType != w.DType {
			return ws, b.Errorf("weight zero point dtype %v differs from weight dtype %v", z.DType, w.DType)
		}
		zero = zeroValues(z)
	}
	p, err := packConvWeights(w, zero, group, nil)
	if err != nil {
		return ws, b.Errorf("%v", err)
	}
	ws.packed = p
	return ws, nil
}

func (ws weightSource) get(ctx *kernels.Ctx, w, zero *tensor.Tensor) (*packedConvWeights, error) {
	if ws.packed != nil {
		return ws.packed, nil
	}
	if !is8bit(w.DType) {
		return nil, kernels.Unsupported("conv", "weight dtype %v", w.DType)
	}
	var z []int32
	if zero != nil {
		if zero.DType != w.DType {
			return nil, fmt.Errorf("weight zero point dtype %v differs from weight dtype %v", zero.DType, w.DType)
		}
		z = zeroValues(zero)
	}
	if w.Rank() < 3 || ws.group < 1 || w.Shape[0]%ws.group != 0 {
		return nil, fmt.Errorf("weight shape %v does not fit group %d", w.Shape, ws.group)
	}
	words, err := ctx.Alloc(tensor.Int64, []int{ws.group, PackedWords(product(w.Shape[1:]), w.Shape[0]/ws.group)})
	if err != nil {
		return nil, err
	}
	return packConvWeights(w, z, ws.group, words.I64())
}

// scalarZero reads an optional per-tensor zero point that must have dtype dt.
func scalarZero(t *tensor.Tensor, dt tensor.DType, what string) (int32, error) {
	if t == nil {
		return 0, nil
	}
	if t.DType != dt {
		return 0, fmt.Errorf("%s dtype %v differs from %v", what, t.DType, dt)
	}
	if !isScalarLike(t) {
		return 0, kernels.Unsupported("conv", "%s of shape %v (only per-tensor)", what, t.Shape)
	}
	return int32(t.Int64At(0)), nil
}

// ---- ConvInteger ----

type convIntegerKernel struct {
	attrs convAttrs
	w     weightSource
}

func buildConvInteger(b *kernels.BuildContext) (kernels.Kernel, error) {
	attrs, err := parseConvAttrs(b.Attrs())
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	ws, err := newWeightSource(b, attrs.group, 1, 3)
	if err != nil {
		return nil, err
	}
	return &convIntegerKernel{attrs: attrs, w: ws}, nil
}

func (k *convIntegerKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if !is8bit(x.DType) {
		return kernels.Unsupported("ConvInteger", "input dtype %v", x.DType)
	}
	xz, err := scalarZero(optional(in, 2), x.DType, "x_zero_point")
	if err != nil {
		return err
	}
	w, err := k.w.get(ctx, in[1], optional(in, 3))
	if err != nil {
		return err
	}
	st := &outputStage{dt: tensor.Int32}
	y, err := runConv(ctx, k.attrs, x, xz, w, st)
	if err != nil {
		return err
	}
	out[0] = y
	return nil
}

// optional returns in[i], or nil when the input is absent.
func optional(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// ---- QLinearConv ----

type qlinearConvKernel struct {
	attrs convAttrs
	w     weightSource
}

func buildQLinearConv(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 8 {
		return nil, b.Errorf("needs 8 or 9 inputs, got %d", len(b.Inputs))
	}
	attrs, err := parseConvAttrs(b.Attrs())
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	ws, err := newWeightSource(b, attrs.group, 3, 5)
	if err != nil {
		return nil, err
	}
	return &qlinearConvKernel{attrs: attrs, w: ws}, nil
}

func (k *qlinearConvKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, xScale, wt, wScale, yScale := in[0], in[1], in[3], in[4], in[6]
	if !is8bit(x.DType) {
		return kernels.Unsupported("QLinearConv", "input dtype %v", x.DType)
	}
	xz, err := scalarZero(in[2], x.DType, "x_zero_point")
	if err != nil {
		return err
	}
	yDT := x.DType
	if in[7] != nil {
		yDT = in[7].DType
	}
	if !is8bit(yDT) {
		return kernels.Unsupported("QLinearConv", "output dtype %v", yDT)
	}
	yz, err := scalarZero(in[7], yDT, "y_zero_point")
	if err != nil {
		return err
	}
	if !isScalarLike(xScale) || !isScalarLike(yScale) {
		return kernels.Unsupported("QLinearConv", "x_scale %v / y_scale %v (only per-tensor)", xScale.Shape, yScale.Shape)
	}
	xs, err := scaleValues("QLinearConv", xScale)
	if err != nil {
		return err
	}
	wss, err := scaleValues("QLinearConv", wScale)
	if err != nil {
		return err
	}
	ys, err := scaleValues("QLinearConv", yScale)
	if err != nil {
		return err
	}
	w, err := k.w.get(ctx, wt, in[5])
	if err != nil {
		return err
	}
	m := w.shape[0]
	if len(wss) != 1 && len(wss) != m {
		return fmt.Errorf("w_scale has %d values for %d output channels", len(wss), m)
	}
	mult := make([]float32, len(wss))
	for i, s := range wss {
		mult[i] = float32(xs[0]*s) / ys[0]
	}
	var bias []int32
	if b := optional(in, 8); b != nil {
		bd, ok := b.Data.([]int32)
		if !ok || len(bd) != m {
			return fmt.Errorf("bias must be int32 [%d], got %v%v", m, b.DType, b.Shape)
		}
		bias = bd
	}
	st, err := newOutputStage(yDT, mult, bias, yz, false)
	if err != nil {
		return err
	}
	y, err := runConv(ctx, k.attrs, x, xz, w, st)
	if err != nil {
		return err
	}
	out[0] = y
	return nil
}

// ---- integer convolution for graph rewrites ----

// ConvParams describes a quantized convolution whose weights are known:
// what a DequantizeLinear → Conv → QuantizeLinear pattern amounts to.
type ConvParams struct {
	// Input: int8 or uint8, per-tensor scale and zero point.
	XType  tensor.DType
	XScale float32
	XZero  int32
	// W holds int8 or uint8 weights [M, C/Group, k1, k2...]; WScale has one
	// value or one per output channel; WZero has none, one, or M values.
	W      *tensor.Tensor
	WScale []float32
	WZero  []int32
	// Bias is optional, [M]: int32 in units of XScale·WScale[c] (the QDQ
	// convention), or float32 in real units.
	Bias *tensor.Tensor
	// Output: int8 or uint8 with per-tensor YScale and YZero, or float32
	// for a dequantized result (YScale and YZero are then ignored).
	YType  tensor.DType
	YScale float32
	YZero  int32
	// Relu clamps the output at real zero (a fused Relu).
	Relu bool
	// Convolution attributes, as in ONNX Conv (nil lists take defaults;
	// AutoPad "" means NOTSET; Group 0 means 1).
	AutoPad                               string
	Group                                 int
	KernelShape, Strides, Dilations, Pads []int
}

// NewConv returns a kernel computing the convolution p describes in
// integer arithmetic. The kernel takes one input (the quantized x, NCHW or
// any N-D layout [N, C, spatial...]) and produces one output (y). Weights
// are packed here, once.
func NewConv(p ConvParams) (kernels.Kernel, error) {
	attrs := convAttrs{autoPad: p.AutoPad, group: max(p.Group, 1), kernel: p.KernelShape,
		strides: p.Strides, dilations: p.Dilations, padding: p.Pads}
	if attrs.autoPad == "" {
		attrs.autoPad = "NOTSET"
	}
	if !is8bit(p.XType) {
		return nil, fmt.Errorf("quant: NewConv: input dtype %v", p.XType)
	}
	if p.W == nil || !is8bit(p.W.DType) || p.W.Rank() < 3 {
		return nil, fmt.Errorf("quant: NewConv: weights must be int8/uint8 [M, C/group, k...]")
	}
	m := p.W.Shape[0]
	w, err := packConvWeights(p.W, p.WZero, attrs.group, nil)
	if err != nil {
		return nil, fmt.Errorf("quant: NewConv: %w", err)
	}
	st, err := fusedStage(p.XScale, p.WScale, m, p.Bias, p.YType, p.YScale, p.YZero, p.Relu)
	if err != nil {
		return nil, fmt.Errorf("quant: NewConv: %w", err)
	}
	lo, hi, _ := qrange(p.XType)
	if int64(p.XZero) < lo || int64(p.XZero) > hi {
		return nil, fmt.Errorf("quant: NewConv: input zero point %d out of range for %v", p.XZero, p.XType)
	}
	return &fusedConv{attrs: attrs, xType: p.XType, xZero: p.XZero, w: w, st: st}, nil
}

type fusedConv struct {
	attrs convAttrs
	xType tensor.DType
	xZero int32
	w     *packedConvWeights
	st    *outputStage
}

func (k *fusedConv) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	if in[0].DType != k.xType {
		return fmt.Errorf("input dtype %v, want %v", in[0].DType, k.xType)
	}
	y, err := runConv(ctx, k.attrs, in[0], k.xZero, k.w, k.st)
	if err != nil {
		return err
	}
	out[0] = y
	return nil
}

// fusedStage builds the output stage of a fused kernel with n channels.
func fusedStage(xScale float32, wScale []float32, n int, bias *tensor.Tensor, yType tensor.DType, yScale float32, yZero int32, relu bool) (*outputStage, error) {
	if len(wScale) != 1 && len(wScale) != n {
		return nil, fmt.Errorf("%d weight scales for %d channels", len(wScale), n)
	}
	unit := make([]float32, len(wScale)) // real value of one accumulator step, per channel
	for i, s := range wScale {
		unit[i] = xScale * s
	}
	var mult []float32
	switch yType {
	case tensor.Float32:
		mult = unit
	case tensor.Int8, tensor.Uint8:
		if !(yScale > 0) || math.IsInf(float64(yScale), 0) {
			return nil, fmt.Errorf("output scale %v", yScale)
		}
		mult = make([]float32, len(unit))
		for i, r := range unit {
			mult[i] = r / yScale
		}
	default:
		return nil, fmt.Errorf("output dtype %v", yType)
	}
	var ib []int32
	var fb []float32
	if bias != nil {
		if bias.Len() != n {
			return nil, fmt.Errorf("bias shape %v for %d channels", bias.Shape, n)
		}
		switch bd := bias.Data.(type) {
		case []int32:
			ib = bd
		case []float32:
			if yType == tensor.Float32 {
				fb = bd
				break
			}
			ib = make([]int32, n)
			for c, v := range bd {
				r := unit[0]
				if len(unit) > 1 {
					r = unit[c]
				}
				q := math.RoundToEven(float64(v) / float64(r))
				ib[c] = int32(max(math.MinInt32, min(math.MaxInt32, q)))
			}
		default:
			return nil, fmt.Errorf("bias dtype %v", bias.DType)
		}
	}
	st, err := newOutputStage(yType, mult, ib, yZero, relu)
	if err != nil {
		return nil, err
	}
	st.fbias = fb
	return st, nil
}
