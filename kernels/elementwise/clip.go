package elementwise

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// clipKernel is Clip from opset 11: min and max are optional scalar
// inputs of X's dtype. y = min(max(x, lo), hi), so lo > hi gives hi
// everywhere (numpy.clip) and NaN passes through.
type clipKernel struct{}

func (k clipKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	bound := func(i int) (*tensor.Tensor, error) {
		if i >= len(in) || in[i] == nil {
			return nil, nil
		}
		t := in[i]
		if t.DType != x.DType {
			return nil, fmt.Errorf("bound %d is %v, X is %v", i, t.DType, x.DType)
		}
		if t.Len() != 1 {
			return nil, fmt.Errorf("bound %d must be a scalar, has shape %v", i, t.Shape)
		}
		return t, nil
	}
	lo, err := bound(1)
	if err != nil {
		return err
	}
	hi, err := bound(2)
	if err != nil {
		return err
	}
	if !numTypes.has(x.DType) {
		return kernels.Unsupported("Clip", "dtype %v", x.DType)
	}
	if isHalf(x.DType) {
		return viaFloat32(ctx, k, in, out, x.DType, true)
	}
	o, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	switch xd := x.Data.(type) {
	case []float32:
		clipRun(ctx, xd, o.Data.([]float32), lo, hi, float32(math.Inf(-1)), float32(math.Inf(1)))
	case []float64:
		clipRun(ctx, xd, o.Data.([]float64), lo, hi, math.Inf(-1), math.Inf(1))
	case []int8:
		clipRun(ctx, xd, o.Data.([]int8), lo, hi, math.MinInt8, math.MaxInt8)
	case []uint8:
		clipRun(ctx, xd, o.Data.([]uint8), lo, hi, 0, math.MaxUint8)
	case []int16:
		clipRun(ctx, xd, o.Data.([]int16), lo, hi, math.MinInt16, math.MaxInt16)
	case []uint16:
		clipRun(ctx, xd, o.Data.([]uint16), lo, hi, 0, math.MaxUint16)
	case []int32:
		clipRun(ctx, xd, o.Data.([]int32), lo, hi, math.MinInt32, math.MaxInt32)
	case []uint32:
		clipRun(ctx, xd, o.Data.([]uint32), lo, hi, 0, math.MaxUint32)
	case []int64:
		clipRun(ctx, xd, o.Data.([]int64), lo, hi, math.MinInt64, math.MaxInt64)
	case []uint64:
		clipRun(ctx, xd, o.Data.([]uint64), lo, hi, 0, math.MaxUint64)
	}
	out[0] = o
	return nil
}

func clipRun[T number](ctx *kernels.Ctx, x, d []T, lo, hi *tensor.Tensor, min, max T) {
	if lo != nil {
		min = lo.Data.([]T)[0]
	}
	if hi != nil {
		max = hi.Data.([]T)[0]
	}
	parUnary(ctx, grainCheap, d, x, func(d, x []T) { clipLoop(d, x, min, max) })
}

// clipLoop is d[i] = min(max(x[i], lo), hi), unrolled by four. NaN
// passes through (builtin min and max propagate it).
func clipLoop[T number](d, x []T, lo, hi T) {
	n := len(d)
	x = x[:n]
	i := 0
	for ; i+4 <= n; i += 4 {
		dd, xx := d[i:i+4:i+4], x[i:i+4:i+4]
		dd[0] = min(max(xx[0], lo), hi)
		dd[1] = min(max(xx[1], lo), hi)
		dd[2] = min(max(xx[2], lo), hi)
		dd[3] = min(max(xx[3], lo), hi)
	}
	for ; i < n; i++ {
		d[i] = min(max(x[i], lo), hi)
	}
}
