package qat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/compress/quantize"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// Options configure Prepare.
type Options struct {
	// Activations is the type of quantised activations: tensor.Int8
	// (default) or tensor.Uint8.
	Activations tensor.DType
	// Method calibrates the initial activation ranges (default MinMax).
	Method quantize.Method
	// Momentum is the weight of each training batch in the moving average
	// of an activation's range (default 0.01, PyTorch's observers').
	Momentum float64
	// Threads for calibration (0: one per CPU).
	Threads int
	// Logger receives the quantizer's warnings (operators kept in float)
	// when the model is exported; nil means slog.Default().
	Logger *slog.Logger
}

// Model is a float model prepared for quantisation-aware training: the
// training graph with fake quantisers where the exported QDQ model will
// quantise, and what Export needs to write that model.
type Model struct {
	float *graph.Model // prepared float model (BatchNorm folded, nodes named)
	train *graph.Model // float with fake quantisers
	// ranges are the calibrated ranges of every float activation; acts
	// maps each fake-quantised activation to its range initializer.
	ranges  map[string]quantize.Range
	acts    map[string]string
	weights []string // fake-quantised weight initializers
	opts    Options
}

const rangeSuffix = "_qat_range"

// Prepare calibrates m on calib (see quantize.Calibrate), writes the
// post-training QDQ model to learn where it quantises, and returns the
// training graph: a FakeQuantize after every activation that the QDQ
// model quantises with its own parameters (activations that reuse their
// input's parameters, after MaxPool or Flatten, are on the grid already),
// its range starting from the calibrated one, and a FakeQuantizeWeight
// (per-channel symmetric int8) in front of every quantised weight. The
// model needs opset 13 or later (per-channel DequantizeLinear).
func Prepare(m *graph.Model, calib []compress.Batch, opts Options) (*Model, error) {
	if opts.Activations == tensor.Undefined {
		opts.Activations = tensor.Int8
	}
	if opts.Activations != tensor.Int8 && opts.Activations != tensor.Uint8 {
		return nil, fmt.Errorf("qat: activations must be int8 or uint8, not %v", opts.Activations)
	}
	if opts.Momentum == 0 {
		opts.Momentum = 0.01
	}
	if !(opts.Momentum > 0 && opts.Momentum <= 1) {
		return nil, fmt.Errorf("qat: momentum %v is out of range (0, 1]", opts.Momentum)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("qat: nil model")
	}
	if m.Opset() < 13 {
		return nil, fmt.Errorf("qat: the model's opset %d has no per-channel DequantizeLinear (needs 13 or later)", m.Opset())
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cal, err := quantize.Calibrate(m, calib, quantize.Options{Method: opts.Method, Activations: opts.Activations,
		Threads: opts.Threads, Logger: quiet})
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	ptq, err := cal.QDQ()
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	q := &Model{float: cal.Model(), ranges: cal.Ranges(), acts: map[string]string{}, opts: opts}
	acts, weights, err := quantizedTensors(q.float, ptq)
	if err != nil {
		return nil, err
	}
	q.train, err = q.build(acts, weights)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// weightUse is one quantised weight and its channel axis.
type weightUse struct {
	node   string // the layer reading it
	weight string
	axis   int
}

// quantizedTensors reads the post-training QDQ model: the activations
// that get a QuantizeLinear with parameters of their own, in order, and
// the weight layers whose weights are quantised.
func quantizedTensors(fm, ptq *graph.Model) ([]string, []weightUse, error) {
	values := map[string]bool{}
	for _, v := range fm.Graph.Inputs {
		values[v.Name] = true
	}
	for _, n := range fm.Graph.Nodes {
		for _, o := range n.Outputs {
			values[o] = true
		}
	}
	dqOf := map[string]*graph.Node{}
	prod := gx.Producers(ptq.Graph)
	for _, n := range ptq.Graph.Nodes {
		if n.OpType == "DequantizeLinear" {
			dqOf[n.Inputs[0]] = n
		}
	}
	var acts []string
	seenScale := map[string]bool{}
	for _, n := range ptq.Graph.Nodes {
		if n.OpType != "QuantizeLinear" || len(n.Inputs) < 2 {
			continue
		}
		t := n.Inputs[0]
		if !values[t] {
			// a graph output: its producer writes t_QuantizeLinear_Input and
			// the DequantizeLinear keeps the output's name
			dq := dqOf[n.Outputs[0]]
			if dq == nil || !values[dq.Outputs[0]] {
				return nil, nil, fmt.Errorf("qat: cannot map the quantised value %q back to the float model", t)
			}
			t = dq.Outputs[0]
		}
		if seenScale[n.Inputs[1]] {
			continue // requantised with its input's parameters
		}
		seenScale[n.Inputs[1]] = true
		acts = append(acts, t)
	}
	var weights []weightUse
	byName := map[string]*graph.Node{}
	for _, n := range fm.Graph.Nodes {
		byName[n.Name] = n
	}
	for _, n := range ptq.Graph.Nodes {
		fn := byName[n.Name]
		if fn == nil || len(n.Inputs) < 2 || fn.OpType != n.OpType {
			continue
		}
		l, ok := gx.AsWeightLayer(fm.Graph, fn)
		if !ok {
			continue
		}
		if p := prod[n.Inputs[1]]; p != nil && p.OpType == "DequantizeLinear" {
			weights = append(weights, weightUse{node: fn.Name, weight: l.Weight, axis: l.Axis})
		}
	}
	return acts, weights, nil
}

// build writes the training graph.
func (q *Model) build(acts []string, weights []weightUse) (*graph.Model, error) {
	m := gx.Clone(q.float)
	g := m.Graph
	if m.Opsets == nil {
		m.Opsets = map[string]int64{}
	}
	m.Opsets[train.QATDomain] = 1
	qmin, qmax := int64(-128), int64(127)
	if q.opts.Activations == tensor.Uint8 {
		qmin, qmax = 0, 255
	}
	byName := map[string]*graph.Node{}
	for _, n := range g.Nodes {
		byName[n.Name] = n
	}
	var pre []*graph.Node // weight quantisers and graph-input quantisers
	fqW := map[string]string{}
	for _, w := range weights {
		key := fmt.Sprintf("%s/%d", w.weight, w.axis)
		out, ok := fqW[key]
		if !ok {
			out = gx.Unique(g, w.weight+"_qat")
			pre = append(pre, &graph.Node{Name: out, OpType: train.FakeQuantizeWeightOp, Domain: train.QATDomain,
				Inputs: []string{w.weight}, Outputs: []string{out},
				Attrs: map[string]*graph.Attr{"axis": {Name: "axis", Type: graph.AttrInt, Int: int64(w.axis)}}})
			fqW[key] = out
			q.weights = append(q.weights, w.weight)
		}
		byName[w.node].Inputs[1] = out
	}
	after := map[string]*graph.Node{} // value -> the quantiser that follows its producer
	for _, t := range acts {
		r, ok := q.ranges[t]
		if !ok {
			return nil, fmt.Errorf("qat: value %q is quantised but has no calibrated range", t)
		}
		rn := gx.Unique(g, t+rangeSuffix)
		g.AddInitializer(rn, tensor.Float32s([]int{2}, []float32{r.Min, r.Max}))
		q.acts[t] = rn
		in, out := t, gx.Unique(g, t+"_fq")
		if gx.IsOutput(g, t) {
			// keep the output's name on the quantiser
			in, out = gx.Unique(g, t+"_qat_in"), t
			for _, n := range g.Nodes {
				for i, o := range n.Outputs {
					if o == t {
						n.Outputs[i] = in
					}
				}
			}
		} else {
			gx.Rename(g, t, out)
		}
		fq := &graph.Node{Name: t + "_FakeQuantize", OpType: train.FakeQuantizeOp, Domain: train.QATDomain,
			Inputs: []string{in, rn}, Outputs: []string{out}, Attrs: map[string]*graph.Attr{
				"qmin":     {Name: "qmin", Type: graph.AttrInt, Int: qmin},
				"qmax":     {Name: "qmax", Type: graph.AttrInt, Int: qmax},
				"momentum": {Name: "momentum", Type: graph.AttrFloat, Float: float32(q.opts.Momentum)},
			}}
		if gx.IsInput(g, t) {
			pre = append(pre, fq)
		} else {
			after[in] = fq
		}
	}
	nodes := slices.Clone(pre)
	for _, n := range g.Nodes {
		nodes = append(nodes, n)
		for _, o := range n.Outputs {
			if fq := after[o]; fq != nil {
				nodes = append(nodes, fq)
			}
		}
	}
	g.Nodes = nodes
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("qat: the training graph is invalid: %w", err)
	}
	return m, nil
}

// Graph is the training graph (float model with fake quantisers). It runs
// in package train only: the fake quantisers have no inference kernels.
func (q *Model) Graph() *graph.Model { return q.train }

// Float is the prepared float model the quantisers were placed in, with
// the initial (not the trained) weights.
func (q *Model) Float() *graph.Model { return q.float }

// Activations lists the fake-quantised activations (value names of Float).
func (q *Model) Activations() []string {
	out := make([]string, 0, len(q.acts))
	for t := range q.acts {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Weights lists the fake-quantised weight initializers.
func (q *Model) Weights() []string { return slices.Clone(q.weights) }

// Compile compiles the training graph (see train.Compile). With
// opt.Trainable nil the weights behind the fake quantisers and the biases
// are trained; the ranges are buffers that training-mode forward passes
// update.
func (q *Model) Compile(opt train.Options) (*train.Program, error) {
	p, err := train.Compile(q.train, opt)
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	return p, nil
}

// state reads the trained initializers and ranges from p, a program
// compiled from Graph.
func (q *Model) state(p *train.Program) (*graph.Model, map[string]quantize.Range, error) {
	if p == nil || p.Model() != q.train {
		return nil, nil, fmt.Errorf("qat: the program was not compiled from this model's Graph")
	}
	ex := p.Export().Graph
	fm := gx.Clone(q.float)
	for name := range fm.Graph.Initializers {
		if t, ok := ex.Initializers[name]; ok {
			fm.Graph.Initializers[name] = t
		}
	}
	ranges := make(map[string]quantize.Range, len(q.ranges))
	for t, r := range q.ranges {
		ranges[t] = r
	}
	for t, rn := range q.acts {
		v := ex.Initializers[rn].F32()
		if v[0] == 0 && v[1] == 0 {
			continue // never observed: keep the calibrated range
		}
		ranges[t] = quantize.Range{Min: v[0], Max: v[1]}
	}
	return fm, ranges, nil
}

// FloatModel returns the float model with the weights trained in p (a
// program compiled from Graph), without quantisers.
func (q *Model) FloatModel(p *train.Program) (*graph.Model, error) {
	fm, _, err := q.state(p)
	return fm, err
}

// Ranges returns the activation ranges: the learnt ones of the
// fake-quantised activations, the calibrated ones elsewhere.
func (q *Model) Ranges(p *train.Program) (map[string]quantize.Range, error) {
	_, r, err := q.state(p)
	return r, err
}

// Export writes the trained model as a standard QDQ ONNX model, as
// package compress/quantize writes it (quantize.FromRanges with the learnt
// ranges): int8 per-channel weights, int32 biases, QuantizeLinear/
// DequantizeLinear pairs on activations. Its weights are exactly the
// values the fake quantisers produced, and its activation parameters
// those of the last training step; edgedl's runtime runs it in integer
// kernels and ONNX Runtime runs it too.
func (q *Model) Export(p *train.Program) (*graph.Model, error) {
	fm, ranges, err := q.state(p)
	if err != nil {
		return nil, err
	}
	c, err := quantize.FromRanges(fm, ranges, quantize.Options{Activations: q.opts.Activations, Logger: q.opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	out, err := c.QDQ()
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	out.Metadata["edgedl.quantize"] = "quantisation-aware training, " + out.Metadata["edgedl.quantize"]
	return out, nil
}

// FineTune is the whole loop: Prepare m with calib, fine-tune the training
// graph on ds with cfg (train.Fit; cfg.Eval, if set, is scored with fake
// quantisation) and Export the QDQ model. threads is the training
// program's thread count (0: one per CPU).
func FineTune(ctx context.Context, m *graph.Model, calib []compress.Batch, ds data.Dataset, cfg train.Config,
	cb train.Callbacks, opts Options, threads int) (*graph.Model, []train.EpochMetrics, error) {
	q, err := Prepare(m, calib, opts)
	if err != nil {
		return nil, nil, err
	}
	p, err := q.Compile(train.Options{Threads: threads, Seed: cfg.Seed})
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	hist, err := train.Fit(ctx, p, ds, cfg, cb)
	if err != nil {
		return nil, hist, fmt.Errorf("qat: %w", err)
	}
	out, err := q.Export(p)
	return out, hist, err
}
