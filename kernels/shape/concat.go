package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Concat", 1, buildConcat) // axis defaults to 1
	kernels.Register("", "Concat", 4, buildConcat) // axis required
	kernels.Register("", "Split", 1, buildSplit)   // split input or attribute
	kernels.Register("", "Split", 2, buildSplit)   // split attribute
	kernels.Register("", "Split", 13, buildSplit)  // split input
	kernels.Register("", "Split", 18, buildSplit)  // num_outputs
}

// rowCopy copies n rows of rowLen elements from src (rows srcStride apart)
// to dst (rows dstStride apart); Concat and Split are made of these.
type rowCopy struct {
	ctx                  *kernels.Ctx
	dst, src             any
	dstOff, srcOff       int
	n, rowLen            int
	dstStride, srcStride int
}

var rowCopyImpl = instantiate(copyRowsOf[uint8], copyRowsOf[uint16], copyRowsOf[uint32], copyRowsOf[uint64], copyRowsOf[string])

func copyRowsOf[T word](a rowCopy) error {
	dst, src := view[T](a.dst), view[T](a.src)
	grain := max(1, minParallel/max(a.rowLen, 1))
	a.ctx.Parallel(a.n, grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := a.dstOff + i*a.dstStride
			s := a.srcOff + i*a.srcStride
			copy(dst[d:d+a.rowLen], src[s:s+a.rowLen])
		}
	})
	return nil
}

func buildConcat(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	if b.Opset >= 4 && !a.Has("axis") {
		return nil, b.Errorf("attribute axis is required")
	}
	axis := a.Int("axis", 1)
	if err := checkAxis(b, axis, 0); err != nil {
		return nil, err
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if len(in) == 0 {
			return fmt.Errorf("no inputs")
		}
		if err := need(in, len(in)); err != nil {
			return err
		}
		x0 := in[0]
		r := len(x0.Shape)
		ax, err := normAxis(axis, r)
		if err != nil {
			return err
		}
		shape := append([]int{}, x0.Shape...)
		shape[ax] = 0
		for i, x := range in {
			if x.DType != x0.DType {
				return fmt.Errorf("input %d is %v, input 0 is %v", i, x.DType, x0.DType)
			}
			if len(x.Shape) != r {
				return fmt.Errorf("input %d has shape %v, input 0 has %v", i, x.Shape, x0.Shape)
			}
			for k, d := range x.Shape {
				if k != ax && d != x0.Shape[k] {
					return fmt.Errorf("input %d has shape %v, input 0 has %v", i, x.Shape, x0.Shape)
				}
			}
			shape[ax] += x.Shape[ax]
		}
		y, err := allocFull(ctx, x0.DType, shape) // the inputs cover every element
		if err != nil {
			return err
		}
		outer, inner := product(shape[:ax]), product(shape[ax+1:])
		outRow := shape[ax] * inner
		off := 0
		for _, x := range in {
			row := x.Shape[ax] * inner
			if row > 0 && outer > 0 {
				rc := rowCopy{ctx: ctx, dst: y.Data, src: x.Data, dstOff: off, n: outer,
					rowLen: row, dstStride: outRow, srcStride: row}
				if outer == 1 && row >= 2*minParallel && ctx.Threads() > 1 {
					// one long run (batch 1, channel axis): copy it in
					// pieces so that every thread takes part
					pieces := min(row/minParallel, 4*ctx.Threads())
					rc.n, rc.rowLen = pieces, row/pieces
					rc.dstStride, rc.srcStride = rc.rowLen, rc.rowLen
					if err := rowCopyImpl.call(x.DType, rc); err != nil {
						return err
					}
					done := pieces * rc.rowLen
					rc.dstOff, rc.srcOff = off+done, done
					rc.n, rc.rowLen = 1, row-done
				}
				if err := rowCopyImpl.call(x.DType, rc); err != nil {
					return err
				}
			}
			off += row
		}
		out[0] = y
		return nil
	}), nil
}

func buildSplit(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	axis := a.Int("axis", 0)
	if err := checkAxis(b, axis, 0); err != nil {
		return nil, err
	}
	nOut := len(b.Node.Outputs)
	attrSplit := a.Ints("split", nil)
	splitInput := b.Opset == 1 || b.Opset >= 13
	if b.Opset >= 13 {
		attrSplit = nil
	}
	numOutputs := int64(0)
	if b.Opset >= 18 && a.Has("num_outputs") {
		numOutputs = a.Int("num_outputs", 0)
		if numOutputs < 1 || numOutputs != int64(nOut) {
			return nil, b.Errorf("num_outputs %d does not match the %d outputs", numOutputs, nOut)
		}
		if b.HasInput(1) {
			return nil, b.Errorf("split and num_outputs are exclusive")
		}
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return err
		}
		dim := x.Shape[ax]
		split := attrSplit
		if splitInput && len(in) > 1 && in[1] != nil {
			if split, err = intValues(in[1], "split"); err != nil {
				return err
			}
		}
		sizes := make([]int, nOut)
		switch {
		case split != nil:
			if len(split) != nOut {
				return fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), nOut)
			}
			sum := int64(0)
			for i, s := range split {
				if s < 0 || s > int64(dim) {
					return fmt.Errorf("split %v does not fit dim %d", split, dim)
				}
				sizes[i] = int(s)
				sum += s
			}
			if sum != int64(dim) {
				return fmt.Errorf("split %v does not sum to dim %d", split, dim)
			}
		case numOutputs > 0:
			// Chunks of ceil(dim/n), the last one smaller.
			chunk := (dim + nOut - 1) / nOut
			left := dim
			for i := range sizes {
				sizes[i] = min(chunk, left)
				left -= sizes[i]
			}
		default:
			if dim%nOut != 0 {
				return fmt.Errorf("dim %d cannot be split into %d equal parts", dim, nOut)
			}
			for i := range sizes {
				sizes[i] = dim / nOut
			}
		}
		outer, inner := product(x.Shape[:ax]), product(x.Shape[ax+1:])
		inRow := dim * inner
		off := 0
		for i, s := range sizes {
			shape := append([]int{}, x.Shape...)
			shape[ax] = s
			y, err := ctx.Alloc(x.DType, shape)
			if err != nil {
				return err
			}
			row := s * inner
			if row > 0 && outer > 0 {
				rc := rowCopy{ctx: ctx, dst: y.Data, src: x.Data, srcOff: off, n: outer,
					rowLen: row, dstStride: row, srcStride: inRow}
				if err := rowCopyImpl.call(x.DType, rc); err != nil {
					return err
				}
			}
			off += row
			out[i] = y
		}
		return nil
	}), nil
}

// uninitAllocator is implemented by allocators that can hand out a
// recycled buffer without zeroing it (the runtime's recycler); its
// AllocUninit has the contract of kernels.Allocator.Alloc except that the
// contents are arbitrary.
type uninitAllocator interface {
	AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error)
}

// allocFull allocates an output that the kernel writes completely, so its
// old contents need not be cleared.
func allocFull(ctx *kernels.Ctx, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if ctx != nil && dt != tensor.String {
		if u, ok := ctx.Allocator.(uninitAllocator); ok {
			return u.AllocUninit(dt, shape)
		}
	}
	return ctx.Alloc(dt, shape)
}
