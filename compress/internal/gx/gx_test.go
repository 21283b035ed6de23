package gx_test

import (
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func run(t *testing.T, m *graph.Model, in []*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	s, err := runtime.Compile(m, runtime.Options{Threads: 1, NoOptimize: true})
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

// Prepare folds BatchNorm, turns Constants into initializers, bypasses
// Identity and names nodes, without changing the outputs or the caller's
// model.
func TestPrepare(t *testing.T) {
	m := testmodels.CNN(1, true)
	g := m.Graph
	// An unnamed Identity after r1, and a Constant feeding a Mul by 1.
	g.Nodes = append(g.Nodes[:3], append([]*graph.Node{
		{OpType: "Identity", Inputs: []string{"r1_out"}, Outputs: []string{"id"}},
		{OpType: "Constant", Outputs: []string{"one"}, Attrs: map[string]*graph.Attr{"value": {Name: "value", Type: graph.AttrTensor, Tensor: tensor.Float32s([]int{}, []float32{1})}}},
		{OpType: "Mul", Inputs: []string{"id", "one"}, Outputs: []string{"mul"}},
	}, g.Nodes[3:]...)...)
	g.Nodes[6].Inputs[0] = "mul" // p1 reads mul
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	nodes := len(g.Nodes)
	p, err := gx.Prepare(m, true)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range p.Graph.Nodes {
		ops[n.OpType]++
		if n.Name == "" {
			t.Errorf("unnamed %s", n.OpType)
		}
	}
	if ops["BatchNormalization"]+ops["Identity"]+ops["Constant"] != 0 || p.Graph.Initializers["one"] == nil {
		t.Errorf("ops %v", ops)
	}
	if len(g.Nodes) != nodes || g.Nodes[3].Name != "" {
		t.Error("the caller's graph changed")
	}
	in := testmodels.Inputs(m, 1, 1, 3, false)[0]
	if e, _ := compress.RelL2(run(t, p, in), run(t, m, in)); e > 1e-6 {
		t.Errorf("outputs differ by %.3g", e)
	}
}

func TestWeightLayers(t *testing.T) {
	m := testmodels.MLP(1)
	ls := gx.WeightLayers(m.Graph)
	if len(ls) != 2 || ls[0].Node.Name != "f1" || ls[0].Axis != 0 || ls[0].Bias != "f1.b" || ls[1].Axis != 1 || ls[1].Bias != "" {
		t.Errorf("%+v", ls)
	}
	if got := gx.Unique(m.Graph, "f1.w"); got != "f1.w_1" {
		t.Errorf("Unique: %s", got)
	}
	if got := gx.Unique(m.Graph, "fresh"); got != "fresh" {
		t.Errorf("Unique: %s", got)
	}
}
