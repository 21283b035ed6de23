package train

import (
	"sort"
	"strings"
)

// opSpec describes one differentiable operator of the trainer.
type opSpec struct {
	// diff lists the input slots gradients flow to. A node runs as a
	// differentiable op when one of them is a float value.
	diff []int
	// weights lists the slots whose float initializers are trainable by
	// default (Options.Trainable nil).
	weights []int
	// elementwise marks Add/Sub/Mul/Div, whose scalar constants are not
	// trainable by default.
	elementwise bool
	// domain is the operator's domain ("" for ai.onnx; see qat_ops.go for
	// the trainer's own fake-quantisation operators).
	domain string
	// buffers lists the slots whose constant float inputs are state that
	// the forward pass updates in training mode (BatchNormalization's
	// running statistics, a fake quantiser's observed range).
	buffers []int
	// new returns a fresh op[float32] or, with f64, op[float64].
	new func(f64 bool) any
}

func pick(f64 bool, a, b any) any {
	if f64 {
		return b
	}
	return a
}

// opSpecs is the trainer's operator table, by ONNX op type.
var opSpecs = map[string]opSpec{
	"Relu":      {diff: []int{0}, new: func(f bool) any { return pick(f, &unaryOp[float32]{}, &unaryOp[float64]{}) }},
	"LeakyRelu": {diff: []int{0}, new: func(f bool) any { return pick(f, &unaryOp[float32]{}, &unaryOp[float64]{}) }},
	"Sigmoid":   {diff: []int{0}, new: func(f bool) any { return pick(f, &unaryOp[float32]{}, &unaryOp[float64]{}) }},
	"Tanh":      {diff: []int{0}, new: func(f bool) any { return pick(f, &unaryOp[float32]{}, &unaryOp[float64]{}) }},
	"Gelu":      {diff: []int{0}, new: func(f bool) any { return pick(f, &unaryOp[float32]{}, &unaryOp[float64]{}) }},
	"Clip":      {diff: []int{0}, new: func(f bool) any { return pick(f, &unaryOp[float32]{}, &unaryOp[float64]{}) }},
	"Neg":       {diff: []int{0}, new: func(f bool) any { return pick(f, &unaryOp[float32]{}, &unaryOp[float64]{}) }},
	"Identity":  {diff: []int{0}, new: func(f bool) any { return pick(f, &viewOp[float32]{}, &viewOp[float64]{}) }},
	"Flatten":   {diff: []int{0}, new: func(f bool) any { return pick(f, &viewOp[float32]{}, &viewOp[float64]{}) }},
	"Reshape":   {diff: []int{0}, new: func(f bool) any { return pick(f, &viewOp[float32]{}, &viewOp[float64]{}) }},
	"Squeeze":   {diff: []int{0}, new: func(f bool) any { return pick(f, &viewOp[float32]{}, &viewOp[float64]{}) }},
	"Unsqueeze": {diff: []int{0}, new: func(f bool) any { return pick(f, &viewOp[float32]{}, &viewOp[float64]{}) }},
	"Transpose": {diff: []int{0}, new: func(f bool) any { return pick(f, &transposeOp[float32]{}, &transposeOp[float64]{}) }},
	"Concat": {diff: []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		new: func(f bool) any { return pick(f, &concatOp[float32]{}, &concatOp[float64]{}) }},
	"Add": {diff: []int{0, 1}, weights: []int{0, 1}, elementwise: true, new: func(f bool) any { return pick(f, &binaryOp[float32]{}, &binaryOp[float64]{}) }},
	"Sub": {diff: []int{0, 1}, weights: []int{0, 1}, elementwise: true, new: func(f bool) any { return pick(f, &binaryOp[float32]{}, &binaryOp[float64]{}) }},
	"Mul": {diff: []int{0, 1}, weights: []int{0, 1}, elementwise: true, new: func(f bool) any { return pick(f, &binaryOp[float32]{}, &binaryOp[float64]{}) }},
	"Div": {diff: []int{0, 1}, weights: []int{0, 1}, elementwise: true, new: func(f bool) any { return pick(f, &binaryOp[float32]{}, &binaryOp[float64]{}) }},
	"Gemm": {diff: []int{0, 1, 2}, weights: []int{1, 2},
		new: func(f bool) any { return pick(f, &gemmOp[float32]{}, &gemmOp[float64]{}) }},
	"MatMul": {diff: []int{0, 1}, weights: []int{1},
		new: func(f bool) any { return pick(f, &matmulOp[float32]{}, &matmulOp[float64]{}) }},
	"Conv": {diff: []int{0, 1, 2}, weights: []int{1, 2},
		new: func(f bool) any { return pick(f, &convOp[float32]{}, &convOp[float64]{}) }},
	"MaxPool":           {diff: []int{0}, new: func(f bool) any { return pick(f, &poolOp[float32]{}, &poolOp[float64]{}) }},
	"AveragePool":       {diff: []int{0}, new: func(f bool) any { return pick(f, &poolOp[float32]{}, &poolOp[float64]{}) }},
	"GlobalAveragePool": {diff: []int{0}, new: func(f bool) any { return pick(f, &poolOp[float32]{}, &poolOp[float64]{}) }},
	"GlobalMaxPool":     {diff: []int{0}, new: func(f bool) any { return pick(f, &poolOp[float32]{}, &poolOp[float64]{}) }},
	"BatchNormalization": {diff: []int{0, 1, 2}, weights: []int{1, 2}, buffers: []int{3, 4},
		new: func(f bool) any { return pick(f, &bnOp[float32]{}, &bnOp[float64]{}) }},
	"Dropout":    {diff: []int{0}, new: func(f bool) any { return pick(f, &dropoutOp[float32]{}, &dropoutOp[float64]{}) }},
	"Softmax":    {diff: []int{0}, new: func(f bool) any { return pick(f, &softmaxOp[float32]{}, &softmaxOp[float64]{}) }},
	"LogSoftmax": {diff: []int{0}, new: func(f bool) any { return pick(f, &softmaxOp[float32]{}, &softmaxOp[float64]{}) }},
}

// SupportedOps lists the operators the trainer differentiates. Other
// operators may appear in a model only off the gradient path (shape
// arithmetic, constants), where the inference engine's kernels run them.
func SupportedOps() []string {
	out := make([]string, 0, len(opSpecs))
	for k := range opSpecs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func supportedList() string { return strings.Join(SupportedOps(), ", ") }
