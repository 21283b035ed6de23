package reduce

import (
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "ArgMax", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) { return buildArg(b, true) })
	kernels.Register("", "ArgMin", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) { return buildArg(b, false) })
}

// argKernel is a compiled ArgMax or ArgMin node.
type argKernel struct {
	name     string
	axis     int64
	keepdims bool
	max      bool
	last     bool // select_last_index: ties go to the highest index
}

func buildArg(b *kernels.BuildContext, isMax bool) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &argKernel{
		name:     b.Node.OpType,
		axis:     a.Int("axis", 0),
		keepdims: a.Int("keepdims", 1) != 0,
		max:      isMax,
		last:     a.Int("select_last_index", 0) != 0,
	}
	if dt := b.Inputs[0].DType; dt != tensor.Undefined && !argSupports(dt) {
		return nil, kernels.Unsupported(k.name, "dtype %v", dt)
	}
	if s := b.Inputs[0].Shape; s != nil {
		if r := int64(len(s)); k.axis < -r || k.axis >= r {
			return nil, b.Errorf("axis %d out of range for rank %d", k.axis, r)
		}
	}
	return k, nil
}

func argSupports(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16,
		tensor.Int8, tensor.Uint8, tensor.Int16, tensor.Uint16,
		tensor.Int32, tensor.Uint32, tensor.Int64, tensor.Uint64:
		return true
	}
	return false
}

func (k *argKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if !argSupports(x.DType) {
		return kernels.Unsupported(k.name, "dtype %v", x.DType)
	}
	r := int64(x.Rank())
	if k.axis < -r || k.axis >= r {
		return errorf("axis %d out of range for rank %d", k.axis, r)
	}
	axis := int(k.axis)
	if axis < 0 {
		axis += int(r)
	}
	n := x.Shape[axis]
	outer, inner := 1, 1
	for _, d := range x.Shape[:axis] {
		outer *= d
	}
	for _, d := range x.Shape[axis+1:] {
		inner *= d
	}
	shape := make([]int, 0, x.Rank())
	shape = append(shape, x.Shape[:axis]...)
	if k.keepdims {
		shape = append(shape, 1)
	}
	shape = append(shape, x.Shape[axis+1:]...)
	if n == 0 && outer*inner > 0 {
		return errorf("%s over an empty axis %d of shape %v", k.name, axis, x.Shape)
	}
	y, err := ctx.Alloc(tensor.Int64, shape)
	if err != nil {
		return err
	}
	out[0] = y
	if outer*inner == 0 {
		return nil
	}
	mode := argMode(0)
	if !k.max {
		mode |= argMin
	}
	if k.last {
		mode |= argLast
	}
	yv := y.I64()
	switch x.DType {
	case tensor.Float32:
		argTyped(ctx, x.F32(), yv, outer, n, inner, mode)
	case tensor.Float64:
		argTyped(ctx, tensor.Data[float64](x), yv, outer, n, inner, mode)
	case tensor.Float16, tensor.BFloat16:
		argTyped(ctx, widen(x), yv, outer, n, inner, mode)
	case tensor.Int8:
		argTyped(ctx, tensor.Data[int8](x), yv, outer, n, inner, mode)
	case tensor.Uint8:
		argTyped(ctx, tensor.Data[uint8](x), yv, outer, n, inner, mode)
	case tensor.Int16:
		argTyped(ctx, tensor.Data[int16](x), yv, outer, n, inner, mode)
	case tensor.Uint16:
		argTyped(ctx, tensor.Data[uint16](x), yv, outer, n, inner, mode)
	case tensor.Int32:
		argTyped(ctx, tensor.Data[int32](x), yv, outer, n, inner, mode)
	case tensor.Uint32:
		argTyped(ctx, tensor.Data[uint32](x), yv, outer, n, inner, mode)
	case tensor.Int64:
		argTyped(ctx, tensor.Data[int64](x), yv, outer, n, inner, mode)
	case tensor.Uint64:
		argTyped(ctx, tensor.Data[uint64](x), yv, outer, n, inner, mode)
	}
	return nil
}

type argMode uint8

const (
	argMin  argMode = 1 << iota // minimum instead of maximum
	argLast                     // last index on ties
)

// better reports whether v replaces the current best b under mode. It is
// small enough to inline, and mode is loop-invariant, so the branch predicts.
func better[T number](mode argMode, v, b T) bool {
	switch mode {
	case 0:
		return v > b
	case argLast:
		return v >= b
	case argMin:
		return v < b
	}
	return v <= b
}

// argTyped writes, for x viewed as [outer, n, inner], the index of the
// best element along n into y ([outer, inner]).
func argTyped[T number](ctx *kernels.Ctx, x []T, y []int64, outer, n, inner int, mode argMode) {
	if inner == 1 {
		ctx.Parallel(outer, max(1, minParallel/n), func(lo, hi int) {
			for o := lo; o < hi; o++ {
				s := x[o*n : (o+1)*n]
				best, idx := s[0], 0
				for i, v := range s {
					if better(mode, v, best) {
						best, idx = v, i
					}
				}
				y[o] = int64(idx)
			}
		})
		return
	}
	nb := (inner + colBlock - 1) / colBlock
	ctx.Parallel(outer*nb, max(1, minParallel/(n*min(inner, colBlock))), func(lo, hi int) {
		best := make([]T, min(inner, colBlock))
		for t := lo; t < hi; t++ {
			o, c0 := t/nb, (t%nb)*colBlock
			c1 := min(inner, c0+colBlock)
			bv := best[:c1-c0]
			yi := y[o*inner+c0 : o*inner+c1]
			base := o*n*inner + c0
			copy(bv, x[base:base+len(bv)])
			clear(yi)
			for i := 1; i < n; i++ {
				row := x[base+i*inner : base+i*inner+len(bv)]
				for c, v := range row {
					if better(mode, v, bv[c]) {
						bv[c], yi[c] = v, int64(i)
					}
				}
			}
		}
	})
}
