package deepcomp

import (
	"fmt"
	"maps"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
)

// Masks says which weights of each pruned tensor are kept, keyed by
// initializer name: Masks[name][i] is false for a pruned weight, which
// fine-tuning holds at zero.
type Masks map[string][]bool

// ZeroMasks returns the masks of the given float32 initializers of m: a
// weight is kept when it is not zero. Unknown names are an error.
func ZeroMasks(m *graph.Model, names []string) (Masks, error) {
	if m == nil || m.Graph == nil {
		return nil, errNilModel
	}
	out := Masks{}
	for _, n := range names {
		t := m.Graph.Initializers[n]
		if t == nil || t.DType != tensor.Float32 {
			return nil, fmt.Errorf("deepcomp: %q is not a float32 initializer", n)
		}
		keep := make([]bool, t.Len())
		for i, x := range t.F32() {
			keep[i] = x != 0
		}
		out[n] = keep
	}
	return out, nil
}

// Kept counts the kept weights of each mask, summed.
func (ms Masks) Kept() (kept, total int) {
	for _, k := range ms {
		total += len(k)
		for _, b := range k {
			if b {
				kept++
			}
		}
	}
	return kept, total
}

// Shared is one weight tensor after weight sharing: each weight is
// Centroids[Index[i]], or zero where Index[i] is -1 (pruned).
type Shared struct {
	Centroids []float32
	Index     []int32
}

// SharedFrom reads the sharing of a tensor that holds at most k distinct
// non-zero values (what codebook.Share leaves): the distinct values become
// the centroids (ascending) and zeros are pruned (-1) when pruned is set,
// else zero is a centroid like any value.
func SharedFrom(t *tensor.Tensor, k int, pruned bool) (*Shared, error) {
	if t == nil || t.DType != tensor.Float32 {
		return nil, fmt.Errorf("deepcomp: weight sharing needs a float32 tensor")
	}
	pos := map[float32]int32{}
	var cents []float32
	for _, x := range t.F32() {
		if x == 0 && pruned {
			continue
		}
		if x != x {
			return nil, fmt.Errorf("deepcomp: NaN weight")
		}
		if _, ok := pos[x]; !ok {
			if len(cents) == k {
				return nil, fmt.Errorf("deepcomp: tensor holds more than %d distinct values: it is not shared", k)
			}
			pos[x] = 0
			cents = append(cents, x)
		}
	}
	slices.Sort(cents)
	for i, c := range cents {
		pos[c] = int32(i)
	}
	s := &Shared{Centroids: cents, Index: make([]int32, t.Len())}
	for i, x := range t.F32() {
		if x == 0 && pruned {
			s.Index[i] = -1
			continue
		}
		s.Index[i] = pos[x]
	}
	return s, nil
}

// MaskedOptimizer holds pruned weights at zero while fine-tuning: before
// each step of Inner it clears the gradients of pruned weights (so no
// momentum builds up for them) and after it sets the weights back to zero
// (weight decay and momentum cannot revive them). Variables without a mask
// are updated by Inner as usual.
type MaskedOptimizer struct {
	Inner train.Optimizer
	Masks Masks
}

// Step implements train.Optimizer.
func (o *MaskedOptimizer) Step(vars []*train.Var, lr float64) {
	for _, v := range vars {
		if keep, ok := o.Masks[v.Name]; ok && len(keep) == len(v.Grad) {
			for i, k := range keep {
				if !k {
					v.Grad[i] = 0
				}
			}
		}
	}
	o.Inner.Step(vars, lr)
	for _, v := range vars {
		if keep, ok := o.Masks[v.Name]; ok && len(keep) == len(v.Data) {
			for i, k := range keep {
				if !k {
					v.Data[i] = 0
				}
			}
		}
	}
}

// State implements train.Optimizer.
func (o *MaskedOptimizer) State() train.OptState { return o.Inner.State() }

// SetState implements train.Optimizer.
func (o *MaskedOptimizer) SetState(s train.OptState) error { return o.Inner.SetState(s) }

func (o *MaskedOptimizer) String() string { return "masked " + o.Inner.String() }

// SharedOptimizer fine-tunes the centroids of shared weights (Han et al.,
// section 3.1): the gradient of a centroid is the sum of the gradients of
// the weights that share it, the centroid is updated by Inner like any
// parameter (as a variable named "W#centroids", so momentum applies), and
// the weights are then rewritten from the centroids, so every shared
// tensor keeps at most len(Centroids) distinct values and its pruned
// weights stay zero. Other variables (biases, small tensors) are updated by
// Inner directly.
type SharedOptimizer struct {
	Inner  train.Optimizer
	Shared map[string]*Shared
	cvars  map[string]*train.Var
}

// Step implements train.Optimizer.
func (o *SharedOptimizer) Step(vars []*train.Var, lr float64) {
	if o.cvars == nil {
		o.cvars = map[string]*train.Var{}
	}
	list := make([]*train.Var, 0, len(vars))
	var shared []*train.Var
	for _, v := range vars {
		s, ok := o.Shared[v.Name]
		if !ok || len(s.Index) != len(v.Data) {
			list = append(list, v)
			continue
		}
		cv := o.cvars[v.Name]
		if cv == nil {
			cv = &train.Var{Name: v.Name + "#centroids", Shape: []int{len(s.Centroids)}, Data: s.Centroids,
				Grad: make([]float32, len(s.Centroids))}
			o.cvars[v.Name] = cv
		}
		clear(cv.Grad)
		for i, k := range s.Index {
			if k >= 0 {
				cv.Grad[k] += v.Grad[i]
			}
		}
		list = append(list, cv)
		shared = append(shared, v)
	}
	o.Inner.Step(list, lr)
	for _, v := range shared {
		s := o.Shared[v.Name]
		for i, k := range s.Index {
			if k >= 0 {
				v.Data[i] = s.Centroids[k]
			} else {
				v.Data[i] = 0
			}
		}
	}
}

// State implements train.Optimizer.
func (o *SharedOptimizer) State() train.OptState { return o.Inner.State() }

// SetState implements train.Optimizer.
func (o *SharedOptimizer) SetState(s train.OptState) error { return o.Inner.SetState(s) }

func (o *SharedOptimizer) String() string { return "shared-centroid " + o.Inner.String() }

// sharedNames lists the keys of a map in sorted order.
func sharedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

var (
	_ train.Optimizer = (*MaskedOptimizer)(nil)
	_ train.Optimizer = (*SharedOptimizer)(nil)
)
