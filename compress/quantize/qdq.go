package quantize

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// How a node is quantised.
type kind int

const (
	kindFloat kind = iota
	// A Conv/Gemm/MatMul with constant weights: input and output
	// activations get Q/DQ, weights and bias a DequantizeLinear.
	kindWeighted
	// Data movement and max pooling: the output is quantised with the
	// input's scale and zero point, so the op runs on the integers.
	kindSame
	// Other ops with an integer form: every float activation input and
	// the output get Q/DQ with their own calibrated parameters.
	kindOwn
)

var sameOps = map[string]bool{"MaxPool": true, "Flatten": true, "Reshape": true, "Squeeze": true, "Unsqueeze": true, "Transpose": true}

var ownOps = map[string]bool{
	"Add": true, "Mul": true, "Sub": true, "Concat": true, "AveragePool": true, "GlobalAveragePool": true,
	"Relu": true, "Clip": true, "LeakyRelu": true, "Sigmoid": true, "HardSigmoid": true, "HardSwish": true,
}

// Name suffixes, as ONNX Runtime's quantizer writes them.
const (
	sufQOut   = "_QuantizeLinear_Output"
	sufQIn    = "_QuantizeLinear_Input"
	sufDQOut  = "_DequantizeLinear_Output"
	sufScale  = "_scale"
	sufZero   = "_zero_point"
	sufQuant  = "_quantized"
	sufQNode  = "_QuantizeLinear"
	sufDQNode = "_DequantizeLinear"
)

// qp is the quantisation of one activation tensor.
type qp struct {
	scaleName, zeroName string
	scale               float32
	zero                int32
}

func (c *Calibration) classify(g *graph.Graph, n *graph.Node) kind {
	if graph.NormalizeDomain(n.Domain) != "" || len(n.Outputs) == 0 {
		return kindFloat
	}
	if _, ok := c.ranges[n.Outputs[0]]; !ok {
		return kindFloat
	}
	if _, ok := gx.AsWeightLayer(g, n); ok {
		if c.quantizable(n) {
			return kindWeighted
		}
		return kindFloat
	}
	if sameOps[n.OpType] && len(n.Outputs) == 1 {
		if _, ok := c.ranges[n.Inputs[0]]; ok {
			return kindSame
		}
		return kindFloat
	}
	if ownOps[n.OpType] && len(n.Outputs) == 1 {
		for _, in := range c.actInputs(g, n) {
			if _, ok := c.ranges[in]; ok {
				return kindOwn
			}
		}
	}
	return kindFloat
}

// actInputs lists the inputs of n that may carry activations.
func (c *Calibration) actInputs(g *graph.Graph, n *graph.Node) []string {
	var out []string
	for i, in := range n.Inputs {
		if in == "" {
			continue
		}
		if _, isInit := g.Initializers[in]; isInit {
			continue
		}
		if (n.OpType == "Clip" || sameOps[n.OpType]) && i > 0 {
			continue
		}
		out = append(out, in)
	}
	return out
}

// QDQ builds the quantised model: a standard QDQ graph in the layout ONNX
// Runtime's static quantizer writes (QuantizeLinear/DequantizeLinear pairs
// on activations, DequantizeLinear on int8 weights with per-channel scales
// and on int32 biases with scale x_scale*w_scale), which edgedl runs as
// integer kernels. The named nodes, and Options.FloatLayers, stay in float.
func (c *Calibration) QDQ(floatLayers ...string) (*graph.Model, error) {
	keep := map[string]bool{}
	names := map[string]bool{}
	for _, n := range c.model.Graph.Nodes {
		names[n.Name] = true
	}
	for _, l := range append(append([]string{}, c.opts.FloatLayers...), floatLayers...) {
		if !names[l] {
			return nil, fmt.Errorf("quantize: no node named %q to keep in float", l)
		}
		keep[l] = true
	}
	return c.build(func(n *graph.Node) bool { return !keep[n.Name] }, true)
}

// build writes the QDQ model quantising the nodes that sel accepts.
func (c *Calibration) build(sel func(*graph.Node) bool, warn bool) (*graph.Model, error) {
	m := gx.Clone(c.model)
	g := m.Graph
	adt := c.opts.Activations
	qmin, _ := qLimits(adt)

	kinds := map[*graph.Node]kind{}
	floatOps := map[string]int{}
	for _, n := range g.Nodes {
		k := c.classify(g, n)
		if k == kindFloat {
			for _, in := range n.Inputs {
				if _, ok := c.ranges[in]; ok && in != "" {
					floatOps[n.OpType]++
					break
				}
			}
			continue
		}
		if sel(n) {
			kinds[n] = k
		}
	}

	// A Relu, or Clip(0, max), after a quantised node is implied by the
	// QuantizeLinear of its range when that range starts at zero (the zero
	// point is the type's minimum): remove it, as ONNX Runtime does.
	prod := gx.Producers(g)
	cons := gx.Consumers(g)
	removed := map[*graph.Node]bool{}
	for _, n := range g.Nodes {
		if kinds[n] != kindOwn || !c.removableActivation(g, n) {
			continue
		}
		x := n.Inputs[0]
		p := prod[x]
		if p == nil || removed[p] || (kinds[p] != kindWeighted && kinds[p] != kindOwn) || len(cons[x]) != 1 || gx.IsOutput(g, x) {
			continue
		}
		if _, zp := actParams(c.ranges[n.Outputs[0]], adt); zp != qmin {
			continue
		}
		delete(g.ValueInfo, x)
		p.Outputs[0] = n.Outputs[0]
		removed[n] = true
		delete(kinds, n)
	}
	if len(removed) > 0 {
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			if !removed[n] {
				kept = append(kept, n)
			}
		}
		g.Nodes = kept
	}

	// Activation tensors to quantise, in order of definition.
	var order []string
	need := map[string]bool{}
	alias := map[string]string{}
	add := func(t string) {
		if _, ok := c.ranges[t]; !ok || need[t] || t == "" {
			return
		}
		if _, isInit := g.Initializers[t]; isInit || (gx.IsInput(g, t) && gx.IsOutput(g, t)) {
			return
		}
		need[t] = true
		order = append(order, t)
	}
	for _, n := range g.Nodes {
		switch kinds[n] {
		case kindWeighted, kindSame:
			add(n.Inputs[0])
			if kinds[n] == kindSame && need[n.Inputs[0]] {
				alias[n.Outputs[0]] = n.Inputs[0]
			}
			add(n.Outputs[0])
		case kindOwn:
			for _, in := range c.actInputs(g, n) {
				add(in)
			}
			add(n.Outputs[0])
		}
	}
	params := map[string]qp{}
	for _, t := range order {
		if a, ok := alias[t]; ok {
			params[t] = params[a]
			continue
		}
		s, z := actParams(c.ranges[t], adt)
		p := qp{scaleName: gx.Unique(g, t+sufScale), zeroName: gx.Unique(g, t+sufZero), scale: s, zero: z}
		g.AddInitializer(p.scaleName, tensor.Float32s([]int{}, []float32{s}))
		g.AddInitializer(p.zeroName, zeroScalar(adt, z))
		params[t] = p
	}

	// Q/DQ pairs: readers of t read its DequantizeLinear; a graph output
	// keeps its name on the DequantizeLinear and its producer writes
	// t_QuantizeLinear_Input.
	pairs := map[string][]*graph.Node{}
	dqOut := map[string]string{}     // t -> its DequantizeLinear output, for readers
	src := map[string]string{}       // DequantizeLinear output -> t
	emitAfter := map[string]string{} // value a node writes -> t whose pair follows it
	for _, t := range order {
		p := params[t]
		qIn, qOut, dOut := t, gx.Unique(g, t+sufQOut), gx.Unique(g, t+sufDQOut)
		if gx.IsOutput(g, t) {
			qIn = gx.Unique(g, t+sufQIn)
			dOut = t
			if pn := prod[t]; pn != nil {
				for i, o := range pn.Outputs {
					if o == t {
						pn.Outputs[i] = qIn
					}
				}
			}
		} else {
			dqOut[t] = dOut
		}
		src[dOut] = t
		emitAfter[qIn] = t
		pairs[t] = []*graph.Node{
			{Name: t + sufQNode, OpType: "QuantizeLinear", Inputs: []string{qIn, p.scaleName, p.zeroName}, Outputs: []string{qOut}, Attrs: map[string]*graph.Attr{}},
			{Name: t + sufDQNode, OpType: "DequantizeLinear", Inputs: []string{qOut, p.scaleName, p.zeroName}, Outputs: []string{dOut}, Attrs: map[string]*graph.Attr{}},
		}
	}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if d, ok := dqOut[in]; ok {
				n.Inputs[i] = d
			}
		}
	}

	// Weights and biases.
	var weightNodes []*graph.Node
	wcache := map[string]string{}
	wscales := map[string][]float32{}
	for _, n := range g.Nodes {
		if kinds[n] != kindWeighted {
			continue
		}
		l, _ := gx.AsWeightLayer(c.model.Graph, n)
		key := fmt.Sprintf("%s/%d", l.Weight, l.Axis)
		wname, ok := wcache[key]
		if !ok {
			w := g.Initializers[l.Weight]
			q, scales := quantizeWeight(w, l.Axis, c.opts.PerTensorWeights)
			qn := gx.Unique(g, l.Weight+sufQuant)
			sn := gx.Unique(g, l.Weight+sufScale)
			zn := gx.Unique(g, l.Weight+sufZero)
			g.AddInitializer(qn, q)
			shape := []int{len(scales)}
			if c.opts.PerTensorWeights {
				shape = []int{}
			}
			g.AddInitializer(sn, tensor.Float32s(shape, scales))
			zt, _ := tensor.Make(tensor.Int8, shape)
			g.AddInitializer(zn, zt)
			wname = gx.Unique(g, l.Weight+sufDQOut)
			dq := &graph.Node{Name: l.Weight + sufDQNode, OpType: "DequantizeLinear", Inputs: []string{qn, sn, zn}, Outputs: []string{wname}, Attrs: map[string]*graph.Attr{}}
			if !c.opts.PerTensorWeights {
				gx.SetInt(dq, "axis", int64(l.Axis))
			}
			weightNodes = append(weightNodes, dq)
			wcache[key] = wname
			wscales[wname] = scales
		}
		n.Inputs[1] = wname
		if l.Bias == "" || (n.OpType == "Gemm" && (gx.Float(n, "alpha", 1) != 1 || gx.Float(n, "beta", 1) != 1)) {
			continue
		}
		x, ok := src[n.Inputs[0]]
		if !ok {
			continue // input not quantised: the bias stays float
		}
		b := g.Initializers[l.Bias]
		bq, bs := quantizeBias(b, params[x].scale, wscales[wname])
		qn := gx.Unique(g, l.Bias+sufQuant)
		sn := gx.Unique(g, l.Bias+sufQuant+sufScale)
		zn := gx.Unique(g, l.Bias+sufQuant+sufZero)
		g.AddInitializer(qn, bq)
		g.AddInitializer(sn, tensor.Float32s([]int{len(bs)}, bs))
		zt, _ := tensor.Make(tensor.Int32, []int{len(bs)})
		g.AddInitializer(zn, zt)
		out := gx.Unique(g, l.Bias+sufDQOut)
		dq := &graph.Node{Name: gx.Unique(g, l.Bias+sufDQNode), OpType: "DequantizeLinear", Inputs: []string{qn, sn, zn}, Outputs: []string{out}, Attrs: map[string]*graph.Attr{}}
		gx.SetInt(dq, "axis", 0)
		weightNodes = append(weightNodes, dq)
		n.Inputs[2] = out
	}

	// Assemble: weight DQs, graph-input pairs, then each node followed by
	// the pairs of its outputs.
	nodes := append([]*graph.Node{}, weightNodes...)
	for _, v := range g.Inputs {
		nodes = append(nodes, pairs[v.Name]...)
	}
	for _, n := range g.Nodes {
		nodes = append(nodes, n)
		for _, o := range n.Outputs {
			if t, ok := emitAfter[o]; ok {
				nodes = append(nodes, pairs[t]...)
			}
		}
	}
	g.Nodes = nodes
	gx.DropUnusedInitializers(g)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: the QDQ graph is invalid: %w", err)
	}
	if warn {
		for _, op := range sortedKeys(floatOps) {
			c.opts.Logger.Warn("quantize: operator kept in float (no integer form, or non-constant weights)", "op", op, "nodes", floatOps[op])
		}
	}
	if m.Metadata == nil {
		m.Metadata = map[string]string{}
	}
	w := "per-channel"
	if c.opts.PerTensorWeights {
		w = "per-tensor"
	}
	m.Metadata["edgedl.quantize"] = fmt.Sprintf("static QDQ, %v calibration, %v activations, %s int8 weights", c.opts.Method, adt, w)
	return m, nil
}

// removableActivation reports whether n is Relu, or Clip with a lower
// bound of exactly 0 and an upper bound no lower than the calibrated
// maximum of its output.
func (c *Calibration) removableActivation(g *graph.Graph, n *graph.Node) bool {
	switch n.OpType {
	case "Relu":
		return true
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if a := n.Attrs["min"]; a != nil {
			lo = a.Float
		}
		if a := n.Attrs["max"]; a != nil {
			hi = a.Float
		}
		for i := 1; i < len(n.Inputs) && i < 3; i++ {
			if n.Inputs[i] == "" {
				continue
			}
			t := gx.ConstF32(g, n.Inputs[i])
			if t == nil || t.Len() != 1 {
				return false
			}
			if i == 1 {
				lo = t.F32()[0]
			} else {
				hi = t.F32()[0]
			}
		}
		return lo == 0 && hi >= c.ranges[n.Outputs[0]].Max
	}
	return false
}

func zeroScalar(dt tensor.DType, z int32) *tensor.Tensor {
	if dt == tensor.Uint8 {
		return &tensor.Tensor{DType: tensor.Uint8, Shape: []int{}, Data: []uint8{uint8(z)}}
	}
	return &tensor.Tensor{DType: tensor.Int8, Shape: []int{}, Data: []int8{int8(z)}}
}

// quantizeWeight quantises w symmetrically to int8 in [-127, 127] with one
// scale per index of axis (or one for the tensor): scale = max|w|/127,
// computed as ONNX Runtime does (range in float32, division in float64),
// q = round_half_even(w/scale).
func quantizeWeight(w *tensor.Tensor, axis int, perTensor bool) (*tensor.Tensor, []float32) {
	outer, ch, inner := splitAxis(w.Shape, axis)
	if perTensor {
		outer, ch, inner = 1, 1, w.Len()
	}
	v := w.F32()
	absmax := make([]float32, ch)
	for o := 0; o < outer; o++ {
		for c := 0; c < ch; c++ {
			for _, x := range v[(o*ch+c)*inner : (o*ch+c+1)*inner] {
				absmax[c] = max(absmax[c], float32(math.Abs(float64(x))))
			}
		}
	}
	scales := make([]float32, ch)
	for c, a := range absmax {
		s := float64(a+a) / 254
		if s < 0x1p-126 {
			s = 1
		}
		scales[c] = float32(s)
	}
	q := make([]int8, len(v))
	for o := 0; o < outer; o++ {
		for c := 0; c < ch; c++ {
			base := (o*ch + c) * inner
			for i, x := range v[base : base+inner] {
				r := math.RoundToEven(float64(x / scales[c]))
				q[base+i] = int8(max(-127, min(127, r)))
			}
		}
	}
	return &tensor.Tensor{DType: tensor.Int8, Shape: append([]int{}, w.Shape...), Data: q}, scales
}

// splitAxis views a shape as [outer, shape[axis], inner].
func splitAxis(shape []int, axis int) (outer, ch, inner int) {
	outer, inner = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= d
		case i > axis:
			inner *= d
		}
	}
	return outer, shape[axis], inner
}

// quantizeBias quantises a bias to int32 with scale x_scale*w_scale[c]
// (float32 product), q = round_half_even(b/scale), saturated.
func quantizeBias(b *tensor.Tensor, xs float32, ws []float32) (*tensor.Tensor, []float32) {
	v := b.F32()
	q := make([]int32, len(v))
	scales := make([]float32, len(v))
	for c, x := range v {
		s := xs * ws[0]
		if len(ws) > 1 {
			s = xs * ws[c]
		}
		if s == 0 {
			s = 1
		}
		scales[c] = s
		r := math.RoundToEven(float64(x / s))
		q[c] = int32(max(math.MinInt32, min(math.MaxInt32, r)))
	}
	return &tensor.Tensor{DType: tensor.Int32, Shape: []int{len(v)}, Data: q}, scales
}

// Static calibrates m on data and returns the QDQ model (see
// Calibration.QDQ). With opts.KeepFloat > 0 it first ranks the weight
// layers by Sensitivity and keeps the most sensitive in float.
func Static(m *graph.Model, data []compress.Batch, opts Options) (*graph.Model, error) {
	c, err := Calibrate(m, data, opts)
	if err != nil {
		return nil, err
	}
	var keep []string
	if c.opts.KeepFloat > 0 {
		sd := c.opts.SensitivityData
		if sd == nil {
			sd = data
		}
		sens, err := c.Sensitivity(sd)
		if err != nil {
			return nil, err
		}
		for i := 0; i < c.opts.KeepFloat && i < len(sens); i++ {
			keep = append(keep, sens[i].Node)
		}
	}
	return c.QDQ(keep...)
}
