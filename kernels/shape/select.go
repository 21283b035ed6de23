package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// Operators whose output size depends on the values: NonZero, Compress.

func init() {
	kernels.Register("", "NonZero", 9, buildNonZero)
	kernels.Register("", "Compress", 9, buildCompress)
	kernels.Register("", "Compress", 11, buildCompress) // negative axis
}

// valueMask is the bits of a storage word that make it nonzero: all of
// them for integers and bools, all but the sign for floats (so -0 is zero).
func valueMask(dt tensor.DType) uint64 {
	switch dt {
	case tensor.Float16, tensor.BFloat16:
		return 0x7fff
	case tensor.Float32:
		return 0x7fffffff
	case tensor.Float64:
		return 0x7fffffffffffffff
	}
	return ^uint64(0)
}

type nonzeroArgs struct {
	data any
	mask uint64
	pos  *[]int // flat positions of nonzero elements
}

var nonzeroImpl = instantiate(nonzeroT[uint8], nonzeroT[uint16], nonzeroT[uint32], nonzeroT[uint64], nonzeroStrings)

func nonzeroT[T uint8 | uint16 | uint32 | uint64](a nonzeroArgs) error {
	m := T(a.mask)
	for i, v := range view[T](a.data) {
		if v&m != 0 {
			*a.pos = append(*a.pos, i)
		}
	}
	return nil
}

func nonzeroStrings(a nonzeroArgs) error {
	for i, v := range a.data.([]string) {
		if v != "" {
			*a.pos = append(*a.pos, i)
		}
	}
	return nil
}

func buildNonZero(b *kernels.BuildContext) (kernels.Kernel, error) {
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		var pos []int
		if err := nonzeroImpl.call(x.DType, nonzeroArgs{data: x.Data, mask: valueMask(x.DType), pos: &pos}); err != nil {
			return err
		}
		shape := x.Shape
		if len(shape) == 0 {
			shape = []int{1} // a scalar is treated as a 1-element vector, as ONNX Runtime does
		}
		r, n := len(shape), len(pos)
		y, err := ctx.Alloc(tensor.Int64, []int{r, n})
		if err != nil {
			return err
		}
		d := y.I64()
		for j, p := range pos {
			for k := r - 1; k >= 0; k-- {
				d[k*n+j] = int64(p % shape[k])
				p /= shape[k]
			}
		}
		out[0] = y
		return nil
	}), nil
}

func buildCompress(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	hasAxis := a.Has("axis")
	axis := a.Int("axis", 0)
	if hasAxis {
		if err := checkAxis(b, axis, 0); err != nil {
			return nil, err
		}
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		x, cond := in[0], in[1]
		c, ok := cond.Data.([]bool)
		if !ok || len(cond.Shape) != 1 {
			return fmt.Errorf("condition must be a 1-D bool tensor, got %v%v", cond.DType, cond.Shape)
		}
		shape := x.Shape
		ax := 0
		if hasAxis {
			var err error
			if ax, err = normAxis(axis, len(shape)); err != nil {
				return err
			}
		} else {
			shape = []int{x.Len()}
		}
		dim := shape[ax]
		var idx []int
		for i, keep := range c {
			if !keep {
				continue
			}
			if i >= dim {
				return fmt.Errorf("condition selects index %d of a dim of size %d", i, dim)
			}
			idx = append(idx, i)
		}
		outShape := append([]int{}, shape...)
		outShape[ax] = len(idx)
		y, err := ctx.Alloc(x.DType, outShape)
		if err != nil {
			return err
		}
		ga := gatherArgs{ctx: ctx, dst: y.Data, src: x.Data, idx: idx,
			outer: product(shape[:ax]), dim: dim, inner: product(shape[ax+1:])}
		if err := gatherImpl.call(x.DType, ga); err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}
