package node

import (
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// TestSplitModel cuts MNIST every way the spec allows and checks that the
// pieces are where the spec says and chain to the whole model's outputs,
// at batch 1 and 3.
func TestSplitModel(t *testing.T) {
	f := loadMNIST(t)
	cases := []struct {
		spec                string
		device, edge, cloud bool
	}{
		{"device", true, false, false},
		{"edge", false, true, false},
		{"cloud", false, false, true},
		{"3", true, true, false},
		{"0", false, true, false},
		{"10", true, false, false},
		{"3,6", true, true, true},
		{"0,6", false, true, true},
		{"5,5", true, false, true},
		{"3,10", true, true, false},
		{"/MaxPool_output_0", true, true, false},
		{"/MaxPool_output_0,t:/Relu_2_output_0", true, true, true},
	}
	batch := tensor.New(tensor.Float32, 3, 1, 28, 28)
	copy(batch.F32(), f.x.F32()[:3*28*28])
	for _, c := range cases {
		p, err := SplitModel(f.model, c.spec, 1)
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if (p.Device != nil) != c.device || (p.Edge != nil) != c.edge || (p.Cloud != nil) != c.cloud {
			t.Fatalf("%s: pieces device=%v edge=%v cloud=%v", c.spec, p.Device != nil, p.Edge != nil, p.Cloud != nil)
		}
		for _, x := range []*tensor.Tensor{f.digit(0), batch} {
			got := chain(t, []*graph.Model{p.Device, p.Edge, p.Cloud}, x)
			n := x.Shape[0]
			for i := 0; i < n; i++ {
				for k := 0; k < 10; k++ {
					if d := got[i*10+k] - f.ref[i][k]; d > 1e-4 || d < -1e-4 {
						t.Fatalf("%s batch %d: logit %d of digit %d differs by %g", c.spec, n, k, i, d)
					}
				}
			}
		}
	}
	// Pieces hash the same every time (nodes cache them by hash).
	a, _ := SplitModel(f.model, "3,6", 1)
	m2 := loadMNIST(t).model
	b, _ := SplitModel(m2, "3,6", 1)
	for i, pair := range [][2]*graph.Model{{a.Device, b.Device}, {a.Edge, b.Edge}, {a.Cloud, b.Cloud}} {
		ea, _ := encodePiece(pair[0])
		eb, _ := encodePiece(pair[1])
		if ea.hash != eb.hash {
			t.Errorf("piece %d hashes differently across splits", i)
		}
	}
	for _, bad := range []string{"11", "-1", "6,3", "1,2,3", "nosuchtensor", "+"} {
		if _, err := SplitModel(f.model, bad, 1); err == nil {
			t.Errorf("split %q: no error", bad)
		}
	}
}

// chain runs the non-nil pieces one after the other.
func chain(t *testing.T, pieces []*graph.Model, x *tensor.Tensor) []float32 {
	t.Helper()
	acts := map[string]*tensor.Tensor{"input": x}
	for _, m := range pieces {
		if m == nil {
			continue
		}
		s, err := runtime.Compile(m, runtime.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(acts)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		acts = out
	}
	return acts["logits"].F32()
}
