package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Slice", 1, buildSlice)  // starts, ends, axes attributes
	kernels.Register("", "Slice", 10, buildSlice) // inputs, steps
}

// sliceArgs are Slice's parameters before they are resolved against a shape.
type sliceArgs struct {
	starts, ends, axes, steps []int64
}

func buildSlice(b *kernels.BuildContext) (kernels.Kernel, error) {
	if b.Opset < 10 {
		a := b.Attrs()
		starts, err := a.RequireInts("starts")
		if err != nil {
			return nil, err
		}
		ends, err := a.RequireInts("ends")
		if err != nil {
			return nil, err
		}
		args := sliceArgs{starts: starts, ends: ends, axes: a.Ints("axes", nil)}
		return permuteKernel{func(x *tensor.Tensor) ([]int, *copyPlan, error) {
			return slicePlan(x.Shape, args)
		}}, nil
	}
	return aliasKernel{func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 3); err != nil {
			return err
		}
		var args sliceArgs
		var err error
		if args.starts, err = intValues(in[1], "starts"); err != nil {
			return err
		}
		if args.ends, err = intValues(in[2], "ends"); err != nil {
			return err
		}
		if len(in) > 3 && in[3] != nil {
			if args.axes, err = intValues(in[3], "axes"); err != nil {
				return err
			}
		}
		if len(in) > 4 && in[4] != nil {
			if args.steps, err = intValues(in[4], "steps"); err != nil {
				return err
			}
		}
		k := permuteKernel{func(x *tensor.Tensor) ([]int, *copyPlan, error) {
			return slicePlan(x.Shape, args)
		}}
		return k.Run(ctx, in[:1], out)
	}}, nil
}

// slicePlan resolves Slice's starts, ends, axes and steps against shape
// (negative values count from the end; out-of-range values are clamped)
// and returns the output shape and the strided copy that produces it.
func slicePlan(shape []int, a sliceArgs) ([]int, *copyPlan, error) {
	r := len(shape)
	n := len(a.starts)
	if len(a.ends) != n || (a.axes != nil && len(a.axes) != n) || (a.steps != nil && len(a.steps) != n) {
		return nil, nil, fmt.Errorf("starts, ends, axes and steps must have the same length")
	}
	out := append([]int{}, shape...)
	st := tensor.Strides(shape)
	strides := append([]int{}, st...)
	off := 0
	seen := make([]bool, r)
	for i := 0; i < n; i++ {
		axis := int64(i)
		if a.axes != nil {
			axis = a.axes[i]
		}
		ax, err := normAxis(axis, r)
		if err != nil {
			return nil, nil, err
		}
		if seen[ax] {
			return nil, nil, fmt.Errorf("axis %d is repeated", axis)
		}
		seen[ax] = true
		step := int64(1)
		if a.steps != nil {
			step = a.steps[i]
		}
		if step == 0 {
			return nil, nil, fmt.Errorf("step of axis %d is 0", axis)
		}
		// A step longer than any dim takes one element; clamping it keeps
		// the arithmetic below from overflowing.
		step = clampInt(step, -maxDim, maxDim)
		d := int64(shape[ax])
		start, end := a.starts[i], a.ends[i]
		if start < 0 {
			start += d
		}
		if end < 0 {
			end += d
		}
		var length int64
		if step > 0 {
			start, end = clampInt(start, 0, d), clampInt(end, 0, d)
			if end > start {
				length = (end-start-1)/step + 1
			}
		} else {
			start, end = clampInt(start, 0, d-1), clampInt(end, -1, d-1)
			if start > end {
				length = (start-end-1)/(-step) + 1
			}
		}
		out[ax] = int(length)
		if length > 0 {
			off += int(start) * st[ax]
		}
		if length > 1 { // then |step| < dim, so the product cannot overflow
			strides[ax] = st[ax] * int(step)
		}
	}
	return out, newCopyPlan(out, strides, off), nil
}
