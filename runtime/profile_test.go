package runtime_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

const profDomain = "edgedl.profiletest"

// Test-only operators of their own domain: Scale2 doubles its input; Cat
// concatenates two rank-2 inputs along axis 1 (different output shape).
func init() {
	kernels.Register(profDomain, "Scale2", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			y, err := ctx.Alloc(tensor.Float32, in[0].Shape)
			if err != nil {
				return err
			}
			for i, v := range in[0].F32() {
				y.F32()[i] = 2 * v
			}
			out[0] = y
			return nil
		}), nil
	})
	kernels.Register(profDomain, "Cat", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			a, c := in[0], in[1]
			if len(a.Shape) != 2 || len(c.Shape) != 2 || a.Shape[0] != c.Shape[0] {
				return kernels.Unsupported("Cat", "shapes %v and %v", a.Shape, c.Shape)
			}
			n, wa, wc := a.Shape[0], a.Shape[1], c.Shape[1]
			y, err := ctx.Alloc(tensor.Float32, []int{n, wa + wc})
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				copy(y.F32()[i*(wa+wc):], a.F32()[i*wa:(i+1)*wa])
				copy(y.F32()[i*(wa+wc)+wa:], c.F32()[i*wc:(i+1)*wc])
			}
			out[0] = y
			return nil
		}), nil
	})
}

// packedKernel pre-packs its constant input 1 (kernels.PackedInputs), so the
// runtime passes nil for it; it adds that constant's first value to x.
type packedKernel struct{ bias float32 }

func (k packedKernel) PackedInputs() []int { return []int{1} }

func (k packedKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	if in[1] != nil {
		return kernels.Unsupported("AddPacked", "the packed input was passed")
	}
	y, err := ctx.Alloc(tensor.Float32, in[0].Shape)
	if err != nil {
		return err
	}
	for i, v := range in[0].F32() {
		y.F32()[i] = v + k.bias
	}
	out[0] = y
	return nil
}

func init() {
	kernels.Register(profDomain, "AddPacked", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		c := b.ConstInput(1)
		if c == nil {
			return nil, b.Errorf("input 1 must be constant")
		}
		return packedKernel{c.F32()[0]}, nil
	})
}

// Packed constant inputs reach the trace as nil; InferShapes still names
// them, marks them constant and knows their shape.
func TestInferShapesPackedInput(t *testing.T) {
	m := profModel()
	m.Graph.Nodes = append(m.Graph.Nodes, &graph.Node{OpType: "AddPacked", Domain: profDomain, Inputs: []string{"y", "w"}, Outputs: []string{"z"}})
	m.Graph.Outputs[0].Name = "z"
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ins, _ := s.SyntheticInputs(runtime.SyntheticOptions{})
	info, err := s.InferShapes(ins)
	if err != nil {
		t.Fatal(err)
	}
	last := info.Nodes[len(info.Nodes)-1]
	if w := last.Inputs[1]; w.Name != "w" || !w.Const || !tensor.EqualShapes(w.Shape, []int{1, 2}) || w.Bytes != 8 {
		t.Errorf("packed input %+v", w)
	}
}

// profModel: x[batch,3] -> Scale2 -> a; w2 = Scale2(w) is folded;
// y = Cat(a, w2) of shape [batch, 5].
func profModel() *graph.Model {
	g := &graph.Graph{
		Name: "p",
		Inputs: []graph.ValueInfo{{Name: "x", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true,
			Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: 3}}}},
		Outputs: []graph.ValueInfo{{Name: "y", Kind: graph.KindTensor, DType: tensor.Float32}},
		Nodes: []*graph.Node{
			{Name: "double", OpType: "Scale2", Domain: profDomain, Inputs: []string{"x"}, Outputs: []string{"a"}},
			{OpType: "Scale2", Domain: profDomain, Inputs: []string{"w"}, Outputs: []string{"w2"}},
			{OpType: "Cat", Domain: profDomain, Inputs: []string{"a", "w2"}, Outputs: []string{"y"}},
		},
	}
	g.AddInitializer("w", tensor.Float32s([]int{1, 2}, []float32{1, 2}))
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 17, profDomain: 1}}
}

func TestInferShapes(t *testing.T) {
	s, err := runtime.Compile(profModel(), runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ins, err := s.SyntheticInputs(runtime.SyntheticOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.EqualShapes(ins[0].Shape, []int{1, 3}) {
		t.Fatalf("synthetic input shape %v, want [1,3]", ins[0].Shape)
	}
	info, err := s.InferShapes(ins)
	if err != nil {
		// Cat only handles a batch of 1 with the [1,2] constant.
		t.Fatal(err)
	}
	if info.Folded != 1 || len(info.Nodes) != 2 {
		t.Fatalf("folded %d, nodes %d; want 1 and 2", info.Folded, len(info.Nodes))
	}
	n0, n1 := info.Nodes[0], info.Nodes[1]
	if n0.Name != "double" || n0.Op != "Scale2" || n0.Domain != profDomain || n0.Index != 0 {
		t.Errorf("node 0: %+v", n0)
	}
	if n1.Name != "y" { // unnamed: its first output's name
		t.Errorf("node 1 name %q, want y", n1.Name)
	}
	if got := n1.Inputs; len(got) != 2 || got[0].Name != "a" || got[0].Const || got[1].Name != "w2" || !got[1].Const ||
		!tensor.EqualShapes(got[1].Shape, []int{1, 2}) {
		t.Errorf("node 1 inputs %+v", got)
	}
	if o := n1.Outputs[0]; o.Name != "y" || o.DType != tensor.Float32 || !tensor.EqualShapes(o.Shape, []int{1, 5}) || o.Bytes != 20 {
		t.Errorf("node 1 output %+v", o)
	}
	// Custom-domain ops count one FLOP per output element.
	if n0.FLOPs != 3 || n1.FLOPs != 5 || info.FLOPs() != 8 {
		t.Errorf("FLOPs %d + %d = %d, want 3 + 5 = 8", n0.FLOPs, n1.FLOPs, info.FLOPs())
	}
	by := info.FLOPsByOp()
	if len(by) != 2 || by[0].Op != profDomain+".Cat" || by[0].FLOPs != 5 || by[1].Nodes != 1 {
		t.Errorf("FLOPsByOp %+v", by)
	}
	if len(info.Outputs) != 1 || !tensor.EqualShapes(info.Outputs[0].Shape, []int{1, 5}) {
		t.Errorf("outputs %+v", info.Outputs)
	}
}

func TestSyntheticInputs(t *testing.T) {
	vis := []graph.ValueInfo{
		{Name: "img", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true,
			Shape: []graph.Dim{{Value: -1, Param: "N"}, {Value: 3}, {Value: -1, Param: "H"}, {Value: -1}}},
		{Name: "ids", Kind: graph.KindTensor, DType: tensor.Int64, HasShape: true, Shape: []graph.Dim{{Value: -1}, {Value: -1, Param: "seq"}}},
		{Name: "raw", Kind: graph.KindTensor, DType: tensor.Uint8, HasShape: true, Shape: []graph.Dim{{Value: 64}}},
	}
	ts, err := runtime.SyntheticInputs(vis, runtime.SyntheticOptions{Batch: 4, Dims: map[string]int{"H": 8, "seq": 5},
		Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.EqualShapes(ts[0].Shape, []int{4, 3, 8, 1}) || !tensor.EqualShapes(ts[1].Shape, []int{4, 5}) {
		t.Errorf("shapes %v %v", ts[0].Shape, ts[1].Shape)
	}
	var sum float64
	for _, v := range ts[0].F32() {
		sum += float64(v * v)
	}
	if sum == 0 {
		t.Error("random float input is all zero")
	}
	for _, v := range ts[1].I64() {
		if v != 0 {
			t.Fatal("integer inputs must stay zero (they are often indices)")
		}
	}
	nonzero := 0
	for _, v := range ts[2].Data.([]uint8) {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Error("random uint8 input is all zero")
	}
	_, err = runtime.SyntheticInputs([]graph.ValueInfo{{Name: "q", Kind: graph.KindTensor, DType: tensor.Float32}}, runtime.SyntheticOptions{})
	if err == nil || !strings.Contains(err.Error(), `input "q" has an unknown rank`) {
		t.Errorf("unknown rank: %v", err)
	}
}

func TestProfile(t *testing.T) {
	s, err := runtime.Compile(profModel(), runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ins, _ := s.SyntheticInputs(runtime.SyntheticOptions{Rand: rand.New(rand.NewPCG(3, 4))})
	rep, err := runtime.Profile(s, ins, runtime.ProfileOptions{Runs: 5, Warmup: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 5 || rep.Warmup != 2 || rep.Threads != 1 || rep.Folded != 1 || len(rep.Nodes) != 2 || rep.Totals.Nodes != 2 {
		t.Fatalf("report header %+v", rep)
	}
	var share float64
	for _, n := range rep.Nodes {
		if n.MedianUS < 0 || n.P90US < n.MedianUS || n.MinUS > n.MedianUS {
			t.Errorf("%s: inconsistent stats %+v", n.Name, n)
		}
		share += n.Share
	}
	if rep.Totals.NodeMedianUS > 0 && math.Abs(share-1) > 1e-9 {
		t.Errorf("shares sum to %v", share)
	}
	if rep.Totals.FLOPs != 8 || rep.Totals.OutputBytes != 12+20 || rep.Nodes[1].OutputBytes != 20 {
		t.Errorf("totals %+v", rep.Totals)
	}
	if rep.Totals.RunMedianUS <= 0 {
		t.Errorf("run median %v", rep.Totals.RunMedianUS)
	}
	// The JSON form is the planner's input: check its field names and that
	// it decodes back to the same report.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Nodes  []map[string]any `json:"nodes"`
		Totals map[string]any   `json:"totals"`
	}
	json.Unmarshal(b, &raw)
	for _, k := range []string{"name", "op", "inputs", "outputs", "output_bytes", "flops", "median_us", "p90_us", "share"} {
		if _, ok := raw.Nodes[1][k]; !ok {
			t.Errorf("node JSON lacks %q: %s", k, b)
		}
	}
	if in := raw.Nodes[1]["inputs"].([]any)[1].(map[string]any); in["dtype"] != "float32" || in["const"] != true {
		t.Errorf("input JSON %v", in)
	}
	for _, k := range []string{"flops", "run_median_us", "node_median_us", "output_bytes"} {
		if _, ok := raw.Totals[k]; !ok {
			t.Errorf("totals JSON lacks %q", k)
		}
	}
	var back runtime.ProfileReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Nodes[1].Inputs[1].DType != tensor.Float32 || back.Nodes[1].FLOPs != 5 || back.Totals != rep.Totals {
		t.Errorf("JSON round trip lost data: %+v", back.Nodes[1])
	}
	// A failing run is reported, not hidden.
	bad := tensor.Float32s([]int{2, 3}, make([]float32, 6)) // Cat refuses batch 2
	if _, err := runtime.Profile(s, []*tensor.Tensor{bad}, runtime.ProfileOptions{Runs: 1}); err == nil || !kernels.IsUnsupported(err) {
		t.Errorf("profile of a failing run: %v", err)
	}
}

func TestStats(t *testing.T) {
	st := runtime.Stats([]float64{5, 1, 4, 2, 3, 10, 6, 7, 8, 9})
	if st.Min != 1 || st.Max != 10 || st.Median != 5.5 || st.P90 != 9 || st.Mean != 5.5 {
		t.Errorf("%+v", st)
	}
	if st := runtime.Stats([]float64{3}); st.Median != 3 || st.P90 != 3 {
		t.Errorf("%+v", st)
	}
	if st := runtime.Stats(nil); st != (runtime.SampleStats{}) {
		t.Errorf("%+v", st)
	}
}
