package train

import (
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	_ "github.com/edgedl/edgedl/kernels/all" // fallback kernels for nodes off the gradient path
	"github.com/edgedl/edgedl/tensor"
)

// value is one named value of the program. A value has a float view f
// (outputs of the program's own ops, float inputs and initializers) and/or
// a raw view t (outputs of engine kernels, integer constants).
type value[F float] struct {
	name     string
	f        *tens[F]
	t        *tensor.Tensor
	fEpoch   int // forward epoch in which f was derived from t
	isFloat  bool
	constant bool // an initializer or Constant output
	dead     bool // an optional output the trainer does not compute
	param    bool // trainable
	buffer   bool // non-trainable state updated by training (BN running stats)
	needGrad bool
	grad     *tens[F]
	gEpoch   int
}

// float returns the float view, converting a raw float tensor once per
// forward pass (constants once).
func (v *value[F]) float(epoch int) (*tens[F], error) {
	if v.f != nil && (v.t == nil || v.constant || v.fEpoch == epoch) {
		return v.f, nil
	}
	if v.t == nil {
		return nil, fmt.Errorf("train: value %q has not been computed", v.name)
	}
	f, err := toTens[F](v.t)
	if err != nil {
		return nil, fmt.Errorf("train: value %q: %w", v.name, err)
	}
	v.f, v.fEpoch = f, epoch
	return f, nil
}

// raw returns the value as a tensor.Tensor.
func (v *value[F]) raw() *tensor.Tensor {
	if v.f != nil && (v.constant || v.t == nil) {
		return toTensor(v.f) // a parameter's current value
	}
	return v.t
}

// node is one compiled graph node: either one of the program's
// differentiable ops or an engine kernel run without gradient.
type node[F float] struct {
	n        *graph.Node
	op       op[F]
	kern     kernels.Kernel
	in, out  []int // value indices, -1 for omitted
	needGrad bool  // some input needs a gradient
	c        call[F]
}

// call carries one node's arguments to its op.
type call[F float] struct {
	e   *engine[F]
	nd  *node[F]
	in  []*tens[F]       // float view of each input; nil if absent or not float
	raw []*tensor.Tensor // raw view of each non-float input
	out []*tens[F]       // outputs, set by forward
	// training selects training-mode behaviour (batch statistics, dropout);
	// record tells the op that backward will follow.
	training, record bool
	dout             []*tens[F] // gradient of each output, nil if none flows
	din              []*tens[F] // accumulator for each input needing a gradient, else nil
}

// op is a differentiable operator. forward sets c.out; backward adds the
// gradient of each input i with c.din[i] != nil into c.din[i]. An op keeps
// whatever backward needs in its own fields between the two calls.
type op[F float] interface {
	// setup reads the node's attributes once, at compile time.
	setup(n *graph.Node, opset int64) error
	forward(c *call[F]) error
	backward(c *call[F]) error
}

// errorf prefixes the node's label.
func (c *call[F]) errorf(format string, args ...any) error {
	return fmt.Errorf("train: %s: %s", c.nd.n.Label(), fmt.Sprintf(format, args...))
}

// ints reads integer input i (a shape, axes ...) or returns nil if absent.
func (c *call[F]) ints(i int) []int64 {
	if i < len(c.raw) && c.raw[i] != nil {
		return c.raw[i].Int64Values()
	}
	if i < len(c.in) && c.in[i] != nil {
		out := make([]int64, len(c.in[i].data))
		for j, v := range c.in[i].data {
			out[j] = int64(v)
		}
		return out
	}
	return nil
}

// scalar reads input i as one float, or def if absent.
func (c *call[F]) scalar(i int, def float64) (float64, error) {
	if i < len(c.in) && c.in[i] != nil {
		if len(c.in[i].data) != 1 {
			return 0, c.errorf("input %d must be a scalar, has shape %v", i, c.in[i].shape)
		}
		return float64(c.in[i].data[0]), nil
	}
	if i < len(c.raw) && c.raw[i] != nil {
		if c.raw[i].Len() != 1 {
			return 0, c.errorf("input %d must be a scalar, has shape %v", i, c.raw[i].Shape)
		}
		return c.raw[i].Float64At(0), nil
	}
	return def, nil
}

// engine is a compiled training program over element type F.
type engine[F float] struct {
	model   *graph.Model
	opset   int64
	vals    []*value[F]
	index   map[string]int
	nodes   []*node[F]
	inputs  []int
	outputs []int
	params  []int // trainable values, in initializer order
	buffers []int // running statistics
	threads int
	pool    *kernels.Pool
	kctx    *kernels.Ctx
	rng     *rand.Rand
	epoch   int
	gEpoch  int
	// noStats freezes running statistics (per-example clones).
	noStats bool
}

// nonDiffReaders may read a value that needs a gradient without
// propagating one (their outputs do not depend differentiably on it).
var nonDiffReaders = map[string]bool{
	"Shape": true, "Size": true, "ArgMax": true, "ArgMin": true, "Equal": true, "Greater": true,
	"GreaterOrEqual": true, "Less": true, "LessOrEqual": true, "IsNaN": true, "IsInf": true,
}

// compileEngine builds the program. share, if not nil, is a program of the
// same model whose parameters and buffers are shared (not copied).
func compileEngine[F float](m *graph.Model, opt Options, share *engine[F]) (*engine[F], error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("train: nil model")
	}
	g := m.Graph
	e := &engine[F]{model: m, opset: m.Opset(), index: map[string]int{}}
	if e.opset == 0 {
		e.opset = 13
	}
	e.threads = opt.Threads
	if e.threads <= 0 {
		e.threads = goruntime.GOMAXPROCS(0)
	}
	if e.threads > 1 {
		e.pool = kernels.NewPool(e.threads)
	}
	e.kctx = &kernels.Ctx{Allocator: kernels.HeapAllocator{}, Pool: e.pool}
	e.rng = rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	addVal := func(name string) int {
		if i, ok := e.index[name]; ok {
			return i
		}
		e.index[name] = len(e.vals)
		e.vals = append(e.vals, &value[F]{name: name})
		return len(e.vals) - 1
	}
	for _, in := range g.Inputs {
		if _, isInit := g.Initializers[in.Name]; isInit {
			continue
		}
		i := addVal(in.Name)
		e.inputs = append(e.inputs, i)
		v := e.vals[i]
		v.isFloat = isFloatDType(in.DType) || in.DType == tensor.Undefined
		v.needGrad = opt.InputGrads && v.isFloat
	}
	// Initializers, in file order.
	order := append([]string{}, g.InitOrder...)
	for name := range g.Initializers {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	slices.Sort(order[len(g.InitOrder):])
	for _, name := range order {
		t := g.Initializers[name]
		i := addVal(name)
		v := e.vals[i]
		v.constant = true
		v.t = t
		if isFloatDType(t.DType) {
			v.isFloat = true
			if share != nil {
				if j, ok := share.index[name]; ok && share.vals[j].f != nil {
					v.f = share.vals[j].f
					continue
				}
			}
			f, err := toTens[F](t)
			if err != nil {
				return nil, err
			}
			if _, shared := t.Data.([]F); shared {
				// own a copy: training must not write into the caller's model
				f.data = slices.Clone(f.data)
			}
			v.f = f
		}
	}
	trainable, err := e.chooseTrainable(opt.Trainable)
	if err != nil {
		return nil, err
	}
	for _, name := range order {
		if trainable[name] {
			i := e.index[name]
			e.vals[i].param, e.vals[i].needGrad = true, true
			e.params = append(e.params, i)
		}
	}
	for _, gn := range g.Nodes {
		nd := &node[F]{n: gn}
		for _, in := range gn.Inputs {
			if in == "" {
				nd.in = append(nd.in, -1)
				continue
			}
			i, ok := e.index[in]
			if !ok {
				return nil, fmt.Errorf("train: %s: input %q is not defined before use", gn.Label(), in)
			}
			nd.in = append(nd.in, i)
		}
		for _, o := range gn.Outputs {
			if o == "" {
				nd.out = append(nd.out, -1)
				continue
			}
			nd.out = append(nd.out, addVal(o))
		}
		if gn.OpType == "Constant" && graph.NormalizeDomain(gn.Domain) == "" {
			if err := e.constant(gn, nd.out); err != nil {
				return nil, err
			}
			continue
		}
		if err := e.compileNode(nd); err != nil {
			return nil, err
		}
		e.nodes = append(e.nodes, nd)
	}
	for _, o := range g.Outputs {
		i, ok := e.index[o.Name]
		if ok && e.vals[i].dead {
			return nil, fmt.Errorf("train: graph output %q is an optional output the trainer does not compute", o.Name)
		}
		if !ok {
			return nil, fmt.Errorf("train: graph output %q is never computed", o.Name)
		}
		e.outputs = append(e.outputs, i)
	}
	if len(e.outputs) == 0 {
		return nil, fmt.Errorf("train: the graph has no outputs")
	}
	return e, nil
}

// chooseTrainable resolves Options.Trainable against the initializers.
func (e *engine[F]) chooseTrainable(names []string) (map[string]bool, error) {
	g := e.model.Graph
	out := map[string]bool{}
	if names != nil {
		for _, n := range names {
			t, ok := g.Initializers[n]
			if !ok {
				return nil, fmt.Errorf("train: trainable %q is not an initializer", n)
			}
			if !isFloatDType(t.DType) {
				return nil, fmt.Errorf("train: trainable %q has dtype %v, not float", n, t.DType)
			}
			out[n] = true
		}
		return out, nil
	}
	for _, n := range g.Nodes {
		spec, ok := opSpecs[n.OpType]
		if !ok || graph.NormalizeDomain(n.Domain) != spec.domain && n.Domain != "com.microsoft" {
			continue
		}
		for _, slot := range spec.weights {
			if slot < len(n.Inputs) {
				t, ok := g.Initializers[n.Inputs[slot]]
				if !ok || !isFloatDType(t.DType) {
					continue
				}
				if spec.elementwise && t.Len() <= 1 {
					continue // a scalar constant such as the 255 of x/255
				}
				out[n.Inputs[slot]] = true
			}
		}
	}
	return out, nil
}

func (e *engine[F]) compileNode(nd *node[F]) error {
	gn := nd.n
	spec, known := opSpecs[gn.OpType]
	dom := graph.NormalizeDomain(gn.Domain)
	if dom != spec.domain && !(dom == "com.microsoft" && gn.OpType == "Gelu") {
		known = false
	}
	for _, i := range nd.in {
		if i >= 0 && e.vals[i].dead {
			return fmt.Errorf("train: %s: input %q is an output the trainer does not compute "+
				"(Dropout mask, MaxPool indices, BatchNormalization statistics)", gn.Label(), e.vals[i].name)
		}
	}
	mine := false
	if known {
		for _, s := range spec.diff {
			if s < len(nd.in) && nd.in[s] >= 0 && e.vals[nd.in[s]].isFloat {
				mine = true
			}
		}
	}
	if mine {
		o, ok := spec.new(isF64[F]()).(op[F])
		if !ok {
			panic("train: op table entry of the wrong type for " + gn.OpType)
		}
		if err := o.setup(gn, e.opsetFor(gn.Domain)); err != nil {
			return fmt.Errorf("train: %s: %w", gn.Label(), err)
		}
		nd.op = o
		for _, s := range spec.buffers {
			if s < len(nd.in) && nd.in[s] >= 0 {
				if v := e.vals[nd.in[s]]; v.constant && !v.param && v.f != nil && !v.buffer {
					v.buffer = true
					e.buffers = append(e.buffers, nd.in[s])
				}
			}
		}
		for _, s := range spec.diff {
			if s < len(nd.in) && nd.in[s] >= 0 && e.vals[nd.in[s]].needGrad {
				nd.needGrad = true
			}
		}
		for j, o := range nd.out {
			if o < 0 {
				continue
			}
			v := e.vals[o]
			v.isFloat = j == 0
			v.dead = j > 0
			v.needGrad = nd.needGrad && j == 0
		}
		return nil
	}
	for _, i := range nd.in {
		if i >= 0 && e.vals[i].needGrad && !nonDiffReaders[gn.OpType] {
			return fmt.Errorf("train: %s: operator %s is not differentiable in edgedl's trainer "+
				"(supported: %s)", gn.Label(), gn.OpType, supportedList())
		}
	}
	build, err := kernels.Lookup(gn.Domain, gn.OpType, e.opsetFor(gn.Domain))
	if err != nil {
		return fmt.Errorf("train: %s: %w", gn.Label(), err)
	}
	bc := &kernels.BuildContext{Node: gn, Opset: e.opsetFor(gn.Domain)}
	for _, i := range nd.in {
		if i < 0 {
			bc.Inputs = append(bc.Inputs, kernels.Input{})
			continue
		}
		v := e.vals[i]
		in := kernels.Input{Present: true}
		if v.constant && v.t != nil {
			in.Const, in.DType, in.Shape = v.t, v.t.DType, v.t.Shape
		} else if v.isFloat {
			in.DType = tensor.Float32
			if _, ok := any(F(0)).(float64); ok {
				in.DType = tensor.Float64
			}
		}
		bc.Inputs = append(bc.Inputs, in)
	}
	nd.kern, err = build(bc)
	if err != nil {
		return fmt.Errorf("train: %s: %w", gn.Label(), err)
	}
	for _, o := range nd.out {
		if o >= 0 {
			e.vals[o].isFloat = false
		}
	}
	return nil
}

// constant evaluates a Constant node at compile time.
func (e *engine[F]) constant(gn *graph.Node, out []int) error {
	if len(out) != 1 || out[0] < 0 {
		return fmt.Errorf("train: %s: want one output", gn.Label())
	}
	var t *tensor.Tensor
	for name, a := range gn.Attrs {
		switch name {
		case "value":
			t = a.Tensor
		case "value_float":
			t = tensor.Scalar(a.Float)
		case "value_floats":
			t = tensor.Float32s([]int{len(a.Floats)}, slices.Clone(a.Floats))
		case "value_int":
			t = tensor.Scalar(a.Int)
		case "value_ints":
			t = tensor.Int64s([]int{len(a.Ints)}, slices.Clone(a.Ints))
		}
	}
	if t == nil {
		return fmt.Errorf("train: %s: unsupported Constant (no value, value_float(s) or value_int(s))", gn.Label())
	}
	v := e.vals[out[0]]
	v.t, v.constant = t, true
	if isFloatDType(t.DType) {
		v.isFloat = true
		f, err := toTens[F](t)
		if err != nil {
			return err
		}
		v.f = f
	}
	return nil
}

func (e *engine[F]) opsetFor(domain string) int64 {
	if v, ok := e.model.Opsets[graph.NormalizeDomain(domain)]; ok {
		return v
	}
	if graph.NormalizeDomain(domain) == "" {
		return e.opset
	}
	return 1
}

// close releases the worker pool.
func (e *engine[F]) close() {
	if e.pool != nil {
		e.pool.Close()
		e.pool = nil
	}
}

// par runs fn over [0,n) on the worker pool (serially without one).
func (e *engine[F]) par(n, grain int, fn func(lo, hi int)) {
	if e.pool == nil {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	e.pool.Parallel(n, grain, fn)
}

// gemmPar is the parallel-for handed to gemm (nil when serial).
func (e *engine[F]) gemmPar() func(n, grain int, fn func(lo, hi int)) {
	if e.pool == nil {
		return nil
	}
	return e.pool.Parallel
}

// chunks splits [0,n) into at most threads contiguous chunks and runs
// fn(chunk, lo, hi) for each, concurrently. It returns the chunk count.
func (e *engine[F]) chunks(n int, fn func(c, lo, hi int)) int {
	t := min(e.threads, n)
	if t <= 1 || e.pool == nil {
		if n > 0 {
			fn(0, 0, n)
		}
		return 1
	}
	step := (n + t - 1) / t
	t = (n + step - 1) / step
	e.pool.Parallel(t, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			fn(c, c*step, min(n, (c+1)*step))
		}
	})
	return t
}

// forward runs the program on inputs (graph order).
func (e *engine[F]) forward(inputs []*tensor.Tensor, training, record bool) error {
	if len(inputs) != len(e.inputs) {
		return fmt.Errorf("train: the model has %d inputs, got %d", len(e.inputs), len(inputs))
	}
	e.epoch++
	for k, i := range e.inputs {
		v := e.vals[i]
		if inputs[k] == nil {
			return fmt.Errorf("train: input %q is nil", v.name)
		}
		v.t, v.f = inputs[k], nil
		if v.isFloat {
			if !isFloatDType(inputs[k].DType) {
				return fmt.Errorf("train: input %q has dtype %v, want float", v.name, inputs[k].DType)
			}
			f, err := toTens[F](inputs[k])
			if err != nil {
				return err
			}
			v.f, v.fEpoch = f, e.epoch
		}
	}
	for _, nd := range e.nodes {
		if err := e.runNode(nd, training, record); err != nil {
			return err
		}
	}
	return nil
}

func (e *engine[F]) runNode(nd *node[F], training, record bool) error {
	c := &nd.c
	c.e, c.nd, c.training, c.record = e, nd, training, record && nd.needGrad
	c.in = resize(c.in, len(nd.in))
	c.raw = resize(c.raw, len(nd.in))
	for k, i := range nd.in {
		c.in[k], c.raw[k] = nil, nil
		if i < 0 {
			continue
		}
		v := e.vals[i]
		if v.isFloat || nd.kern == nil && v.t != nil && isFloatDType(v.t.DType) {
			f, err := v.float(e.epoch)
			if err != nil {
				return fmt.Errorf("train: %s: %w", nd.n.Label(), err)
			}
			c.in[k] = f
		}
		if !v.isFloat || nd.kern != nil {
			c.raw[k] = v.raw()
		}
	}
	if nd.kern != nil {
		out := make([]*tensor.Tensor, len(nd.out))
		if err := safeKernel(nd.kern, e.kctx, c.raw, out); err != nil {
			return fmt.Errorf("train: %s: %w", nd.n.Label(), err)
		}
		for j, o := range nd.out {
			if o >= 0 {
				e.vals[o].t, e.vals[o].f = out[j], nil
			}
		}
		return nil
	}
	c.out = resize(c.out, len(nd.out))
	if err := nd.op.forward(c); err != nil {
		return err
	}
	for j, o := range nd.out {
		if o < 0 || j > 0 {
			continue
		}
		v := e.vals[o]
		if c.out[j] == nil {
			return c.errorf("output %q was not computed", v.name)
		}
		v.f, v.t = c.out[j], nil
	}
	return nil
}

func isF64[F float]() bool {
	_, ok := any(F(0)).(float64)
	return ok
}

func safeKernel(k kernels.Kernel, ctx *kernels.Ctx, in, out []*tensor.Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kernel panic: %v", r)
		}
	}()
	return k.Run(ctx, in, out)
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// gradBuf returns value i's gradient accumulator for the current backward
// pass, zeroed on first use. Parameter gradients persist across passes
// (they are cleared by zeroGrad).
func (e *engine[F]) gradBuf(i int) *tens[F] {
	v := e.vals[i]
	if v.param {
		if v.grad == nil || len(v.grad.data) != len(v.f.data) {
			ensureZero(&v.grad, v.f.shape)
		}
		return v.grad
	}
	f := v.f
	if v.gEpoch != e.gEpoch || v.grad == nil || !slices.Equal(v.grad.shape, f.shape) {
		ensureZero(&v.grad, f.shape)
		v.gEpoch = e.gEpoch
	}
	return v.grad
}

// hasGrad reports whether a gradient reached value i in this pass.
func (e *engine[F]) hasGrad(i int) bool {
	v := e.vals[i]
	return v.grad != nil && (v.param || v.gEpoch == e.gEpoch)
}

// zeroGrad clears the parameter gradients.
func (e *engine[F]) zeroGrad() {
	for _, i := range e.params {
		v := e.vals[i]
		if v.grad == nil {
			ensureZero(&v.grad, v.f.shape)
		} else {
			clear(v.grad.data)
		}
	}
}

// backward propagates seeds (gradients of output values, by value index)
// back to every value that needs a gradient, accumulating into the
// parameter gradients. It must follow a forward with record set.
func (e *engine[F]) backward(seeds map[int]*tens[F]) error {
	e.gEpoch++
	for i, s := range seeds {
		v := e.vals[i]
		if v.f == nil || len(v.f.data) != len(s.data) {
			return fmt.Errorf("train: gradient for %q has %d elements, value has shape %v", v.name, len(s.data), v.f.shape)
		}
		if !v.needGrad {
			continue
		}
		g := e.gradBuf(i)
		for k, x := range s.data {
			g.data[k] += x
		}
	}
	for k := len(e.nodes) - 1; k >= 0; k-- {
		nd := e.nodes[k]
		if !nd.needGrad || nd.op == nil {
			continue
		}
		c := &nd.c
		c.dout = resize(c.dout, len(nd.out))
		any := false
		for j, o := range nd.out {
			c.dout[j] = nil
			if o >= 0 && e.hasGrad(o) {
				c.dout[j] = e.vals[o].grad
				any = true
			}
		}
		if !any {
			continue
		}
		c.din = resize(c.din, len(nd.in))
		for j, i := range nd.in {
			c.din[j] = nil
			if i >= 0 && e.vals[i].needGrad && slices.Contains(opSpecs[nd.n.OpType].diff, j) {
				c.din[j] = e.gradBuf(i)
			}
		}
		if err := nd.op.backward(c); err != nil {
			return err
		}
	}
	return nil
}
