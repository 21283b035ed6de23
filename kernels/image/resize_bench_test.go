package image

import (
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func benchResize(b *testing.B, mode, ctm string) {
	x := tensor.New(tensor.Float32, 1, 64, 128, 128)
	for i := range x.F32() {
		x.F32()[i] = float32(i % 251)
	}
	scales := tensor.Float32s([]int{4}, []float32{1, 1, 2, 2})
	n := &graph.Node{OpType: "Resize", Inputs: []string{"x", "", "s"}, Outputs: []string{"y"}, Attrs: map[string]*graph.Attr{
		"mode": {Type: graph.AttrString, String: mode}, "coordinate_transformation_mode": {Type: graph.AttrString, String: ctm}}}
	k, err := buildResize(&kernels.BuildContext{Node: n, Opset: 19, Inputs: []kernels.Input{
		{Present: true, DType: tensor.Float32, Shape: x.Shape}, {}, {Present: true, DType: tensor.Float32, Shape: []int{4}, Const: scales}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := &kernels.Ctx{Allocator: &reuse{}}
	out := make([]*tensor.Tensor, 1)
	in := []*tensor.Tensor{x, nil, scales}
	b.SetBytes(int64(4 * 64 * 256 * 256))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.Run(ctx, in, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResizeBilinear2x(b *testing.B) { benchResize(b, "linear", "half_pixel") }
func BenchmarkResizeNearest2x(b *testing.B)  { benchResize(b, "nearest", "asymmetric") }

// reuse hands out the same buffer each time, like the runtime's recycler
// in steady state, so the benchmark measures the kernel, not the heap.
type reuse struct{ t *tensor.Tensor }

func (r *reuse) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if r.t == nil || r.t.DType != dt || !tensor.EqualShapes(r.t.Shape, shape) {
		t, err := tensor.Make(dt, shape)
		if err != nil {
			return nil, err
		}
		r.t = t
	}
	return r.t, nil
}
