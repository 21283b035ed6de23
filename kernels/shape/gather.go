package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Gather", 1, buildGather)
	kernels.Register("", "GatherElements", 11, buildGatherElements)
	kernels.Register("", "GatherND", 11, buildGatherND)
	kernels.Register("", "GatherND", 12, buildGatherND) // batch_dims
}

// normIndices reads an int32/int64 index tensor, maps negative entries
// (counting from the end of a dim of size dim) and rejects any index out
// of [-dim, dim).
func normIndices(t *tensor.Tensor, dim int) ([]int, error) {
	out := make([]int, t.Len())
	d := int64(dim)
	check := func(i int, v int64) error {
		if v < -d || v >= d {
			return fmt.Errorf("index %d is out of range for a dim of size %d", v, dim)
		}
		if v < 0 {
			v += d
		}
		out[i] = int(v)
		return nil
	}
	switch idx := t.Data.(type) {
	case []int64:
		for i, v := range idx {
			if err := check(i, v); err != nil {
				return nil, err
			}
		}
	case []int32:
		for i, v := range idx {
			if err := check(i, int64(v)); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("indices must be int32 or int64, got %v", t.DType)
	}
	return out, nil
}

// blockCopy moves blocks of blockLen elements from src to dst. Block i
// is read at srcOffs[i] (or i*blockLen when srcOffs is nil) and written at
// dstOffs[i] (or i*blockLen). Scatters (dstOffs set) run in order so that
// the last of duplicate indices wins; gathers run in parallel.
type blockCopy struct {
	ctx              *kernels.Ctx
	dst, src         any
	dstOffs, srcOffs []int
	blockLen, n      int
}

var blockCopyImpl = instantiate(copyBlocks[uint8], copyBlocks[uint16], copyBlocks[uint32], copyBlocks[uint64], copyBlocks[string])

func copyBlocks[T word](a blockCopy) error {
	dst, src := view[T](a.dst), view[T](a.src)
	bl := a.blockLen
	run := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s, d := i*bl, i*bl
			if a.srcOffs != nil {
				s = a.srcOffs[i]
			}
			if a.dstOffs != nil {
				d = a.dstOffs[i]
			}
			if bl == 1 {
				dst[d] = src[s]
			} else {
				copy(dst[d:d+bl], src[s:s+bl])
			}
		}
	}
	if a.dstOffs != nil {
		run(0, a.n)
		return nil
	}
	a.ctx.Parallel(a.n, max(1, minParallel/max(bl, 1)), run)
	return nil
}

func buildGather(b *kernels.BuildContext) (kernels.Kernel, error) {
	axis := b.Attrs().Int("axis", 0)
	if err := checkAxis(b, axis, 0); err != nil {
		return nil, err
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		x, indices := in[0], in[1]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return err
		}
		idx, err := normIndices(indices, x.Shape[ax])
		if err != nil {
			return err
		}
		shape := make([]int, 0, len(x.Shape)-1+len(indices.Shape))
		shape = append(append(append(shape, x.Shape[:ax]...), indices.Shape...), x.Shape[ax+1:]...)
		y, err := alloc(ctx, x.DType, shape)
		if err != nil {
			return err
		}
		ga := gatherArgs{ctx: ctx, dst: y.Data, src: x.Data, idx: idx,
			outer: product(x.Shape[:ax]), dim: x.Shape[ax], inner: product(x.Shape[ax+1:])}
		if err := gatherImpl.call(x.DType, ga); err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}

type gatherArgs struct {
	ctx               *kernels.Ctx
	dst, src          any
	idx               []int
	outer, dim, inner int
}

var gatherImpl = instantiate(gatherT[uint8], gatherT[uint16], gatherT[uint32], gatherT[uint64], gatherT[string])

// gatherT copies, for each outer index o and each gathered index j, the
// inner block src[o, idx[j], :] to dst[o, j, :].
func gatherT[T word](a gatherArgs) error {
	dst, src := view[T](a.dst), view[T](a.src)
	nIdx, inner := len(a.idx), a.inner
	n := a.outer * nIdx
	if n == 0 || inner == 0 {
		return nil
	}
	a.ctx.Parallel(n, max(1, minParallel/inner), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, j := u/nIdx, u%nIdx
			s := (o*a.dim + a.idx[j]) * inner
			d := u * inner
			if inner == 1 {
				dst[d] = src[s]
			} else {
				copy(dst[d:d+inner], src[s:s+inner])
			}
		}
	})
	return nil
}

// elementOffsets maps every position of an indices tensor (of shape ishape,
// holding values idx for dim axis) to the flat offset of the element of a
// tensor of shape dshape it addresses. GatherElements and ScatterElements
// use it; ishape must not exceed dshape outside axis.
func elementOffsets(dshape, ishape []int, axis int, idx []int) []int {
	offs := make([]int, len(idx))
	if len(idx) == 0 {
		return offs
	}
	dst := tensor.Strides(dshape)
	r := len(ishape)
	pos := make([]int, r)
	base := 0 // offset of pos with the axis coordinate left out
	for i := range offs {
		offs[i] = base + idx[i]*dst[axis]
		for k := r - 1; k >= 0; k-- {
			pos[k]++
			if k != axis {
				base += dst[k]
			}
			if pos[k] < ishape[k] {
				break
			}
			if k != axis {
				base -= pos[k] * dst[k]
			}
			pos[k] = 0
		}
	}
	return offs
}

// checkElementShapes validates the indices (and updates) shape of
// GatherElements and ScatterElements against the data shape.
func checkElementShapes(dshape, ishape []int, axis int) error {
	if len(ishape) != len(dshape) {
		return fmt.Errorf("indices rank %d differs from data rank %d", len(ishape), len(dshape))
	}
	for k := range ishape {
		if k != axis && ishape[k] > dshape[k] {
			return fmt.Errorf("indices shape %v exceeds data shape %v", ishape, dshape)
		}
	}
	return nil
}

func buildGatherElements(b *kernels.BuildContext) (kernels.Kernel, error) {
	axis := b.Attrs().Int("axis", 0)
	if err := checkAxis(b, axis, 0); err != nil {
		return nil, err
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		x, indices := in[0], in[1]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return err
		}
		if err := checkElementShapes(x.Shape, indices.Shape, ax); err != nil {
			return err
		}
		idx, err := normIndices(indices, x.Shape[ax])
		if err != nil {
			return err
		}
		y, err := ctx.Alloc(x.DType, indices.Shape)
		if err != nil {
			return err
		}
		offs := elementOffsets(x.Shape, indices.Shape, ax, idx)
		bc := blockCopy{ctx: ctx, dst: y.Data, src: x.Data, srcOffs: offs, blockLen: 1, n: len(offs)}
		if err := blockCopyImpl.call(x.DType, bc); err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}

// ndOffsets resolves GatherND/ScatterND index tuples: indices has shape
// [batch dims..., N..., m]; the result holds, for every tuple, the flat
// offset of the addressed slice of data (whose own size is returned too).
func ndOffsets(dshape []int, indices *tensor.Tensor, batchDims int) (offs []int, sliceLen int, err error) {
	ishape := indices.Shape
	q, r := len(ishape), len(dshape)
	if q < 1 {
		return nil, 0, fmt.Errorf("indices must have rank >= 1")
	}
	if batchDims < 0 || batchDims >= min(q, r) {
		return nil, 0, fmt.Errorf("batch_dims %d must be less than both ranks (%d, %d)", batchDims, q, r)
	}
	m := ishape[q-1]
	if m < 1 || m > r-batchDims {
		return nil, 0, fmt.Errorf("indices' last dim %d must be in [1, %d]", m, r-batchDims)
	}
	for k := 0; k < batchDims; k++ {
		if ishape[k] != dshape[k] {
			return nil, 0, fmt.Errorf("batch dims of indices %v and data %v differ", ishape, dshape)
		}
	}
	raw, err := intValues(indices, "indices")
	if err != nil {
		return nil, 0, err
	}
	dst := tensor.Strides(dshape)
	sliceLen = product(dshape[batchDims+m:])
	tuples := len(raw) / m
	perBatch := product(ishape[batchDims : q-1])
	batchStride := 1
	if batchDims > 0 {
		batchStride = dst[batchDims-1]
	}
	offs = make([]int, tuples)
	for t := range offs {
		off := (t / max(perBatch, 1)) * batchStride
		if batchDims == 0 {
			off = 0
		}
		for k := 0; k < m; k++ {
			v := raw[t*m+k]
			d := int64(dshape[batchDims+k])
			if v < -d || v >= d {
				return nil, 0, fmt.Errorf("index %d is out of range for a dim of size %d", v, d)
			}
			if v < 0 {
				v += d
			}
			off += int(v) * dst[batchDims+k]
		}
		offs[t] = off
	}
	return offs, sliceLen, nil
}

func buildGatherND(b *kernels.BuildContext) (kernels.Kernel, error) {
	batchDims := int(b.Attrs().Int("batch_dims", 0))
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		x, indices := in[0], in[1]
		offs, sliceLen, err := ndOffsets(x.Shape, indices, batchDims)
		if err != nil {
			return err
		}
		q := len(indices.Shape)
		m := indices.Shape[q-1]
		shape := append(append([]int{}, indices.Shape[:q-1]...), x.Shape[batchDims+m:]...)
		y, err := ctx.Alloc(x.DType, shape)
		if err != nil {
			return err
		}
		if sliceLen > 0 {
			bc := blockCopy{ctx: ctx, dst: y.Data, src: x.Data, srcOffs: offs, blockLen: sliceLen, n: len(offs)}
			if err := blockCopyImpl.call(x.DType, bc); err != nil {
				return err
			}
		}
		out[0] = y
		return nil
	}), nil
}
