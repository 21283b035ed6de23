package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Trilu", 14, buildTrilu)
	kernels.Register("", "ReverseSequence", 10, buildReverseSequence)
}

type triluArgs struct {
	ctx              *kernels.Ctx
	dst, src         any
	mats, rows, cols int
	k                int
	upper            bool
}

var triluImpl = instantiate(triluT[uint8], triluT[uint16], triluT[uint32], triluT[uint64], triluT[string])

// triluT copies, in each row i of each matrix, the columns j with
// j-i >= k (upper) or j-i <= k (lower); dst is zeroed already.
func triluT[T word](a triluArgs) error {
	dst, src := view[T](a.dst), view[T](a.src)
	n := a.mats * a.rows
	a.ctx.Parallel(n, max(1, minParallel/max(a.cols, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			i := r % a.rows
			j0, j1 := 0, a.cols
			if a.upper {
				j0 = min(max(i+a.k, 0), a.cols)
			} else {
				j1 = min(max(i+a.k+1, 0), a.cols)
			}
			o := r * a.cols
			copy(dst[o+j0:o+j1], src[o+j0:o+j1])
		}
	})
	return nil
}

func buildTrilu(b *kernels.BuildContext) (kernels.Kernel, error) {
	upper := b.Attrs().Int("upper", 1) != 0
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		r := len(x.Shape)
		if r < 2 {
			return fmt.Errorf("input must have rank >= 2, got shape %v", x.Shape)
		}
		k := int64(0)
		if len(in) > 1 && in[1] != nil {
			var err error
			if k, err = scalarInt(in[1], "k"); err != nil {
				return err
			}
		}
		y, err := ctx.Alloc(x.DType, x.Shape)
		if err != nil {
			return err
		}
		rows, cols := x.Shape[r-2], x.Shape[r-1]
		ta := triluArgs{ctx: ctx, dst: y.Data, src: x.Data, mats: product(x.Shape[:r-2]),
			rows: rows, cols: cols, k: int(clampInt(k, -maxDim, maxDim)), upper: upper}
		if err := triluImpl.call(x.DType, ta); err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}

func buildReverseSequence(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	batchAxis, timeAxis := a.Int("batch_axis", 1), a.Int("time_axis", 0)
	if !((batchAxis == 0 && timeAxis == 1) || (batchAxis == 1 && timeAxis == 0)) {
		return nil, b.Errorf("batch_axis %d and time_axis %d must be 0 and 1", batchAxis, timeAxis)
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		x := in[0]
		if len(x.Shape) < 2 {
			return fmt.Errorf("input must have rank >= 2, got shape %v", x.Shape)
		}
		lens, err := intValues(in[1], "sequence_lens")
		if err != nil {
			return err
		}
		batch, steps := x.Shape[batchAxis], x.Shape[timeAxis]
		if len(in[1].Shape) != 1 || len(lens) != batch {
			return fmt.Errorf("sequence_lens has shape %v for batch size %d", in[1].Shape, batch)
		}
		for _, l := range lens {
			if l < 0 || l > int64(steps) {
				return fmt.Errorf("sequence length %d is out of [0, %d]", l, steps)
			}
		}
		y, err := ctx.Alloc(x.DType, x.Shape)
		if err != nil {
			return err
		}
		// Blocks are the inner dims; block (i0, i1) reads block (i0, i1')
		// with the time index reversed within the sequence's length.
		d0, d1 := x.Shape[0], x.Shape[1]
		inner := product(x.Shape[2:])
		offs := make([]int, d0*d1)
		for i0 := 0; i0 < d0; i0++ {
			for i1 := 0; i1 < d1; i1++ {
				bi, t := i0, i1
				if batchAxis == 1 {
					bi, t = i1, i0
				}
				if l := int(lens[bi]); t < l {
					t = l - 1 - t
				}
				s0, s1 := bi, t
				if batchAxis == 1 {
					s0, s1 = t, bi
				}
				offs[i0*d1+i1] = (s0*d1 + s1) * inner
			}
		}
		if inner > 0 {
			bc := blockCopy{ctx: ctx, dst: y.Data, src: x.Data, srcOffs: offs, blockLen: inner, n: len(offs)}
			if err := blockCopyImpl.call(x.DType, bc); err != nil {
				return err
			}
		}
		out[0] = y
		return nil
	}), nil
}
