package prune

import (
	"fmt"
	"math"
	"slices"

	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// Scope says how a target sparsity is spread over layers.
type Scope int

const (
	// PerLayer prunes every layer to the target sparsity.
	PerLayer Scope = iota
	// Global ranks all weights of all layers together, so layers with
	// many small weights lose more.
	Global
)

// MagnitudeOptions configure Magnitude.
type MagnitudeOptions struct {
	// Sparsity is the fraction of weights set to zero, in [0, 1).
	Sparsity float64
	Scope    Scope
	// Layers names the Conv/Gemm/MatMul nodes to prune; nil means all
	// with a constant float weight. Biases are never pruned.
	Layers []string
	// LayerSparsity overrides Sparsity for some layers (PerLayer scope).
	LayerSparsity map[string]float64
}

// LayerStats counts the zero weights of one layer.
type LayerStats struct {
	Node, Weight    string
	Elements, Zeros int
}

// Sparsity is the fraction of zero weights.
func (s LayerStats) Sparsity() float64 {
	if s.Elements == 0 {
		return 0
	}
	return float64(s.Zeros) / float64(s.Elements)
}

// Total sums layer statistics.
func Total(ls []LayerStats) LayerStats {
	t := LayerStats{Node: "total"}
	for _, l := range ls {
		t.Elements += l.Elements
		t.Zeros += l.Zeros
	}
	return t
}

func checkSparsity(what string, s float64) error {
	if !(s >= 0 && s < 1) {
		return fmt.Errorf("prune: %s sparsity %v is out of range [0, 1)", what, s)
	}
	return nil
}

// Sparsity measures the zero weights of each weight layer of m.
func Sparsity(m *graph.Model) []LayerStats {
	var out []LayerStats
	seen := map[string]bool{}
	for _, l := range gx.WeightLayers(m.Graph) {
		if seen[l.Weight] {
			continue
		}
		seen[l.Weight] = true
		w := m.Graph.Initializers[l.Weight]
		z := 0
		for _, x := range w.F32() {
			if x == 0 {
				z++
			}
		}
		out = append(out, LayerStats{Node: l.Node.Name, Weight: l.Weight, Elements: w.Len(), Zeros: z})
	}
	return out
}

// Magnitude zeroes the weights of smallest magnitude (unstructured
// pruning, Han et al. 2015) and returns the pruned copy of m with the
// sparsity of each layer. Exactly round(sparsity × elements) weights are
// zero afterwards per layer (or over all layers, for Global), counting
// weights that were zero already.
func Magnitude(m *graph.Model, o MagnitudeOptions) (*graph.Model, []LayerStats, error) {
	if err := checkSparsity("target", o.Sparsity); err != nil {
		return nil, nil, err
	}
	for name, s := range o.LayerSparsity {
		if err := checkSparsity(fmt.Sprintf("layer %q", name), s); err != nil {
			return nil, nil, err
		}
	}
	if o.Scope != PerLayer && o.Scope != Global {
		return nil, nil, fmt.Errorf("prune: unknown scope %d", o.Scope)
	}
	if o.Scope == Global && len(o.LayerSparsity) > 0 {
		return nil, nil, fmt.Errorf("prune: per-layer sparsities need the PerLayer scope")
	}
	pm, err := gx.Prepare(m, false)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w", err)
	}
	g := pm.Graph
	layers, err := selectLayers(g, o.Layers)
	if err != nil {
		return nil, nil, err
	}
	for name := range o.LayerSparsity {
		found := false
		for _, l := range layers {
			found = found || l.Node.Name == name
		}
		if !found {
			return nil, nil, fmt.Errorf("prune: no weight layer named %q", name)
		}
	}
	// Pruned copies of the weights (the originals are shared with m).
	pruned := map[string]*tensor.Tensor{}
	var names []string
	for _, l := range layers {
		if pruned[l.Weight] == nil {
			pruned[l.Weight] = g.Initializers[l.Weight].Clone()
			names = append(names, l.Weight)
		}
	}
	if o.Scope == Global {
		var all [][]float32
		total := 0
		for _, n := range names {
			all = append(all, pruned[n].F32())
			total += pruned[n].Len()
		}
		t, ties := threshold(int(math.Round(o.Sparsity*float64(total))), all...)
		for _, v := range all {
			zeroSmallest(v, t, &ties)
		}
	} else {
		done := map[string]bool{}
		for _, l := range layers {
			if done[l.Weight] {
				continue
			}
			done[l.Weight] = true
			s, ok := o.LayerSparsity[l.Node.Name]
			if !ok {
				s = o.Sparsity
			}
			v := pruned[l.Weight].F32()
			t, ties := threshold(int(math.Round(s*float64(len(v)))), v)
			zeroSmallest(v, t, &ties)
		}
	}
	for _, n := range names {
		g.Initializers[n] = pruned[n]
	}
	return pm, Sparsity(pm), nil
}

// threshold returns the k-th smallest magnitude among the values of vs
// (NaN when k is 0) and how many values equal to it are to be zeroed, in
// order, after every smaller one.
func threshold(k int, vs ...[]float32) (t float32, ties int) {
	if k <= 0 {
		return float32(math.NaN()), 0
	}
	var abs []float32
	for _, v := range vs {
		for _, x := range v {
			abs = append(abs, float32(math.Abs(float64(x))))
		}
	}
	slices.Sort(abs)
	k = min(k, len(abs))
	t = abs[k-1]
	below, _ := slices.BinarySearch(abs, t)
	return t, k - below
}

// zeroSmallest zeroes the values below t and the first *ties values
// equal to t (in magnitude).
func zeroSmallest(v []float32, t float32, ties *int) {
	for i, x := range v {
		a := float32(math.Abs(float64(x)))
		if a < t || (a == t && *ties > 0) {
			if a == t {
				*ties--
			}
			v[i] = 0
		}
	}
}

// selectLayers returns the weight layers named (all when names is nil).
func selectLayers(g *graph.Graph, names []string) ([]gx.WeightLayer, error) {
	all := gx.WeightLayers(g)
	if names == nil {
		return all, nil
	}
	var out []gx.WeightLayer
	for _, name := range names {
		found := false
		for _, l := range all {
			if l.Node.Name == name {
				out = append(out, l)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("prune: no weight layer (Conv, Gemm, MatMul with a constant weight) named %q", name)
		}
	}
	return out, nil
}
