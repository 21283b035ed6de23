package elementwise

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// whereKernel is Where(cond, X, Y) with three-way broadcasting. It copies
// elements, so it handles every dtype, float16 bits included, directly.
type whereKernel struct{}

func (whereKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	c, x, y := in[0], in[1], in[2]
	if c.DType != tensor.Bool {
		return fmt.Errorf("condition is %v, not bool", c.DType)
	}
	if x.DType != y.DType {
		return fmt.Errorf("X is %v but Y is %v", x.DType, y.DType)
	}
	p, err := newPlan(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return err
	}
	o, err := ctx.Alloc(x.DType, p.shape)
	if err != nil {
		return err
	}
	cd := c.Data.([]bool)
	switch xd := x.Data.(type) {
	case []float32:
		where(ctx, p, cd, xd, y.Data.([]float32), o.Data.([]float32))
	case []float64:
		where(ctx, p, cd, xd, y.Data.([]float64), o.Data.([]float64))
	case []int8:
		where(ctx, p, cd, xd, y.Data.([]int8), o.Data.([]int8))
	case []uint8:
		where(ctx, p, cd, xd, y.Data.([]uint8), o.Data.([]uint8))
	case []int16:
		where(ctx, p, cd, xd, y.Data.([]int16), o.Data.([]int16))
	case []uint16:
		where(ctx, p, cd, xd, y.Data.([]uint16), o.Data.([]uint16))
	case []int32:
		where(ctx, p, cd, xd, y.Data.([]int32), o.Data.([]int32))
	case []uint32:
		where(ctx, p, cd, xd, y.Data.([]uint32), o.Data.([]uint32))
	case []int64:
		where(ctx, p, cd, xd, y.Data.([]int64), o.Data.([]int64))
	case []uint64:
		where(ctx, p, cd, xd, y.Data.([]uint64), o.Data.([]uint64))
	case []bool:
		where(ctx, p, cd, xd, y.Data.([]bool), o.Data.([]bool))
	case []string:
		where(ctx, p, cd, xd, y.Data.([]string), o.Data.([]string))
	default:
		return kernels.Unsupported("Where", "dtype %v", x.DType)
	}
	out[0] = o
	return nil
}

func where[T any](ctx *kernels.Ctx, p *plan, c []bool, x, y, d []T) {
	sc, sx, sy := p.istr[0], p.istr[1], p.istr[2]
	p.run(ctx, grainCheap, func(o int, off []int, n int) {
		d := d[o : o+n]
		if sc == 0 { // the condition is constant over the run: a copy or fill
			src, s := x[off[1]:], sx
			if !c[off[0]] {
				src, s = y[off[2]:], sy
			}
			if s == 1 {
				copy(d, src[:n])
			} else {
				for i := range d {
					d[i] = src[0]
				}
			}
			return
		}
		c := c[off[0] : off[0]+n]
		ox, oy := off[1], off[2]
		for i := range d {
			if c[i] {
				d[i] = x[ox+i*sx]
			} else {
				d[i] = y[oy+i*sy]
			}
		}
	})
}
