package text

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register(mlDomain, "TreeEnsemble", 5, buildTreeEnsemble)
}

// Node comparison modes of TreeEnsemble.
const (
	cmpLEQ = iota
	cmpLT
	cmpGTE
	cmpGT
	cmpEQ
	cmpNEQ
	cmpMember
)

// Aggregation functions and post transforms.
const (
	aggAverage = iota
	aggSum
	aggMin
	aggMax
)

const (
	postNone = iota
	postSoftmax
	postLogistic
	postSoftmaxZero
	postProbit
)

// treeNode is an interior node; a child reference c >= 0 is a node index,
// c < 0 the leaf -c-1.
type treeNode struct {
	mode        int
	feature     int
	split       float64
	members     map[float64]bool
	missingTrue bool
	t, f        int
}

// treeEnsemble is a compiled TreeEnsemble node.
type treeEnsemble struct {
	nodes     []treeNode
	roots     []int // child references, as in treeNode
	leafW     []float64
	leafT     []int
	nTargets  int
	agg, post int
	features  int // smallest valid feature count
}

func buildTreeEnsemble(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	floatsOf := func(name string) []float64 {
		t := a.Tensor(name)
		if t == nil {
			return nil
		}
		v := make([]float64, t.Len())
		for i := range v {
			v[i] = t.Float64At(i)
		}
		return v
	}
	splits := floatsOf("nodes_splits")
	feats := a.Ints("nodes_featureids", nil)
	modes := a.Tensor("nodes_modes")
	tIDs, fIDs := a.Ints("nodes_truenodeids", nil), a.Ints("nodes_falsenodeids", nil)
	tLeaf, fLeaf := a.Ints("nodes_trueleafs", nil), a.Ints("nodes_falseleafs", nil)
	missing := a.Ints("nodes_missing_value_tracks_true", nil)
	k := &treeEnsemble{
		leafW: floatsOf("leaf_weights"), nTargets: int(a.Int("n_targets", 0)),
		agg: int(a.Int("aggregate_function", aggSum)), post: int(a.Int("post_transform", postNone)),
	}
	n := len(splits)
	if modes == nil || modes.Len() != n || len(feats) != n || len(tIDs) != n || len(fIDs) != n ||
		len(tLeaf) != n || len(fLeaf) != n || (missing != nil && len(missing) != n) {
		return nil, b.Errorf("nodes_* attributes must all have %d entries", n)
	}
	for _, t := range a.Ints("leaf_targetids", nil) {
		if t < 0 || t >= int64(k.nTargets) {
			return nil, b.Errorf("leaf target %d out of range [0,%d)", t, k.nTargets)
		}
		k.leafT = append(k.leafT, int(t))
	}
	if len(k.leafT) != len(k.leafW) {
		return nil, b.Errorf("%d leaf targets but %d leaf weights", len(k.leafT), len(k.leafW))
	}
	if k.agg < aggAverage || k.agg > aggMax || k.post < postNone || k.post > postProbit {
		return nil, b.Errorf("unknown aggregate_function %d or post_transform %d", k.agg, k.post)
	}
	ref := func(id, leaf int64) (int, error) {
		if leaf != 0 {
			if id < 0 || id >= int64(len(k.leafW)) {
				return 0, fmt.Errorf("leaf %d out of range", id)
			}
			return -int(id) - 1, nil
		}
		if id < 0 || id >= int64(n) {
			return 0, fmt.Errorf("node %d out of range", id)
		}
		return int(id), nil
	}
	members := floatsOf("membership_values")
	for i := 0; i < n; i++ {
		nd := treeNode{mode: int(modes.Int64At(i)), feature: int(feats[i]), split: splits[i], missingTrue: missing != nil && missing[i] != 0}
		if nd.mode < cmpLEQ || nd.mode > cmpMember || nd.feature < 0 {
			return nil, b.Errorf("node %d: invalid mode %d or feature %d", i, nd.mode, nd.feature)
		}
		k.features = max(k.features, nd.feature+1)
		var err error
		if nd.t, err = ref(tIDs[i], tLeaf[i]); err != nil {
			return nil, b.Errorf("node %d: %v", i, err)
		}
		if nd.f, err = ref(fIDs[i], fLeaf[i]); err != nil {
			return nil, b.Errorf("node %d: %v", i, err)
		}
		if nd.mode == cmpMember {
			// Sets are listed in node order, each closed by a NaN.
			nd.members = map[float64]bool{}
			for len(members) > 0 && !math.IsNaN(members[0]) {
				nd.members[members[0]] = true
				members = members[1:]
			}
			if len(members) == 0 {
				return nil, b.Errorf("node %d: membership_values has too few sets", i)
			}
			members = members[1:]
		}
		k.nodes = append(k.nodes, nd)
	}
	for _, r := range a.Ints("tree_roots", nil) {
		if r < 0 || r >= int64(n) {
			return nil, b.Errorf("tree root %d out of range", r)
		}
		nd := k.nodes[r]
		if tLeaf[r] != 0 && fLeaf[r] != 0 && tIDs[r] == fIDs[r] {
			k.roots = append(k.roots, nd.t) // a tree that is a single leaf
		} else {
			k.roots = append(k.roots, int(r))
		}
	}
	// Reject cycles now so evaluation always terminates.
	state := make([]byte, n)
	for _, r := range k.roots {
		if err := k.checkAcyclic(r, state); err != nil {
			return nil, b.Errorf("%v", err)
		}
	}
	return k, nil
}

// checkAcyclic walks the subgraph under child reference c depth first;
// state is 0 (unseen), 1 (on the current path) or 2 (done) per node.
func (k *treeEnsemble) checkAcyclic(c int, state []byte) error {
	if c < 0 || state[c] == 2 {
		return nil
	}
	if state[c] == 1 {
		return fmt.Errorf("tree has a cycle through node %d", c)
	}
	state[c] = 1
	if err := k.checkAcyclic(k.nodes[c].t, state); err != nil {
		return err
	}
	if err := k.checkAcyclic(k.nodes[c].f, state); err != nil {
		return err
	}
	state[c] = 2
	return nil
}

// leaf walks one tree for sample x and returns the leaf index.
func (k *treeEnsemble) leaf(c int, x []float64) int {
	for c >= 0 {
		nd := &k.nodes[c]
		v := x[nd.feature]
		var ok bool
		if math.IsNaN(v) && nd.missingTrue {
			ok = true
		} else {
			switch nd.mode {
			case cmpLEQ:
				ok = v <= nd.split
			case cmpLT:
				ok = v < nd.split
			case cmpGTE:
				ok = v >= nd.split
			case cmpGT:
				ok = v > nd.split
			case cmpEQ:
				ok = v == nd.split
			case cmpNEQ:
				ok = v != nd.split
			case cmpMember:
				ok = nd.members[v]
			}
		}
		if ok {
			c = nd.t
		} else {
			c = nd.f
		}
	}
	return -c - 1
}

func (k *treeEnsemble) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if x.DType != tensor.Float32 && x.DType != tensor.Float64 && x.DType != tensor.Float16 {
		return kernels.Unsupported("TreeEnsemble", "dtype %v", x.DType)
	}
	if len(x.Shape) != 2 || x.Shape[1] < k.features {
		return fmt.Errorf("X %v must be [N, F] with F >= %d", x.Shape, k.features)
	}
	n, f := x.Shape[0], x.Shape[1]
	y, err := ctx.Alloc(x.DType, []int{n, k.nTargets})
	if err != nil {
		return err
	}
	res := make([]float64, k.nTargets)
	row := make([]float64, f)
	init := 0.0
	switch k.agg {
	case aggMin:
		init = maxOf(x.DType)
	case aggMax:
		init = -maxOf(x.DType)
	}
	for i := 0; i < n; i++ {
		for j := range row {
			row[j] = x.Float64At(i*f + j)
		}
		for t := range res {
			res[t] = init
		}
		for _, r := range k.roots {
			l := k.leaf(r, row)
			w, t := k.leafW[l], k.leafT[l]
			switch k.agg {
			case aggSum:
				res[t] += w
			case aggAverage:
				res[t] += w / float64(len(k.roots))
			case aggMin:
				res[t] = math.Min(res[t], w)
			case aggMax:
				res[t] = math.Max(res[t], w)
			}
		}
		k.transform(res)
		for t, v := range res {
			setFloat(y, i*k.nTargets+t, v)
		}
	}
	out[0] = y
	return nil
}

// transform applies the post transform in place.
func (k *treeEnsemble) transform(v []float64) {
	switch k.post {
	case postLogistic:
		for i, x := range v {
			v[i] = 1 / (1 + math.Exp(-x))
		}
	case postProbit:
		for i, x := range v {
			v[i] = math.Sqrt2 * math.Erfinv(2*x-1)
		}
	case postSoftmax, postSoftmaxZero:
		m := math.Inf(-1)
		for _, x := range v {
			m = math.Max(m, x)
		}
		var s float64
		for i, x := range v {
			if k.post == postSoftmaxZero && x == 0 {
				v[i] = 0
				continue
			}
			v[i] = math.Exp(x - m)
			s += v[i]
		}
		for i := range v {
			if s > 0 {
				v[i] /= s
			}
		}
	}
}

func maxOf(dt tensor.DType) float64 {
	switch dt {
	case tensor.Float32:
		return math.MaxFloat32
	case tensor.Float16:
		return 65504
	}
	return math.MaxFloat64
}

func setFloat(t *tensor.Tensor, i int, v float64) {
	switch d := t.Data.(type) {
	case []float32:
		d[i] = float32(v)
	case []float64:
		d[i] = v
	case []uint16:
		d[i] = tensor.FloatToHalf(float32(v))
	}
}
