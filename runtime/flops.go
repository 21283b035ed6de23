package runtime

import (
	"fmt"
	"strings"

	"github.com/edgedl/edgedl/graph"
)

var zeroFLOPOps = setOf(
	"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split",
	"Slice", "Gather", "GatherElements", "GatherND", "Scatter", "ScatterElements",
	"ScatterND", "Shape", "Size", "Identity", "Constant", "ConstantOfShape",
	"Expand", "Tile", "Pad", "DepthToSpace", "SpaceToDepth", "Cast", "CastLike",
	"If", "Loop", "Scan", "Dropout", "EyeLike", "Range", "NonZero", "Compress",
	"ReverseSequence", "Trilu", "OneHot", "Optional", "OptionalGetElement",
	"OptionalHasElement", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
	"SequenceErase", "SequenceInsert", "SequenceLength", "SplitToSequence",
	"ConcatFromSequence", "Unique", "CenterCropPad", "Col2Im",
)

var reduceOps = setOf(
	"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
	"GlobalLpPool", "MaxRoiPool", "RoiAlign", "ReduceSum", "ReduceMean", "ReduceMax",
	"ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
	"ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "Softmax",
	"LogSoftmax", "Hardmax", "TopK",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// FLOPsClass names the rule NodeFLOPs applies to an op type: "macs",
// "reduce", "none" or "elementwise" (see the convention above).
func FLOPsClass(op string) string {
	switch op {
	case "Conv", "ConvInteger", "QLinearConv", "ConvTranspose", "Gemm", "MatMul",
		"MatMulInteger", "QLinearMatMul", "RNN", "GRU", "LSTM", "Einsum":
		return "macs"
	}
	if reduceOps[op] {
		return "reduce"
	}
	if zeroFLOPOps[op] {
		return "none"
	}
	return "elementwise"
}

// NodeFLOPs estimates the floating-point (or integer) operations of one
// execution of n from its attributes and the shapes its inputs and outputs
// had at run time (positional; nil for an omitted argument or an unknown
// shape, which counts as 0). The numbers are meant for
// comparing nodes and models and for cost models (the partition planner),
// not for cycle-accurate predictions. The rules:
//
//   - Matrix products count 2 FLOPs per multiply-accumulate (2*MACs):
//     Conv, ConvInteger and QLinearConv: out_elements * (C_in/group) * prod(kernel),
//     read from the weight's shape [M, C_in/group, k1, k2, ...];
//     ConvTranspose: in_elements * (M/group) * prod(kernel), weight [C_in, M/group, k...];
//     Gemm: M*N*K (K from A's shape and transA); MatMul, MatMulInteger and
//     QLinearMatMul: out_elements * K, K being A's last dim;
//     RNN, GRU and LSTM: seq*batch*directions*(gates*hidden)*(input+hidden),
//     read from X [seq,batch,input] and W/R [dirs, gates*hidden, ...];
//     Einsum: the product of the sizes of all distinct labels (when the
//     equation has no ellipsis and contracts at least one label).
//     When a kernel pre-packed the weight (so its shape is not seen at run
//     time) the kernel_shape, group, hidden_size and direction attributes
//     stand in. Bias additions are not counted; an activation the optimizer
//     fused into Conv or Gemm counts one FLOP per output element.
//   - Pooling and reductions (MaxPool, AveragePool, the Global*Pool ops,
//     Reduce*, ArgMax/ArgMin, Softmax, LogSoftmax, Hardmax, TopK) count one
//     FLOP per element of their first input.
//   - Data movement, shape and control-flow ops (Reshape, Transpose, Concat,
//     Gather, Slice, Pad, Cast, Shape, Identity, Dropout, If, Loop, ...)
//     count 0; the bodies of If/Loop/Scan are not traced, so their work is
//     not included.
//   - Every other op is treated as elementwise: one FLOP per output element
//     (Add, Relu, Sigmoid, BatchNormalization, QuantizeLinear, Clip, ...).
//
// Nodes of custom domains count as elementwise. Nodes folded at compile time
// do not run and are not counted by InferShapes or Profile.
func NodeFLOPs(n *graph.Node, in, out [][]int) int64 {
	dom := graph.NormalizeDomain(n.Domain)
	if dom == "edgedl" {
		// The optimizer's integer kernels (package kernels/fused).
		in0, w, y := nthShape(in, 0), nthShape(in, 1), nthShape(out, 0)
		switch n.OpType {
		case "QConv":
			return convFLOPs(n, in0, w, y)
		case "ConcatConv":
			// Each branch's Conv (and fused activation) over its
			// channels of the output.
			var f int64
			for i := 0; 3*i+1 < len(in); i++ {
				w := in[3*i+1]
				if len(w) < 2 || len(y) < 2 {
					continue
				}
				yi := int64(y[0]) * int64(w[0]) * prod(y[2:])
				f += 2 * yi * prod(w[1:])
				if n.Attrs[fmt.Sprintf("c%d_%s", i, AttrActivation)] != nil {
					f += yi
				}
			}
			return f
		case "QGemm":
			k := 0
			if len(w) == 2 && kAttr(n, "trans_b") != 0 {
				k = w[1]
			} else if len(w) == 2 {
				k = w[0]
			} else if len(in0) > 0 {
				k = in0[len(in0)-1]
			}
			return 2 * elems(y) * int64(k)
		}
	}
	if dom != "" && dom != "com.microsoft" {
		// Custom domains: treat as elementwise over the outputs.
		return sumElems(out)
	}
	shape := func(s [][]int, i int) []int {
		if i < len(s) {
			return s[i]
		}
		return nil
	}
	switch n.OpType {
	case "Conv", "ConvInteger", "QLinearConv":
		w := 1
		if n.OpType == "QLinearConv" {
			w = 3
		}
		f := convFLOPs(n, shape(in, 0), shape(in, w), shape(out, 0))
		if a := n.Attrs[AttrActivation]; a != nil {
			f += elems(shape(out, 0)) // fused activation epilogue
		}
		return f
	case "ConvTranspose":
		return convTransposeFLOPs(n, shape(in, 0), shape(in, 1), shape(out, 0))
	case "Gemm":
		a, b, y := shape(in, 0), shape(in, 1), shape(out, 0)
		if y == nil {
			return 0
		}
		var k int
		switch {
		case len(a) == 2 && kAttr(n, "transA") != 0:
			k = a[0]
		case len(a) == 2:
			k = a[1]
		case len(b) == 2 && kAttr(n, "transB") != 0:
			k = b[1]
		case len(b) == 2:
			k = b[0]
		}
		f := 2 * elems(y) * int64(k)
		if a := n.Attrs[AttrActivation]; a != nil {
			f += elems(y)
		}
		return f
	case "MatMul", "MatMulInteger", "QLinearMatMul":
		b := 1
		if n.OpType == "QLinearMatMul" {
			b = 3
		}
		return matmulFLOPs(shape(in, 0), shape(in, b), shape(out, 0))
	case "RNN", "GRU", "LSTM":
		return rnnFLOPs(n, shape(in, 0), shape(in, 1), shape(in, 2))
	case "Einsum":
		if f, ok := einsumFLOPs(n, in); ok {
			return f
		}
		return sumElems(out)
	}
	switch FLOPsClass(n.OpType) {
	case "reduce":
		return elems(shape(in, 0))
	case "none":
		return 0
	}
	if n.Attrs[AttrActivation] != nil {
		// An activation the optimizer fused into this elementwise node.
		return 2 * sumElems(out)
	}
	return sumElems(out)
}

// convFLOPs is 2 * out_elements * (C_in/group) * prod(kernel), from the
// weight's shape or, when the weight is not known (a kernel pre-packed it),
// from X's channels and the group and kernel_shape attributes.
func convFLOPs(n *graph.Node, x, w, y []int) int64 {
	if y == nil {
		return 0
	}
	if len(w) >= 2 {
		return 2 * elems(y) * prod(w[1:])
	}
	ks := intsAttr(n, "kernel_shape")
	if len(x) < 2 || ks == nil {
		return 0
	}
	g := kAttr(n, "group")
	if g <= 0 {
		g = 1
	}
	return 2 * elems(y) * int64(x[1]) / g * prod(ks)
}

// convTransposeFLOPs is 2 * in_elements * (M/group) * prod(kernel).
func convTransposeFLOPs(n *graph.Node, x, w, y []int) int64 {
	if x == nil {
		return 0
	}
	if len(w) >= 2 {
		return 2 * elems(x) * prod(w[1:])
	}
	ks := intsAttr(n, "kernel_shape")
	if len(y) < 2 || ks == nil {
		return 0
	}
	g := kAttr(n, "group")
	if g <= 0 {
		g = 1
	}
	return 2 * elems(x) * int64(y[1]) / g * prod(ks)
}

// matmulFLOPs is 2 * out_elements * K, K being A's last dim (or B's
// second-to-last when A is not known).
func matmulFLOPs(a, b, y []int) int64 {
	if y == nil {
		return 0
	}
	switch {
	case len(a) > 0:
		return 2 * elems(y) * int64(a[len(a)-1])
	case len(b) == 1:
		return 2 * elems(y) * int64(b[0])
	case len(b) >= 2:
		return 2 * elems(y) * int64(b[len(b)-2])
	}
	return 0
}

// rnnFLOPs is 2 * seq*batch * dirs * gates*hidden * (input+hidden), from W
// and R or, when they are not known, from the hidden_size and direction
// attributes.
func rnnFLOPs(n *graph.Node, x, w, r []int) int64 {
	if len(x) != 3 {
		return 0
	}
	if len(w) == 3 && len(r) == 3 {
		return 2 * int64(x[0]) * int64(x[1]) * int64(w[0]) * int64(w[1]) * int64(w[2]+r[2])
	}
	h := kAttr(n, "hidden_size")
	if h <= 0 {
		return 0
	}
	dirs := int64(1)
	if a := n.Attrs["direction"]; a != nil && a.String == "bidirectional" {
		dirs = 2
	}
	gates := map[string]int64{"RNN": 1, "GRU": 3, "LSTM": 4}[n.OpType]
	return 2 * int64(x[0]) * int64(x[1]) * dirs * gates * h * (int64(x[2]) + h)
}

func intsAttr(n *graph.Node, name string) []int {
	a := n.Attrs[name]
	if a == nil || len(a.Ints) == 0 {
		return nil
	}
	out := make([]int, len(a.Ints))
	for i, v := range a.Ints {
		out[i] = int(v)
	}
	return out
}

// einsumFLOPs counts 2 * prod(size of every distinct label) when at least one
// label is contracted (absent from the output).
func einsumFLOPs(n *graph.Node, in [][]int) (int64, bool) {
	a, ok := n.Attrs["equation"]
	if !ok {
		return 0, false
	}
	eq := strings.ReplaceAll(a.String, " ", "")
	if strings.Contains(eq, "...") {
		return 0, false
	}
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(in) {
		return 0, false
	}
	size := map[rune]int{}
	count := map[rune]int{}
	for i, term := range terms {
		if len(term) != len(in[i]) {
			return 0, false
		}
		for j, c := range term {
			size[c] = in[i][j]
			count[c]++
		}
	}
	if !explicit {
		// Implicit output: labels appearing once.
		var b strings.Builder
		for c, k := range count {
			if k == 1 {
				b.WriteRune(c)
			}
		}
		rhs = b.String()
	}
	contracted := false
	for c := range size {
		if !strings.ContainsRune(rhs, c) {
			contracted = true
		}
	}
	if !contracted {
		return 0, false
	}
	macs := int64(1)
	for _, s := range size {
		macs *= int64(s)
	}
	return 2 * macs, true
}

func kAttr(n *graph.Node, name string) int64 {
	if a, ok := n.Attrs[name]; ok {
		return a.Int
	}
	return 0
}

func prod(s []int) int64 {
	p := int64(1)
	for _, d := range s {
		p *= int64(d)
	}
	return p
}

// elems is the element count of a shape, 0 for nil (unknown or omitted).
func elems(s []int) int64 {
	if s == nil {
		return 0
	}
	return prod(s)
}

func sumElems(ss [][]int) int64 {
	var n int64
	for _, s := range ss {
		n += elems(s)
	}
	return n
}

func nthShape(s [][]int, i int) []int {
	if i < len(s) {
		return s[i]
	}
	return nil
}
