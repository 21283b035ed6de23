package train

import (
	"fmt"
	"maps"
	"slices"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train/data"
)

// Options configure Compile.
type Options struct {
	// Trainable names the initializers to train. Nil means every float
	// initializer in a weight position: Conv W and B, Gemm B and C, MatMul
	// B, BatchNormalization scale and B, and constant operands of
	// Add/Sub/Mul/Div that are not scalars. An empty non-nil slice trains nothing (useful with
	// InputGrads).
	Trainable []string
	// InputGrads also computes gradients with respect to the float graph
	// inputs (split learning sends them back to the previous tier).
	InputGrads bool
	// Threads is the number of threads (0: GOMAXPROCS).
	Threads int
	// Seed seeds the Dropout masks.
	Seed uint64
}

// Var is one trainable parameter or buffer of a Program. Data is the live
// value (optimisers update it in place); Grad is its gradient (nil for
// buffers such as BatchNormalization running statistics).
type Var struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
}

// Program is a model compiled for training: forward pass in training or
// inference mode, backward pass, parameters and gradients. A Program is
// not safe for concurrent use; Clone makes another that shares the
// parameters.
type Program struct {
	e    *engine[float32]
	opt  Options
	vars []*Var
	bufs []*Var
	pe   *perExample
}

// Compile builds a training program for m. The model is not modified:
// the program trains copies of its initializers (see Export).
func Compile(m *graph.Model, opt Options) (*Program, error) {
	e, err := compileEngine[float32](m, opt, nil)
	if err != nil {
		return nil, err
	}
	return newProgram(e, opt), nil
}

func newProgram(e *engine[float32], opt Options) *Program {
	e.zeroGrad()
	p := &Program{e: e, opt: opt}
	for _, i := range e.params {
		v := e.vals[i]
		p.vars = append(p.vars, &Var{Name: v.name, Shape: v.f.shape, Data: v.f.data, Grad: v.grad.data})
	}
	for _, i := range e.buffers {
		v := e.vals[i]
		p.bufs = append(p.bufs, &Var{Name: v.name, Shape: v.f.shape, Data: v.f.data})
	}
	return p
}

// Clone returns a program over the same model that shares this one's
// parameters and buffers (not gradients or activations). With threads 1 it
// runs on the calling goroutine; clones of one program may run forward and
// backward concurrently as long as nothing updates the parameters and no
// BatchNormalization updates running statistics (clones freeze them).
func (p *Program) Clone(threads int) (*Program, error) {
	opt := p.opt
	opt.Threads = threads
	return p.cloneWith(opt)
}

func (p *Program) trainableNames() []string {
	names := make([]string, len(p.vars))
	for i, v := range p.vars {
		names[i] = v.Name
	}
	return names
}

// Close releases the worker threads (also those of per-example workers).
func (p *Program) Close() {
	p.e.close()
	if p.pe != nil {
		for _, w := range p.pe.workers {
			w.Close()
		}
	}
}

// Vars lists the trainable parameters in initializer order.
func (p *Program) Vars() []*Var { return p.vars }

// Buffers lists the non-trainable state that training updates
// (BatchNormalization running mean and variance).
func (p *Program) Buffers() []*Var { return p.bufs }

// NumParams is the number of trainable scalars.
func (p *Program) NumParams() int {
	n := 0
	for _, v := range p.vars {
		n += len(v.Data)
	}
	return n
}

// Params returns a copy of the trainable parameters as one flat vector,
// concatenated in Vars order (the layout federated aggregation uses).
func (p *Program) Params() []float32 { return flatten(p.vars, false) }

// Grads returns a copy of the gradients, in the layout of Params.
func (p *Program) Grads() []float32 { return flatten(p.vars, true) }

// SetParams overwrites the trainable parameters from a flat vector laid out
// as Params returns it.
func (p *Program) SetParams(v []float32) error { return unflatten(p.vars, v) }

// State returns parameters followed by buffers as one flat vector: what a
// federated round averages when the model has BatchNormalization.
func (p *Program) State() []float32 {
	return append(flatten(p.vars, false), flatten(p.bufs, false)...)
}

// SetState overwrites parameters and buffers from a vector laid out as
// State returns it.
func (p *Program) SetState(v []float32) error {
	n := p.NumParams()
	if len(v) < n {
		return fmt.Errorf("train: state has %d values, the parameters alone need %d", len(v), n)
	}
	if err := unflatten(p.vars, v[:n]); err != nil {
		return err
	}
	return unflatten(p.bufs, v[n:])
}

func flatten(vs []*Var, grad bool) []float32 {
	n := 0
	for _, v := range vs {
		n += len(v.Data)
	}
	out := make([]float32, 0, n)
	for _, v := range vs {
		if grad {
			out = append(out, v.Grad...)
		} else {
			out = append(out, v.Data...)
		}
	}
	return out
}

func unflatten(vs []*Var, flat []float32) error {
	n := 0
	for _, v := range vs {
		n += len(v.Data)
	}
	if len(flat) != n {
		return fmt.Errorf("train: vector has %d values, want %d", len(flat), n)
	}
	off := 0
	for _, v := range vs {
		off += copy(v.Data, flat[off:off+len(v.Data)])
	}
	return nil
}

// ZeroGrad clears the gradients. Backward adds to them, so gradients of
// several batches accumulate until the next ZeroGrad.
func (p *Program) ZeroGrad() { p.e.zeroGrad() }

// Forward runs the model on inputs (in graph input order). In training mode
// BatchNormalization uses batch statistics (and updates its running
// ones), Dropout drops, and what Backward needs is kept. The outputs share
// the program's buffers: they are valid until the next Forward.
func (p *Program) Forward(training bool, inputs ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	if err := p.e.forward(inputs, training, training); err != nil {
		return nil, err
	}
	outs := make([]*tensor.Tensor, len(p.e.outputs))
	for k, i := range p.e.outputs {
		v := p.e.vals[i]
		if v.f != nil {
			outs[k] = toTensor(v.f)
		} else {
			outs[k] = v.t
		}
	}
	return outs, nil
}

// Backward propagates the gradients of the outputs (nil for an output
// that does not contribute) after a training-mode Forward, adding into the
// parameter gradients (and computing input gradients with
// Options.InputGrads).
func (p *Program) Backward(dOut ...*tensor.Tensor) error {
	seeds := map[int]*tens[float32]{}
	for k, d := range dOut {
		if d == nil {
			continue
		}
		if k >= len(p.e.outputs) {
			return fmt.Errorf("train: %d output gradients for %d outputs", len(dOut), len(p.e.outputs))
		}
		t, err := toTens[float32](d)
		if err != nil {
			return err
		}
		seeds[p.e.outputs[k]] = t
	}
	return p.e.backward(seeds)
}

// InputGrads returns the gradients of the float graph inputs computed by
// the last Backward (Options.InputGrads), in graph input order; an entry
// is nil when no gradient reached the input. They are valid until the next
// Backward.
func (p *Program) InputGrads() []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(p.e.inputs))
	for k, i := range p.e.inputs {
		if p.e.vals[i].needGrad && p.e.hasGrad(i) {
			out[k] = toTensor(p.e.vals[i].grad)
		}
	}
	return out
}

// StepResult is what one forward-backward pass over a batch measured.
type StepResult struct {
	Loss    float64 // mean loss over the batch
	Correct int     // samples whose arg max output is the label
	N       int
}

// Step runs a training-mode forward pass on the batch (first graph input;
// first output scored by loss), then backward, adding the gradient of the
// mean loss into Var.Grad.
func (p *Program) Step(b *data.Batch, loss Loss) (StepResult, error) {
	if len(p.e.inputs) != 1 {
		return StepResult{}, fmt.Errorf("train: Step needs a model with one input, this one has %d", len(p.e.inputs))
	}
	outs, err := p.Forward(true, b.X)
	if err != nil {
		return StepResult{}, err
	}
	out := outs[0]
	grad := tensor.Float32s(out.Shape, make([]float32, out.Len()))
	l, err := loss.Eval(out, b, grad.F32())
	if err != nil {
		return StepResult{}, err
	}
	r := StepResult{Loss: l, N: b.Len()}
	if b.Labels != nil && len(out.Shape) >= 2 {
		r.Correct = Correct(out, b.Labels)
	}
	dOut := make([]*tensor.Tensor, len(outs))
	dOut[0] = grad
	return r, p.Backward(dOut...)
}

// Evaluate runs the model in inference mode over ds in batches and returns
// the mean loss and the accuracy (arg max equal to the label).
func (p *Program) Evaluate(ds data.Dataset, batch int, loss Loss) (meanLoss, acc float64, err error) {
	if loss == nil {
		loss = CrossEntropy{}
	}
	l := &data.Loader{Data: ds, Batch: batch}
	var sum float64
	correct, n := 0, 0
	for b := range l.Epoch(0) {
		outs, err := p.Forward(false, b.X)
		if err != nil {
			return 0, 0, err
		}
		v, err := loss.Eval(outs[0], b, nil)
		if err != nil {
			return 0, 0, err
		}
		sum += v * float64(b.Len())
		if b.Labels != nil {
			correct += Correct(outs[0], b.Labels)
		}
		n += b.Len()
	}
	if n == 0 {
		return 0, 0, nil
	}
	return sum / float64(n), float64(correct) / float64(n), nil
}

// Export returns the inference model with the current parameters and
// buffers as its initializers (copies; the program may go on training).
// Save it with onnx.Save; runtime.Compile runs it.
func (p *Program) Export() *graph.Model {
	src := p.e.model
	m := *src
	g := *src.Graph
	g.Initializers = maps.Clone(src.Graph.Initializers)
	g.InitOrder = slices.Clone(src.Graph.InitOrder)
	for _, v := range append(slices.Clone(p.vars), p.bufs...) {
		g.Initializers[v.Name] = tensor.Float32s(slices.Clone(v.Shape), slices.Clone(v.Data))
	}
	m.Graph = &g
	m.Opsets = maps.Clone(src.Opsets)
	m.Metadata = maps.Clone(src.Metadata)
	return &m
}

// Model is the graph the program was compiled from (its initializers hold
// the initial values, not the trained ones: see Export).
func (p *Program) Model() *graph.Model { return p.e.model }
