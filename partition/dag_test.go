package partition_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func f32(name string, dims ...int64) graph.ValueInfo {
	vi := graph.ValueInfo{Name: name, Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true}
	for _, d := range dims {
		vi.Shape = append(vi.Shape, graph.Dim{Value: d})
	}
	return vi
}

func node(name, op string, in []string, out ...string) *graph.Node {
	return &graph.Node{Name: name, OpType: op, Inputs: in, Outputs: out, Attrs: map[string]*graph.Attr{}}
}

// residualModel is x -> A=Relu -> B=Mul(w) -> C=Add(const) -> D=Add(a, c)
// -> E=Sigmoid -> y, where C's constant comes from a ConstantOfShape node
// (as in the zoo-light models) and a Constant node feeds B's weight.
func residualModel() *graph.Model {
	g := &graph.Graph{Name: "residual", ValueInfo: map[string]graph.ValueInfo{}}
	g.Inputs = []graph.ValueInfo{f32("x", 1, 4)}
	g.Outputs = []graph.ValueInfo{f32("y", 1, 4)}
	g.AddInitializer("shape", tensor.Int64s([]int{2}, []int64{1, 4}))
	cos := node("cos", "ConstantOfShape", []string{"shape"}, "k")
	cos.Attrs["value"] = &graph.Attr{Name: "value", Type: graph.AttrTensor, Tensor: tensor.Float32s([]int{1}, []float32{0.5})}
	cw := node("cw", "Constant", nil, "w")
	cw.Attrs["value"] = &graph.Attr{Name: "value", Type: graph.AttrTensor, Tensor: tensor.Float32s([]int{1, 4}, []float32{1, -2, 3, -4})}
	g.Nodes = []*graph.Node{
		node("A", "Relu", []string{"x"}, "a"),
		cw,
		node("B", "Mul", []string{"a", "w"}, "b"),
		cos,
		node("C", "Add", []string{"b", "k"}, "c"),
		node("D", "Add", []string{"a", "c"}, "d"),
		node("E", "Sigmoid", []string{"d"}, "y"),
	}
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 17}, IRVersion: 8}
}

// branchModel is an Inception-like block: two branches from x, joined.
func branchModel() *graph.Model {
	g := &graph.Graph{Name: "branch", ValueInfo: map[string]graph.ValueInfo{}}
	g.Inputs = []graph.ValueInfo{f32("x", 1, 3)}
	g.Outputs = []graph.ValueInfo{f32("y", 2, 3), f32("p1", 1, 3)}
	g.Nodes = []*graph.Node{
		node("P1", "Relu", []string{"x"}, "p1"),
		node("P2", "Sigmoid", []string{"x"}, "p2"),
		node("J", "Concat", []string{"p1", "p2"}, "y"),
	}
	g.Nodes[2].Attrs["axis"] = &graph.Attr{Name: "axis", Type: graph.AttrInt, Int: 0}
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 17}, IRVersion: 8}
}

func TestCutsResidual(t *testing.T) {
	m := residualModel()
	d := partition.NewDAG(m.Graph)
	if len(d.Nodes) != 5 {
		t.Fatalf("%d runtime nodes, want 5 (constants excluded)", len(d.Nodes))
	}
	if !d.IsConst("w") || !d.IsConst("k") || d.IsConst("a") {
		t.Errorf("constness: w %v k %v a %v", d.IsConst("w"), d.IsConst("k"), d.IsConst("a"))
	}
	want := [][]string{{"x"}, {"a"}, {"a", "b"}, {"a", "c"}, {"d"}, {"y"}}
	cuts := d.Cuts()
	if len(cuts) != len(want) {
		t.Fatalf("%d cuts, want %d", len(cuts), len(want))
	}
	for k, c := range cuts {
		if c.Index != k || !slices.Equal(c.Crossing, want[k]) {
			t.Errorf("cut %d: index %d crossing %v, want %v", k, c.Index, c.Crossing, want[k])
		}
		if c.Bytes != -1 {
			t.Errorf("cut %d: bytes %d without sizes, want -1", k, c.Bytes)
		}
	}
	if cuts[3].After != "C" || cuts[0].After != "(input)" {
		t.Errorf("after: %q %q", cuts[0].After, cuts[3].After)
	}
	// Without sizes for b and c, the Add's output d (sized through Sigmoid
	// from the declared y) sizes its inputs, as for a fused residual block.
	if err := d.SetSizes(nil); err != nil {
		t.Errorf("SetSizes without b and c: %v", err)
	} else if got := d.Cuts()[2].Bytes; got != 32 {
		t.Errorf("cut {a, b} sized from the Add's output: %d bytes, want 32", got)
	}
	// a and d are sized through Relu and Sigmoid from the declared x and y.
	four := partition.TensorSize{DType: tensor.Float32, Elems: 4, Bytes: 16}
	if err := d.SetSizes(partition.Sizes{"b": four, "c": four}); err != nil {
		t.Fatal(err)
	}
	if got := d.Cuts()[2].Bytes; got != 32 {
		t.Errorf("cut 2 bytes %d, want 32", got)
	}
	var buf bytes.Buffer
	if err := partition.WriteCuts(&buf, d.Cuts()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 7 || !strings.Contains(lines[4], "C") || !strings.Contains(lines[4], "a c") {
		t.Errorf("WriteCuts:\n%s", buf.String())
	}
}

func TestCutsBranchesAndOutputs(t *testing.T) {
	d := partition.NewDAG(branchModel().Graph)
	want := [][]string{{"x"}, {"x", "p1"}, {"p1", "p2"}, {"p1", "y"}}
	for k, c := range d.Cuts() {
		if !slices.Equal(c.Crossing, want[k]) {
			t.Errorf("cut %d: crossing %v, want %v", k, c.Crossing, want[k])
		}
	}
	// The head {P2} is closed but no prefix of the order P1, P2, J.
	c, err := d.Cut([]bool{false, true, false})
	if err != nil {
		t.Fatal(err)
	}
	if c.Index != -1 || !slices.Equal(c.Crossing, []string{"x", "p2"}) {
		t.Errorf("cut {P2}: index %d crossing %v", c.Index, c.Crossing)
	}
	if _, err := d.Cut([]bool{false, false, true}); err == nil {
		t.Error("a head without its predecessors was accepted")
	}
}

// TestSplitSmall runs the pieces of the hand-made models at every cut and
// at every closed head set, including the non-prefix ones.
func TestSplitSmall(t *testing.T) {
	for _, m := range []*graph.Model{residualModel(), branchModel()} {
		t.Run(m.Graph.Name, func(t *testing.T) {
			full, err := runtime.Compile(m, runtime.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			in, _ := full.SyntheticInputs(runtime.SyntheticOptions{Rand: rand.New(rand.NewPCG(3, 4))})
			want, err := full.RunOrdered(in, nil)
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := runtime.Compile(m, runtime.Options{Threads: 1, NoOptimize: true})
			defer plain.Close()
			si, err := plain.InferShapes(in)
			if err != nil {
				t.Fatal(err)
			}
			types := partition.TypesFromShapes(si)
			d := partition.NewDAG(m.Graph)
			n := len(d.Nodes)
			for mask := 0; mask < 1<<n; mask++ {
				head := make([]bool, n)
				for i := range head {
					head[i] = mask&(1<<i) != 0
				}
				if !d.Closed(head) {
					continue
				}
				c, err := d.Cut(head)
				if err != nil {
					t.Fatal(err)
				}
				h, tl, err := partition.Split(m, c, types)
				if err != nil {
					t.Fatalf("head %v: %v", head, err)
				}
				x := in
				for _, p := range []*graph.Model{h, tl} {
					s, err := runtime.Compile(p, runtime.Options{Threads: 1})
					if err != nil {
						t.Fatalf("head %v: %v", head, err)
					}
					x, err = s.RunOrdered(x, nil)
					s.Close()
					if err != nil {
						t.Fatalf("head %v: %v", head, err)
					}
				}
				if e := worstRelL2(x, want); e > 1e-6 {
					t.Errorf("head %v: rel L2 %.3g", head, e)
				}
				if m.Graph.Name == "residual" && c.Index >= 2 {
					// The tail of a cut after B needs the ConstantOfShape.
					found := false
					for _, nd := range tl.Graph.Nodes {
						found = found || nd.OpType == "ConstantOfShape"
					}
					if c.Index < 3 && !found {
						t.Errorf("cut %d: tail lacks the ConstantOfShape it reads", c.Index)
					}
				}
			}
		})
	}
}

// TestCutsRandom checks on random DAGs that the prefix cuts' crossing
// sets follow the definition, written from the graph's names, and agree
// with DAG.Cut on the same head; and that EncodedBytes prices them.
func TestCutsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for trial := 0; trial < 200; trial++ {
		rc := randomGraph(r, 1+r.IntN(20))
		d := rc.d
		cuts := d.Cuts()
		if len(cuts) != len(d.Nodes)+1 {
			t.Fatalf("%d cuts for %d nodes", len(cuts), len(d.Nodes))
		}
		for k, c := range cuts {
			head := map[string]bool{}
			set := make([]bool, len(d.Nodes))
			for i := 0; i < k; i++ {
				head[d.Nodes[i].Name] = true
				set[i] = true
			}
			producer := map[string]string{}
			for _, n := range rc.g.Nodes {
				for _, o := range n.Outputs {
					producer[o] = n.Name
				}
			}
			want := map[string]bool{}
			for _, n := range rc.g.Nodes {
				if n.OpType == "Const" || head[n.Name] {
					continue
				}
				for _, in := range n.Inputs {
					if !rc.consts[in] && (producer[in] == "" || head[producer[in]]) {
						want[in] = true
					}
				}
			}
			for _, o := range rc.g.Outputs {
				if !rc.consts[o.Name] && (producer[o.Name] == "" || head[producer[o.Name]]) {
					want[o.Name] = true
				}
			}
			var wantBytes int64
			var enc float64
			for v := range want {
				wantBytes += rc.sizes[v].Bytes
				enc += partition.CodecFP16.Encoded(rc.sizes[v])
			}
			if len(want) != len(c.Crossing) || c.Bytes != wantBytes {
				t.Fatalf("trial %d cut %d: crossing %v (%d B), want %v (%d B)", trial, k, c.Crossing, c.Bytes, want, wantBytes)
			}
			for _, v := range c.Crossing {
				if !want[v] {
					t.Fatalf("trial %d cut %d: %q should not cross", trial, k, v)
				}
			}
			if got := d.EncodedBytes(c, partition.CodecFP16); math.Abs(got-enc) > 1e-6 {
				t.Fatalf("encoded %v, want %v", got, enc)
			}
			c2, err := d.Cut(set)
			if err != nil || c2.Index != k || !slices.Equal(c2.Crossing, c.Crossing) || !slices.Equal(c2.Head, c.Head) {
				t.Fatalf("trial %d: Cut(prefix %d) = %+v, %v; Cuts gave %+v", trial, k, c2, err, c)
			}
		}
	}
}
