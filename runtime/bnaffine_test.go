package runtime_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// TestFoldBatchNormAffine checks the BatchNormalization -> Mul -> Add ->
// Relu chain (DenseNet's pre-activation) against the unoptimized graph,
// with constants that are per channel (folded) and ones that are not
// (kept), and that the chain became one step where it could.
func TestFoldBatchNormAffine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(shape ...int) *tensor.Tensor { return normalTensor(rng, shape...) }
	const c = 6
	for _, tc := range []struct {
		name      string
		mul, add  []int // constant shapes
		wantSteps int   // BN (+ what did not fold) + Conv
		pool      bool  // the rank comes from a MaxPool rather than the input
	}{
		{"per-channel", []int{c, 1, 1}, []int{1, c, 1, 1}, 2, false},
		{"scalar", []int{1}, []int{c, 1, 1}, 2, true},
		{"not-channel", []int{5, 1}, []int{c, 1, 1}, 4, false}, // [5,1] runs along H
		{"full", []int{1, c, 5, 5}, []int{c, 1, 1}, 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &graph.Graph{Name: "bn",
				Inputs:  []graph.ValueInfo{{Name: "x", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true, Shape: []graph.Dim{{Value: 1}, {Value: c}, {Value: 5}, {Value: 5}}}},
				Outputs: []graph.ValueInfo{{Name: "y", Kind: graph.KindTensor, DType: tensor.Float32}},
			}
			in := "x"
			if tc.pool {
				// a graph input of unknown rank: the MaxPool tells it
				g.Inputs[0].HasShape, g.Inputs[0].Shape = false, nil
				g.Nodes = append(g.Nodes, &graph.Node{OpType: "MaxPool", Inputs: []string{"x"}, Outputs: []string{"p"},
					Attrs: map[string]*graph.Attr{"kernel_shape": {Name: "kernel_shape", Type: graph.AttrInts, Ints: []int64{1, 1}}}})
				in = "p"
				tc.wantSteps++
			}
			variance := rnd(c)
			for i, v := range variance.F32() {
				variance.F32()[i] = float32(math.Abs(float64(v))) + 0.1
			}
			g.AddInitializer("s", rnd(c))
			g.AddInitializer("b", rnd(c))
			g.AddInitializer("m", rnd(c))
			g.AddInitializer("v", variance)
			g.AddInitializer("cm", rnd(tc.mul...))
			g.AddInitializer("ca", rnd(tc.add...))
			g.AddInitializer("w", rnd(3, c, 1, 1))
			g.Nodes = append(g.Nodes,
				&graph.Node{OpType: "BatchNormalization", Inputs: []string{in, "s", "b", "m", "v"}, Outputs: []string{"n"},
					Attrs: map[string]*graph.Attr{"epsilon": {Name: "epsilon", Type: graph.AttrFloat, Float: 1e-3}}},
				&graph.Node{OpType: "Mul", Inputs: []string{"cm", "n"}, Outputs: []string{"mo"}},
				&graph.Node{OpType: "Add", Inputs: []string{"mo", "ca"}, Outputs: []string{"ao"}},
				&graph.Node{OpType: "Relu", Inputs: []string{"ao"}, Outputs: []string{"r"}},
				&graph.Node{OpType: "Conv", Inputs: []string{"r", "w"}, Outputs: []string{"y"}},
			)
			m := &graph.Model{Graph: g, Opsets: map[string]int64{"": 13}}
			x := rnd(1, c, 5, 5)
			var outs [2]*tensor.Tensor
			for i, noOpt := range []bool{true, false} {
				s, err := runtime.Compile(m, runtime.Options{Threads: 1, NoOptimize: noOpt})
				if err != nil {
					t.Fatal(err)
				}
				if !noOpt && s.NumSteps() != tc.wantSteps {
					t.Errorf("%d steps, want %d", s.NumSteps(), tc.wantSteps)
				}
				res, err := s.RunOrdered([]*tensor.Tensor{x}, nil)
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
				outs[i] = res[0]
			}
			if !tensor.EqualShapes(outs[0].Shape, outs[1].Shape) {
				t.Fatalf("shape %v, want %v", outs[1].Shape, outs[0].Shape)
			}
			for i, want := range outs[0].F32() {
				if got := outs[1].F32()[i]; math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
					t.Fatalf("y[%d] = %v, want %v", i, got, want)
				}
			}
		})
	}
}
