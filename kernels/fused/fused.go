// Package fused holds edgedl's internal operators (domain "edgedl") that
// the runtime's graph optimizer substitutes for recognised patterns. They
// never appear in models users write; their attributes are documented here
// because the optimizer and the kernels must agree on them.
//
// edgedl.QConv and edgedl.QGemm replace the QDQ pattern that ONNX Runtime's
// static quantizer writes,
//
//	DequantizeLinear(xq) -> Conv|Gemm (weights DequantizeLinear(wq), bias) [-> Relu] -> QuantizeLinear
//
// with one integer kernel from package kernels/quant: int8/uint8 input, int8
// weights packed once, int32 accumulation, requantised int8/uint8 output.
//
// Inputs: xq, wq (constant), bias (optional constant: int32 in units of
// x_scale*w_scale, or float32). Attributes: x_scale (float), x_zero (int),
// w_scales (floats, one or one per output channel), w_zeros (ints), y_scale
// (float), y_zero (int), y_type (int, an ONNX dtype: int8, uint8 or float32
// for a dequantized output), relu (int 0/1); QConv also takes Conv's
// auto_pad, group, kernel_shape, strides, dilations, pads; QGemm takes
// trans_b (int).
package fused

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/quant"
	"github.com/edgedl/edgedl/tensor"
)

// Domain is the operator domain of edgedl's internal operators.
const Domain = "edgedl"

func init() {
	kernels.Register(Domain, "QConv", 1, buildQConv)
	kernels.Register(Domain, "QGemm", 1, buildQGemm)
}

// qparams reads the attributes shared by QConv and QGemm.
type qparams struct {
	xScale, yScale float32
	xZero, yZero   int32
	wScales        []float32
	wZeros         []int32
	yType          tensor.DType
	relu           bool
	xType          tensor.DType
	w, bias        *tensor.Tensor
}

func readParams(b *kernels.BuildContext) (*qparams, error) {
	a := b.Attrs()
	p := &qparams{
		xScale: a.Float("x_scale", 0), yScale: a.Float("y_scale", 0),
		xZero: int32(a.Int("x_zero", 0)), yZero: int32(a.Int("y_zero", 0)),
		wScales: a.Floats("w_scales", nil), yType: tensor.DType(a.Int("y_type", int64(tensor.Int8))),
		relu: a.Int("relu", 0) != 0, xType: tensor.DType(a.Int("x_type", int64(tensor.Int8))),
	}
	for _, z := range a.Ints("w_zeros", nil) {
		p.wZeros = append(p.wZeros, int32(z))
	}
	if p.xScale <= 0 || len(p.wScales) == 0 || (p.yType != tensor.Float32 && p.yScale <= 0) {
		return nil, b.Errorf("missing or non-positive quantization scales")
	}
	if p.w = b.ConstInput(1); p.w == nil {
		return nil, b.Errorf("weights must be a constant")
	}
	if b.HasInput(2) {
		if p.bias = b.ConstInput(2); p.bias == nil {
			return nil, b.Errorf("bias must be a constant")
		}
	}
	return p, nil
}

// packed wraps a quant kernel: it reads only input 0 at run time.
type packed struct{ k kernels.Kernel }

func (p packed) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	if in[0] == nil {
		return fmt.Errorf("missing input")
	}
	return p.k.Run(ctx, in[:1], out)
}

// PackedInputs: weights and bias live inside the quant kernel.
func (p packed) PackedInputs() []int { return []int{1, 2} }

func buildQConv(b *kernels.BuildContext) (kernels.Kernel, error) {
	p, err := readParams(b)
	if err != nil {
		return nil, err
	}
	a := b.Attrs()
	k, err := quant.NewConv(quant.ConvParams{
		XType: p.xType, XScale: p.xScale, XZero: p.xZero,
		W: p.w, WScale: p.wScales, WZero: p.wZeros, Bias: p.bias,
		YType: p.yType, YScale: p.yScale, YZero: p.yZero, Relu: p.relu,
		AutoPad: a.String("auto_pad", ""), Group: int(a.Int("group", 1)),
		KernelShape: a.IntsAsInt("kernel_shape", nil), Strides: a.IntsAsInt("strides", nil),
		Dilations: a.IntsAsInt("dilations", nil), Pads: a.IntsAsInt("pads", nil),
	})
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	return packed{k}, nil
}

func buildQGemm(b *kernels.BuildContext) (kernels.Kernel, error) {
	p, err := readParams(b)
	if err != nil {
		return nil, err
	}
	k, err := quant.NewGemm(quant.GemmParams{
		AType: p.xType, AScale: p.xScale, AZero: p.xZero,
		B: p.w, TransB: b.Attrs().Int("trans_b", 0) != 0, BScale: p.wScales, BZero: p.wZeros, Bias: p.bias,
		YType: p.yType, YScale: p.yScale, YZero: p.yZero, Relu: p.relu,
	})
	if err != nil {
		return nil, b.Errorf("%v", err)
	}
	return packed{k}, nil
}
