package runtime_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// TestFuseConvResidual checks Conv -> Add(other) -> Relu fused into the
// Conv against the unoptimized graph: a residual the Conv may overwrite
// (a dead intermediate), one it must copy (the graph input, also the
// Conv's own input), a broadcast one (added after the product), and 1×1
// and 3×3 kernels, for threads 1 and 2.
func TestFuseConvResidual(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rnd := func(shape ...int) *tensor.Tensor { return normalTensor(rng, shape...) }
	const h = 9
	ints := func(name string, v ...int64) *graph.Attr {
		return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
	}
	for _, tc := range []struct {
		name  string
		other string // what the Add takes besides the Conv output
		k     int
		c     int // channels in and out
	}{
		{"dead-intermediate", "r0", 1, 8}, // r0 dies at the Conv: overwritten in place
		{"graph-input", "x", 3, 8},        // also the Conv's input: copied
		{"broadcast", "mean", 3, 8},       // added after the product
		{"kept-alive", "r0b", 1, 8},       // read again after the Add: copied
		{"small-map", "x", 3, 256},        // 9x9 maps, 256 channels: Yᵀ = im2colᵀ·Wᵀ
	} {
		c := tc.c
		for _, threads := range []int{1, 2} {
			g := &graph.Graph{Name: "res",
				Inputs:  []graph.ValueInfo{{Name: "x", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true, Shape: []graph.Dim{{Value: 1}, {Value: int64(c)}, {Value: h}, {Value: h}}}},
				Outputs: []graph.ValueInfo{{Name: "y", Kind: graph.KindTensor, DType: tensor.Float32}},
			}
			g.AddInitializer("w", rnd(c, c, tc.k, tc.k))
			g.AddInitializer("b", rnd(c))
			p := int64(tc.k / 2)
			g.Nodes = []*graph.Node{
				{OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"r0"}},
				{OpType: "Sigmoid", Inputs: []string{"x"}, Outputs: []string{"r0b"}},
				{OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"mean"}, Attrs: map[string]*graph.Attr{"axes": ints("axes", 2, 3)}},
				{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"cv"},
					Attrs: map[string]*graph.Attr{"pads": ints("pads", p, p, p, p)}},
				{OpType: "Add", Inputs: []string{"cv", tc.other}, Outputs: []string{"s"}},
				{OpType: "Relu", Inputs: []string{"s"}, Outputs: []string{"y0"}},
			}
			last := "y0"
			if tc.other == "r0b" {
				g.Nodes = append(g.Nodes, &graph.Node{OpType: "Mul", Inputs: []string{"y0", "r0b"}, Outputs: []string{"y1"}})
				last = "y1"
			}
			g.Nodes = append(g.Nodes, &graph.Node{OpType: "Identity", Inputs: []string{last}, Outputs: []string{"y"}})
			m := &graph.Model{Graph: g, Opsets: map[string]int64{"": 13}}
			x := rnd(1, c, h, h)
			var outs [2]*tensor.Tensor
			for i, noOpt := range []bool{true, false} {
				s, err := runtime.Compile(m, runtime.Options{Threads: threads, NoOptimize: noOpt})
				if err != nil {
					t.Fatal(err)
				}
				for run := 0; run < 2; run++ { // the second run reuses recycled buffers
					res, err := s.RunOrdered([]*tensor.Tensor{x}, nil)
					if err != nil {
						t.Fatalf("%s: %v", tc.name, err)
					}
					outs[i] = res[0]
				}
				s.Close()
			}
			if !tensor.EqualShapes(outs[0].Shape, outs[1].Shape) {
				t.Fatalf("%s: shape %v, want %v", tc.name, outs[1].Shape, outs[0].Shape)
			}
			for i, want := range outs[0].F32() {
				if got := outs[1].F32()[i]; math.Abs(float64(got-want)) > 1e-4*(1+math.Abs(float64(want))) {
					t.Fatalf("%s threads %d: y[%d] = %v, want %v", tc.name, threads, i, got, want)
				}
			}
		}
	}
}
