package reduce

import (
	"slices"
	"sync/atomic"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// reduceOp describes one Reduce* operator.
type reduceOp struct {
	name string
	kind opKind
	// axesInput is the opset from which axes is an input, not an attribute.
	axesInput int64
	// bools reports whether bool tensors are accepted (Max/Min, opset 20).
	bools bool
}

var reduceOps = []reduceOp{
	{"ReduceSum", opSum, 13, false},
	{"ReduceMean", opMean, 18, false},
	{"ReduceSumSquare", opSumSquare, 18, false},
	{"ReduceL1", opL1, 18, false},
	{"ReduceL2", opL2, 18, false},
	{"ReduceLogSum", opLogSum, 18, false},
	{"ReduceLogSumExp", opLogSumExp, 18, false},
	{"ReduceMax", opMax, 18, true},
	{"ReduceMin", opMin, 18, true},
	{"ReduceProd", opProd, 18, false},
}

func init() {
	for _, op := range reduceOps {
		kernels.Register("", op.name, 1, op.build)
		kernels.Register("", op.name, op.axesInput, op.build)
	}
}

// reduceKernel is a compiled Reduce* node.
type reduceKernel struct {
	op       reduceOp
	keepdims bool
	noop     bool // noop_with_empty_axes
	axes     []int64
	dynAxes  bool  // axes come from a non-constant input
	fixed    *plan // plan for the declared shape, when known at build time
	fixedIn  []int
	last     atomic.Pointer[cachedPlan] // most recent run-time plan
}

type cachedPlan struct {
	shape []int
	axes  []int64
	p     *plan
}

func (op reduceOp) build(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &reduceKernel{op: op, keepdims: a.Int("keepdims", 1) != 0}
	if b.Opset >= op.axesInput {
		k.noop = a.Int("noop_with_empty_axes", 0) != 0
		if b.HasInput(1) {
			if c := b.ConstInput(1); c != nil {
				if c.DType != tensor.Int64 {
					return nil, b.Errorf("axes must be int64, got %v", c.DType)
				}
				k.axes = slices.Clone(c.Int64Values())
			} else {
				k.dynAxes = true
			}
		}
	} else {
		k.axes = a.Ints("axes", nil)
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !k.supports(dt) {
		return nil, kernels.Unsupported(op.name, "dtype %v", dt)
	}
	if s := b.Inputs[0].Shape; !k.dynAxes && knownShape(s) {
		p, err := k.planFor(s, k.axes)
		if err != nil {
			return nil, b.Errorf("%v", err)
		}
		k.fixed, k.fixedIn = p, slices.Clone(s)
	}
	return k, nil
}

func (k *reduceKernel) supports(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16,
		tensor.Int8, tensor.Uint8, tensor.Int16, tensor.Uint16,
		tensor.Int32, tensor.Uint32, tensor.Int64, tensor.Uint64:
		return true
	case tensor.Bool:
		return k.op.bools
	}
	return false
}

func (k *reduceKernel) planFor(shape []int, axes []int64) (*plan, error) {
	var ax []int
	switch {
	case len(axes) > 0:
		var err error
		if ax, err = normAxes(axes, len(shape)); err != nil {
			return nil, err
		}
	case !k.noop:
		ax = allAxes(len(shape))
	}
	return makePlan(shape, ax, k.keepdims)
}

// planAt returns the plan for this run's shape and axes, reusing the build
// time plan or the last run's when they match.
func (k *reduceKernel) planAt(shape []int, axes []int64) (*plan, error) {
	if !k.dynAxes && k.fixed != nil && slices.Equal(shape, k.fixedIn) {
		return k.fixed, nil
	}
	if c := k.last.Load(); c != nil && slices.Equal(c.shape, shape) && slices.Equal(c.axes, axes) {
		return c.p, nil
	}
	p, err := k.planFor(shape, axes)
	if err != nil {
		return nil, err
	}
	k.last.Store(&cachedPlan{shape: slices.Clone(shape), axes: slices.Clone(axes), p: p})
	return p, nil
}

func (k *reduceKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if !k.supports(x.DType) {
		return kernels.Unsupported(k.op.name, "dtype %v", x.DType)
	}
	axes := k.axes
	if k.dynAxes && len(in) > 1 && in[1] != nil {
		if in[1].DType != tensor.Int64 {
			return kernels.Unsupported(k.op.name, "axes dtype %v", in[1].DType)
		}
		axes = in[1].Int64Values()
	}
	p, err := k.planAt(x.Shape, axes)
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(x.DType, p.outShape)
	if err != nil {
		return err
	}
	runReduce(ctx, p, k.op.kind, x, y)
	out[0] = y
	return nil
}

// runReduce dispatches on dtype; x and y have the same dtype.
func runReduce(ctx *kernels.Ctx, p *plan, kind opKind, x, y *tensor.Tensor) {
	switch x.DType {
	case tensor.Float32:
		reduceTyped(ctx, p, kind, x.F32(), y.F32())
	case tensor.Float64:
		reduceTyped(ctx, p, kind, tensor.Data[float64](x), tensor.Data[float64](y))
	case tensor.Int8:
		reduceTyped(ctx, p, kind, tensor.Data[int8](x), tensor.Data[int8](y))
	case tensor.Uint8:
		reduceTyped(ctx, p, kind, tensor.Data[uint8](x), tensor.Data[uint8](y))
	case tensor.Int16:
		reduceTyped(ctx, p, kind, tensor.Data[int16](x), tensor.Data[int16](y))
	case tensor.Uint16:
		reduceTyped(ctx, p, kind, tensor.Data[uint16](x), tensor.Data[uint16](y))
	case tensor.Int32:
		reduceTyped(ctx, p, kind, tensor.Data[int32](x), tensor.Data[int32](y))
	case tensor.Uint32:
		reduceTyped(ctx, p, kind, tensor.Data[uint32](x), tensor.Data[uint32](y))
	case tensor.Int64:
		reduceTyped(ctx, p, kind, tensor.Data[int64](x), tensor.Data[int64](y))
	case tensor.Uint64:
		reduceTyped(ctx, p, kind, tensor.Data[uint64](x), tensor.Data[uint64](y))
	case tensor.Float16, tensor.BFloat16:
		// Reduce in float32 and round once at the end.
		xs := widen(x)
		ys := make([]float32, y.Len())
		reduceTyped(ctx, p, kind, xs, ys)
		narrow(y, ys)
	case tensor.Bool:
		// Max is "any", Min is "all": the same reduction on 0/1 bytes.
		xb := tensor.Data[bool](x)
		xs := make([]uint8, len(xb))
		for i, v := range xb {
			if v {
				xs[i] = 1
			}
		}
		ys := make([]uint8, y.Len())
		reduceTyped(ctx, p, kind, xs, ys)
		yb := tensor.Data[bool](y)
		for i, v := range ys {
			yb[i] = v != 0
		}
	}
}

// widen converts a float16 or bfloat16 tensor to float32 values.
func widen(t *tensor.Tensor) []float32 { return t.Float32Values() }

// narrow stores float32 values into a float16 or bfloat16 tensor.
func narrow(t *tensor.Tensor, v []float32) {
	tensor.NarrowHalves(tensor.Data[uint16](t), v, t.DType)
}
