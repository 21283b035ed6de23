package runtime

import (
	"fmt"
	"log/slog"
	"math"
	"reflect"
	goruntime "runtime"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels/nn"
	"github.com/edgedl/edgedl/tensor"
)

// AttrResidual marks a Conv whose input 3 is added to its output before
// the activation (package kernels/nn).
const AttrResidual = "edgedl_residual"

// Fused-activation attributes understood by the Conv and Gemm kernels of
// package kernels/nn: the optimizer folds a following activation node into
// them so the activation runs on each output tile while it is hot.
const (
	AttrActivation      = "edgedl_activation"
	AttrActivationAlpha = "edgedl_activation_alpha"
	AttrActivationBeta  = "edgedl_activation_beta"
)

// optimize rewrites a copy of g for speed without changing its outputs:
// it turns Constant, ConstantOfShape and Unsqueeze-of-constant nodes into
// initializers, removes identities, folds BatchNormalization and
// per-channel Mul/Add into a preceding Conv, per-channel Mul/Add into a
// preceding standalone BatchNormalization, an Add of another value into a
// preceding Conv (residual blocks), and fuses activations into Conv/Gemm
// (any) and Add/Sum/BatchNormalization (Relu, Clip). The caller's graph is
// not modified.
func optimize(g *graph.Graph, log *slog.Logger) *graph.Graph {
	// A freshly loaded model leaves garbage several times the size of its
	// weights (file bytes, protobuf messages). Collect it before the passes
	// and the kernels make their copies (folded and packed weights), so
	// these reuse its memory instead of adding to the peak RSS.
	goruntime.GC()
	o := &optimizer{g: cloneGraph(g), log: log}
	o.constantsToInitializers()
	o.constantOfShapeToInitializers()
	o.removeIdentities()
	o.rewriteQDQ()
	o.foldConvBatchNorm()
	o.foldConvAffine()
	o.foldBatchNormAffine()
	o.fuseConvResidual()
	o.fuseActivations()
	o.fuseConcatConv()
	return o.g
}

type optimizer struct {
	g    *graph.Graph
	log  *slog.Logger
	uniq int
}

// cloneGraph copies the node list and maps so passes can edit them; tensors
// and subgraphs are shared (passes replace, never mutate, them).
func cloneGraph(g *graph.Graph) *graph.Graph {
	c := *g
	c.Nodes = make([]*graph.Node, len(g.Nodes))
	for i, n := range g.Nodes {
		nn := *n
		nn.Inputs = append([]string(nil), n.Inputs...)
		nn.Outputs = append([]string(nil), n.Outputs...)
		nn.Attrs = make(map[string]*graph.Attr, len(n.Attrs))
		for k, v := range n.Attrs {
			nn.Attrs[k] = v
		}
		c.Nodes[i] = &nn
	}
	c.Initializers = make(map[string]*tensor.Tensor, len(g.Initializers))
	for k, v := range g.Initializers {
		c.Initializers[k] = v
	}
	c.InitOrder = append([]string(nil), g.InitOrder...)
	return &c
}

func (o *optimizer) isGraphOutput(name string) bool {
	for _, v := range o.g.Outputs {
		if v.Name == name {
			return true
		}
	}
	return false
}

// rename makes every reader of from read to instead.
func (o *optimizer) rename(from, to string) {
	for _, n := range o.g.Nodes {
		for i, in := range n.Inputs {
			if in == from {
				n.Inputs[i] = to
			}
		}
	}
}

func (o *optimizer) drop(dead map[*graph.Node]bool) {
	if len(dead) == 0 {
		return
	}
	kept := o.g.Nodes[:0]
	for _, n := range o.g.Nodes {
		if !dead[n] {
			kept = append(kept, n)
		}
	}
	o.g.Nodes = kept
}

// usesSubgraphs reports whether any node reads values implicitly (If/Loop
// bodies); renaming passes then stay away, as they only rewrite explicit inputs.
func (o *optimizer) usesSubgraphs() bool {
	for _, n := range o.g.Nodes {
		for _, a := range n.Attrs {
			if a.Graph != nil || len(a.Graphs) > 0 {
				return true
			}
		}
	}
	return false
}

// constantsToInitializers turns Constant nodes holding a tensor into
// initializers, so later passes see their values.
func (o *optimizer) constantsToInitializers() {
	dead := map[*graph.Node]bool{}
	for _, n := range o.g.Nodes {
		if n.OpType != "Constant" || n.Domain != "" || len(n.Outputs) != 1 {
			continue
		}
		a := n.Attrs["value"]
		if a == nil || a.Tensor == nil || len(n.Attrs) != 1 {
			continue
		}
		if _, taken := o.g.Initializers[n.Outputs[0]]; taken || o.isGraphOutput(n.Outputs[0]) {
			continue
		}
		o.g.AddInitializer(n.Outputs[0], a.Tensor)
		dead[n] = true
	}
	o.drop(dead)
}

// constantOfShapeToInitializers evaluates ConstantOfShape nodes whose
// shape is an initializer (models that ship their weights as such, like
// the ONNX zoo's "light" variants), so that the passes below see the
// weights and can fold BatchNormalization and fuse activations.
func (o *optimizer) constantOfShapeToInitializers() {
	dead := map[*graph.Node]bool{}
	for _, n := range o.g.Nodes {
		if n.OpType != "ConstantOfShape" || n.Domain != "" || len(n.Inputs) != 1 || len(n.Outputs) != 1 {
			continue
		}
		shape, ok := o.g.Initializers[n.Inputs[0]]
		if !ok || shape.DType != tensor.Int64 || len(shape.Shape) != 1 {
			continue
		}
		name := n.Outputs[0]
		if _, taken := o.g.Initializers[name]; taken || o.isGraphOutput(name) {
			continue
		}
		value := tensor.Float32s([]int{1}, []float32{0})
		if a := n.Attrs["value"]; a != nil {
			if a.Tensor == nil || a.Tensor.Len() != 1 {
				continue
			}
			value = a.Tensor
		}
		dims := make([]int, shape.Len())
		for i, d := range shape.I64() {
			if d < 0 || d > math.MaxInt32 {
				dims = nil
				break
			}
			dims[i] = int(d)
		}
		if dims == nil {
			continue
		}
		t, err := tensor.Make(value.DType, dims)
		if err != nil {
			continue
		}
		if t.Len() > 0 {
			fill(t.Data, value.Data)
		}
		o.g.AddInitializer(name, t)
		dead[n] = true
	}
	o.drop(dead)
	o.unsqueezeInitializers()
}

// unsqueezeInitializers turns Unsqueeze nodes of an initializer (how
// caffe2 exports shape its per-channel scales) into initializers of the
// new shape, sharing the data.
func (o *optimizer) unsqueezeInitializers() {
	dead := map[*graph.Node]bool{}
	for _, n := range o.g.Nodes {
		if n.OpType != "Unsqueeze" || n.Domain != "" || len(n.Inputs) == 0 || len(n.Outputs) != 1 {
			continue
		}
		x, ok := o.g.Initializers[n.Inputs[0]]
		name := n.Outputs[0]
		if _, taken := o.g.Initializers[name]; !ok || taken || o.isGraphOutput(name) {
			continue
		}
		var axes []int64
		if a := n.Attrs["axes"]; a != nil {
			axes = a.Ints
		} else if len(n.Inputs) > 1 {
			at, ok := o.g.Initializers[n.Inputs[1]]
			if !ok || at.DType != tensor.Int64 {
				continue
			}
			axes = at.I64()
		}
		r := len(x.Shape) + len(axes)
		one := make([]bool, r)
		valid := len(axes) > 0
		for _, a := range axes {
			if a < 0 {
				a += int64(r)
			}
			if a < 0 || a >= int64(r) || one[a] {
				valid = false
				break
			}
			one[a] = true
		}
		if !valid {
			continue
		}
		shape := make([]int, 0, r)
		j := 0
		for i := 0; i < r; i++ {
			if one[i] {
				shape = append(shape, 1)
			} else {
				shape = append(shape, x.Shape[j])
				j++
			}
		}
		o.g.AddInitializer(name, &tensor.Tensor{DType: x.DType, Shape: shape, Data: x.Data})
		dead[n] = true
	}
	o.drop(dead)
}

// fill sets every element of the slice dst to the single element of the
// slice v (of the same type).
func fill(dst, v any) {
	switch d := dst.(type) {
	case []float32:
		x := v.([]float32)[0]
		for i := range d {
			d[i] = x
		}
	case []int64:
		x := v.([]int64)[0]
		for i := range d {
			d[i] = x
		}
	default:
		dv, x := reflect.ValueOf(dst), reflect.ValueOf(v).Index(0)
		if x.IsZero() {
			return // Make returned zeros
		}
		for i := 0; i < dv.Len(); i++ {
			dv.Index(i).Set(x)
		}
	}
}

// removeIdentities drops Identity nodes and inference-mode Dropout whose mask
// is unused, rewiring readers to the original value.
func (o *optimizer) removeIdentities() {
	if o.usesSubgraphs() {
		return
	}
	dead := map[*graph.Node]bool{}
	for _, n := range o.g.Nodes {
		if n.Domain != "" || len(n.Inputs) == 0 || n.Inputs[0] == "" {
			continue
		}
		switch n.OpType {
		case "Identity":
		case "Dropout":
			// Only without a mask output and not in training mode.
			if len(n.Outputs) > 1 && n.Outputs[1] != "" {
				continue
			}
			if len(n.Inputs) > 2 && n.Inputs[2] != "" {
				continue
			}
		default:
			continue
		}
		if o.isGraphOutput(n.Outputs[0]) {
			continue
		}
		o.rename(n.Outputs[0], n.Inputs[0])
		dead[n] = true
	}
	o.drop(dead)
}

// producers maps each value to the node that outputs it.
func (o *optimizer) producers() map[string]*graph.Node {
	p := map[string]*graph.Node{}
	for _, n := range o.g.Nodes {
		for _, out := range n.Outputs {
			p[out] = n
		}
	}
	return p
}

// consumers maps each value to the nodes that read it (subgraphs' reads
// included).
func (o *optimizer) consumers() map[string][]*graph.Node {
	c := map[string][]*graph.Node{}
	for _, n := range o.g.Nodes {
		for _, in := range n.AllInputs() {
			c[in] = append(c[in], n)
		}
	}
	return c
}

func (o *optimizer) constF32(name string) []float32 {
	t, ok := o.g.Initializers[name]
	if !ok || t.DType != tensor.Float32 {
		return nil
	}
	return t.F32()
}

func (o *optimizer) newInit(base string, t *tensor.Tensor) string {
	for {
		o.uniq++
		name := fmt.Sprintf("%s_edgedl%d", base, o.uniq)
		if _, taken := o.g.Initializers[name]; !taken {
			o.g.AddInitializer(name, t)
			return name
		}
	}
}

// foldConvBatchNorm rewrites Conv -> BatchNormalization (inference) into one
// Conv with scaled weights and a new bias:
// W' = W * g/sqrt(v+eps) per output channel, b' = (b-m)*g/sqrt(v+eps) + beta.
func (o *optimizer) foldConvBatchNorm() {
	cons := o.consumers()
	dead := map[*graph.Node]bool{}
	for _, bn := range o.g.Nodes {
		if bn.OpType != "BatchNormalization" || bn.Domain != "" || len(bn.Inputs) < 5 {
			continue
		}
		if bn.Attrs["training_mode"] != nil && bn.Attrs["training_mode"].Int != 0 {
			continue
		}
		if len(bn.Outputs) > 1 {
			extra := false
			for _, out := range bn.Outputs[1:] {
				extra = extra || out != ""
			}
			if extra {
				continue
			}
		}
		x := bn.Inputs[0]
		var conv *graph.Node
		for _, n := range o.g.Nodes {
			if len(n.Outputs) > 0 && n.Outputs[0] == x && n.OpType == "Conv" && n.Domain == "" {
				conv = n
			}
		}
		if conv == nil || len(cons[x]) != 1 || o.isGraphOutput(x) || len(conv.Inputs) < 2 {
			continue
		}
		if conv.Attrs[AttrActivation] != nil {
			continue
		}
		w := o.g.Initializers[conv.Inputs[1]]
		scale, bias, mean, variance := o.constF32(bn.Inputs[1]), o.constF32(bn.Inputs[2]), o.constF32(bn.Inputs[3]), o.constF32(bn.Inputs[4])
		if w == nil || w.DType != tensor.Float32 || scale == nil || bias == nil || mean == nil || variance == nil || len(w.Shape) < 2 {
			continue
		}
		cout := w.Shape[0]
		if len(scale) != cout || len(bias) != cout || len(mean) != cout || len(variance) != cout {
			continue
		}
		var oldB []float32
		if len(conv.Inputs) > 2 && conv.Inputs[2] != "" {
			if oldB = o.constF32(conv.Inputs[2]); oldB == nil || len(oldB) != cout {
				continue
			}
		}
		eps := float32(1e-5)
		if a := bn.Attrs["epsilon"]; a != nil {
			eps = a.Float
		}
		nw := w.Clone()
		per := nw.Len() / cout
		nb := make([]float32, cout)
		for c := 0; c < cout; c++ {
			f := scale[c] / float32(math.Sqrt(float64(variance[c]+eps)))
			row := nw.F32()[c*per : (c+1)*per]
			for i := range row {
				row[i] *= f
			}
			b := float32(0)
			if oldB != nil {
				b = oldB[c]
			}
			nb[c] = (b-mean[c])*f + bias[c]
		}
		conv.Inputs = append(conv.Inputs[:0:0], conv.Inputs[0], o.newInit(conv.Inputs[1], nw), o.newInit(conv.Inputs[1]+"_bias", tensor.Float32s([]int{cout}, nb)))
		conv.Outputs[0] = bn.Outputs[0]
		dead[bn] = true
	}
	o.drop(dead)
}

// foldConvAffine folds a Mul or Add by a per-channel constant that is the
// only reader of a Conv's output into the Conv's weights and bias (a
// BatchNormalization exported as Mul and Add, as caffe2 models have):
// Mul by s gives W' = W·s[m], b' = b·s[m]; Add of t gives b' = b + t[m].
// Chains (Mul then Add) fold one node at a time.
func (o *optimizer) foldConvAffine() {
	for {
		cons := o.consumers()
		prod := o.producers()
		dead := map[*graph.Node]bool{}
		for _, op := range o.g.Nodes {
			if (op.OpType != "Mul" && op.OpType != "Add") || op.Domain != "" || len(op.Inputs) != 2 || len(op.Outputs) != 1 {
				continue
			}
			for side := 0; side < 2; side++ {
				x, cname := op.Inputs[side], op.Inputs[1-side]
				conv := prod[x]
				if conv == nil || conv.OpType != "Conv" || conv.Domain != "" || len(conv.Outputs) != 1 || dead[conv] ||
					len(cons[x]) != 1 || o.isGraphOutput(x) || conv.Attrs[AttrActivation] != nil || len(conv.Inputs) < 2 {
					continue
				}
				if o.foldAffineInto(conv, op.OpType == "Mul", cname) {
					conv.Outputs[0] = op.Outputs[0]
					dead[op] = true
					break
				}
			}
		}
		if len(dead) == 0 {
			return
		}
		o.drop(dead)
	}
}

// foldAffineInto multiplies (mul) or offsets conv's output channels by the
// constant named c, if it is a float32 initializer that varies only along
// the channel axis, by rewriting the weights and bias.
func (o *optimizer) foldAffineInto(conv *graph.Node, mul bool, c string) bool {
	w := o.g.Initializers[conv.Inputs[1]]
	ct := o.g.Initializers[c]
	if w == nil || ct == nil || w.DType != tensor.Float32 || ct.DType != tensor.Float32 || len(w.Shape) < 3 {
		return false
	}
	m, r := w.Shape[0], len(w.Shape)
	if len(ct.Shape) > r || (ct.Len() != 1 && ct.Len() != m) {
		return false
	}
	for i, d := range ct.Shape {
		if axis := r - len(ct.Shape) + i; d != 1 && axis != 1 {
			return false // varies along another axis than the channels
		}
	}
	cv := ct.F32()
	at := func(ch int) float32 {
		if len(cv) == 1 {
			return cv[0]
		}
		return cv[ch]
	}
	var oldB []float32
	if len(conv.Inputs) > 2 && conv.Inputs[2] != "" {
		if oldB = o.constF32(conv.Inputs[2]); oldB == nil || len(oldB) != m {
			return false
		}
	}
	nb := make([]float32, m)
	copy(nb, oldB)
	wName := conv.Inputs[1]
	if mul {
		nw := w.Clone()
		per := nw.Len() / m
		for ch := 0; ch < m; ch++ {
			f := at(ch)
			row := nw.F32()[ch*per : (ch+1)*per]
			for i := range row {
				row[i] *= f
			}
			nb[ch] *= f
		}
		wName = o.newInit(conv.Inputs[1], nw)
	} else {
		for ch := range nb {
			nb[ch] += at(ch)
		}
	}
	conv.Inputs = append(conv.Inputs[:0:0], conv.Inputs[0], wName, o.newInit(conv.Inputs[1]+"_bias", tensor.Float32s([]int{m}, nb)))
	return true
}

// fuseConvResidual folds an Add (or two-input Sum) of a Conv's output and
// another computed value into the Conv (input 3, AttrResidual): the
// residual connection of ResNet-style blocks. The product then
// accumulates onto the residual, and fuseActivations can fold a following
// Relu into the same epilogue, so Conv -> Add -> Relu is one pass over the
// output instead of three. The Conv moves to the Add's place in the node
// order, where both of its inputs are computed.
func (o *optimizer) fuseConvResidual() {
	cons := o.consumers()
	prod := o.producers()
	moved := map[*graph.Node]*graph.Node{} // Add -> the Conv that replaces it
	dead := map[*graph.Node]bool{}
	for _, add := range o.g.Nodes {
		if (add.OpType != "Add" && add.OpType != "Sum") || add.Domain != "" || len(add.Inputs) != 2 || len(add.Outputs) != 1 {
			continue
		}
		for side := 0; side < 2; side++ {
			x, other := add.Inputs[side], add.Inputs[1-side]
			conv := prod[x]
			if conv == nil || conv.OpType != "Conv" || conv.Domain != "" || len(conv.Outputs) != 1 || dead[conv] ||
				len(conv.Inputs) < 2 || len(conv.Inputs) > 3 || len(cons[x]) != 1 || o.isGraphOutput(x) ||
				conv.Attrs[AttrActivation] != nil || other == x || other == "" {
				continue
			}
			if _, isConst := o.g.Initializers[other]; isConst {
				continue // constants are folded into the bias, or stay an Add
			}
			if _, ok := o.g.Initializers[conv.Inputs[1]]; !ok {
				continue // only packed weights take the fused path
			}
			if a := conv.Attrs["group"]; a != nil && a.Int != 1 {
				continue // grouped products add the residual in a pass: no gain
			}
			b := ""
			if len(conv.Inputs) > 2 {
				b = conv.Inputs[2]
			}
			conv.Inputs = []string{conv.Inputs[0], conv.Inputs[1], b, other}
			if conv.Attrs == nil {
				conv.Attrs = map[string]*graph.Attr{}
			}
			conv.Attrs[AttrResidual] = &graph.Attr{Name: AttrResidual, Type: graph.AttrInt, Int: 1}
			conv.Outputs[0] = add.Outputs[0]
			moved[add] = conv
			dead[conv] = true
			break
		}
	}
	if len(moved) == 0 {
		return
	}
	kept := o.g.Nodes[:0]
	for _, n := range o.g.Nodes {
		switch {
		case moved[n] != nil:
			kept = append(kept, moved[n])
		case !dead[n]:
			kept = append(kept, n)
		}
	}
	o.g.Nodes = kept
}

// bnInference reports a BatchNormalization in inference mode with one
// output and per-channel statistics (not opset < 9's spatial = 0).
func bnInference(bn *graph.Node) bool {
	if bn.OpType != "BatchNormalization" || bn.Domain != "" || len(bn.Inputs) != 5 || len(bn.Outputs) == 0 {
		return false
	}
	if a := bn.Attrs["training_mode"]; a != nil && a.Int != 0 {
		return false
	}
	if a := bn.Attrs["spatial"]; a != nil && a.Int == 0 {
		return false
	}
	for _, out := range bn.Outputs[1:] {
		if out != "" {
			return false
		}
	}
	return true
}

// foldBatchNormAffine folds a Mul or Add by a per-channel constant that is
// the only reader of an inference BatchNormalization's output into the
// normalisation's scale and bias (DenseNet's BatchNormalization -> Mul ->
// Add -> Relu before each Conv, as caffe2 exports it): Mul by c gives
// scale' = scale·c, B' = B·c; Add of c gives B' = B + c. Chains fold one
// node at a time; fuseActivations then folds the Relu, so the chain is one
// pass over the tensor instead of four.
//
// Whether a constant varies only along the channel axis depends on the
// rank of the normalised tensor, which the graph does not declare; it is
// derived from the producers (see rankOf), and nothing is folded where it
// is unknown.
func (o *optimizer) foldBatchNormAffine() {
	prod := o.producers()
	ranks := map[string]int{}
	for {
		cons := o.consumers()
		dead := map[*graph.Node]bool{}
		for _, bn := range o.g.Nodes {
			if dead[bn] || !bnInference(bn) || bn.Attrs[AttrActivation] != nil {
				continue
			}
			y := bn.Outputs[0]
			if len(cons[y]) != 1 || o.isGraphOutput(y) {
				continue
			}
			op := cons[y][0]
			if (op.OpType != "Mul" && op.OpType != "Add") || op.Domain != "" || len(op.Inputs) != 2 || len(op.Outputs) != 1 || dead[op] {
				continue
			}
			cname := op.Inputs[1]
			if op.Inputs[1] == y {
				cname = op.Inputs[0]
			}
			if cname == y {
				continue
			}
			scale, bias := o.g.Initializers[bn.Inputs[1]], o.g.Initializers[bn.Inputs[2]]
			ct := o.g.Initializers[cname]
			if scale == nil || bias == nil || ct == nil || scale.DType != tensor.Float32 || bias.DType != tensor.Float32 ||
				ct.DType != tensor.Float32 || scale.Len() != bias.Len() {
				continue
			}
			c := scale.Len()
			r := o.rankOf(bn.Inputs[0], prod, ranks, 0)
			if r < 2 || !perChannel(ct, r, c) {
				continue
			}
			at := func(ch int) float32 {
				if ct.Len() == 1 {
					return ct.F32()[0]
				}
				return ct.F32()[ch]
			}
			ns, nb := scale.Clone(), bias.Clone()
			for ch := 0; ch < c; ch++ {
				if op.OpType == "Mul" {
					ns.F32()[ch] *= at(ch)
					nb.F32()[ch] *= at(ch)
				} else {
					nb.F32()[ch] += at(ch)
				}
			}
			bn.Inputs = append(bn.Inputs[:0:0], bn.Inputs[0], o.newInit(bn.Inputs[1], ns), o.newInit(bn.Inputs[2], nb), bn.Inputs[3], bn.Inputs[4])
			bn.Outputs[0] = op.Outputs[0]
			prod[op.Outputs[0]] = bn
			dead[op] = true
		}
		if len(dead) == 0 {
			return
		}
		o.drop(dead)
	}
}

// perChannel reports whether the constant ct broadcasts against a tensor
// of rank r with c channels (axis 1) as a per-channel (or single) value
// without changing the tensor's shape.
func perChannel(ct *tensor.Tensor, r, c int) bool {
	if len(ct.Shape) > r || (ct.Len() != 1 && ct.Len() != c) {
		return false
	}
	for i, d := range ct.Shape {
		if axis := r - len(ct.Shape) + i; d != 1 && (axis != 1 || d != c) {
			return false
		}
	}
	return true
}

// rankOf returns the rank of value name as its producers determine it
// (Conv: its weights' rank; pooling: kernel_shape + 2; rank-preserving
// ops: their input's; a graph input: its declared shape), or -1.
func (o *optimizer) rankOf(name string, prod map[string]*graph.Node, memo map[string]int, depth int) int {
	if r, ok := memo[name]; ok {
		return r
	}
	r := -1
	p := prod[name]
	switch {
	case depth > 1000:
		return -1
	case p == nil:
		for _, v := range o.g.Inputs {
			if v.Name == name && v.HasShape {
				r = len(v.Shape)
			}
		}
	case p.Domain != "":
	case p.OpType == "Conv" && len(p.Inputs) > 1:
		if w := o.g.Initializers[p.Inputs[1]]; w != nil {
			r = len(w.Shape)
		}
	case p.OpType == "MaxPool" || p.OpType == "AveragePool" || p.OpType == "LpPool":
		if a := p.Attrs["kernel_shape"]; a != nil && len(a.Ints) > 0 {
			r = len(a.Ints) + 2
		}
	case p.OpType == "Concat" || p.OpType == "Relu" || p.OpType == "BatchNormalization" || p.OpType == "Clip" ||
		p.OpType == "LeakyRelu" || p.OpType == "Sigmoid" || p.OpType == "Dropout" || p.OpType == "Identity":
		if len(p.Inputs) > 0 && p.Inputs[0] != "" {
			r = o.rankOf(p.Inputs[0], prod, memo, depth+1)
		}
	}
	memo[name] = r
	return r
}

// fuseActivations folds an activation that is the only reader of a Conv or
// Gemm output into that node's epilogue, and a Relu or Clip after an Add or
// Sum into that node (its sum is clamped as it is stored).
func (o *optimizer) fuseActivations() {
	cons := o.consumers()
	prod := o.producers()
	dead := map[*graph.Node]bool{}
	for _, act := range o.g.Nodes {
		if act.Domain != "" || len(act.Inputs) == 0 {
			continue
		}
		kind, alpha, beta, ok := o.activation(act)
		if !ok {
			continue
		}
		x := act.Inputs[0]
		p := prod[x]
		if p == nil || p.Domain != "" || len(p.Outputs) != 1 {
			continue
		}
		// Conv and Gemm (package kernels/nn) take any activation; Add and
		// Sum (kernels/elementwise: residual blocks) a Relu or a Clip.
		clampKind := kind == "Relu" || kind == "Clip"
		sum := (p.OpType == "Add" || p.OpType == "Sum") && clampKind
		// an inference BatchNormalization (kernels/nn) applies a Relu or
		// Clip in its pass: y = act(x·a + b)
		bn := p.OpType == "BatchNormalization" && clampKind && bnInference(p)
		if p.OpType != "Conv" && p.OpType != "Gemm" && !sum && !bn {
			continue
		}
		if len(cons[x]) != 1 || o.isGraphOutput(x) || p.Attrs[AttrActivation] != nil || dead[p] {
			continue
		}
		p.Attrs[AttrActivation] = &graph.Attr{Name: AttrActivation, Type: graph.AttrString, String: kind}
		p.Attrs[AttrActivationAlpha] = &graph.Attr{Name: AttrActivationAlpha, Type: graph.AttrFloat, Float: alpha}
		p.Attrs[AttrActivationBeta] = &graph.Attr{Name: AttrActivationBeta, Type: graph.AttrFloat, Float: beta}
		p.Outputs[0] = act.Outputs[0]
		dead[act] = true
	}
	o.drop(dead)
}

// activation recognises a fusable activation node and its parameters.
func (o *optimizer) activation(n *graph.Node) (kind string, alpha, beta float32, ok bool) {
	attr := func(name string, def float32) float32 {
		if a := n.Attrs[name]; a != nil {
			return a.Float
		}
		return def
	}
	switch n.OpType {
	case "Relu":
		return "Relu", 0, 0, true
	case "LeakyRelu":
		return "LeakyRelu", attr("alpha", 0.01), 0, true
	case "Sigmoid":
		return "Sigmoid", 0, 0, true
	case "HardSwish":
		return "HardSwish", 0, 0, true
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if n.Attrs["min"] != nil || n.Attrs["max"] != nil {
			lo, hi = attr("min", lo), attr("max", hi)
		}
		for i, name := range n.Inputs[1:] {
			if name == "" {
				continue
			}
			t, isConst := o.g.Initializers[name]
			if !isConst || t.DType != tensor.Float32 || t.Len() != 1 {
				return "", 0, 0, false
			}
			if i == 0 {
				lo = t.F32()[0]
			} else {
				hi = t.F32()[0]
			}
		}
		return "Clip", lo, hi, true
	}
	return "", 0, 0, false
}

// fuseConcatConv replaces a Concat along axis 1 whose every input is the
// only output of a Conv read by nothing else (SqueezeNet's Fire modules,
// Inception's branches) by one edgedl.ConcatConv node (package kernels/nn)
// that runs the convolutions straight into their channel slices of the
// output: the Concat's copy disappears. The Convs' attributes (with any
// fused activation) move to the new node under a per-branch prefix.
func (o *optimizer) fuseConcatConv() {
	cons := o.consumers()
	prod := o.producers()
	dead := map[*graph.Node]bool{}
	for _, cat := range o.g.Nodes {
		if cat.Domain != "" || cat.OpType != "Concat" || len(cat.Inputs) < 2 || len(cat.Outputs) != 1 {
			continue
		}
		if a := cat.Attrs["axis"]; a == nil || a.Int != 1 {
			continue
		}
		var convs []*graph.Node
		seen := map[string]bool{}
		for _, in := range cat.Inputs {
			p := prod[in]
			if in == "" || seen[in] || p == nil || p.Domain != "" || p.OpType != "Conv" || len(p.Outputs) != 1 ||
				len(p.Inputs) < 2 || len(p.Inputs) > 3 || len(cons[in]) != 1 || o.isGraphOutput(in) || dead[p] {
				convs = nil
				break
			}
			seen[in] = true
			convs = append(convs, p)
		}
		if convs == nil {
			continue
		}
		attrs := map[string]*graph.Attr{
			"branches": {Name: "branches", Type: graph.AttrInt, Int: int64(len(convs))},
		}
		var inputs []string
		for i, c := range convs {
			for name, a := range c.Attrs {
				pre := nn.ConcatConvPrefix(i) + name
				b := *a
				b.Name = pre
				attrs[pre] = &b
			}
			ins := append([]string(nil), c.Inputs...)
			for len(ins) < 3 {
				ins = append(ins, "")
			}
			inputs = append(inputs, ins...)
			dead[c] = true
		}
		cat.Domain, cat.OpType = nn.FusedDomain, "ConcatConv"
		cat.Inputs, cat.Attrs = inputs, attrs
	}
	o.drop(dead)
}
