package partition_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// relL2 is ||got-want|| / ||want|| (or ||got-want|| when want is zero).
func relL2(got, want *tensor.Tensor) float64 {
	if !tensor.EqualShapes(got.Shape, want.Shape) || got.Len() != want.Len() {
		return math.Inf(1)
	}
	var num, den float64
	for i := 0; i < want.Len(); i++ {
		d := got.Float64At(i) - want.Float64At(i)
		num += d * d
		den += want.Float64At(i) * want.Float64At(i)
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// reference is one model prepared for split tests: its inputs, the full
// model's outputs, the value types and sizes from a traced unoptimized
// run, and every runtime value that run computed.
type reference struct {
	m      *graph.Model
	inputs []*tensor.Tensor
	want   []*tensor.Tensor
	types  map[string]graph.ValueInfo
	sizes  partition.Sizes
	values map[string]*tensor.Tensor
}

func loadReference(t *testing.T, rel string) *reference {
	t.Helper()
	return referenceOf(t, loadModel(t, rel))
}

// loadModel loads ../shared/models/REL/model.onnx.
func loadModel(t *testing.T, rel string) *graph.Model {
	t.Helper()
	m, err := onnx.Load(filepath.Join(testenv.Shared(t), "models", rel, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// referenceOf prepares model m (see reference).
func referenceOf(t *testing.T, m *graph.Model) *reference {
	t.Helper()
	full, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	in, err := full.SyntheticInputs(runtime.SyntheticOptions{Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	want, err := full.RunOrdered(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := runtime.Compile(m, runtime.Options{Threads: 1, NoOptimize: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	si, err := plain.InferShapes(in)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]*tensor.Tensor{}
	for i, v := range m.Graph.Inputs {
		values[v.Name] = in[i]
	}
	if _, err := plain.RunOrdered(in, func(_ int, n *graph.Node, _, out []*tensor.Tensor, _ time.Duration) {
		for i, o := range n.Outputs {
			if o != "" && out[i] != nil {
				values[o] = out[i].Clone()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return &reference{m: m, inputs: in, want: want, types: partition.TypesFromShapes(si),
		sizes: partition.SizesFromShapes(si), values: values}
}

// crossTol bounds the relative L2 error of a crossing tensor against the
// unoptimized reference. A piece is optimized (Conv+BatchNorm folded,
// activations and residual Adds fused) while the reference is not, so the
// two round differently, and the difference grows with depth: up to
// 1.8e-5 on ResNet50's deepest cuts once its convolutions accumulate the
// whole K in one block (the pixel path). 1e-4 is the project's bar for
// float32 paths; a wrong cut is off by orders of magnitude more.
const crossTol = 1e-4

// runPieces compiles and runs the pieces in sequence, checking each
// piece's outputs against the reference values (crossing tensors, within
// crossTol: a piece may fuse differently from the unoptimized reference)
// and returning the last piece's outputs.
func runPieces(t *testing.T, ref *reference, pieces []*graph.Model, crossTol float64) []*tensor.Tensor {
	t.Helper()
	x := ref.inputs
	for i, p := range pieces {
		s, err := runtime.Compile(p, runtime.Options{Threads: 1})
		if err != nil {
			t.Fatalf("piece %d: compile: %v", i, err)
		}
		if i > 0 {
			for j, v := range s.Inputs() {
				if !v.HasShape || v.DType == tensor.Undefined {
					t.Errorf("piece %d input %q has no declared type", i, v.Name)
				}
				if j < len(x) && x[j].DType != v.DType {
					t.Errorf("piece %d input %q: declared %v, got %v", i, v.Name, v.DType, x[j].DType)
				}
			}
		}
		out, err := s.RunOrdered(x, nil)
		s.Close()
		if err != nil {
			t.Fatalf("piece %d: run: %v", i, err)
		}
		if i < len(pieces)-1 {
			for j, v := range p.Graph.Outputs {
				want, ok := ref.values[v.Name]
				if !ok {
					t.Fatalf("piece %d output %q: no reference value", i, v.Name)
				}
				if e := relL2(out[j], want); e > crossTol {
					t.Errorf("piece %d output %q: rel L2 %.3g > %g", i, v.Name, e, crossTol)
				}
			}
		}
		x = out
	}
	return x
}

func worstRelL2(got, want []*tensor.Tensor) float64 {
	w := 0.0
	if len(got) != len(want) {
		return math.Inf(1)
	}
	for i := range want {
		w = max(w, relL2(got[i], want[i]))
	}
	return w
}

// TestSplitEveryCut proves Split on real models: for every enumerated
// prefix cut, running the head and then the tail reproduces the full
// model's outputs (rel L2 <= 1e-6, fp32), and the head's outputs are the
// crossing tensors the full model computes. The zoo-light models get their
// weights from ConstantOfShape nodes, which each piece must carry.
// ResNet50 gets every third cut by default and all of them with
// EDGEDL_LONG=1; -short samples about 8 cuts per model.
func TestSplitEveryCut(t *testing.T) {
	models := []string{"mobilenet_v2", "squeezenet1_1", "onnx-zoo-light/bvlc_alexnet", "onnx-zoo-light/resnet50"}
	for _, name := range models {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			ref := loadReference(t, name)
			d := partition.NewDAG(ref.m.Graph)
			if err := d.SetSizes(ref.sizes); err != nil {
				t.Fatal(err)
			}
			cuts := d.Cuts()
			step := 1
			switch {
			case testing.Short():
				step = max(1, len(cuts)/8) // a sample of the cuts, both ends included
			case len(cuts) > 120 && os.Getenv("EDGEDL_LONG") != "1":
				step = 3 // ResNet50: a third of its 177 cuts by default (TestSplitChain runs through all of them)
			}
			worst := 0.0
			tested := 0
			for k := 0; k < len(cuts); k += step {
				if step > 1 && k+step >= len(cuts) {
					k = len(cuts) - 1
				}
				c := cuts[k]
				head, tail, err := partition.Split(ref.m, c, ref.types)
				if err != nil {
					t.Fatalf("cut %d: %v", k, err)
				}
				got := runPieces(t, ref, []*graph.Model{head, tail}, crossTol)
				e := worstRelL2(got, ref.want)
				worst = max(worst, e)
				if e > 1e-6 {
					t.Errorf("cut %d (after %s): rel L2 %.3g > 1e-6", k, c.After, e)
				}
				tested++
				goruntime.GC() // the zoo models' pieces hold hundreds of MB of weights
			}
			t.Logf("%d runtime nodes, %d of %d cuts tested, worst rel L2 %.3g, %v", len(d.Nodes), tested, len(cuts), worst, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestSplitThreeTiers splits at two cuts (device -> edge -> cloud),
// including empty middle and last pieces, and chains the three models.
func TestSplitThreeTiers(t *testing.T) {
	for _, name := range []string{"mobilenet_v2", "squeezenet1_1"} {
		t.Run(name, func(t *testing.T) {
			ref := loadReference(t, name)
			d := partition.NewDAG(ref.m.Graph)
			cuts := d.Cuts()
			n := len(cuts) - 1
			for _, pair := range [][2]int{{0, 0}, {0, n}, {n, n}, {3, 3}, {5, n / 2}, {n / 3, 2 * n / 3}, {n / 2, n}, {1, n - 1}} {
				pieces, err := partition.SplitN(ref.m, []partition.Cut{cuts[pair[0]], cuts[pair[1]]}, ref.types)
				if err != nil {
					t.Fatalf("cuts %v: %v", pair, err)
				}
				if len(pieces) != 3 {
					t.Fatalf("cuts %v: %d pieces", pair, len(pieces))
				}
				got := runPieces(t, ref, pieces, crossTol)
				if e := worstRelL2(got, ref.want); e > 1e-6 {
					t.Errorf("cuts %v: rel L2 %.3g > 1e-6", pair, e)
				}
			}
			if _, err := partition.SplitN(ref.m, []partition.Cut{cuts[5], cuts[3]}, ref.types); err == nil {
				t.Error("SplitN accepted cuts that are not nested")
			}
		})
	}
}

// TestSplitChain cuts a model at every prefix cut at once and runs the
// len(cuts)+1 pieces in sequence: each boundary's crossing set suffices
// for everything after it.
func TestSplitChain(t *testing.T) {
	for _, name := range []string{"squeezenet1_1", "onnx-zoo-light/resnet50"} {
		t.Run(name, func(t *testing.T) {
			ref := loadReference(t, name)
			cuts := partition.Cuts(ref.m.Graph)
			pieces, err := partition.SplitN(ref.m, cuts, ref.types)
			if err != nil {
				t.Fatal(err)
			}
			got := runPieces(t, ref, pieces, crossTol)
			if e := worstRelL2(got, ref.want); e > 1e-6 {
				t.Errorf("rel L2 %.3g > 1e-6", e)
			}
			t.Logf("%d pieces", len(pieces))
		})
	}
}
