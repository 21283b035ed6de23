package control_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/control"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// Test bodies use a few tiny operators of their own, in a private domain,
// so these tests depend on nothing but the control package.
const dom = "test.control"

func init() {
	// Add: float32 a + b, b may hold a single element.
	kernels.Register(dom, "Add", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			y, err := ctx.Alloc(tensor.Float32, in[0].Shape)
			if err != nil {
				return err
			}
			a, c := in[0].F32(), in[1].F32()
			for i := range a {
				y.F32()[i] = a[i] + c[i%len(c)]
			}
			out[0] = y
			return nil
		}), nil
	})
	// ToFloat: any numeric scalar to a float32 scalar.
	kernels.Register(dom, "ToFloat", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			out[0] = tensor.Scalar(float32(in[0].Float64At(0)))
			return nil
		}), nil
	})
	// Less: scalar < limit attribute, as bool.
	kernels.Register(dom, "Less", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		limit := float64(b.Attrs().Int("limit", 0))
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			out[0] = tensor.Scalar(in[0].Float64At(0) < limit)
			return nil
		}), nil
	})
	// Grow: a float32 vector of (iteration+1) ones, to make shapes vary.
	kernels.Register(dom, "Grow", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			y, err := ctx.Alloc(tensor.Float32, []int{int(in[0].Int64At(0)) + 1})
			if err != nil {
				return err
			}
			out[0] = y
			return nil
		}), nil
	})
}

func nd(op string, in, out []string, attrs map[string]*graph.Attr) *graph.Node {
	d := dom
	if op == "If" || op == "Loop" || op == "Scan" {
		d = ""
	}
	return &graph.Node{OpType: op, Domain: d, Inputs: in, Outputs: out, Attrs: attrs}
}

func vi(name string, dt tensor.DType, dims ...int64) graph.ValueInfo {
	v := graph.ValueInfo{Name: name, Kind: graph.KindTensor, DType: dt, HasShape: dims != nil}
	for _, d := range dims {
		v.Shape = append(v.Shape, graph.Dim{Value: d})
	}
	return v
}

func unknown(name string, dt tensor.DType) graph.ValueInfo {
	return graph.ValueInfo{Name: name, Kind: graph.KindTensor, DType: dt}
}

func gattr(g *graph.Graph) *graph.Attr { return &graph.Attr{Type: graph.AttrGraph, Graph: g} }
func iattr(v int64) *graph.Attr        { return &graph.Attr{Type: graph.AttrInt, Int: v} }
func isattr(v ...int64) *graph.Attr    { return &graph.Attr{Type: graph.AttrInts, Ints: v} }

// run compiles g at the given default-domain opset and runs it.
func run(t *testing.T, g *graph.Graph, opset int64, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	t.Helper()
	m := &graph.Model{Graph: g, Opsets: map[string]int64{"": opset, dom: 1}}
	s, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Run(inputs)
}

func f32(shape []int, v ...float32) *tensor.Tensor { return tensor.Float32s(shape, v) }

func expect(t *testing.T, name string, got *tensor.Tensor, want *tensor.Tensor) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no output", name)
	}
	if got.DType != want.DType || !tensor.EqualShapes(got.Shape, want.Shape) {
		t.Fatalf("%s: got %v%v, want %v%v", name, got.DType, got.Shape, want.DType, want.Shape)
	}
	for i := 0; i < want.Len(); i++ {
		if got.Float64At(i) != want.Float64At(i) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
	}
}

func TestIf(t *testing.T) {
	// then: x + y (both from the outer scope); else: y itself, straight
	// from the outer scope.
	then := &graph.Graph{Name: "then", Nodes: []*graph.Node{nd("Add", []string{"x", "y"}, []string{"s"}, nil)},
		Outputs: []graph.ValueInfo{vi("s", tensor.Float32, 2)}}
	els := &graph.Graph{Name: "else", Outputs: []graph.ValueInfo{vi("y", tensor.Float32, 2)}}
	g := &graph.Graph{Name: "main",
		Inputs: []graph.ValueInfo{vi("c", tensor.Bool), vi("x", tensor.Float32, 2), vi("y", tensor.Float32, 2)},
		Nodes: []*graph.Node{nd("If", []string{"c"}, []string{"r"},
			map[string]*graph.Attr{"then_branch": gattr(then), "else_branch": gattr(els)})},
		Outputs: []graph.ValueInfo{vi("r", tensor.Float32, 2)}}
	x, y := f32([]int{2}, 1, 2), f32([]int{2}, 10, 20)
	for _, tc := range []struct {
		cond bool
		want *tensor.Tensor
	}{{true, f32([]int{2}, 11, 22)}, {false, f32([]int{2}, 10, 20)}} {
		out, err := run(t, g, 11, map[string]*tensor.Tensor{"c": tensor.Scalar(tc.cond), "x": x, "y": y})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, fmt.Sprintf("cond=%v", tc.cond), out["r"], tc.want)
	}
	// A condition with several elements is an error.
	if _, err := run(t, g, 11, map[string]*tensor.Tensor{"c": {DType: tensor.Bool, Shape: []int{2}, Data: []bool{true, true}}, "x": x, "y": y}); err == nil {
		t.Error("two-element condition: no error")
	}
}

// loopGraph builds: Loop(M, cond, acc) with body
//
//	f = ToFloat(iter); acc_out = acc + f + bias(outer); cond_out = iter < limit
//	scan outputs: acc_out, and (optionally) Grow(iter), whose shape changes.
func loopGraph(hasM, hasCond bool, limit int64, grow bool) *graph.Graph {
	body := &graph.Graph{Name: "body",
		Inputs: []graph.ValueInfo{vi("i", tensor.Int64), vi("cin", tensor.Bool), vi("acc", tensor.Float32, 2)},
		Nodes: []*graph.Node{
			nd("ToFloat", []string{"i"}, []string{"f"}, nil),
			nd("Add", []string{"acc", "f"}, []string{"a1"}, nil),
			nd("Add", []string{"a1", "bias"}, []string{"acc_out"}, nil),
			nd("Less", []string{"i"}, []string{"cout"}, map[string]*graph.Attr{"limit": iattr(limit)}),
		},
		Outputs: []graph.ValueInfo{vi("cout", tensor.Bool), vi("acc_out", tensor.Float32, 2), vi("acc_out", tensor.Float32, 2)},
	}
	if grow {
		body.Nodes = append(body.Nodes, nd("Grow", []string{"i"}, []string{"g"}, nil))
		body.Outputs = append(body.Outputs, unknown("g", tensor.Float32))
	}
	in := []string{"", "", "acc0"}
	inputs := []graph.ValueInfo{vi("acc0", tensor.Float32, 2), vi("bias", tensor.Float32, 1)}
	if hasM {
		in[0] = "M"
		inputs = append(inputs, vi("M", tensor.Int64))
	}
	if hasCond {
		in[1] = "c"
		inputs = append(inputs, vi("c", tensor.Bool))
	}
	outs := []string{"acc_final", "accs"}
	gouts := []graph.ValueInfo{unknown("acc_final", tensor.Float32), unknown("accs", tensor.Float32)}
	if grow {
		outs = append(outs, "grown")
		gouts = append(gouts, unknown("grown", tensor.Float32))
	}
	return &graph.Graph{Name: "main", Inputs: inputs,
		Nodes:   []*graph.Node{nd("Loop", in, outs, map[string]*graph.Attr{"body": gattr(body)})},
		Outputs: gouts}
}

func TestLoop(t *testing.T) {
	acc0, bias := f32([]int{2}, 0, 100), f32([]int{1}, 0.5)
	tests := []struct {
		name           string
		hasM, hasCond  bool
		m              int64
		cond           bool
		limit          int64
		final, stacked *tensor.Tensor
	}{
		{name: "trip count only", hasM: true, m: 3, limit: 99,
			final:   f32([]int{2}, 4.5, 104.5), // Σ (i + 0.5) for i < 3
			stacked: f32([]int{3, 2}, 0.5, 100.5, 2, 102, 4.5, 104.5)},
		{name: "condition only", hasCond: true, cond: true, limit: 1, // body says continue while i < 1
			final:   f32([]int{2}, 2, 102),
			stacked: f32([]int{2, 2}, 0.5, 100.5, 2, 102)},
		{name: "trip count and condition, trip count first", hasM: true, hasCond: true, m: 1, cond: true, limit: 5,
			final: f32([]int{2}, 0.5, 100.5), stacked: f32([]int{1, 2}, 0.5, 100.5)},
		{name: "zero iterations (M = 0)", hasM: true, m: 0, limit: 5,
			final: acc0, stacked: f32([]int{0, 2})},
		{name: "zero iterations (cond false)", hasCond: true, cond: false, limit: 5,
			final: acc0, stacked: f32([]int{0, 2})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]*tensor.Tensor{"acc0": acc0, "bias": bias}
			if tc.hasM {
				in["M"] = tensor.Scalar(tc.m)
			}
			if tc.hasCond {
				in["c"] = tensor.Scalar(tc.cond)
			}
			out, err := run(t, loopGraph(tc.hasM, tc.hasCond, tc.limit, false), 13, in)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "final", out["acc_final"], tc.final)
			expect(t, "stacked", out["accs"], tc.stacked)
		})
	}
}

func TestLoopErrors(t *testing.T) {
	acc0, bias := f32([]int{2}, 0, 100), f32([]int{1}, 0.5)
	// A scan output whose shape changes between iterations.
	_, err := run(t, loopGraph(true, false, 99, true), 13,
		map[string]*tensor.Tensor{"acc0": acc0, "bias": bias, "M": tensor.Scalar(int64(3))})
	if err == nil || !strings.Contains(err.Error(), "changes") {
		t.Errorf("changing scan shape: got %v", err)
	}
	// A loop that never stops is cut off after MaxLoopIterations.
	oldIter := control.MaxLoopIterations
	control.MaxLoopIterations = 100
	_, err = run(t, loopGraph(false, false, 1<<40, false), 13, map[string]*tensor.Tensor{"acc0": acc0, "bias": bias})
	control.MaxLoopIterations = oldIter
	if err == nil || !strings.Contains(err.Error(), "without stopping") {
		t.Errorf("endless loop: got %v", err)
	}
	// A loop that never stops is cut off once its scan outputs exceed the
	// element bound instead of growing without limit.
	old := tensor.MaxElements
	tensor.MaxElements = 1000
	defer func() { tensor.MaxElements = old }()
	_, err = run(t, loopGraph(false, false, 1<<40, false), 13, map[string]*tensor.Tensor{"acc0": acc0, "bias": bias})
	if err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("runaway loop: got %v", err)
	}
}

// scanGraph builds a running sum: state s (shape [2]) += x slice; scan
// output = new s. x is [3, 2] scanned along inAxis.
func scanGraph(opset int64, attrs map[string]*graph.Attr, xShape []int64, batched bool) *graph.Graph {
	body := &graph.Graph{Name: "body",
		Inputs:  []graph.ValueInfo{vi("s", tensor.Float32, 2), vi("xt", tensor.Float32, 2)},
		Nodes:   []*graph.Node{nd("Add", []string{"s", "xt"}, []string{"s2"}, nil)},
		Outputs: []graph.ValueInfo{vi("s2", tensor.Float32, 2), vi("s2", tensor.Float32, 2)}}
	attrs["body"] = gattr(body)
	attrs["num_scan_inputs"] = iattr(1)
	in := []string{"s0", "x"}
	inputs := []graph.ValueInfo{unknown("s0", tensor.Float32), vi("x", tensor.Float32, xShape...)}
	if batched {
		in = []string{"lens", "s0", "x"}
		inputs = append(inputs, vi("lens", tensor.Int32))
	}
	return &graph.Graph{Name: "main", Inputs: inputs,
		Nodes:   []*graph.Node{nd("Scan", in, []string{"final", "ys"}, attrs)},
		Outputs: []graph.ValueInfo{unknown("final", tensor.Float32), unknown("ys", tensor.Float32)}}
}

func TestScan(t *testing.T) {
	s0 := f32([]int{2}, 0, 0)
	x := f32([]int{3, 2}, 1, 2, 3, 4, 5, 6)  // rows (1,2) (3,4) (5,6)
	xT := f32([]int{2, 3}, 1, 3, 5, 2, 4, 6) // the same, transposed
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		x     *tensor.Tensor
		final *tensor.Tensor
		ys    *tensor.Tensor
	}{
		{"forward", map[string]*graph.Attr{}, x,
			f32([]int{2}, 9, 12), f32([]int{3, 2}, 1, 2, 4, 6, 9, 12)},
		{"reverse input", map[string]*graph.Attr{"scan_input_directions": isattr(1)}, x,
			f32([]int{2}, 9, 12), f32([]int{3, 2}, 5, 6, 8, 10, 9, 12)},
		{"reverse output", map[string]*graph.Attr{"scan_output_directions": isattr(1)}, x,
			f32([]int{2}, 9, 12), f32([]int{3, 2}, 9, 12, 4, 6, 1, 2)},
		{"input axis -1, output axis 1", map[string]*graph.Attr{"scan_input_axes": isattr(-1), "scan_output_axes": isattr(1)}, xT,
			f32([]int{2}, 9, 12), f32([]int{2, 3}, 1, 4, 9, 2, 6, 12)},
		{"output axis -1", map[string]*graph.Attr{"scan_output_axes": isattr(-1)}, x,
			f32([]int{2}, 9, 12), f32([]int{2, 3}, 1, 4, 9, 2, 6, 12)},
		{"empty sequence", map[string]*graph.Attr{}, f32([]int{0, 2}),
			s0, f32([]int{0, 2})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, scanGraph(11, tc.attrs, nil, false), 11, map[string]*tensor.Tensor{"s0": s0, "x": tc.x})
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "final", out["final"], tc.final)
			expect(t, "ys", out["ys"], tc.ys)
		})
	}
	// An axis out of range is an error.
	bad := map[string]*graph.Attr{"scan_input_axes": isattr(2)}
	if _, err := run(t, scanGraph(11, bad, nil, false), 11, map[string]*tensor.Tensor{"s0": s0, "x": x}); err == nil {
		t.Error("scan_input_axes out of range: no error")
	}
}

// TestScan8 covers opset 8's batched form with per-entry sequence lengths
// and a reversed input.
func TestScan8(t *testing.T) {
	s0 := f32([]int{2, 2}, 0, 0, 100, 100)
	x := f32([]int{2, 3, 2}, 1, 2, 3, 4, 5, 6, 1, 1, 2, 2, 3, 3)
	lens := &tensor.Tensor{DType: tensor.Int32, Shape: []int{2}, Data: []int32{3, 2}}
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		final *tensor.Tensor
		ys    *tensor.Tensor
	}{
		{"forward", map[string]*graph.Attr{},
			f32([]int{2, 2}, 9, 12, 103, 103),
			f32([]int{2, 3, 2}, 1, 2, 4, 6, 9, 12, 101, 101, 103, 103, 0, 0)},
		{"reverse", map[string]*graph.Attr{"directions": isattr(1)},
			f32([]int{2, 2}, 9, 12, 103, 103),
			f32([]int{2, 3, 2}, 5, 6, 8, 10, 9, 12, 102, 102, 103, 103, 0, 0)},
	}
	for _, tc := range tests {
		out, err := run(t, scanGraph(8, tc.attrs, nil, true), 8, map[string]*tensor.Tensor{"lens": lens, "s0": s0, "x": x})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		expect(t, tc.name+" final", out["final"], tc.final)
		expect(t, tc.name+" ys", out["ys"], tc.ys)
	}
	long := &tensor.Tensor{DType: tensor.Int32, Shape: []int{2}, Data: []int32{4, 1}}
	if _, err := run(t, scanGraph(8, map[string]*graph.Attr{}, nil, true), 8, map[string]*tensor.Tensor{"lens": long, "s0": s0, "x": x}); err == nil {
		t.Error("sequence length beyond the input: no error")
	}
}

type fakeSubgraph struct{}

func (fakeSubgraph) InputNames() []string { return nil }
func (fakeSubgraph) NumOutputs() int      { return 1 }
func (fakeSubgraph) Run(*kernels.Ctx, []*tensor.Tensor) ([]*tensor.Tensor, error) {
	return nil, nil
}

// TestRandomBodiesAreNotFolded: a body with a random operator, even nested
// one level down, makes the node nondeterministic.
func TestRandomBodiesAreNotFolded(t *testing.T) {
	plain := &graph.Graph{Name: "plain", Nodes: []*graph.Node{{OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"y"}}},
		Outputs: []graph.ValueInfo{vi("y", tensor.Float32)}}
	inner := &graph.Graph{Name: "inner", Nodes: []*graph.Node{{OpType: "RandomUniform", Outputs: []string{"r"}}},
		Outputs: []graph.ValueInfo{vi("r", tensor.Float32)}}
	nested := &graph.Graph{Name: "nested", Nodes: []*graph.Node{{OpType: "If", Inputs: []string{"c"}, Outputs: []string{"y"},
		Attrs: map[string]*graph.Attr{"then_branch": gattr(inner), "else_branch": gattr(plain)}}},
		Outputs: []graph.ValueInfo{vi("y", tensor.Float32)}}
	for _, tc := range []struct {
		branch *graph.Graph
		want   bool
	}{{plain, false}, {inner, true}, {nested, true}} {
		build, err := kernels.Lookup("", "If", 13)
		if err != nil {
			t.Fatal(err)
		}
		b := &kernels.BuildContext{
			Node: &graph.Node{OpType: "If", Inputs: []string{"c"}, Outputs: []string{"y"},
				Attrs: map[string]*graph.Attr{"then_branch": gattr(plain), "else_branch": gattr(tc.branch)}},
			Opset:   13,
			Inputs:  []kernels.Input{{Present: true, DType: tensor.Bool}},
			Compile: func(*graph.Graph) (kernels.Subgraph, error) { return fakeSubgraph{}, nil },
		}
		k, err := build(b)
		if err != nil {
			t.Fatal(err)
		}
		nd, ok := k.(kernels.Nondeterministic)
		if got := ok && nd.Nondeterministic(); got != tc.want {
			t.Errorf("else branch %q: nondeterministic = %v, want %v", tc.branch.Name, got, tc.want)
		}
	}
}
