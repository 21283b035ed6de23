package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// normAxis maps axis in [-rank, rank) to [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// normAxes normalises a list of axes and rejects duplicates.
func normAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d is repeated in %v", a, axes)
		}
		seen[ax] = true
		out[i] = ax
	}
	return out, nil
}

// intValues reads an int32 or int64 tensor (shapes, axes, pads, indices
// given as small tensors). It returns the data itself for int64.
func intValues(t *tensor.Tensor, what string) ([]int64, error) {
	switch d := t.Data.(type) {
	case []int64:
		return d, nil
	case []int32:
		out := make([]int64, len(d))
		for i, v := range d {
			out[i] = int64(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s must be int32 or int64, got %v", what, t.DType)
}

// scalarInt reads a one-element int32/int64 tensor (a scalar or a 1-D
// tensor of length 1, which many producers emit for "scalar" inputs).
func scalarInt(t *tensor.Tensor, what string) (int64, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("%s must have one element, got shape %v", what, t.Shape)
	}
	v, err := intValues(t, what)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// product multiplies dims; callers pass dims of existing tensors, whose
// products cannot overflow.
func product(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// alloc allocates an output tensor, checking the shape's size first.
func alloc(ctx *kernels.Ctx, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if _, err := tensor.NumElements(shape); err != nil {
		return nil, err
	}
	return ctx.Alloc(dt, shape)
}

// alias returns a tensor sharing x's data with a new shape.
func alias(x *tensor.Tensor, shape []int) *tensor.Tensor {
	return &tensor.Tensor{DType: x.DType, Shape: shape, Data: x.Data}
}

// aliasKernel marks kernels whose output shares its input's buffer.
type aliasKernel struct{ kernels.KernelFunc }

// MayAlias implements kernels.Aliaser.
func (aliasKernel) MayAlias() bool { return true }

// clampInt clamps v to [lo, hi].
func clampInt(v, lo, hi int64) int64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// need checks that the first n inputs are present.
func need(in []*tensor.Tensor, n int) error {
	for i := 0; i < n; i++ {
		if i >= len(in) || in[i] == nil {
			return fmt.Errorf("input %d is required", i)
		}
	}
	return nil
}

// maxDim bounds dims read from tensors so that products of two of them
// cannot overflow before they are checked.
const maxDim = 1 << 40

// satMul multiplies non-negative a and b, saturating at 2^62 so that a
// product of many dims never wraps around.
func satMul(a, b int) int {
	const limit = 1 << 62
	if a == 0 || b == 0 {
		return 0
	}
	if a > limit/b {
		return limit
	}
	return a * b
}

// checkAxis validates an axis attribute at build time when the rank of
// input 0 is already known; extra widens the range for operators whose
// axis indexes a higher-rank output (OneHot) or a boundary (Flatten).
func checkAxis(b *kernels.BuildContext, axis int64, extra int) error {
	if len(b.Inputs) == 0 || b.Inputs[0].Shape == nil {
		return nil
	}
	if _, err := normAxis(axis, len(b.Inputs[0].Shape)+extra); err != nil {
		return b.Errorf("%v", err)
	}
	return nil
}
