package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// ChannelOptions configure Channels.
type ChannelOptions struct {
	// Ratio is the fraction of each prunable Conv's filters removed, in
	// [0, 1); at least one filter is always kept.
	Ratio float64
	// LayerRatio overrides Ratio for some Conv nodes.
	LayerRatio map[string]float64
	// Layers restricts pruning to these Conv nodes (nil: every prunable
	// Conv).
	Layers []string
}

// ChannelLayer is one pruned Conv.
type ChannelLayer struct {
	Node          string
	Before, After int
	// Kept lists the original indices of the filters kept, ascending.
	Kept []int
}

// Skipped is a Conv that could not be pruned, and why.
type Skipped struct{ Node, Reason string }

// ChannelReport tells what Channels did.
type ChannelReport struct {
	Layers  []ChannelLayer
	Skipped []Skipped
}

// passThrough ops keep the channel axis of their first input and mix
// nothing across channels.
var passThrough = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "HardSigmoid": true,
	"HardSwish": true, "Elu": true, "Selu": true, "Softplus": true, "Clip": true, "Identity": true,
	"Dropout": true, "MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "GlobalMaxPool": true,
	"LpPool": true, "GlobalLpPool": true,
}

// plan is what pruning one Conv's filters implies for the graph.
type plan struct {
	conv   *graph.Node
	keep   []int                    // filters kept
	slices map[string]map[int][]int // initializer -> axis -> indices kept
	groups map[*graph.Node]int64    // depthwise Convs' new group
	shapes map[string][]int64       // Reshape shape initializers rewritten
	values []string                 // values whose channel count changes
}

// Channels removes the filters of smallest L1 norm from Conv layers (Li et
// al., "Pruning Filters for Efficient ConvNets", ICLR 2017) and rewrites
// the graph so that the layers are genuinely smaller: a Conv's weight and
// bias lose output channels; the readers of its output lose the matching
// inputs, through channel-wise ops (Relu, Clip, pooling, BatchNormalization,
// depthwise Conv, which are pruned too) to the next Conv (input channels)
// or, through Flatten or Reshape to 2-D, to a Gemm/MatMul (the matching
// blocks of weight columns). Convs whose output reaches an op that mixes
// channels (Add, Concat, a graph output, ...) are left alone and listed in
// the report's Skipped.
func Channels(m *graph.Model, o ChannelOptions) (*graph.Model, *ChannelReport, error) {
	if err := checkRatio("", o.Ratio); err != nil {
		return nil, nil, err
	}
	for name, r := range o.LayerRatio {
		if err := checkRatio(name, r); err != nil {
			return nil, nil, err
		}
	}
	pm, err := gx.Prepare(m, false)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w", err)
	}
	g := pm.Graph
	byName := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		byName[n.Name] = n
	}
	var cands []*graph.Node
	if o.Layers != nil {
		for _, name := range o.Layers {
			n := byName[name]
			if n == nil || !gx.Op(n, "Conv") {
				return nil, nil, fmt.Errorf("prune: no Conv node named %q", name)
			}
			cands = append(cands, n)
		}
	} else {
		for _, n := range g.Nodes {
			if gx.Op(n, "Conv") {
				cands = append(cands, n)
			}
		}
	}
	for name := range o.LayerRatio {
		if n := byName[name]; n == nil || !gx.Op(n, "Conv") {
			return nil, nil, fmt.Errorf("prune: no Conv node named %q", name)
		}
	}
	aliases := unshare(g)
	cons := gx.Consumers(g)
	rep := &ChannelReport{}
	merged := map[string]map[int][]int{}
	var plans []*plan
	for _, n := range cands {
		ratio, ok := o.LayerRatio[n.Name]
		if !ok {
			ratio = o.Ratio
		}
		p, reason := planConv(g, cons, n, ratio)
		if reason != "" {
			rep.Skipped = append(rep.Skipped, Skipped{n.Name, reason})
			continue
		}
		if p == nil {
			continue // nothing to remove
		}
		clash := false
		for init, axes := range p.slices {
			for ax := range axes {
				if merged[init] != nil && merged[init][ax] != nil {
					clash = true
				}
			}
		}
		if clash {
			rep.Skipped = append(rep.Skipped, Skipped{n.Name, "its channels reach a tensor another pruned layer already changes"})
			continue
		}
		for init, axes := range p.slices {
			if merged[init] == nil {
				merged[init] = map[int][]int{}
			}
			for ax, keep := range axes {
				merged[init][ax] = keep
			}
		}
		plans = append(plans, p)
		w := g.Initializers[n.Inputs[1]]
		rep.Layers = append(rep.Layers, ChannelLayer{Node: n.Name, Before: w.Shape[0], After: len(p.keep), Kept: p.keep})
	}
	for init, axes := range merged {
		t := g.Initializers[init]
		axs := make([]int, 0, len(axes))
		for ax := range axes {
			axs = append(axs, ax)
		}
		sort.Ints(axs)
		for _, ax := range axs {
			t = sliceAxis(t, ax, axes[ax])
		}
		g.Initializers[init] = t
	}
	for _, p := range plans {
		for n, gr := range p.groups {
			gx.SetInt(n, "group", gr)
		}
		for init, shape := range p.shapes {
			g.Initializers[init] = tensor.Int64s([]int{len(shape)}, shape)
		}
		for _, v := range p.values {
			delete(g.ValueInfo, v)
		}
	}
	reshare(g, aliases)
	if err := g.Validate(); err != nil {
		return nil, nil, fmt.Errorf("prune: the pruned graph is invalid: %w", err)
	}
	return pm, rep, nil
}

// alias is a private name unshare gave to an initializer read by several
// layers (exporters share identical tensors, such as zero biases).
type alias struct {
	node       *graph.Node
	input      int
	name, orig string
}

// unshare gives every layer parameter that other nodes also read a name
// of its own (the tensor itself is shared until pruning replaces it).
func unshare(g *graph.Graph) []alias {
	var out []alias
	cons := gx.Consumers(g)
	for _, n := range g.Nodes {
		switch n.OpType {
		case "Conv", "BatchNormalization", "Gemm", "MatMul":
		default:
			continue
		}
		for i := 1; i < len(n.Inputs); i++ {
			in := n.Inputs[i]
			t, ok := g.Initializers[in]
			if !ok || (len(cons[in]) == 1 && count(n.Inputs, in) == 1) {
				continue
			}
			name := gx.Unique(g, in+"."+n.Name)
			g.AddInitializer(name, t)
			n.Inputs[i] = name
			out = append(out, alias{n, i, name, in})
		}
	}
	return out
}

// reshare undoes unshare for the parameters pruning left unchanged.
func reshare(g *graph.Graph, aliases []alias) {
	for _, a := range aliases {
		if g.Initializers[a.name] == g.Initializers[a.orig] {
			a.node.Inputs[a.input] = a.orig
		}
	}
	gx.DropUnusedInitializers(g)
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func checkRatio(name string, r float64) error {
	if !(r >= 0 && r < 1) {
		if name != "" {
			return fmt.Errorf("prune: ratio %v for %q is out of range [0, 1)", r, name)
		}
		return fmt.Errorf("prune: ratio %v is out of range [0, 1)", r)
	}
	return nil
}

// soleReader reports whether init is an initializer read only by n.
func soleReader(g *graph.Graph, cons map[string][]*graph.Node, init string, n *graph.Node) bool {
	if _, ok := g.Initializers[init]; !ok {
		return false
	}
	c := cons[init]
	return len(c) == 1 && c[0] == n && !gx.IsOutput(g, init)
}

// planConv works out how pruning conv's filters to (1-ratio) changes the
// graph; reason says why it cannot be pruned, and a nil plan with no reason
// means nothing would be removed.
func planConv(g *graph.Graph, cons map[string][]*graph.Node, conv *graph.Node, ratio float64) (*plan, string) {
	if len(conv.Inputs) < 2 || len(conv.Outputs) != 1 {
		return nil, "unusual Conv arity"
	}
	w := gx.ConstF32(g, conv.Inputs[1])
	if w == nil || w.Rank() < 3 {
		return nil, "its weight is not a constant float tensor"
	}
	mch := w.Shape[0]
	keepN := mch - int(math.Round(ratio*float64(mch)))
	keepN = max(keepN, 1)
	if keepN == mch {
		return nil, ""
	}
	if gx.Int(conv, "group", 1) != 1 {
		return nil, "grouped or depthwise Conv (pruned only through the Conv before it)"
	}
	if !soleReader(g, cons, conv.Inputs[1], conv) {
		return nil, "its weight is shared"
	}
	p := &plan{conv: conv, slices: map[string]map[int][]int{}, groups: map[*graph.Node]int64{}, shapes: map[string][]int64{}}
	p.keep = topL1(w, keepN)
	p.slice(conv.Inputs[1], 0, p.keep)
	if len(conv.Inputs) > 2 && conv.Inputs[2] != "" {
		if !soleReader(g, cons, conv.Inputs[2], conv) {
			return nil, "its bias is shared or not constant"
		}
		p.slice(conv.Inputs[2], 0, p.keep)
	}
	if reason := p.follow(g, cons, conv.Outputs[0], mch); reason != "" {
		return nil, reason
	}
	return p, ""
}

func (p *plan) slice(init string, axis int, keep []int) {
	if p.slices[init] == nil {
		p.slices[init] = map[int][]int{}
	}
	p.slices[init][axis] = keep
}

// follow visits every reader of value, whose axis 1 has mch channels of
// which p.keep survive.
func (p *plan) follow(g *graph.Graph, cons map[string][]*graph.Node, value string, mch int) string {
	if gx.IsOutput(g, value) {
		return fmt.Sprintf("its channels reach the graph output %q", value)
	}
	p.values = append(p.values, value)
	for _, n := range cons[value] {
		if graph.NormalizeDomain(n.Domain) != "" {
			return fmt.Sprintf("its channels reach %s", n.Label())
		}
		for i, in := range n.Inputs {
			if in == value && i > 0 && n.OpType != "Conv" {
				return fmt.Sprintf("its channels reach input %d of %s", i, n.Label())
			}
		}
		if n.Inputs[0] != value {
			return fmt.Sprintf("its channels reach %s as a weight", n.Label())
		}
		switch {
		case passThrough[n.OpType]:
			if n.OpType == "Dropout" || n.OpType == "MaxPool" {
				for _, o := range n.Outputs[1:] {
					if o != "" {
						return fmt.Sprintf("%s has a second output", n.Label())
					}
				}
			}
			if r := p.follow(g, cons, n.Outputs[0], mch); r != "" {
				return r
			}
		case n.OpType == "BatchNormalization":
			for _, in := range n.Inputs[1:5] {
				if !soleReader(g, cons, in, n) || gx.ConstF32(g, in) == nil {
					return fmt.Sprintf("%s has shared or non-constant parameters", n.Label())
				}
				p.slice(in, 0, p.keep)
			}
			if r := p.follow(g, cons, n.Outputs[0], mch); r != "" {
				return r
			}
		case n.OpType == "Conv":
			w := gx.ConstF32(g, n.Inputs[1])
			if w == nil || !soleReader(g, cons, n.Inputs[1], n) {
				return fmt.Sprintf("%s has a shared or non-constant weight", n.Label())
			}
			group := gx.Int(n, "group", 1)
			switch {
			case group == 1 && w.Shape[1] == mch:
				p.slice(n.Inputs[1], 1, p.keep)
			case group == int64(mch) && w.Shape[1] == 1 && w.Shape[0] == mch:
				// Depthwise: channel c has filter c; prune it and go on.
				p.slice(n.Inputs[1], 0, p.keep)
				if len(n.Inputs) > 2 && n.Inputs[2] != "" {
					if !soleReader(g, cons, n.Inputs[2], n) {
						return fmt.Sprintf("%s has a shared bias", n.Label())
					}
					p.slice(n.Inputs[2], 0, p.keep)
				}
				p.groups[n] = int64(len(p.keep))
				if r := p.follow(g, cons, n.Outputs[0], mch); r != "" {
					return r
				}
			default:
				return fmt.Sprintf("%s is a grouped Conv", n.Label())
			}
		case n.OpType == "Flatten" || n.OpType == "Reshape":
			if r := p.flatten(g, cons, n, mch); r != "" {
				return r
			}
		default:
			return fmt.Sprintf("its channels reach %s, which mixes or reorders channels", n.Label())
		}
	}
	return ""
}

// flatten handles Flatten(axis 1) or Reshape to [batch, -1] of a
// [batch, C, ...] value read by Gemm/MatMul layers: each channel is a block
// of K/C consecutive weight rows (or columns, with transB).
func (p *plan) flatten(g *graph.Graph, cons map[string][]*graph.Node, n *graph.Node, mch int) string {
	var shapeInit string
	var shape []int64
	if n.OpType == "Flatten" {
		if gx.Int(n, "axis", 1) != 1 {
			return fmt.Sprintf("%s does not flatten from axis 1", n.Label())
		}
	} else {
		if len(n.Inputs) < 2 {
			return fmt.Sprintf("%s has no shape input", n.Label())
		}
		shapeInit = n.Inputs[1]
		t := g.Initializers[shapeInit]
		if t == nil || t.DType != tensor.Int64 || t.Len() != 2 || !soleReader(g, cons, shapeInit, n) {
			return fmt.Sprintf("%s does not reshape to 2-D with a constant shape of its own", n.Label())
		}
		shape = append([]int64{}, t.I64()...)
		if shape[0] == -1 {
			return fmt.Sprintf("%s infers the batch dimension", n.Label())
		}
	}
	out := n.Outputs[0]
	if gx.IsOutput(g, out) {
		return fmt.Sprintf("its channels reach the graph output %q", out)
	}
	p.values = append(p.values, out)
	block := -1
	for _, r := range cons[out] {
		l, ok := gx.AsWeightLayer(g, r)
		if !ok || r.OpType == "Conv" || r.Inputs[0] != out || !soleReader(g, cons, l.Weight, r) {
			return fmt.Sprintf("the flattened channels reach %s, not a Gemm/MatMul layer with its own weight", r.Label())
		}
		w := g.Initializers[l.Weight]
		kAxis := 1 - l.Axis
		k := w.Shape[kAxis]
		if k%mch != 0 {
			return fmt.Sprintf("%s: %d inputs are not %d channel blocks", r.Label(), k, mch)
		}
		if block >= 0 && block != k/mch {
			return fmt.Sprintf("%s: inconsistent block size", r.Label())
		}
		block = k / mch
		keep := make([]int, 0, len(p.keep)*block)
		for _, c := range p.keep {
			for j := 0; j < block; j++ {
				keep = append(keep, c*block+j)
			}
		}
		p.slice(l.Weight, kAxis, keep)
	}
	if shapeInit != "" && shape[1] > 0 {
		if block < 0 || shape[1] != int64(block*mch) {
			return fmt.Sprintf("%s: shape %v does not match the channels", n.Label(), shape)
		}
		shape[1] = int64(block * len(p.keep))
		p.shapes[shapeInit] = shape
	}
	return ""
}

// topL1 returns, ascending, the indices of the n filters (axis 0) of w with
// the largest L1 norm (ties: lower index first).
func topL1(w *tensor.Tensor, n int) []int {
	m := w.Shape[0]
	norms := FilterNorms(w)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return norms[idx[a]] > norms[idx[b]] })
	idx = idx[:n]
	sort.Ints(idx)
	return idx
}

// FilterNorms returns the L1 norm of each filter (axis-0 slice) of a Conv
// weight, the ranking Channels uses.
func FilterNorms(w *tensor.Tensor) []float64 {
	m := w.Shape[0]
	per := w.Len() / m
	out := make([]float64, m)
	for c := 0; c < m; c++ {
		for _, x := range w.F32()[c*per : (c+1)*per] {
			out[c] += math.Abs(float64(x))
		}
	}
	return out
}

// sliceAxis keeps the given indices of one axis of t.
func sliceAxis(t *tensor.Tensor, axis int, keep []int) *tensor.Tensor {
	outer, inner := 1, 1
	for i, d := range t.Shape {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	ch := t.Shape[axis]
	shape := append([]int{}, t.Shape...)
	shape[axis] = len(keep)
	out := tensor.New(t.DType, shape...)
	for o := 0; o < outer; o++ {
		for j, c := range keep {
			dst := (o*len(keep) + j) * inner
			src := (o*ch + c) * inner
			copyRange(out, dst, t, src, inner)
		}
	}
	return out
}

func copyRange(dst *tensor.Tensor, d int, src *tensor.Tensor, s, n int) {
	switch dv := dst.Data.(type) {
	case []float32:
		copy(dv[d:d+n], src.Data.([]float32)[s:s+n])
	case []float64:
		copy(dv[d:d+n], src.Data.([]float64)[s:s+n])
	case []int64:
		copy(dv[d:d+n], src.Data.([]int64)[s:s+n])
	case []int32:
		copy(dv[d:d+n], src.Data.([]int32)[s:s+n])
	case []int8:
		copy(dv[d:d+n], src.Data.([]int8)[s:s+n])
	case []uint8:
		copy(dv[d:d+n], src.Data.([]uint8)[s:s+n])
	case []uint16:
		copy(dv[d:d+n], src.Data.([]uint16)[s:s+n])
	default:
		panic(fmt.Sprintf("prune: slicing %v tensors", dst.DType))
	}
}
