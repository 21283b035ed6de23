package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// Options configure compilation.
type Options struct {
	// Threads is the intra-op thread count; 0 means one per CPU.
	Threads int
	// NoFold disables constant folding (for debugging).
	NoFold bool
	// NoOptimize disables graph rewrites (BatchNorm folding, activation
	// fusion, identity removal), for debugging and comparison.
	NoOptimize bool
	// Logger receives compile-time notes; nil means slog.Default().
	Logger *slog.Logger
}

// Session is a compiled model.
type Session struct {
	// Model is the model the session was compiled from. The session does
	// not need it after Compile: set it to nil (and drop other references)
	// to let the original weights be garbage collected.
	Model *graph.Model
	// modelNodes is the node count of the model as loaded.
	modelNodes int
	pool       *kernels.Pool
	plan       *plan
	runs       sync.Pool
}

// plan is a compiled graph: the model's top level or a subgraph body.
type plan struct {
	g        *graph.Graph
	names    []string       // slot -> value name
	slots    map[string]int // value name -> slot
	consts   []*tensor.Tensor
	steps    []step
	inputs   []int // slots of graph inputs
	outputs  []int // slots of graph outputs
	inInfo   []graph.ValueInfo
	parent   *plan
	outerIDs []string // names read from enclosing scopes
}

type step struct {
	node *graph.Node
	// packed describes (dtype and shape, no data) the constant inputs the
	// kernel pre-packed, which the run passes as nil.
	packed  map[int]*tensor.Tensor
	kernel  kernels.Kernel
	in      []int // slot per input, -1 for omitted
	out     []int // slot per output, -1 for omitted
	outer   []int // slots of implicit (subgraph) inputs
	freeAft []int // slots whose last use is this step
}

// Compile builds a Session from a model.
func Compile(m *graph.Model, opts Options) (s *Session, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runtime: compile panicked: %v\n%s", r, debug.Stack())
		}
	}()
	if m == nil || m.Graph == nil {
		return nil, errors.New("runtime: nil model")
	}
	if err := m.Graph.Validate(); err != nil {
		return nil, err
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = goruntime.NumCPU()
	}
	s = &Session{Model: m, modelNodes: len(m.Graph.Nodes), pool: kernels.NewPool(threads)}
	c := &compiler{opset: m.Opset(), opts: opts, pool: s.pool, opsets: m.Opsets}
	g := m.Graph
	if !opts.NoOptimize {
		log := opts.Logger
		if log == nil {
			log = slog.Default()
		}
		g = optimize(g, log)
	}
	p, err := c.compile(g, nil)
	if err != nil {
		s.pool.Close()
		return nil, err
	}
	s.plan = p
	return s, nil
}

// Close releases the worker pool.
func (s *Session) Close() { s.pool.Close() }

// Threads is the session's intra-op thread count.
func (s *Session) Threads() int { return s.pool.Threads() }

// Inputs describes the runtime inputs, in graph order.
func (s *Session) Inputs() []graph.ValueInfo { return s.plan.g.Inputs }

// Outputs describes the outputs, in graph order.
func (s *Session) Outputs() []graph.ValueInfo { return s.plan.g.Outputs }

// NumSteps is the number of kernels run per inference (after folding).
func (s *Session) NumSteps() int { return len(s.plan.steps) }

type compiler struct {
	opset  int64
	opsets map[string]int64
	opts   Options
	pool   *kernels.Pool
}

func (c *compiler) opsetFor(domain string) int64 {
	if v, ok := c.opsets[domain]; ok {
		return v
	}
	if domain == "" {
		return c.opset
	}
	return 1
}

func (c *compiler) compile(g *graph.Graph, parent *plan) (*plan, error) {
	p := &plan{g: g, slots: map[string]int{}, parent: parent, inInfo: g.Inputs}
	slot := func(name string) int {
		if id, ok := p.slots[name]; ok {
			return id
		}
		id := len(p.names)
		p.slots[name] = id
		p.names = append(p.names, name)
		p.consts = append(p.consts, nil)
		return id
	}
	for _, v := range g.Inputs {
		p.inputs = append(p.inputs, slot(v.Name))
	}
	for _, name := range g.InitOrder {
		p.consts[slot(name)] = g.Initializers[name]
	}
	for name, t := range g.Initializers { // in case InitOrder is incomplete
		p.consts[slot(name)] = t
	}
	declared := map[string]graph.ValueInfo{}
	for k, v := range g.ValueInfo {
		declared[k] = v
	}
	for _, v := range g.Inputs {
		declared[v.Name] = v
	}
	foldCtx := &kernels.Ctx{Allocator: kernels.HeapAllocator{}}
	for _, n := range g.Nodes {
		st := step{node: n}
		meta := make([]kernels.Input, len(n.Inputs))
		for i, name := range n.Inputs {
			if name == "" {
				st.in = append(st.in, -1)
				continue
			}
			id, ok := p.slots[name]
			if !ok {
				// defined in an enclosing scope
				id = slot(name)
				p.outerIDs = append(p.outerIDs, name)
			}
			st.in = append(st.in, id)
			meta[i].Present = true
			if ct := p.consts[id]; ct != nil {
				meta[i].Const = ct
				meta[i].DType = ct.DType
				meta[i].Shape = ct.Shape
			} else if d, ok := declared[name]; ok && d.Kind == graph.KindTensor {
				meta[i].DType = d.DType
				if d.HasShape {
					meta[i].Shape = make([]int, len(d.Shape))
					for j, dim := range d.Shape {
						meta[i].Shape[j] = int(dim.Value)
						if !dim.Known() {
							meta[i].Shape[j] = -1
						}
					}
				}
			}
		}
		build, err := kernels.Lookup(n.Domain, n.OpType, c.opsetFor(n.Domain))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Label(), err)
		}
		bc := &kernels.BuildContext{Node: n, Opset: c.opsetFor(n.Domain), Inputs: meta,
			Compile: func(sg *graph.Graph) (kernels.Subgraph, error) {
				sp, err := c.compile(sg, p)
				if err != nil {
					return nil, err
				}
				return &subgraph{p: sp, pool: c.pool}, nil
			}}
		k, err := build(bc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Label(), err)
		}
		st.kernel = k
		// Fold: all present inputs constant, no subgraphs, deterministic.
		foldable := !c.opts.NoFold && len(n.AllInputs()) == len(n.Inputs)
		if nd, ok := k.(kernels.Nondeterministic); ok && nd.Nondeterministic() {
			foldable = false
		}
		for i := range meta {
			if meta[i].Present && meta[i].Const == nil {
				foldable = false
			}
		}
		for _, o := range n.Outputs {
			if o != "" {
				st.out = append(st.out, slot(o))
			} else {
				st.out = append(st.out, -1)
			}
		}
		if foldable {
			in := make([]*tensor.Tensor, len(meta))
			for i := range meta {
				in[i] = meta[i].Const
			}
			out := make([]*tensor.Tensor, len(n.Outputs))
			if err := safeRun(k, foldCtx, in, out); err != nil {
				return nil, fmt.Errorf("%s: constant folding: %w", n.Label(), err)
			}
			for i, id := range st.out {
				if id >= 0 {
					if out[i] == nil {
						return nil, fmt.Errorf("%s: kernel did not produce output %d", n.Label(), i)
					}
					p.consts[id] = out[i]
				}
			}
			continue
		}
		if pk, ok := k.(kernels.PackedInputs); ok {
			for _, i := range pk.PackedInputs() {
				if i >= 0 && i < len(st.in) && meta[i].Const != nil {
					st.in[i] = -1
					if st.packed == nil {
						st.packed = map[int]*tensor.Tensor{}
					}
					st.packed[i] = &tensor.Tensor{DType: meta[i].DType, Shape: meta[i].Shape}
				}
			}
		}
		for _, name := range n.AllInputs()[len(n.Inputs):] {
			id, ok := p.slots[name]
			if !ok {
				id = slot(name)
				p.outerIDs = append(p.outerIDs, name)
			}
			st.outer = append(st.outer, id)
		}
		p.steps = append(p.steps, st)
	}
	for _, o := range g.Outputs {
		id, ok := p.slots[o.Name]
		if !ok {
			id = slot(o.Name)
			p.outerIDs = append(p.outerIDs, o.Name)
		}
		p.outputs = append(p.outputs, id)
	}
	// Constants no step reads any more (folded away, or packed into a
	// kernel) are dropped so their memory can be reclaimed.
	read := make([]bool, len(p.names))
	for _, st := range p.steps {
		for _, id := range st.in {
			if id >= 0 {
				read[id] = true
			}
		}
		for _, id := range st.outer {
			read[id] = true
		}
	}
	for _, id := range p.outputs {
		read[id] = true
	}
	for id := range p.consts {
		if !read[id] && p.consts[id] != nil && parent == nil {
			p.consts[id] = nil
		}
	}
	if parent == nil {
		// The plan keeps the graph's structure but not its weights: what
		// kernels need is in p.consts or packed inside them, so the model's
		// initializers can be garbage collected once the caller drops it.
		lean := *g
		lean.Initializers = nil
		lean.InitOrder = nil
		p.g = &lean
	}
	// Liveness: free each non-output, non-const slot after its last reader.
	last := make([]int, len(p.names))
	for i := range last {
		last[i] = -1
	}
	for si, st := range p.steps {
		for _, id := range st.in {
			if id >= 0 {
				last[id] = si
			}
		}
		for _, id := range st.outer {
			last[id] = si
		}
		for _, id := range st.out {
			if id >= 0 && last[id] < si {
				last[id] = si // unread outputs die right after they are made
			}
		}
	}
	keep := map[int]bool{}
	for _, id := range p.outputs {
		keep[id] = true
	}
	for id, si := range last {
		if si >= 0 && !keep[id] && p.consts[id] == nil {
			p.steps[si].freeAft = append(p.steps[si].freeAft, id)
		}
	}
	return p, nil
}

// safeRun runs a kernel, turning a panic into an error.
func safeRun(k kernels.Kernel, ctx *kernels.Ctx, in, out []*tensor.Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("kernel panicked: %v", r)
		}
	}()
	return k.Run(ctx, in, out)
}

// Trace receives each executed step (for profiling and shape inference).
// Inputs and outputs must not be retained past the call.
type Trace func(nodeIndex int, node *graph.Node, in, out []*tensor.Tensor, d time.Duration)

// Run executes the model. Inputs are matched by name; all graph inputs
// must be given. The returned tensors belong to the caller.
func (s *Session) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	ordered := make([]*tensor.Tensor, len(s.plan.inputs))
	for i, v := range s.plan.g.Inputs {
		t, ok := inputs[v.Name]
		if !ok {
			return nil, fmt.Errorf("runtime: missing input %q", v.Name)
		}
		ordered[i] = t
	}
	for name := range inputs {
		found := false
		for _, v := range s.plan.g.Inputs {
			found = found || v.Name == name
		}
		if !found {
			return nil, fmt.Errorf("runtime: model has no input %q", name)
		}
	}
	outs, err := s.RunOrdered(ordered, nil)
	if err != nil {
		return nil, err
	}
	res := make(map[string]*tensor.Tensor, len(outs))
	for i, v := range s.plan.g.Outputs {
		res[v.Name] = outs[i]
	}
	return res, nil
}

// RunOrdered executes the model with inputs and outputs in graph order.
// trace, if not nil, is called after every step.
func (s *Session) RunOrdered(inputs []*tensor.Tensor, trace Trace) (outs []*tensor.Tensor, err error) {
	p := s.plan
	if len(inputs) != len(p.inputs) {
		return nil, fmt.Errorf("runtime: model takes %d inputs, got %d", len(p.inputs), len(inputs))
	}
	for i, t := range inputs {
		if err := checkInput(p.g.Inputs[i], t); err != nil {
			return nil, err
		}
	}
	rs, _ := s.runs.Get().(*runState)
	if rs == nil {
		rs = newRunState()
	}
	defer s.runs.Put(rs)
	return p.run(rs, &kernels.Ctx{Allocator: rs.alloc, Pool: s.pool}, inputs, trace, nil)
}

// run executes a plan. lookup resolves names of enclosing scopes.
func (p *plan) run(rs *runState, ctx *kernels.Ctx, inputs []*tensor.Tensor, trace Trace,
	lookup func(string) (*tensor.Tensor, bool)) (outs []*tensor.Tensor, err error) {
	vals := make([]*tensor.Tensor, len(p.names))
	copy(vals, p.consts)
	for i, id := range p.inputs {
		vals[id] = inputs[i]
	}
	for _, name := range p.outerIDs {
		if lookup == nil {
			return nil, fmt.Errorf("runtime: value %q is not defined", name)
		}
		t, ok := lookup(name)
		if !ok {
			return nil, fmt.Errorf("runtime: value %q from an enclosing scope is not defined", name)
		}
		vals[p.slots[name]] = t
	}
	a := rs.alloc
	// Whatever is still tracked when the run ends (scratch buffers, or
	// values of a failed run) is dead: outputs were detached already.
	defer a.endRun()
	sub := &kernels.Ctx{Allocator: ctx.Allocator, Pool: ctx.Pool}
	sub.Lookup = func(name string) (*tensor.Tensor, bool) {
		if id, ok := p.slots[name]; ok && vals[id] != nil {
			return vals[id], true
		}
		if lookup != nil {
			return lookup(name)
		}
		return nil, false
	}
	var in, out []*tensor.Tensor
	var st *step
	// An input may be overwritten when its value dies at this step and no
	// other live value or input of the step shares its buffer.
	sub.Overwritable = func(i int) bool {
		if st == nil || i < 0 || i >= len(st.in) || st.in[i] < 0 {
			return false
		}
		id := st.in[i]
		dies := false
		for _, f := range st.freeAft {
			dies = dies || f == id
		}
		if !dies || !a.sole(vals[id]) {
			return false
		}
		for j, o := range st.in {
			if j != i && o >= 0 && kernels.SameBuffer(vals[o], vals[id]) {
				return false
			}
		}
		return true
	}
	for si := range p.steps {
		st = &p.steps[si]
		in = in[:0]
		for _, id := range st.in {
			if id < 0 {
				in = append(in, nil)
			} else {
				if vals[id] == nil {
					return nil, fmt.Errorf("%s: input %q has no value", st.node.Label(), p.names[id])
				}
				in = append(in, vals[id])
			}
		}
		out = out[:0]
		for range st.out {
			out = append(out, nil)
		}
		var t0 time.Time
		if trace != nil {
			t0 = time.Now()
		}
		if err := safeRun(st.kernel, sub, in, out); err != nil {
			return nil, fmt.Errorf("%s: %w", st.node.Label(), err)
		}
		var d time.Duration
		if trace != nil {
			d = time.Since(t0)
		}
		for i, id := range st.out {
			if id < 0 {
				continue
			}
			if out[i] == nil {
				return nil, fmt.Errorf("%s: kernel produced no output %d", st.node.Label(), i)
			}
			a.retain(out[i])
			vals[id] = out[i]
		}
		if trace != nil {
			trace(si, st.node, in, out, d)
		}
		for _, id := range st.freeAft {
			a.release(vals[id])
			vals[id] = nil
		}
	}
	outs = make([]*tensor.Tensor, len(p.outputs))
	for i, id := range p.outputs {
		t := vals[id]
		if t == nil {
			return nil, fmt.Errorf("runtime: output %q was not computed", p.names[id])
		}
		if a.detach(t) {
			outs[i] = t
		} else {
			// Constants and inputs are shared; hand the caller a copy.
			outs[i] = t.Clone()
		}
	}
	return outs, nil
}

func checkInput(v graph.ValueInfo, t *tensor.Tensor) error {
	if t == nil {
		return fmt.Errorf("runtime: input %q is nil", v.Name)
	}
	if v.Kind != graph.KindTensor {
		return nil
	}
	if v.DType != tensor.Undefined && t.DType != v.DType {
		return fmt.Errorf("runtime: input %q must be %v, got %v", v.Name, v.DType, t.DType)
	}
	if v.HasShape {
		if len(t.Shape) != len(v.Shape) {
			return fmt.Errorf("runtime: input %q must have shape %s, got %s", v.Name, v.ShapeString(), tensor.ShapeString(t.Shape))
		}
		for i, d := range v.Shape {
			if d.Known() && int64(t.Shape[i]) != d.Value {
				return fmt.Errorf("runtime: input %q must have shape %s, got %s", v.Name, v.ShapeString(), tensor.ShapeString(t.Shape))
			}
		}
	}
	if n, err := tensor.NumElements(t.Shape); err != nil || n != t.Len() {
		return fmt.Errorf("runtime: input %q: shape %v does not match its %d elements", v.Name, t.Shape, t.Len())
	}
	return nil
}

// subgraph adapts a compiled plan to kernels.Subgraph.
type subgraph struct {
	p    *plan
	pool *kernels.Pool
}

func (s *subgraph) InputNames() []string {
	names := make([]string, len(s.p.g.Inputs))
	for i, v := range s.p.g.Inputs {
		names[i] = v.Name
	}
	return names
}

func (s *subgraph) NumOutputs() int { return len(s.p.outputs) }

func (s *subgraph) Run(ctx *kernels.Ctx, inputs []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(inputs) != len(s.p.inputs) {
		return nil, fmt.Errorf("runtime: subgraph %q takes %d inputs, got %d", s.p.g.Name, len(s.p.inputs), len(inputs))
	}
	rs := newRunState() // subgraph buffers are not shared with the caller's
	return s.p.run(rs, &kernels.Ctx{Allocator: rs.alloc, Pool: ctx.Pool}, inputs, nil, ctx.Lookup)
}
