package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Transpose", 1, buildTranspose)
	kernels.Register("", "DepthToSpace", 1, buildDepthToSpace)
	kernels.Register("", "DepthToSpace", 11, buildDepthToSpace) // mode
	kernels.Register("", "SpaceToDepth", 1, buildSpaceToDepth)
}

// permuteKernel copies its input through a copyPlan. When the plan is a
// plain contiguous copy (a permutation that only moves size-1 dims) the
// output shares the input's data instead.
type permuteKernel struct {
	plan func(x *tensor.Tensor) (outShape []int, p *copyPlan, err error)
}

// MayAlias implements kernels.Aliaser.
func (permuteKernel) MayAlias() bool { return true }

func (k permuteKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	if err := need(in, 1); err != nil {
		return err
	}
	x := in[0]
	shape, p, err := k.plan(x)
	if err != nil {
		return err
	}
	if p.n > 0 && p.n == x.Len() && p.off == 0 && (len(p.shape) == 0 || (len(p.shape) == 1 && p.strides[0] == 1)) {
		out[0] = alias(x, shape)
		return nil
	}
	y, err := ctx.Alloc(x.DType, shape)
	if err != nil {
		return err
	}
	if err := p.run(ctx, x.DType, y.Data, x.Data); err != nil {
		return err
	}
	out[0] = y
	return nil
}

func buildTranspose(b *kernels.BuildContext) (kernels.Kernel, error) {
	perm := b.Attrs().Ints("perm", nil)
	if perm != nil {
		if err := checkPerm(perm); err != nil {
			return nil, b.Errorf("%v", err)
		}
		if s := b.Inputs[0].Shape; s != nil && len(s) != len(perm) {
			return nil, b.Errorf("perm %v does not match the input's rank %d", perm, len(s))
		}
	}
	return permuteKernel{func(x *tensor.Tensor) ([]int, *copyPlan, error) {
		r := len(x.Shape)
		p := perm
		if p == nil {
			p = make([]int64, r)
			for i := range p {
				p[i] = int64(r - 1 - i)
			}
		} else if len(p) != r {
			return nil, nil, fmt.Errorf("perm %v does not match the input's rank %d", perm, r)
		}
		st := tensor.Strides(x.Shape)
		shape := make([]int, r)
		strides := make([]int, r)
		for i, a := range p {
			shape[i] = x.Shape[a]
			strides[i] = st[a]
		}
		return shape, newCopyPlan(shape, strides, 0), nil
	}}, nil
}

// checkPerm verifies that perm is a permutation of 0..len(perm)-1.
func checkPerm(perm []int64) error {
	seen := make([]bool, len(perm))
	for _, a := range perm {
		if a < 0 || a >= int64(len(perm)) || seen[a] {
			return fmt.Errorf("perm %v is not a permutation", perm)
		}
		seen[a] = true
	}
	return nil
}

// permuted builds the plan that reads a tensor of shape view (a reshape of
// the input) in the order perm: the heart of DepthToSpace and SpaceToDepth.
func permuted(view []int, perm []int) ([]int, []int) {
	st := tensor.Strides(view)
	shape := make([]int, len(perm))
	strides := make([]int, len(perm))
	for i, a := range perm {
		shape[i] = view[a]
		strides[i] = st[a]
	}
	return shape, strides
}

func blockSize(b *kernels.BuildContext) (int, error) {
	bs := b.Attrs().Int("blocksize", 0)
	if bs < 1 || bs > 1<<16 {
		return 0, b.Errorf("blocksize must be positive, got %d", bs)
	}
	return int(bs), nil
}

func buildDepthToSpace(b *kernels.BuildContext) (kernels.Kernel, error) {
	bs, err := blockSize(b)
	if err != nil {
		return nil, err
	}
	mode := "DCR"
	if b.Opset >= 11 {
		mode = b.Attrs().String("mode", "DCR")
	}
	if mode != "DCR" && mode != "CRD" {
		return nil, b.Errorf("mode must be DCR or CRD, got %q", mode)
	}
	return permuteKernel{func(x *tensor.Tensor) ([]int, *copyPlan, error) {
		if len(x.Shape) != 4 {
			return nil, nil, fmt.Errorf("input must be 4-D, got shape %v", x.Shape)
		}
		n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		if c%(bs*bs) != 0 {
			return nil, nil, fmt.Errorf("channels %d are not a multiple of blocksize² = %d", c, bs*bs)
		}
		c2 := c / (bs * bs)
		var shape, strides []int
		if mode == "DCR" {
			shape, strides = permuted([]int{n, bs, bs, c2, h, w}, []int{0, 3, 4, 1, 5, 2})
		} else {
			shape, strides = permuted([]int{n, c2, bs, bs, h, w}, []int{0, 1, 4, 2, 5, 3})
		}
		return []int{n, c2, h * bs, w * bs}, newCopyPlan(shape, strides, 0), nil
	}}, nil
}

func buildSpaceToDepth(b *kernels.BuildContext) (kernels.Kernel, error) {
	bs, err := blockSize(b)
	if err != nil {
		return nil, err
	}
	return permuteKernel{func(x *tensor.Tensor) ([]int, *copyPlan, error) {
		if len(x.Shape) != 4 {
			return nil, nil, fmt.Errorf("input must be 4-D, got shape %v", x.Shape)
		}
		n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		if h%bs != 0 || w%bs != 0 {
			return nil, nil, fmt.Errorf("spatial dims %dx%d are not multiples of blocksize %d", h, w, bs)
		}
		shape, strides := permuted([]int{n, c, h / bs, bs, w / bs, bs}, []int{0, 3, 5, 1, 2, 4})
		return []int{n, c * bs * bs, h / bs, w / bs}, newCopyPlan(shape, strides, 0), nil
	}}, nil
}
