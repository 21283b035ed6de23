package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "ScatterND", 11, buildScatterND)
	kernels.Register("", "ScatterND", 16, buildScatterND) // reduction add, mul
	kernels.Register("", "ScatterND", 18, buildScatterND) // reduction max, min
	kernels.Register("", "ScatterElements", 11, buildScatterElements)
	kernels.Register("", "ScatterElements", 16, buildScatterElements)
	kernels.Register("", "ScatterElements", 18, buildScatterElements)
	kernels.Register("", "Scatter", 9, buildScatterElements) // ScatterElements' deprecated name
	kernels.Register("", "TensorScatter", 24, buildTensorScatter)
}

// reduction is how a scatter combines an update with the existing value.
type reduction int

const (
	reduceNone reduction = iota
	reduceAdd
	reduceMul
	reduceMax
	reduceMin
)

// parseReduction reads the reduction attribute, allowing the values the
// node's opset defines.
func parseReduction(b *kernels.BuildContext) (reduction, error) {
	if b.Opset < 16 || b.Node.OpType == "Scatter" {
		return reduceNone, nil
	}
	s := b.Attrs().String("reduction", "none")
	switch {
	case s == "none":
		return reduceNone, nil
	case s == "add":
		return reduceAdd, nil
	case s == "mul":
		return reduceMul, nil
	case s == "max" && b.Opset >= 18:
		return reduceMax, nil
	case s == "min" && b.Opset >= 18:
		return reduceMin, nil
	}
	return 0, b.Errorf("unknown reduction %q", s)
}

// scatter writes updates into a copy of data: block i of blockLen
// elements of updates goes to offset offs[i], replaced or combined.
func scatter(ctx *kernels.Ctx, op string, data, updates *tensor.Tensor, offs []int, blockLen int, red reduction) (*tensor.Tensor, error) {
	if updates.DType != data.DType {
		return nil, fmt.Errorf("updates are %v, data is %v", updates.DType, data.DType)
	}
	y, err := ctx.Alloc(data.DType, data.Shape)
	if err != nil {
		return nil, err
	}
	tensor.CopyData(y.Data, data.Data)
	if blockLen == 0 || len(offs) == 0 {
		return y, nil
	}
	if red == reduceNone {
		bc := blockCopy{ctx: ctx, dst: y.Data, src: updates.Data, dstOffs: offs, blockLen: blockLen, n: len(offs)}
		return y, blockCopyImpl.call(data.DType, bc)
	}
	if isHalf(data.DType) {
		wy := widen(y)
		a := reduceArgs{dst: wy.Data, upd: widen(updates).Data, offs: offs, blockLen: blockLen, red: red}
		if err := reduceImpl.call(op, tensor.Float32, a); err != nil {
			return nil, err
		}
		narrow(y, wy.F32())
		return y, nil
	}
	a := reduceArgs{dst: y.Data, upd: updates.Data, offs: offs, blockLen: blockLen, red: red}
	return y, reduceImpl.call(op, data.DType, a)
}

type reduceArgs struct {
	dst, upd any
	offs     []int
	blockLen int
	red      reduction
}

var reduceImpl = byType[reduceArgs]{reduceT[float32], reduceT[float64], reduceT[int8], reduceT[uint8],
	reduceT[int16], reduceT[uint16], reduceT[int32], reduceT[uint32], reduceT[int64], reduceT[uint64]}

// reduceT combines the update blocks into dst in order, so duplicates
// accumulate.
func reduceT[T number](a reduceArgs) error {
	dst, upd := a.dst.([]T), a.upd.([]T)
	bl := a.blockLen
	for i, off := range a.offs {
		d := dst[off : off+bl]
		u := upd[i*bl : i*bl+bl]
		switch a.red {
		case reduceAdd:
			for j, v := range u {
				d[j] += v
			}
		case reduceMul:
			for j, v := range u {
				d[j] *= v
			}
		case reduceMax:
			for j, v := range u {
				d[j] = max(d[j], v)
			}
		case reduceMin:
			for j, v := range u {
				d[j] = min(d[j], v)
			}
		}
	}
	return nil
}

func buildScatterND(b *kernels.BuildContext) (kernels.Kernel, error) {
	red, err := parseReduction(b)
	if err != nil {
		return nil, err
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 3); err != nil {
			return err
		}
		x, indices, updates := in[0], in[1], in[2]
		offs, sliceLen, err := ndOffsets(x.Shape, indices, 0)
		if err != nil {
			return err
		}
		q := len(indices.Shape)
		want := append(append([]int{}, indices.Shape[:q-1]...), x.Shape[indices.Shape[q-1]:]...)
		if !tensor.EqualShapes(updates.Shape, want) {
			return fmt.Errorf("updates have shape %v, want %v", updates.Shape, want)
		}
		y, err := scatter(ctx, b.Node.OpType, x, updates, offs, sliceLen, red)
		if err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}

func buildScatterElements(b *kernels.BuildContext) (kernels.Kernel, error) {
	red, err := parseReduction(b)
	if err != nil {
		return nil, err
	}
	axis := b.Attrs().Int("axis", 0)
	if err := checkAxis(b, axis, 0); err != nil {
		return nil, err
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 3); err != nil {
			return err
		}
		x, indices, updates := in[0], in[1], in[2]
		ax, err := normAxis(axis, len(x.Shape))
		if err != nil {
			return err
		}
		if err := checkElementShapes(x.Shape, indices.Shape, ax); err != nil {
			return err
		}
		if !tensor.EqualShapes(updates.Shape, indices.Shape) {
			return fmt.Errorf("updates have shape %v, indices %v", updates.Shape, indices.Shape)
		}
		idx, err := normIndices(indices, x.Shape[ax])
		if err != nil {
			return err
		}
		offs := elementOffsets(x.Shape, indices.Shape, ax, idx)
		y, err := scatter(ctx, b.Node.OpType, x, updates, offs, 1, red)
		if err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}

func buildTensorScatter(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	axis := a.Int("axis", -2)
	circular := false
	switch m := a.String("mode", "linear"); m {
	case "linear":
	case "circular":
		circular = true
	default:
		return nil, b.Errorf("mode must be linear or circular, got %q", m)
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		cache, update := in[0], in[1]
		r := len(cache.Shape)
		ax, err := normAxis(axis, r)
		if err != nil {
			return err
		}
		if ax == 0 {
			return fmt.Errorf("axis cannot be the batch axis 0")
		}
		if len(update.Shape) != r {
			return fmt.Errorf("update has shape %v, cache %v", update.Shape, cache.Shape)
		}
		for k := range update.Shape {
			if k != ax && update.Shape[k] != cache.Shape[k] {
				return fmt.Errorf("update has shape %v, cache %v", update.Shape, cache.Shape)
			}
		}
		batch, maxSeq, seq := cache.Shape[0], cache.Shape[ax], update.Shape[ax]
		if seq > maxSeq {
			return fmt.Errorf("update's sequence length %d exceeds the cache's %d", seq, maxSeq)
		}
		var starts []int64
		if len(in) > 2 && in[2] != nil {
			if starts, err = intValues(in[2], "write_indices"); err != nil {
				return err
			}
			if len(starts) != batch {
				return fmt.Errorf("write_indices has %d entries for batch size %d", len(starts), batch)
			}
		} else {
			starts = make([]int64, batch)
		}
		mid := product(cache.Shape[1:ax])    // dims between batch and sequence
		inner := product(cache.Shape[ax+1:]) // one sequence position
		offs := make([]int, 0, batch*mid*seq)
		for bi, s := range starts {
			if s < 0 || s >= int64(max(maxSeq, 1)) || (!circular && s+int64(seq) > int64(maxSeq)) {
				return fmt.Errorf("write index %d with %d new positions does not fit a cache of length %d", s, seq, maxSeq)
			}
			for m := 0; m < mid; m++ {
				base := (bi*mid + m) * maxSeq
				for j := 0; j < seq; j++ {
					pos := int(s) + j
					if circular {
						pos %= maxSeq
					}
					offs = append(offs, (base+pos)*inner)
				}
			}
		}
		y, err := scatter(ctx, "TensorScatter", cache, update, offs, inner, reduceNone)
		if err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}
