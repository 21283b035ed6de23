package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// in is one input of a gradient-check graph: a random float initializer
// (trained, so it gets a gradient) or a fixed tensor.
type in struct {
	name  string
	shape []int
	fixed *tensor.Tensor
	// lo, hi bound the random values (default [-1, 1]); away keeps them at
	// least that far from zero (for Div denominators, kinks).
	lo, hi, away float64
}

func ints(v ...int64) *graph.Attr { return &graph.Attr{Type: graph.AttrInts, Ints: v} }
func intA(v int64) *graph.Attr    { return &graph.Attr{Type: graph.AttrInt, Int: v} }
func fltA(v float32) *graph.Attr  { return &graph.Attr{Type: graph.AttrFloat, Float: v} }
func strA(v string) *graph.Attr   { return &graph.Attr{Type: graph.AttrString, String: v} }
func i64(v ...int64) *tensor.Tensor {
	return tensor.Int64s([]int{len(v)}, v)
}

// opModel builds a graph with one node of op over the inputs and output "y".
func opModel(seed uint64, opset int64, op string, attrs map[string]*graph.Attr, ins ...in) (*graph.Model, []string) {
	r := rand.New(rand.NewPCG(seed, 1))
	g := &graph.Graph{Name: "gc", Outputs: []graph.ValueInfo{{Name: "y", DType: tensor.Float32}}}
	n := &graph.Node{OpType: op, Attrs: attrs, Outputs: []string{"y"}}
	var trainable []string
	for _, x := range ins {
		n.Inputs = append(n.Inputs, x.name)
		if x.name == "" {
			continue
		}
		if x.fixed != nil {
			g.AddInitializer(x.name, x.fixed)
			continue
		}
		lo, hi := x.lo, x.hi
		if lo == 0 && hi == 0 {
			lo, hi = -1, 1
		}
		d := make([]float64, numel(x.shape))
		for i := range d {
			for {
				d[i] = lo + (hi-lo)*r.Float64()
				if math.Abs(d[i]) >= x.away {
					break
				}
			}
		}
		t, _ := tensor.FromSlice(tensor.Float64, x.shape, d)
		g.AddInitializer(x.name, t)
		trainable = append(trainable, x.name)
	}
	g.Nodes = []*graph.Node{n}
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": opset}}, trainable
}

// lossOf runs forward (resetting the dropout generator) and returns
// sum(y * w) for fixed random weights w of y's size.
func lossOf[F float](t *testing.T, e *engine[F], w *[]F) float64 {
	t.Helper()
	e.rng = rand.New(rand.NewPCG(7, 0x5eed))
	if err := e.forward(nil, true, true); err != nil {
		t.Fatal(err)
	}
	y := e.vals[e.outputs[0]].f
	if *w == nil {
		r := rand.New(rand.NewPCG(99, 3))
		*w = make([]F, len(y.data))
		for i := range *w {
			(*w)[i] = F(r.Float64()*2 - 1)
		}
	}
	var s float64
	for i, v := range y.data {
		s += float64(v) * float64((*w)[i])
	}
	return s
}

// gradCheck compares the analytic gradient of every trainable input with
// central differences in float64, and the float32 program's gradient with
// the float64 one.
func gradCheck(t *testing.T, m *graph.Model, trainable []string) {
	t.Helper()
	e, err := compileEngine[float64](m, Options{Trainable: trainable, Threads: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	var w []float64
	lossOf(t, e, &w)
	e.zeroGrad()
	yi := e.outputs[0]
	if err := e.backward(map[int]*tens[float64]{yi: {shape: e.vals[yi].f.shape, data: w}}); err != nil {
		t.Fatal(err)
	}
	const eps = 1e-6
	r := rand.New(rand.NewPCG(5, 5))
	for _, pi := range e.params {
		v := e.vals[pi]
		idx := make([]int, len(v.f.data))
		for i := range idx {
			idx[i] = i
		}
		if len(idx) > 40 {
			r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			idx = idx[:40]
		}
		for _, i := range idx {
			old := v.f.data[i]
			v.f.data[i] = old + eps
			lp := lossOf(t, e, &w)
			v.f.data[i] = old - eps
			lm := lossOf(t, e, &w)
			v.f.data[i] = old
			num := (lp - lm) / (2 * eps)
			ana := v.grad.data[i]
			if d := math.Abs(num - ana); d > 1e-6+1e-5*(math.Abs(num)+math.Abs(ana)) {
				t.Errorf("d loss/d %s[%d]: analytic %.9g, numeric %.9g", v.name, i, ana, num)
			}
		}
	}
	// The float32 program (gemm kernels) must agree with the float64 one.
	e32, err := compileEngine[float32](m, Options{Trainable: trainable, Threads: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e32.close()
	var w32 []float32
	for _, x := range w {
		w32 = append(w32, float32(x))
	}
	lossOf(t, e32, &w32)
	e32.zeroGrad()
	yi = e32.outputs[0]
	if err := e32.backward(map[int]*tens[float32]{yi: {shape: e32.vals[yi].f.shape, data: w32}}); err != nil {
		t.Fatal(err)
	}
	y64, y32 := e.vals[e.outputs[0]].f.data, e32.vals[yi].f.data
	for i := range y64 {
		if math.Abs(y64[i]-float64(y32[i])) > 1e-4*(1+math.Abs(y64[i])) {
			t.Fatalf("float32 output[%d] = %g, float64 %g", i, y32[i], y64[i])
		}
	}
	for k, pi := range e.params {
		g64, g32 := e.vals[pi].grad.data, e32.vals[e32.params[k]].grad.data
		for i := range g64 {
			if math.Abs(g64[i]-float64(g32[i])) > 1e-3*(1+math.Abs(g64[i])) {
				t.Fatalf("float32 grad %s[%d] = %g, float64 %g", e.vals[pi].name, i, g32[i], g64[i])
			}
		}
	}
}

type gcCase struct {
	name  string
	opset int64
	op    string
	attrs map[string]*graph.Attr
	ins   []in
}

func runCases(t *testing.T, cases []gcCase) {
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opset := c.opset
			if opset == 0 {
				opset = 13
			}
			m, tr := opModel(uint64(i+1), opset, c.op, c.attrs, c.ins...)
			gradCheck(t, m, tr)
		})
	}
}

func TestGradConv(t *testing.T) {
	runCases(t, []gcCase{
		{name: "3x3pad1", op: "Conv", attrs: map[string]*graph.Attr{"pads": ints(1, 1, 1, 1)},
			ins: []in{{name: "x", shape: []int{2, 3, 6, 5}}, {name: "w", shape: []int{4, 3, 3, 3}}, {name: "b", shape: []int{4}}}},
		{name: "groups-strides-dilations-asympads", op: "Conv", attrs: map[string]*graph.Attr{
			"group": intA(2), "strides": ints(2, 1), "dilations": ints(2, 1), "pads": ints(1, 0, 2, 1)},
			ins: []in{{name: "x", shape: []int{2, 4, 9, 8}}, {name: "w", shape: []int{6, 2, 3, 2}}, {name: "b", shape: []int{6}}}},
		{name: "stride2-x-stride", op: "Conv", attrs: map[string]*graph.Attr{"strides": ints(2, 3), "pads": ints(2, 1, 0, 2)},
			ins: []in{{name: "x", shape: []int{3, 2, 7, 9}}, {name: "w", shape: []int{3, 2, 3, 3}}}},
		{name: "depthwise", op: "Conv", attrs: map[string]*graph.Attr{"group": intA(3), "pads": ints(1, 1, 1, 1)},
			ins: []in{{name: "x", shape: []int{2, 3, 5, 5}}, {name: "w", shape: []int{3, 1, 3, 3}}, {name: "b", shape: []int{3}}}},
		{name: "pointwise", op: "Conv",
			ins: []in{{name: "x", shape: []int{2, 3, 4, 4}}, {name: "w", shape: []int{5, 3, 1, 1}}, {name: "b", shape: []int{5}}}},
		{name: "1d", op: "Conv", attrs: map[string]*graph.Attr{"strides": ints(2), "pads": ints(1, 2), "dilations": ints(2)},
			ins: []in{{name: "x", shape: []int{2, 3, 11}}, {name: "w", shape: []int{4, 3, 3}}, {name: "b", shape: []int{4}}}},
		{name: "same-upper", op: "Conv", attrs: map[string]*graph.Attr{"auto_pad": strA("SAME_UPPER"), "strides": ints(2, 2)},
			ins: []in{{name: "x", shape: []int{1, 2, 6, 7}}, {name: "w", shape: []int{2, 2, 4, 3}}}},
	})
}

func TestGradLinear(t *testing.T) {
	var cases []gcCase
	for _, ta := range []int64{0, 1} {
		for _, tb := range []int64{0, 1} {
			a, b := []int{3, 4}, []int{4, 5}
			if ta == 1 {
				a = []int{4, 3}
			}
			if tb == 1 {
				b = []int{5, 4}
			}
			for _, cs := range [][]int{{5}, {3, 5}, {1, 5}, {3, 1}, {}} {
				cases = append(cases, gcCase{name: fmt.Sprintf("gemm-tA%d-tB%d-C%v", ta, tb, cs), op: "Gemm",
					attrs: map[string]*graph.Attr{"transA": intA(ta), "transB": intA(tb), "alpha": fltA(0.7), "beta": fltA(1.3)},
					ins:   []in{{name: "a", shape: a}, {name: "b", shape: b}, {name: "c", shape: cs}}})
			}
		}
	}
	cases = append(cases, gcCase{name: "gemm-noC", op: "Gemm", ins: []in{{name: "a", shape: []int{2, 3}}, {name: "b", shape: []int{3, 4}}}})
	for _, s := range [][2][]int{
		{{3, 4}, {4, 5}}, {{2, 3, 4}, {4, 5}}, {{2, 3, 4}, {2, 4, 5}}, {{4}, {4, 5}}, {{3, 4}, {4}},
		{{2, 1, 3, 4}, {3, 4, 2}}, {{3, 4}, {2, 4, 2}},
	} {
		cases = append(cases, gcCase{name: fmt.Sprintf("matmul-%v-%v", s[0], s[1]), op: "MatMul",
			ins: []in{{name: "a", shape: s[0]}, {name: "b", shape: s[1]}}})
	}
	runCases(t, cases)
}

func TestGradElementwise(t *testing.T) {
	var cases []gcCase
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, s := range [][2][]int{{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {3, 1}}, {{4}, {2, 3, 4}}, {{2, 1, 4}, {3, 1}}, {{2, 3}, {}}} {
			cases = append(cases, gcCase{name: fmt.Sprintf("%s-%v-%v", op, s[0], s[1]), op: op,
				ins: []in{{name: "a", shape: s[0]}, {name: "b", shape: s[1], away: 0.3}}})
		}
	}
	x := in{name: "x", shape: []int{3, 4, 5}, lo: -3, hi: 3, away: 0.01}
	for _, op := range []string{"Relu", "Sigmoid", "Tanh", "Neg"} {
		cases = append(cases, gcCase{name: op, op: op, ins: []in{x}})
	}
	cases = append(cases,
		gcCase{name: "LeakyRelu", op: "LeakyRelu", attrs: map[string]*graph.Attr{"alpha": fltA(0.2)}, ins: []in{x}},
		gcCase{name: "Gelu", op: "Gelu", opset: 20, ins: []in{x}},
		gcCase{name: "Gelu-tanh", op: "Gelu", opset: 20, attrs: map[string]*graph.Attr{"approximate": strA("tanh")}, ins: []in{x}},
		gcCase{name: "Clip", op: "Clip", ins: []in{x, {name: "lo", fixed: tensor.Scalar(float32(-1.05))}, {name: "hi", fixed: tensor.Scalar(float32(0.55))}}},
		gcCase{name: "Clip-noMin", op: "Clip", ins: []in{x, {name: ""}, {name: "hi", fixed: tensor.Scalar(float32(0.55))}}},
		gcCase{name: "Clip-attr-opset6", op: "Clip", opset: 6, attrs: map[string]*graph.Attr{"min": fltA(-0.5), "max": fltA(1.25)}, ins: []in{x}},
		gcCase{name: "Softmax-axis1", op: "Softmax", attrs: map[string]*graph.Attr{"axis": intA(1)}, ins: []in{x}},
		gcCase{name: "Softmax-last", op: "Softmax", ins: []in{x}},
		gcCase{name: "Softmax-legacy", op: "Softmax", opset: 11, ins: []in{x}},
		gcCase{name: "LogSoftmax-axis1", op: "LogSoftmax", attrs: map[string]*graph.Attr{"axis": intA(1)}, ins: []in{x}},
		gcCase{name: "LogSoftmax-legacy", op: "LogSoftmax", opset: 11, ins: []in{x}},
		gcCase{name: "Dropout", op: "Dropout", ins: []in{x, {name: "ratio", fixed: tensor.Scalar(float32(0.3))}}},
		gcCase{name: "Dropout-opset10", op: "Dropout", opset: 10, attrs: map[string]*graph.Attr{"ratio": fltA(0.4)}, ins: []in{x}},
	)
	runCases(t, cases)
}

func TestGradPoolNorm(t *testing.T) {
	x := in{name: "x", shape: []int{2, 3, 7, 6}}
	runCases(t, []gcCase{
		{name: "maxpool2", op: "MaxPool", attrs: map[string]*graph.Attr{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}, ins: []in{x}},
		{name: "maxpool3-pad-s2", op: "MaxPool", attrs: map[string]*graph.Attr{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}, ins: []in{x}},
		{name: "maxpool-ceil-dil", op: "MaxPool", attrs: map[string]*graph.Attr{"kernel_shape": ints(2, 3), "strides": ints(2, 2), "ceil_mode": intA(1), "dilations": ints(1, 2)}, ins: []in{x}},
		{name: "maxpool1d", op: "MaxPool", attrs: map[string]*graph.Attr{"kernel_shape": ints(3), "strides": ints(2)}, ins: []in{{name: "x", shape: []int{2, 3, 9}}}},
		{name: "avgpool-pad-exclude", op: "AveragePool", attrs: map[string]*graph.Attr{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}, ins: []in{x}},
		{name: "avgpool-pad-include", op: "AveragePool", attrs: map[string]*graph.Attr{"kernel_shape": ints(3, 2), "strides": ints(2, 1), "pads": ints(1, 0, 1, 1), "count_include_pad": intA(1)}, ins: []in{x}},
		{name: "avgpool-ceil", op: "AveragePool", attrs: map[string]*graph.Attr{"kernel_shape": ints(2, 2), "strides": ints(2, 2), "ceil_mode": intA(1)}, ins: []in{x}},
		{name: "gap", op: "GlobalAveragePool", ins: []in{x}},
		{name: "gmp", op: "GlobalMaxPool", ins: []in{x}},
		{name: "gap1d", op: "GlobalAveragePool", ins: []in{{name: "x", shape: []int{2, 3, 5}}}},
		{name: "bn-4d", op: "BatchNormalization", attrs: map[string]*graph.Attr{"epsilon": fltA(1e-3)},
			ins: []in{x, {name: "s", shape: []int{3}}, {name: "b", shape: []int{3}},
				{name: "m", fixed: tensor.Float32s([]int{3}, []float32{0, 0, 0})}, {name: "v", fixed: tensor.Float32s([]int{3}, []float32{1, 1, 1})}}},
		{name: "bn-2d", op: "BatchNormalization",
			ins: []in{{name: "x", shape: []int{6, 4}}, {name: "s", shape: []int{4}}, {name: "b", shape: []int{4}},
				{name: "m", fixed: tensor.Float32s([]int{4}, []float32{0, 0, 0, 0})}, {name: "v", fixed: tensor.Float32s([]int{4}, []float32{1, 1, 1, 1})}}},
	})
}

func TestGradShape(t *testing.T) {
	x := in{name: "x", shape: []int{2, 3, 4}}
	runCases(t, []gcCase{
		{name: "flatten", op: "Flatten", attrs: map[string]*graph.Attr{"axis": intA(2)}, ins: []in{x}},
		{name: "reshape", op: "Reshape", ins: []in{x, {name: "s", fixed: i64(0, -1, 2)}}},
		{name: "transpose", op: "Transpose", attrs: map[string]*graph.Attr{"perm": ints(2, 0, 1)}, ins: []in{x}},
		{name: "transpose-default", op: "Transpose", ins: []in{x}},
		{name: "concat", op: "Concat", attrs: map[string]*graph.Attr{"axis": intA(1)},
			ins: []in{x, {name: "x2", shape: []int{2, 1, 4}}, {name: "x3", shape: []int{2, 2, 4}}}},
		{name: "concat-last", op: "Concat", attrs: map[string]*graph.Attr{"axis": intA(-1)},
			ins: []in{x, {name: "x2", shape: []int{2, 3, 2}}}},
		{name: "squeeze", op: "Squeeze", ins: []in{{name: "x", shape: []int{2, 1, 3, 1}}, {name: "a", fixed: i64(1, -1)}}},
		{name: "squeeze-opset11", op: "Squeeze", opset: 11, attrs: map[string]*graph.Attr{"axes": ints(1)}, ins: []in{{name: "x", shape: []int{2, 1, 3}}}},
		{name: "unsqueeze", op: "Unsqueeze", ins: []in{x, {name: "a", fixed: i64(0, 4)}}},
		{name: "identity", op: "Identity", ins: []in{x}},
	})
}

func TestGradLosses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n, c := 4, 5
	logits := make([]float64, n*c)
	for i := range logits {
		logits[i] = r.Float64()*6 - 3
	}
	labels := []int{0, 4, 2, 2}
	grad := make([]float64, n*c)
	if _, err := softmaxCE(logits, n, c, labels, grad); err != nil {
		t.Fatal(err)
	}
	target := make([]float64, n*c)
	for i := range target {
		target[i] = r.Float64()
	}
	mgrad := make([]float64, n*c)
	mse(logits, target, mgrad)
	const eps = 1e-6
	for i := range logits {
		old := logits[i]
		logits[i] = old + eps
		lp, _ := softmaxCE(logits, n, c, labels, nil)
		mp := mse(logits, target, nil)
		logits[i] = old - eps
		lm, _ := softmaxCE(logits, n, c, labels, nil)
		mm := mse(logits, target, nil)
		logits[i] = old
		if num := (lp - lm) / (2 * eps); math.Abs(num-grad[i]) > 1e-7 {
			t.Errorf("cross-entropy grad[%d] = %g, numeric %g", i, grad[i], num)
		}
		if num := (mp - mm) / (2 * eps); math.Abs(num-mgrad[i]) > 1e-7 {
			t.Errorf("mse grad[%d] = %g, numeric %g", i, mgrad[i], num)
		}
	}
	// Stability: huge logits must not overflow.
	big := []float32{1000, -1000, 0, 3e4}
	l, err := softmaxCE(big, 2, 2, []int{0, 1}, nil)
	if err != nil || math.IsNaN(l) || math.IsInf(l, 0) {
		t.Fatalf("cross-entropy of large logits = %v, %v", l, err)
	}
}

// TestGradComposite checks a graph where values fan out to several
// consumers (gradients must accumulate) through conv, BN, concat, pooling
// and a residual product.
func TestGradComposite(t *testing.T) {
	m, tr := opModel(11, 13, "Conv", map[string]*graph.Attr{"pads": ints(1, 1, 1, 1)},
		in{name: "x", shape: []int{3, 2, 5, 5}}, in{name: "w", shape: []int{3, 2, 3, 3}}, in{name: "b", shape: []int{3}})
	g := m.Graph
	g.Nodes[0].Outputs = []string{"c"}
	r := rand.New(rand.NewPCG(4, 4))
	rnd := func(name string, shape ...int) {
		d := make([]float64, numel(shape))
		for i := range d {
			d[i] = r.Float64()*2 - 1
		}
		tt, _ := tensor.FromSlice(tensor.Float64, shape, d)
		g.AddInitializer(name, tt)
		tr = append(tr, name)
	}
	rnd("s", 6)
	rnd("beta", 6)
	rnd("fw", 6, 4)
	g.AddInitializer("rm", tensor.Float32s([]int{6}, make([]float32, 6)))
	g.AddInitializer("rv", tensor.Float32s([]int{6}, []float32{1, 1, 1, 1, 1, 1}))
	g.Nodes = append(g.Nodes,
		&graph.Node{OpType: "Tanh", Inputs: []string{"c"}, Outputs: []string{"t"}},
		&graph.Node{OpType: "Mul", Inputs: []string{"t", "c"}, Outputs: []string{"m"}},
		&graph.Node{OpType: "Concat", Inputs: []string{"m", "t"}, Outputs: []string{"cc"}, Attrs: map[string]*graph.Attr{"axis": intA(1)}},
		&graph.Node{OpType: "BatchNormalization", Inputs: []string{"cc", "s", "beta", "rm", "rv"}, Outputs: []string{"bn"}},
		&graph.Node{OpType: "AveragePool", Inputs: []string{"bn"}, Outputs: []string{"ap"}, Attrs: map[string]*graph.Attr{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}},
		&graph.Node{OpType: "GlobalMaxPool", Inputs: []string{"bn"}, Outputs: []string{"gm"}},
		&graph.Node{OpType: "Add", Inputs: []string{"ap", "gm"}, Outputs: []string{"sum"}},
		&graph.Node{OpType: "GlobalAveragePool", Inputs: []string{"sum"}, Outputs: []string{"gap"}},
		&graph.Node{OpType: "Flatten", Inputs: []string{"gap"}, Outputs: []string{"f"}},
		&graph.Node{OpType: "MatMul", Inputs: []string{"f", "fw"}, Outputs: []string{"mm"}},
		&graph.Node{OpType: "LogSoftmax", Inputs: []string{"mm"}, Outputs: []string{"y"}},
	)
	gradCheck(t, m, tr)
}
