package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Expand", 8, buildExpand)
	kernels.Register("", "Tile", 6, buildTile)
}

// dimsOf reads a 1-D int64 tensor of dims (a target shape, repeats),
// rejecting negative or absurd values before any product is taken.
func dimsOf(t *tensor.Tensor, what string) ([]int, error) {
	if len(t.Shape) != 1 {
		return nil, fmt.Errorf("%s must be 1-D, got shape %v", what, t.Shape)
	}
	v, err := intValues(t, what)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(v))
	for i, d := range v {
		if d < 0 || d > maxDim {
			return nil, fmt.Errorf("%s %v has an invalid entry %d", what, v, d)
		}
		out[i] = int(d)
	}
	return out, nil
}

// withInput returns a kernel that reads its second input as a
// parameter and copies the first through a plan built from both (sharing
// the data instead when the plan is the identity).
func withInput(plan func(x, p *tensor.Tensor) ([]int, *copyPlan, error)) kernels.Kernel {
	return aliasKernel{func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		p := in[1]
		k := permuteKernel{func(x *tensor.Tensor) ([]int, *copyPlan, error) { return plan(x, p) }}
		return k.Run(ctx, in[:1], out)
	}}
}

func buildExpand(b *kernels.BuildContext) (kernels.Kernel, error) {
	return withInput(func(x, s *tensor.Tensor) ([]int, *copyPlan, error) {
		target, err := dimsOf(s, "shape")
		if err != nil {
			return nil, nil, err
		}
		shape, err := tensor.BroadcastShapes(x.Shape, target)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot expand %v to %v", x.Shape, target)
		}
		if _, err := tensor.NumElements(shape); err != nil {
			return nil, nil, err
		}
		return shape, newCopyPlan(shape, tensor.BroadcastStrides(x.Shape, shape), 0), nil
	}), nil
}

func buildTile(b *kernels.BuildContext) (kernels.Kernel, error) {
	return withInput(func(x, r *tensor.Tensor) ([]int, *copyPlan, error) {
		reps, err := dimsOf(r, "repeats")
		if err != nil {
			return nil, nil, err
		}
		if len(reps) != len(x.Shape) {
			return nil, nil, fmt.Errorf("repeats %v do not match the input's rank %d", reps, len(x.Shape))
		}
		shape := make([]int, len(reps))
		for i, n := range reps {
			shape[i] = satMul(n, x.Shape[i])
		}
		if _, err := tensor.NumElements(shape); err != nil {
			return nil, nil, err
		}
		// Output dim i of size reps[i]*d[i] is read as the pair
		// (repeat, position) with source strides (0, stride[i]).
		st := tensor.Strides(x.Shape)
		view := make([]int, 0, 2*len(reps))
		strides := make([]int, 0, 2*len(reps))
		for i, n := range reps {
			view = append(view, n, x.Shape[i])
			strides = append(strides, 0, st[i])
		}
		return shape, newCopyPlan(view, strides, 0), nil
	}), nil
}
