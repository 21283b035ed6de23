package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// poolBenches are the float32 pools of Inception v2 (batch 1), and a few
// of other models: many channels on small maps, where per-plane costs
// dominate. k 0 is a global pool.
var poolBenches = []struct {
	name    string
	op      string
	c, h, k int
	s, pad  int64 // pad: on all sides, or (-1) one at the end only
}{
	{"avg3s1_1024x7", "AveragePool", 1024, 7, 3, 1, 1},
	{"avg3s1_576x14", "AveragePool", 576, 14, 3, 1, 1},
	{"avg3s1_256x28", "AveragePool", 256, 28, 3, 1, 1},
	{"avg7_1024x7", "AveragePool", 1024, 7, 7, 1, 0},
	{"max3s1_1024x7", "MaxPool", 1024, 7, 3, 1, 1},
	{"max3s2_576x14", "MaxPool", 576, 14, 3, 2, -1},
	{"max3s2_320x28", "MaxPool", 320, 28, 3, 2, -1},
	{"max3s2_64x112", "MaxPool", 64, 112, 3, 2, -1},
	{"avg2s2_256x28", "AveragePool", 256, 28, 2, 2, 0},       // DenseNet transitions
	{"gavg_2048x7", "GlobalAveragePool", 2048, 7, 0, 0, 0},   // ResNet50
	{"gavg_1000x13", "GlobalAveragePool", 1000, 13, 0, 0, 0}, // SqueezeNet 1.1
}

func BenchmarkPool(b *testing.B) {
	for _, pb := range poolBenches {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", pb.name, threads), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				x := randTensor(rng, 1, pb.c, pb.h, pb.h)
				pads := ints(pb.pad, pb.pad, pb.pad, pb.pad)
				if pb.pad < 0 {
					pads = ints(0, 0, 1, 1)
				}
				n := &graph.Node{OpType: pb.op, Inputs: []string{"x"}, Outputs: []string{"y"},
					Attrs: map[string]*graph.Attr{"kernel_shape": ints(int64(pb.k), int64(pb.k)),
						"strides": ints(pb.s, pb.s), "pads": pads}}
				if pb.k == 0 {
					n.Attrs = nil
				}
				k := buildNode(b, n, 17, []*tensor.Tensor{x}, nil)
				pool := kernels.NewPool(threads)
				defer pool.Close()
				ctx := &kernels.Ctx{Pool: pool, Allocator: &keepAlloc{}}
				in, out := []*tensor.Tensor{x}, make([]*tensor.Tensor, 1)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := k.Run(ctx, in, out); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// keepAlloc hands back the same uninitialised output every run, like the
// runtime's recycler (no page faults or clearing in the timings).
type keepAlloc struct{ t *tensor.Tensor }

func (a *keepAlloc) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return tensor.Make(dt, shape)
}

func (a *keepAlloc) AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if a.t == nil || a.t.DType != dt || !tensor.EqualShapes(a.t.Shape, shape) {
		t, err := tensor.Make(dt, shape)
		if err != nil {
			return nil, err
		}
		a.t = t
	}
	return a.t, nil
}
