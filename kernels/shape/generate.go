package shape

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// Operators that make a tensor from a few parameters: ConstantOfShape,
// Range, OneHot and EyeLike.

func init() {
	kernels.Register("", "ConstantOfShape", 9, buildConstantOfShape)
	kernels.Register("", "Range", 11, buildRange)
	kernels.Register("", "OneHot", 9, buildOneHot)
	kernels.Register("", "OneHot", 11, buildOneHot) // negative indices, axis
	kernels.Register("", "EyeLike", 9, buildEyeLike)
}

// fillArgs sets every element of dst, or only those at offs, to value[vi].
type fillArgs struct {
	ctx        *kernels.Ctx
	dst, value any
	vi         int
	offs       []int
}

var fillImpl = instantiate(fillT[uint8], fillT[uint16], fillT[uint32], fillT[uint64], fillT[string])

func fillT[T word](a fillArgs) error {
	dst := view[T](a.dst)
	v := view[T](a.value)[a.vi]
	if a.offs != nil {
		for _, o := range a.offs {
			dst[o] = v
		}
		return nil
	}
	a.ctx.Parallel(len(dst), minParallel, func(lo, hi int) {
		d := dst[lo:hi]
		for i := range d {
			d[i] = v
		}
	})
	return nil
}

func buildConstantOfShape(b *kernels.BuildContext) (kernels.Kernel, error) {
	value := b.Attrs().Tensor("value")
	if value == nil {
		value = tensor.Scalar(float32(0))
	}
	if value.Len() != 1 {
		return nil, b.Errorf("value must have one element, got shape %v", value.Shape)
	}
	if !value.DType.Supported() {
		return nil, kernels.Unsupported("ConstantOfShape", "dtype %v", value.DType)
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		shape, err := dimsOf(in[0], "shape")
		if err != nil {
			return err
		}
		y, err := alloc(ctx, value.DType, shape)
		if err != nil {
			return err
		}
		if y.Len() > 0 {
			if err := fillImpl.call(value.DType, fillArgs{ctx: ctx, dst: y.Data, value: value.Data}); err != nil {
				return err
			}
		}
		out[0] = y
		return nil
	}), nil
}

func buildRange(b *kernels.BuildContext) (kernels.Kernel, error) {
	// stash_type (opset 27) picks the precision of float16/bfloat16
	// ranges; without it numpy computes in float64.
	stash32 := b.Attrs().Int("stash_type", int64(tensor.Float64)) == int64(tensor.Float32)
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 3); err != nil {
			return err
		}
		dt := in[0].DType
		for i, t := range in[:3] {
			if t.DType != dt || t.Len() != 1 {
				return fmt.Errorf("input %d must be a %v scalar, got %v%v", i, dt, t.DType, t.Shape)
			}
		}
		var n int
		if dt.IsInteger() {
			start, limit, delta := in[0].Int64At(0), in[1].Int64At(0), in[2].Int64At(0)
			if delta == 0 {
				return fmt.Errorf("delta is 0")
			}
			// Exact ceil((limit-start)/delta) in 128-bit-safe steps.
			span, ok := subNoOverflow(limit, start)
			if !ok {
				return fmt.Errorf("range [%d, %d) is too large", start, limit)
			}
			if (span > 0) == (delta > 0) && span != 0 {
				q := span / delta
				if span%delta != 0 {
					q++
				}
				if q > int64(tensor.MaxElements) {
					return fmt.Errorf("range of %d elements is too large", q)
				}
				n = int(q)
			}
		} else {
			start, limit, delta := float64Of(in[0]), float64Of(in[1]), float64Of(in[2])
			if delta == 0 {
				return fmt.Errorf("delta is 0")
			}
			q := math.Ceil((limit - start) / delta)
			if math.IsNaN(q) || q > float64(tensor.MaxElements) {
				return fmt.Errorf("range (%g, %g, %g) is too large or undefined", start, limit, delta)
			}
			n = int(max(q, 0))
		}
		y, err := alloc(ctx, dt, []int{n})
		if err != nil {
			return err
		}
		switch d := y.Data.(type) {
		case []float32:
			arangeFloat(d, in[0].F32()[0], in[2].F32()[0])
		case []float64:
			arangeFloat(d, in[0].Data.([]float64)[0], in[2].Data.([]float64)[0])
		case []int16:
			arangeInt(d, in[0].Data.([]int16)[0], in[2].Data.([]int16)[0])
		case []int32:
			arangeInt(d, in[0].Data.([]int32)[0], in[2].Data.([]int32)[0])
		case []int64:
			arangeInt(d, in[0].I64()[0], in[2].I64()[0])
		case []int8:
			arangeInt(d, in[0].Data.([]int8)[0], in[2].Data.([]int8)[0])
		case []uint8:
			arangeInt(d, in[0].Data.([]uint8)[0], in[2].Data.([]uint8)[0])
		case []uint32:
			arangeInt(d, in[0].Data.([]uint32)[0], in[2].Data.([]uint32)[0])
		case []uint64:
			arangeInt(d, in[0].Data.([]uint64)[0], in[2].Data.([]uint64)[0])
		case []uint16:
			if !isHalf(dt) {
				arangeInt(d, in[0].Data.([]uint16)[0], in[2].Data.([]uint16)[0])
				break
			}
			tmp := make([]float32, n)
			if stash32 {
				arangeFloat(tmp, float32(float64Of(in[0])), float32(float64Of(in[2])))
			} else {
				start, delta := float64Of(in[0]), float64Of(in[2])
				for i := range tmp {
					tmp[i] = float32(start + float64(i)*delta)
				}
			}
			narrow(y, tmp)
		default:
			return kernels.Unsupported("Range", "dtype %v", dt)
		}
		out[0] = y
		return nil
	}), nil
}

// subNoOverflow returns a-b and whether it did not overflow.
func subNoOverflow(a, b int64) (int64, bool) {
	d := a - b
	return d, (b >= 0) == (d <= a)
}

// arangeFloat fills d with start + i*delta computed in float64, as numpy's
// arange does before casting.
func arangeFloat[T float32 | float64](d []T, start, delta T) {
	s, dl := float64(start), float64(delta)
	for i := range d {
		d[i] = T(s + float64(i)*dl)
	}
}

// arangeInt fills d with start + i*delta (wrapping like the dtype does).
func arangeInt[T number](d []T, start, delta T) {
	v := start
	for i := range d {
		d[i] = v
		v += delta
	}
}

func buildOneHot(b *kernels.BuildContext) (kernels.Kernel, error) {
	axis := b.Attrs().Int("axis", -1)
	if err := checkAxis(b, axis, 1); err != nil {
		return nil, err
	}
	negIndices := b.Opset >= 11
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 3); err != nil {
			return err
		}
		indices, depthT, values := in[0], in[1], in[2]
		if depthT.Len() != 1 {
			return fmt.Errorf("depth must have one element, got shape %v", depthT.Shape)
		}
		if values.Len() != 2 {
			return fmt.Errorf("values must have two elements, got shape %v", values.Shape)
		}
		if !indices.DType.IsInteger() && !indices.DType.IsFloat() {
			return fmt.Errorf("indices must be numeric, got %v", indices.DType)
		}
		df := float64Of(depthT)
		if !(df >= 1) || df > float64(tensor.MaxElements) {
			return fmt.Errorf("depth %g is out of range", df)
		}
		depth := int(df)
		r := len(indices.Shape) + 1
		ax, err := normAxis(axis, r)
		if err != nil {
			return err
		}
		shape := make([]int, 0, r)
		shape = append(append(append(shape, indices.Shape[:ax]...), depth), indices.Shape[ax:]...)
		y, err := alloc(ctx, values.DType, shape)
		if err != nil {
			return err
		}
		inner := product(indices.Shape[ax:])
		var offs []int
		var ints []int64
		if indices.DType.IsInteger() {
			ints = indices.Int64Values()
		}
		for i := 0; i < indices.Len(); i++ {
			var v int64
			if ints != nil {
				v = ints[i]
			} else {
				v = int64(indices.Float64At(i)) // float indices truncate
			}
			if v < 0 && negIndices {
				v += int64(depth)
			}
			if v < 0 || v >= int64(depth) {
				continue // out-of-range indices give an all-"off" vector
			}
			o, j := i/max(inner, 1), i%max(inner, 1)
			offs = append(offs, (o*depth+int(v))*inner+j)
		}
		if y.Len() > 0 {
			if err := fillImpl.call(values.DType, fillArgs{ctx: ctx, dst: y.Data, value: values.Data}); err != nil {
				return err
			}
			if err := fillImpl.call(values.DType, fillArgs{ctx: ctx, dst: y.Data, value: values.Data, vi: 1, offs: offs}); err != nil {
				return err
			}
		}
		out[0] = y
		return nil
	}), nil
}

func buildEyeLike(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := int(clampInt(a.Int("k", 0), -maxDim, maxDim))
	dtAttr := tensor.DType(a.Int("dtype", 0))
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		if len(x.Shape) != 2 {
			return fmt.Errorf("input must be 2-D, got shape %v", x.Shape)
		}
		dt := x.DType
		if dtAttr != tensor.Undefined {
			dt = dtAttr
		}
		if !dt.Supported() || dt == tensor.String {
			return kernels.Unsupported("EyeLike", "dtype %v", dt)
		}
		one, err := scalarOf(dt, 1)
		if err != nil {
			return err
		}
		y, err := ctx.Alloc(dt, x.Shape)
		if err != nil {
			return err
		}
		rows, cols := x.Shape[0], x.Shape[1]
		var offs []int
		for i := max(0, -k); i < rows && i+k < cols; i++ {
			offs = append(offs, i*cols+i+k)
		}
		if err := fillImpl.call(dt, fillArgs{ctx: ctx, dst: y.Data, value: one.Data, offs: offs}); err != nil {
			return err
		}
		out[0] = y
		return nil
	}), nil
}
