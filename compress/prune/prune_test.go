package prune

import (
	"math"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func run(t *testing.T, m *graph.Model, in []*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.RunOrdered(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func zeros(t *tensor.Tensor) int {
	n := 0
	for _, v := range t.F32() {
		if v == 0 {
			n++
		}
	}
	return n
}

func TestMagnitude(t *testing.T) {
	m := testmodels.CNN(1, false)
	before := m.Graph.Initializers["f1.w"].Clone()
	for _, c := range []struct {
		scope    Scope
		sparsity float64
		layer    map[string]float64
	}{
		{PerLayer, 0, nil},
		{PerLayer, 0.5, nil},
		{PerLayer, 0.9, map[string]float64{"c1": 0.25}},
		{Global, 0.5, nil},
		{Global, 0.95, nil},
	} {
		p, stats, err := Magnitude(m, MagnitudeOptions{Sparsity: c.sparsity, Scope: c.scope, LayerSparsity: c.layer})
		if err != nil {
			t.Fatal(err)
		}
		tot := Total(stats)
		if c.scope == Global {
			if want := int(math.Round(c.sparsity * float64(tot.Elements))); tot.Zeros != want {
				t.Errorf("global %v: %d zeros, want %d", c.sparsity, tot.Zeros, want)
			}
		} else {
			for _, l := range stats {
				s := c.sparsity
				if v, ok := c.layer[l.Node]; ok {
					s = v
				}
				if want := int(math.Round(s * float64(l.Elements))); l.Zeros != want {
					t.Errorf("per layer %v: %s has %d zeros, want %d", s, l.Node, l.Zeros, want)
				}
			}
		}
		// The smallest weights went: every kept weight is at least as
		// large as every pruned one, within a layer.
		for _, l := range stats {
			w, orig := p.Graph.Initializers[l.Weight].F32(), m.Graph.Initializers[l.Weight].F32()
			maxPruned, minKept := 0.0, math.Inf(1)
			for i := range w {
				if w[i] == 0 {
					maxPruned = math.Max(maxPruned, math.Abs(float64(orig[i])))
				} else {
					minKept = math.Min(minKept, math.Abs(float64(w[i])))
				}
			}
			if c.scope == PerLayer && maxPruned > minKept {
				t.Errorf("%s: pruned %v > kept %v", l.Node, maxPruned, minKept)
			}
		}
		if zeros(p.Graph.Initializers["f1.b"]) != 0 {
			t.Error("a bias was pruned")
		}
	}
	for i, v := range m.Graph.Initializers["f1.w"].F32() {
		if v != before.F32()[i] {
			t.Fatal("Magnitude modified the caller's weights")
		}
	}
}

func TestMagnitudeErrors(t *testing.T) {
	m := testmodels.CNN(1, false)
	for name, o := range map[string]MagnitudeOptions{
		"negative":     {Sparsity: -0.1},
		"one":          {Sparsity: 1},
		"NaN":          {Sparsity: math.NaN()},
		"layer range":  {Sparsity: 0.5, LayerSparsity: map[string]float64{"c1": 1.5}},
		"layer name":   {Sparsity: 0.5, LayerSparsity: map[string]float64{"zz": 0.5}},
		"global+layer": {Sparsity: 0.5, Scope: Global, LayerSparsity: map[string]float64{"c1": 0.5}},
		"layers":       {Sparsity: 0.5, Layers: []string{"r1"}},
		"scope":        {Sparsity: 0.5, Scope: 7},
	} {
		if _, _, err := Magnitude(m, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// zeroFilters makes filters of a Conv (weights and bias) zero, so that
// they are the ones of least L1 norm and removing them changes nothing.
func zeroFilters(m *graph.Model, conv string, filters ...int) {
	w := m.Graph.Initializers[conv+".w"]
	per := w.Len() / w.Shape[0]
	for _, f := range filters {
		clear(w.F32()[f*per : (f+1)*per])
		m.Graph.Initializers[conv+".b"].F32()[f] = 0
	}
}

func TestChannelsExact(t *testing.T) {
	cases := []struct {
		name   string
		model  func() *graph.Model
		zero   map[string][]int
		ratio  map[string]float64
		shapes map[string][]int // initializer shapes after pruning
		skip   []string
	}{
		{
			name:  "conv-conv-flatten-gemm",
			model: func() *graph.Model { return testmodels.CNN(2, false) },
			zero:  map[string][]int{"c1": {1, 4, 6}, "c2": {0, 5}},
			ratio: map[string]float64{"c1": 3.0 / 8, "c2": 2.0 / 6},
			shapes: map[string][]int{
				"c1.w": {5, 2, 3, 3}, "c1.b": {5}, "c2.w": {4, 5, 3, 3}, "c2.b": {4}, "f1.w": {10, 4 * 16},
			},
		},
		{
			name:  "through depthwise, stopping at Add",
			model: func() *graph.Model { return testmodels.Residual(3) },
			zero:  map[string][]int{"expand": {2}, "dw": {2}},
			ratio: map[string]float64{"expand": 0.25, "dw": 0.5, "project": 0.5},
			shapes: map[string][]int{
				"expand.w": {3, 4, 3, 3}, "dw.w": {3, 1, 3, 3}, "dw.b": {3}, "project.w": {4, 3, 3, 3},
			},
			skip: []string{"dw", "project"},
		},
	}
	for _, c := range cases {
		m := c.model()
		for conv, fs := range c.zero {
			zeroFilters(m, conv, fs...)
		}
		p, rep, err := Channels(m, ChannelOptions{LayerRatio: c.ratio})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for name, shape := range c.shapes {
			if got := p.Graph.Initializers[name].Shape; !tensor.EqualShapes(got, shape) {
				t.Errorf("%s: %s has shape %v, want %v", c.name, name, got, shape)
			}
		}
		var skipped []string
		for _, s := range rep.Skipped {
			skipped = append(skipped, s.Node)
		}
		if got, want := strings.Join(skipped, ","), strings.Join(c.skip, ","); got != want {
			t.Errorf("%s: skipped %s (%+v), want %s", c.name, got, rep.Skipped, want)
		}
		in := testmodels.Inputs(m, 5, 1, 3, false)[0]
		want, got := run(t, m, in), run(t, p, in)
		if e, _ := compress.RelL2(got, want); e > 1e-6 {
			t.Errorf("%s: removing zero filters changed the output by %.3g", c.name, e)
		}
	}
}

func TestChannelsBatchNormAndReshape(t *testing.T) {
	m := testmodels.CNN(4, true)
	// Flatten -> Reshape(shape [0, 96]) to exercise the shape rewrite.
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Flatten" {
			n.OpType = "Reshape"
			n.Attrs = map[string]*graph.Attr{}
			n.Inputs = append(n.Inputs, "shape")
			m.Graph.AddInitializer("shape", tensor.Int64s([]int{2}, []int64{0, 96}))
		}
	}
	p, rep, err := Channels(m, ChannelOptions{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 2 || len(rep.Skipped) != 0 {
		t.Fatalf("report %+v", rep)
	}
	g := p.Graph
	if g.Initializers["bn1.m"].Len() != 4 || g.Initializers["shape"].I64()[1] != 48 || g.Initializers["f1.w"].Shape[1] != 48 {
		t.Errorf("BN %v, shape %v, f1 %v", g.Initializers["bn1.m"].Shape, g.Initializers["shape"].I64(), g.Initializers["f1.w"].Shape)
	}
	in := testmodels.Inputs(m, 5, 1, 2, false)[0]
	if out := run(t, p, in); !tensor.EqualShapes(out.Shape, []int{2, 3}) {
		t.Errorf("output %v", out.Shape)
	}
}

func TestChannelsErrors(t *testing.T) {
	m := testmodels.CNN(1, false)
	for name, o := range map[string]ChannelOptions{
		"ratio":       {Ratio: 1},
		"negative":    {Ratio: -0.5},
		"layer ratio": {LayerRatio: map[string]float64{"c1": 2}},
		"unknown":     {Ratio: 0.5, Layers: []string{"zz"}},
		"not a conv":  {Ratio: 0.5, Layers: []string{"f1"}},
		"ratio name":  {LayerRatio: map[string]float64{"f1": 0.5}},
	} {
		if _, _, err := Channels(m, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A Conv whose output is the graph output cannot lose channels.
	b := testmodels.New(1, 1, 2, 4, 4)
	out := b.Conv("c", "x", 2, 4, 1)
	_, rep, err := Channels(b.Model(out), ChannelOptions{Ratio: 0.5})
	if err != nil || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Reason, "graph output") {
		t.Errorf("report %+v, error %v", rep, err)
	}
}

func TestEncodeSparse(t *testing.T) {
	m := testmodels.CNN(8, false)
	p, _, err := Magnitude(m, MagnitudeOptions{Sparsity: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	dense, _ := compress.ModelSize(p)
	b, names, err := EncodeSparse(p, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != "c1.w,c2.w,f1.w,f2.w" {
		t.Errorf("sparse tensors %s", got)
	}
	if float64(len(b)) > 0.5*float64(dense) {
		t.Errorf("%d bytes sparse, %d dense", len(b), dense)
	}
	d, err := onnx.Decode(b, "")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range p.Graph.Initializers {
		got := d.Graph.Initializers[k]
		if got == nil || !tensor.EqualShapes(got.Shape, want.Shape) {
			t.Fatalf("%s: %v", k, got)
		}
		for i, v := range want.F32() {
			if got.F32()[i] != v {
				t.Fatalf("%s differs at %d", k, i)
			}
		}
	}
	// Nothing is sparse enough at 0.95, and the threshold is checked.
	if _, names, _ := EncodeSparse(p, 0.95); len(names) != 0 {
		t.Errorf("sparse at 0.95: %v", names)
	}
	if _, _, err := EncodeSparse(p, 1.5); err == nil {
		t.Error("threshold 1.5 accepted")
	}
}

// Exporters share identical initializers (PyTorch's zero biases): each
// pruned layer gets its own copy, unpruned layers keep sharing.
func TestChannelsSharedParameters(t *testing.T) {
	m := testmodels.CNN(9, false)
	g := m.Graph
	// A second Conv reads c1's weight and bias.
	extra := &graph.Node{Name: "c1bis", OpType: "Conv", Inputs: []string{"x", "c1.w", "c1.b"}, Outputs: []string{"c1bis_out"},
		Attrs: map[string]*graph.Attr{"pads": {Name: "pads", Type: graph.AttrInts, Ints: []int64{1, 1, 1, 1}}}}
	g.Nodes = append(g.Nodes, extra)
	g.Outputs = append(g.Outputs, graph.ValueInfo{Name: "c1bis_out", DType: tensor.Float32})
	p, rep, err := Channels(m, ChannelOptions{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	// c1 is pruned with a private copy; c1bis (output is a graph output)
	// is skipped and keeps the original, shared-name tensors.
	if len(rep.Layers) != 2 || len(rep.Skipped) != 1 || rep.Skipped[0].Node != "c1bis" {
		t.Fatalf("report %+v", rep)
	}
	for _, n := range p.Graph.Nodes {
		if n.Name == "c1bis" && (n.Inputs[1] != "c1.w" || n.Inputs[2] != "c1.b" || p.Graph.Initializers["c1.w"].Shape[0] != 8) {
			t.Errorf("c1bis reads %v", n.Inputs)
		}
		if n.Name == "c1" && p.Graph.Initializers[n.Inputs[1]].Shape[0] != 4 {
			t.Errorf("c1 reads %v", n.Inputs)
		}
	}
	in := testmodels.Inputs(m, 1, 1, 2, false)[0]
	run(t, p, in)
}
