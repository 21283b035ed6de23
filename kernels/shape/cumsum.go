package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "CumSum", 11, buildCumulative(false))
	kernels.Register("", "CumProd", 26, buildCumulative(true))
}

type cumArgs struct {
	ctx               *kernels.Ctx
	dst, src          any
	outer, dim, inner int
	exclusive, rev    bool
	prod              bool
}

var cumImpl = byType[cumArgs]{cumT[float32], cumT[float64], cumT[int8], cumT[uint8],
	cumT[int16], cumT[uint16], cumT[int32], cumT[uint32], cumT[int64], cumT[uint64]}

// cumT scans along the axis one whole inner row at a time, so the loop
// over the inner dim is contiguous.
func cumT[T number](a cumArgs) error {
	dst, src := a.dst.([]T), a.src.([]T)
	var ident T
	if a.prod {
		ident = 1
	}
	in := a.inner
	a.ctx.Parallel(a.outer, max(1, minParallel/max(a.dim*in, 1)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			base := o * a.dim * in
			prev := -1 // row index of the previous output row
			for s := 0; s < a.dim; s++ {
				j := s
				if a.rev {
					j = a.dim - 1 - s
				}
				d := dst[base+j*in : base+(j+1)*in]
				// The value entering at this step: x[j] (inclusive) or
				// the one before it in scan order (exclusive).
				var x []T
				if !a.exclusive {
					x = src[base+j*in : base+(j+1)*in]
				} else if s > 0 {
					pj := j - 1
					if a.rev {
						pj = j + 1
					}
					x = src[base+pj*in : base+(pj+1)*in]
				}
				switch {
				case x == nil:
					for i := range d {
						d[i] = ident
					}
				case prev < 0:
					copy(d, x)
				default:
					p := dst[base+prev*in : base+(prev+1)*in]
					if a.prod {
						for i := range d {
							d[i] = p[i] * x[i]
						}
					} else {
						for i := range d {
							d[i] = p[i] + x[i]
						}
					}
				}
				prev = j
			}
		}
	})
	return nil
}

func buildCumulative(prod bool) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		a := b.Attrs()
		exclusive, rev := a.Int("exclusive", 0) != 0, a.Int("reverse", 0) != 0
		op := b.Node.OpType
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			if err := need(in, 2); err != nil {
				return err
			}
			x := in[0]
			if len(in[1].Shape) > 1 {
				return fmt.Errorf("axis must be a scalar, got shape %v", in[1].Shape)
			}
			axis, err := scalarInt(in[1], "axis")
			if err != nil {
				return err
			}
			ax, err := normAxis(axis, len(x.Shape))
			if err != nil {
				return err
			}
			y, err := ctx.Alloc(x.DType, x.Shape)
			if err != nil {
				return err
			}
			ca := cumArgs{ctx: ctx, dst: y.Data, src: x.Data, outer: product(x.Shape[:ax]),
				dim: x.Shape[ax], inner: product(x.Shape[ax+1:]), exclusive: exclusive, rev: rev, prod: prod}
			if isHalf(x.DType) {
				wy := &tensor.Tensor{DType: tensor.Float32, Shape: y.Shape, Data: make([]float32, y.Len())}
				ca.dst, ca.src = wy.Data, widen(x).Data
				if err := cumImpl.call(op, tensor.Float32, ca); err != nil {
					return err
				}
				narrow(y, wy.F32())
			} else if err := cumImpl.call(op, x.DType, ca); err != nil {
				return err
			}
			out[0] = y
			return nil
		}), nil
	}
}
