package runtime_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

const testDomain = "edgedl.test"

// Test-only operators, in their own domain so they never clash with real ones.
func init() {
	kernels.Register(testDomain, "Double", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
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
	kernels.Register(testDomain, "Alias", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			out[0] = &tensor.Tensor{DType: in[0].DType, Shape: in[0].Shape, Data: in[0].Data}
			return nil
		}), nil
	})
	kernels.Register(testDomain, "AddT", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			if !tensor.EqualShapes(in[0].Shape, in[1].Shape) {
				return errors.New("shape mismatch")
			}
			y, err := ctx.Alloc(tensor.Float32, in[0].Shape)
			if err != nil {
				return err
			}
			for i := range y.F32() {
				y.F32()[i] = in[0].F32()[i] + in[1].F32()[i]
			}
			out[0] = y
			return nil
		}), nil
	})
	kernels.Register(testDomain, "Panic", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			var s []int
			_ = s[3] // index out of range
			return nil
		}), nil
	})
}

func tnode(op string, in []string, out ...string) *graph.Node {
	return &graph.Node{OpType: op, Domain: testDomain, Inputs: in, Outputs: out}
}

func model(nodes []*graph.Node, outputs ...string) *graph.Model {
	g := &graph.Graph{
		Name:   "t",
		Inputs: []graph.ValueInfo{{Name: "x", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true, Shape: []graph.Dim{{Value: -1, Param: "n"}}}},
		Nodes:  nodes,
	}
	for _, o := range outputs {
		g.Outputs = append(g.Outputs, graph.ValueInfo{Name: o, Kind: graph.KindTensor, DType: tensor.Float32})
	}
	g.AddInitializer("k", tensor.Float32s([]int{3}, []float32{1, 1, 1}))
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 17, testDomain: 1}}
}

// A chain with aliasing and dead values: buffers are recycled between
// nodes and runs, and results must stay exact.
func TestRunChainAndReuse(t *testing.T) {
	m := model([]*graph.Node{
		tnode("Double", []string{"x"}, "a"),
		tnode("Alias", []string{"a"}, "b"),
		tnode("Double", []string{"b"}, "c"),
		tnode("AddT", []string{"c", "a"}, "d"), // a is still alive through the alias
		tnode("Double", []string{"k"}, "k2"),   // folded at compile time
		tnode("AddT", []string{"d", "k2"}, "e"),
	}, "e", "b")
	s, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.NumSteps() != 5 {
		t.Errorf("%d steps after folding, want 5", s.NumSteps())
	}
	for run := 0; run < 3; run++ {
		x := tensor.Float32s([]int{3}, []float32{1, 2, float32(run)})
		out, err := s.Run(map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		// a=2x, c=4x, d=6x, e=6x+2; b=a=2x
		for i, v := range x.F32() {
			if got := out["e"].F32()[i]; got != 6*v+2 {
				t.Errorf("run %d: e[%d]=%v want %v", run, i, got, 6*v+2)
			}
			if got := out["b"].F32()[i]; got != 2*v {
				t.Errorf("run %d: b[%d]=%v want %v", run, i, got, 2*v)
			}
		}
		if x.F32()[0] != 1 {
			t.Fatal("input was modified")
		}
	}
}

func TestConcurrentRuns(t *testing.T) {
	m := model([]*graph.Node{
		tnode("Double", []string{"x"}, "a"),
		tnode("Double", []string{"a"}, "b"),
		tnode("AddT", []string{"a", "b"}, "y"),
	}, "y")
	s, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				v := float32(g*100 + r)
				out, err := s.Run(map[string]*tensor.Tensor{"x": tensor.Float32s([]int{1000}, fill(1000, v))})
				if err != nil {
					errs <- err
					return
				}
				for _, y := range out["y"].F32() {
					if y != 6*v {
						errs <- errors.New("wrong result under concurrency")
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func fill(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestRunErrors(t *testing.T) {
	m := model([]*graph.Node{tnode("AddT", []string{"x", "k"}, "y")}, "y")
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cases := map[string]map[string]*tensor.Tensor{
		"missing input": {},
		"unknown input": {"x": tensor.Float32s([]int{3}, fill(3, 1)), "z": tensor.Float32s([]int{1}, fill(1, 1))},
		"wrong dtype":   {"x": tensor.Int64s([]int{3}, []int64{1, 2, 3})},
		"wrong rank":    {"x": tensor.Float32s([]int{1, 3}, fill(3, 1))},
		"kernel error":  {"x": tensor.Float32s([]int{4}, fill(4, 1))},
	}
	for name, in := range cases {
		if _, err := s.Run(in); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "kernel error" && !strings.Contains(err.Error(), "AddT") {
			t.Errorf("kernel error does not name the node: %v", err)
		}
	}
	// A panicking kernel becomes an error naming the node.
	pm := model([]*graph.Node{tnode("Panic", []string{"x"}, "y")}, "y")
	ps, err := runtime.Compile(pm, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.Run(map[string]*tensor.Tensor{"x": tensor.Float32s([]int{1}, fill(1, 1))}); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("panic not turned into an error: %v", err)
	}
	// An unknown operator fails at compile time as unsupported.
	um := model([]*graph.Node{{OpType: "NoSuchOp", Inputs: []string{"x"}, Outputs: []string{"y"}}}, "y")
	if _, err := runtime.Compile(um, runtime.Options{}); err == nil || !kernels.IsUnsupported(err) {
		t.Errorf("unknown op: %v", err)
	}
}

// normalTensor returns a float32 tensor of standard normal values.
func normalTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.Float32s(shape, v)
}
