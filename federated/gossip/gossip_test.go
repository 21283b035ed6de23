package gossip

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGraphs(t *testing.T) {
	cases := []struct {
		name  string
		g     Graph
		n     int
		edges int
		deg   int // every node's degree
	}{
		{"ring 8", Ring(8), 8, 8, 2},
		{"ring 2", Ring(2), 2, 1, 1},
		{"ring 1", Ring(1), 1, 0, 0},
		{"torus 4x5", Torus(4, 5), 20, 40, 4},
		{"torus 2x3", Torus(2, 3), 6, 9, 3},
		{"torus 1x6", Torus(1, 6), 6, 6, 2},
		{"complete 6", Complete(6), 6, 15, 5},
	}
	for _, c := range cases {
		if c.g.N() != c.n || len(c.g.Edges()) != c.edges || !c.g.Connected() {
			t.Errorf("%s: n=%d edges=%d connected=%v", c.name, c.g.N(), len(c.g.Edges()), c.g.Connected())
		}
		for i := 0; i < c.g.N(); i++ {
			if c.g.Degree(i) != c.deg {
				t.Errorf("%s: node %d degree %d, want %d", c.name, i, c.g.Degree(i), c.deg)
			}
			for _, j := range c.g.Neighbors(i) {
				if j == i {
					t.Errorf("%s: self-loop", c.name)
				}
			}
		}
	}
	g, err := FromEdges(4, [][2]int{{0, 1}, {2, 3}, {1, 0}})
	if err != nil || g.Connected() || len(g.Edges()) != 2 {
		t.Errorf("two components: %v %v", g.Edges(), err)
	}
	if _, err := FromEdges(3, [][2]int{{1, 1}}); err == nil {
		t.Error("self-loop accepted")
	}
	if _, err := FromEdges(3, [][2]int{{0, 3}}); err == nil {
		t.Error("out-of-range edge accepted")
	}
}

func TestRandomRegular(t *testing.T) {
	for _, c := range []struct{ n, d int }{{10, 3}, {20, 4}, {50, 5}, {7, 6}, {5, 0}} {
		g, err := RandomRegular(c.n, c.d, 9)
		if err != nil {
			t.Fatalf("n=%d d=%d: %v", c.n, c.d, err)
		}
		for i := 0; i < c.n; i++ {
			if g.Degree(i) != c.d {
				t.Fatalf("n=%d d=%d: node %d degree %d", c.n, c.d, i, g.Degree(i))
			}
		}
		g2, _ := RandomRegular(c.n, c.d, 9)
		if len(g.Edges()) != len(g2.Edges()) {
			t.Fatal("not deterministic")
		}
		for k, e := range g.Edges() {
			if g2.Edges()[k] != e {
				t.Fatal("not deterministic")
			}
		}
	}
	for _, c := range []struct{ n, d int }{{5, 3}, {4, 4}, {0, 0}, {5, -1}} {
		if _, err := RandomRegular(c.n, c.d, 1); err == nil {
			t.Errorf("n=%d d=%d accepted", c.n, c.d)
		}
	}
}

// Metropolis–Hastings weights are symmetric and doubly stochastic, so
// gossip preserves the average and, on a connected graph, reaches consensus;
// better-connected graphs contract faster.
func TestMetropolisHastings(t *testing.T) {
	rr, _ := RandomRegular(16, 4, 3)
	star, _ := FromEdges(5, [][2]int{{0, 1}, {0, 2}, {0, 3}, {0, 4}})
	graphs := map[string]Graph{"ring": Ring(16), "torus": Torus(4, 4), "regular": rr, "complete": Complete(16), "star": star}
	lambdas := map[string]float64{}
	for name, g := range graphs {
		w := MetropolisHastings(g)
		for i := 0; i < g.N(); i++ {
			var row float64
			for _, e := range w.Row(i) {
				row += e.W
				if e.W < 0 || math.Abs(e.W-w.Weight(e.J, i)) > 1e-15 {
					t.Fatalf("%s: W[%d][%d] = %v, W[%d][%d] = %v", name, i, e.J, e.W, e.J, i, w.Weight(e.J, i))
				}
			}
			if math.Abs(row-1) > 1e-12 {
				t.Fatalf("%s: row %d sums to %v", name, i, row)
			}
		}
		lambdas[name] = w.SecondEigenvalue(2000)
		r := rand.New(rand.NewPCG(1, 1))
		xs := make([][]float32, g.N())
		var mean float64
		for i := range xs {
			xs[i] = []float32{float32(r.NormFloat64()), float32(i)}
			mean += float64(xs[i][0])
		}
		mean /= float64(g.N())
		dst := make([][]float32, g.N())
		for i := range dst {
			dst[i] = make([]float32, 2)
		}
		for it := 0; it < 3000; it++ {
			if err := w.Mix(dst, xs); err != nil {
				t.Fatal(err)
			}
			xs, dst = dst, xs
		}
		for i := range xs {
			if math.Abs(float64(xs[i][0])-mean) > 1e-4 || math.Abs(float64(xs[i][1])-float64(g.N()-1)/2) > 1e-3 {
				t.Fatalf("%s: node %d at %v, mean %v", name, i, xs[i], mean)
			}
		}
	}
	t.Logf("second eigenvalue: ring %.4f, torus %.4f, 4-regular %.4f, complete %.4f",
		lambdas["ring"], lambdas["torus"], lambdas["regular"], lambdas["complete"])
	if !(lambdas["complete"] < lambdas["regular"] && lambdas["regular"] < lambdas["ring"] && lambdas["torus"] < lambdas["ring"]) {
		t.Fatalf("mixing order unexpected: %v", lambdas)
	}
	// The complete graph with MH weights is exact averaging: λ2 = 0.
	if lambdas["complete"] > 1e-9 {
		t.Fatalf("complete graph λ2 = %v", lambdas["complete"])
	}
	// Ring of n with MH weights 1/3: λ2 = 1/3 + 2/3 cos(2π/n).
	if want := 1.0/3 + 2.0/3*math.Cos(2*math.Pi/16); math.Abs(lambdas["ring"]-want) > 1e-6 {
		t.Fatalf("ring λ2 = %v, want %v", lambdas["ring"], want)
	}
}

// D-PSGD on f_i(x) = ½(x - c_i)²: the nodes' average follows gradient
// descent on the average objective and reaches its minimiser mean(c_i); each
// node stays within O(lr · heterogeneity / (1 - λ2)) of it; MixNode matches
// Mix.
func TestDPSGD(t *testing.T) {
	g := Torus(3, 4)
	w := MetropolisHastings(g)
	n := g.N()
	c := make([]float64, n)
	var target float64
	xs := make([][]float32, n)
	for i := range c {
		c[i] = float64(i)
		target += c[i]
		xs[i] = []float32{0}
	}
	target /= float64(n)
	for it := 0; it < 500; it++ {
		grads := make([][]float32, n)
		for i := range grads {
			grads[i] = []float32{float32(float64(xs[i][0]) - c[i])}
		}
		lr := 0.5 / math.Sqrt(float64(it+1))
		next, err := DPSGDStep(w, xs, grads, lr)
		if err != nil {
			t.Fatal(err)
		}
		// node 5's own view of the same step
		nb := map[int][]float32{}
		for _, j := range g.Neighbors(5) {
			nb[j] = xs[j]
		}
		one := make([]float32, 1)
		if err := w.MixNode(one, 5, xs[5], nb); err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(one[0]-float32(lr)*grads[5][0]-next[5][0])) > 1e-5 {
			t.Fatalf("MixNode %v vs Mix %v", one[0]-float32(lr)*grads[5][0], next[5][0])
		}
		xs = next
	}
	var avg float64
	for i := range xs {
		avg += float64(xs[i][0]) / float64(n)
		if math.Abs(float64(xs[i][0])-target) > 0.5 {
			t.Fatalf("node %d at %v, optimum %v", i, xs[i][0], target)
		}
	}
	if math.Abs(avg-target) > 1e-3 {
		t.Fatalf("average %v, optimum %v", avg, target)
	}
	if _, err := DPSGDStep(w, xs, xs[:2], 0.1); err == nil {
		t.Fatal("gradient count mismatch accepted")
	}
}
