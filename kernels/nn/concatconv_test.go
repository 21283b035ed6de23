package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// TestConcatConv checks edgedl.ConcatConv against its Convs and a Concat
// along the channels: batch 1 (written in place, constant and run-time
// weights, with and without bias and activation) and batch 2 (copied).
func TestConcatConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, batch := range []int{1, 2} {
		for _, constW := range []bool{true, false} {
			x0 := randTensor(rng, batch, 6, 9, 11)
			x1 := randTensor(rng, batch, 5, 9, 11)
			type branch struct {
				x, w, b *tensor.Tensor
				attrs   map[string]*graph.Attr
			}
			brs := []branch{
				{x0, randTensor(rng, 7, 6, 1, 1), randTensor(rng, 7), map[string]*graph.Attr{}},
				{x0, randTensor(rng, 4, 6, 3, 3), nil, map[string]*graph.Attr{"pads": ints(1, 1, 1, 1),
					"edgedl_activation": strAttr("Relu")}},
				{x1, randTensor(rng, 5, 1, 3, 3), randTensor(rng, 5), map[string]*graph.Attr{"pads": ints(1, 1, 1, 1),
					"group": intAttr(5)}}, // depthwise
			}
			// the reference: each Conv, then the channels concatenated
			var parts []*tensor.Tensor
			fused := &graph.Node{Name: "cc", Domain: FusedDomain, OpType: "ConcatConv", Outputs: []string{"y"},
				Attrs: map[string]*graph.Attr{"branches": intAttr(int64(len(brs)))}}
			var ins []*tensor.Tensor
			var consts []bool
			for i, br := range brs {
				n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: br.attrs}
				cin := []*tensor.Tensor{br.x, br.w, br.b}
				if br.b == nil {
					n.Inputs = n.Inputs[:2]
					cin = cin[:2]
				}
				k := buildNode(t, n, 17, cin, []bool{false, constW, constW})
				out := make([]*tensor.Tensor, 1)
				if err := k.Run(&kernels.Ctx{}, cin, out); err != nil {
					t.Fatal(err)
				}
				parts = append(parts, out[0])
				for name, a := range br.attrs {
					fused.Attrs[ConcatConvPrefix(i)+name] = a
				}
				fused.Inputs = append(fused.Inputs, "x", "w", "")
				if br.b != nil {
					fused.Inputs[3*i+2] = "b"
				}
				ins = append(ins, br.x, br.w, br.b)
				consts = append(consts, false, constW, constW)
			}
			k := buildNode(t, fused, 1, ins, consts)
			run := append([]*tensor.Tensor(nil), ins...)
			if p, ok := k.(kernels.PackedInputs); ok {
				for _, i := range p.PackedInputs() {
					run[i] = nil
				}
			}
			out := make([]*tensor.Tensor, 1)
			if err := k.Run(&kernels.Ctx{Allocator: &reuseAlloc{}}, run, out); err != nil {
				t.Fatal(err)
			}
			y := out[0]
			if want := []int{batch, 7 + 4 + 5, 9, 11}; !tensor.EqualShapes(y.Shape, want) {
				t.Fatalf("shape %v, want %v", y.Shape, want)
			}
			inner := 9 * 11
			for b := 0; b < batch; b++ {
				off := 0
				for _, p := range parts {
					c := p.Shape[1]
					got := y.F32()[(b*16+off)*inner : (b*16+off+c)*inner]
					want := p.F32()[b*c*inner : (b+1)*c*inner]
					for i := range want {
						if math.Abs(float64(got[i]-want[i])) > 1e-5 {
							t.Fatalf("batch %d constW %v: image %d channel block at %d: y[%d] = %v, want %v",
								batch, constW, b, off, i, got[i], want[i])
						}
					}
					off += c
				}
			}
		}
	}
}
