package gossip

import (
	"fmt"
	"math"
)

// Entry is one nonzero weight W_ij of a mixing matrix row.
type Entry struct {
	J int
	W float64
}

// Mixing is a sparse doubly-stochastic gossip matrix W: row i lists the
// weights node i gives to itself and its neighbours. Row i's entries are
// exactly what node i needs to know, so a node applies its row with MixNode
// from the models its neighbours sent it.
type Mixing struct {
	rows [][]Entry
}

// N returns the number of nodes.
func (m Mixing) N() int { return len(m.rows) }

// Row returns node i's weights (self included), ascending by J. The slice
// must not be modified.
func (m Mixing) Row(i int) []Entry { return m.rows[i] }

// Weight returns W_ij.
func (m Mixing) Weight(i, j int) float64 {
	for _, e := range m.rows[i] {
		if e.J == j {
			return e.W
		}
	}
	return 0
}

// MetropolisHastings returns the Metropolis–Hastings weights of g
// (Xiao & Boyd 2004; the usual choice for D-PSGD):
//
//	W_ij = 1 / (1 + max(deg_i, deg_j))   for each edge (i, j)
//	W_ii = 1 - Σ_{j≠i} W_ij
//
// W is symmetric and doubly stochastic, so gossip preserves the average of
// the nodes' models, and on a connected graph it converges to consensus.
// Each node needs only its neighbours' degrees.
func MetropolisHastings(g Graph) Mixing {
	n := g.N()
	m := Mixing{rows: make([][]Entry, n)}
	for i := 0; i < n; i++ {
		row := make([]Entry, 0, g.Degree(i)+1)
		self := 1.0
		placed := false
		for _, j := range g.Neighbors(i) {
			if !placed && j > i {
				row = append(row, Entry{J: i})
				placed = true
			}
			w := 1 / (1 + float64(max(g.Degree(i), g.Degree(j))))
			self -= w
			row = append(row, Entry{J: j, W: w})
		}
		if !placed {
			row = append(row, Entry{J: i})
		}
		for k := range row {
			if row[k].J == i {
				row[k].W = self
			}
		}
		m.rows[i] = row
	}
	return m
}

// Mix computes dst[i] = Σ_j W_ij xs[j] for every node: one synchronous gossip
// round. dst and xs have N rows of equal length; dst must not alias xs.
func (m Mixing) Mix(dst, xs [][]float32) error {
	if len(dst) != m.N() || len(xs) != m.N() {
		return fmt.Errorf("gossip: mix: %d outputs and %d inputs for %d nodes", len(dst), len(xs), m.N())
	}
	for i := range dst {
		if err := m.mixRow(dst[i], i, func(j int) []float32 { return xs[j] }); err != nil {
			return err
		}
	}
	return nil
}

// MixNode computes node i's gossip average into dst from its own model
// (self) and its neighbours' models (keyed by node); every neighbour in W's
// row must be present.
func (m Mixing) MixNode(dst []float32, i int, self []float32, neighbours map[int][]float32) error {
	if i < 0 || i >= m.N() {
		return fmt.Errorf("gossip: node %d outside 0..%d", i, m.N()-1)
	}
	return m.mixRow(dst, i, func(j int) []float32 {
		if j == i {
			return self
		}
		return neighbours[j]
	})
}

func (m Mixing) mixRow(dst []float32, i int, model func(j int) []float32) error {
	acc := make([]float64, len(dst))
	for _, e := range m.rows[i] {
		x := model(e.J)
		if len(x) != len(dst) {
			return fmt.Errorf("gossip: node %d: model of node %d has %d parameters, want %d", i, e.J, len(x), len(dst))
		}
		for k, v := range x {
			acc[k] += e.W * float64(v)
		}
	}
	for k, a := range acc {
		dst[k] = float32(a)
	}
	return nil
}

// DPSGDStep is one iteration of decentralised parallel SGD (Lian et al.,
// NeurIPS 2017, Algorithm 1): each node averages its neighbours' models and
// takes a step along the stochastic gradient it computed at its own model,
//
//	x_i ← Σ_j W_ij x_j - lr * g_i(x_i).
//
// It returns the new models; xs and grads are not modified.
func DPSGDStep(m Mixing, xs, grads [][]float32, lr float64) ([][]float32, error) {
	if len(grads) != len(xs) {
		return nil, fmt.Errorf("gossip: D-PSGD: %d gradients for %d models", len(grads), len(xs))
	}
	out := make([][]float32, len(xs))
	for i := range out {
		out[i] = make([]float32, len(xs[i]))
	}
	if err := m.Mix(out, xs); err != nil {
		return nil, err
	}
	for i, g := range grads {
		if len(g) != len(out[i]) {
			return nil, fmt.Errorf("gossip: D-PSGD: node %d gradient has %d entries, model %d", i, len(g), len(out[i]))
		}
		for k, v := range g {
			out[i][k] = float32(float64(out[i][k]) - lr*float64(v))
		}
	}
	return out, nil
}

// SecondEigenvalue estimates max(|λ2|, |λn|) of the symmetric mixing matrix,
// the per-round contraction factor of disagreement (1 minus it is the
// spectral gap), by power iteration orthogonal to the all-ones vector.
func (m Mixing) SecondEigenvalue(iterations int) float64 {
	n := m.N()
	if n < 2 {
		return 0
	}
	x := make([]float64, n)
	for i := range x {
		// A fixed, non-constant start vector (deterministic).
		x[i] = math.Sin(float64(i)*1.618033988749895 + 0.5)
	}
	y := make([]float64, n)
	lambda := 0.0
	for it := 0; it < iterations; it++ {
		var mean float64
		for _, v := range x {
			mean += v
		}
		mean /= float64(n)
		var norm float64
		for i := range x {
			x[i] -= mean
			norm += x[i] * x[i]
		}
		norm = math.Sqrt(norm)
		if norm == 0 {
			return 0
		}
		for i := range x {
			x[i] /= norm
		}
		for i, row := range m.rows {
			var s float64
			for _, e := range row {
				s += e.W * x[e.J]
			}
			y[i] = s
		}
		var ny float64
		for _, v := range y {
			ny += v * v
		}
		lambda = math.Sqrt(ny)
		x, y = y, x
	}
	return lambda
}
