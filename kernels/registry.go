package kernels

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// Input describes one node input at compile time.
type Input struct {
	// Present is false for an omitted optional input (empty name).
	Present bool
	// DType is Undefined when not known before run time.
	DType tensor.DType
	// Shape is nil when unknown; a known rank with unknown dims uses -1.
	Shape []int
	// Const is the value when it is known at compile time (an initializer
	// or the result of constant folding); kernels may pre-pack it.
	Const *tensor.Tensor
}

// Subgraph is a compiled graph attribute (If branches, Loop and Scan bodies).
type Subgraph interface {
	// InputNames lists the subgraph's declared inputs, in order.
	InputNames() []string
	// NumOutputs is the number of graph outputs.
	NumOutputs() int
	// Run executes the subgraph. Values of the enclosing scopes are found
	// through ctx. The returned tensors are owned by the caller.
	Run(ctx *Ctx, inputs []*tensor.Tensor) ([]*tensor.Tensor, error)
}

// BuildContext is what a Builder sees of a node.
type BuildContext struct {
	Node   *graph.Node
	Opset  int64
	Inputs []Input
	// Compile compiles a graph attribute so the kernel can run it.
	Compile func(g *graph.Graph) (Subgraph, error)
}

// Attrs returns an accessor for the node's attributes.
func (b *BuildContext) Attrs() Attrs { return Attrs{node: b.Node} }

// Errorf returns an error prefixed with the node's label.
func (b *BuildContext) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", b.Node.Label(), fmt.Sprintf(format, args...))
}

// ConstInput returns the constant value of input i, or nil.
func (b *BuildContext) ConstInput(i int) *tensor.Tensor {
	if i < len(b.Inputs) && b.Inputs[i].Present {
		return b.Inputs[i].Const
	}
	return nil
}

// HasInput reports whether optional input i was given.
func (b *BuildContext) HasInput(i int) bool { return i < len(b.Inputs) && b.Inputs[i].Present }

// Builder compiles one node into a Kernel.
type Builder func(b *BuildContext) (Kernel, error)

// Kernel runs one compiled node. in[i] is nil for an omitted optional input.
// Run must set out[i] for every output the node declares (it may leave
// omitted outputs nil) and must not modify its inputs. Implementations are
// immutable after Build and safe for concurrent use.
type Kernel interface {
	Run(ctx *Ctx, in, out []*tensor.Tensor) error
}

// KernelFunc adapts a function to Kernel.
type KernelFunc func(ctx *Ctx, in, out []*tensor.Tensor) error

// Run calls f.
func (f KernelFunc) Run(ctx *Ctx, in, out []*tensor.Tensor) error { return f(ctx, in, out) }

// Aliaser is implemented by kernels whose outputs may share memory with
// their inputs (Reshape, Identity, Squeeze ...); the runtime then keeps the
// input buffer alive while the output is.
type Aliaser interface{ MayAlias() bool }

// PackedInputs is implemented by kernels that copied some constant inputs
// into their own layout at build time (pre-packed weights) and no longer
// read them at run time. The runtime then passes nil for those inputs and
// drops its reference to the originals, so they are not kept twice.
type PackedInputs interface{ PackedInputs() []int }

// Nondeterministic is implemented by kernels that must not be constant
// folded (random generators).
type Nondeterministic interface{ Nondeterministic() bool }

// UnsupportedError reports an operator, dtype or attribute value that
// edgedl does not implement. Tools count it as skipped, not failed.
type UnsupportedError struct {
	Op     string
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("unsupported: %s: %s", e.Op, e.Reason)
}

// Unsupported returns an *UnsupportedError.
func Unsupported(op, format string, args ...any) error {
	return &UnsupportedError{Op: op, Reason: fmt.Sprintf(format, args...)}
}

// IsUnsupported reports whether err is or wraps an *UnsupportedError.
func IsUnsupported(err error) bool {
	var u *UnsupportedError
	return errors.As(err, &u)
}

type opKey struct{ domain, op string }

type opVersion struct {
	since int64
	build Builder
}

var (
	regMu    sync.RWMutex
	registry = map[opKey][]opVersion{}
)

// Register adds a Builder for op in domain ("" is ai.onnx) from opset
// version since onwards. Registering the same (domain, op, since) twice panics.
func Register(domain, op string, since int64, build Builder) {
	regMu.Lock()
	defer regMu.Unlock()
	k := opKey{graph.NormalizeDomain(domain), op}
	for _, v := range registry[k] {
		if v.since == since {
			panic(fmt.Sprintf("kernels: %s version %d registered twice", op, since))
		}
	}
	vs := append(registry[k], opVersion{since, build})
	sort.Slice(vs, func(i, j int) bool { return vs[i].since < vs[j].since })
	registry[k] = vs
}

// Lookup finds the Builder for op at the given opset: the registration with
// the highest since-version not above opset.
func Lookup(domain, op string, opset int64) (Builder, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	vs := registry[opKey{graph.NormalizeDomain(domain), op}]
	if len(vs) == 0 {
		name := op
		if domain != "" {
			name = domain + "." + op
		}
		return nil, Unsupported(name, "operator not implemented")
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].since <= opset {
			return vs[i].build, nil
		}
	}
	return nil, Unsupported(op, "no implementation for opset %d (earliest is %d)", opset, vs[0].since)
}

// Registered lists "domain.op" names (default domain without prefix), sorted.
func Registered() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for k := range registry {
		if k.domain == "" {
			out = append(out, k.op)
		} else {
			out = append(out, k.domain+"."+k.op)
		}
	}
	sort.Strings(out)
	return out
}
