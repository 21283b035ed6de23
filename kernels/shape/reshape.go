package shape

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// This file holds the operators that only change a tensor's metadata
// (Identity, Reshape, Flatten, Squeeze, Unsqueeze) and those that only read
// it (Shape, Size), plus Constant.

func init() {
	kernels.Register("", "Identity", 1, buildIdentity)
	kernels.Register("", "Constant", 1, buildConstant)
	kernels.Register("", "Reshape", 1, buildReshape)  // shape attribute
	kernels.Register("", "Reshape", 5, buildReshape)  // shape input
	kernels.Register("", "Reshape", 14, buildReshape) // allowzero
	kernels.Register("", "Flatten", 1, buildFlatten)
	kernels.Register("", "Squeeze", 1, buildSqueeze)  // axes attribute
	kernels.Register("", "Squeeze", 13, buildSqueeze) // axes input
	kernels.Register("", "Unsqueeze", 1, buildUnsqueeze)
	kernels.Register("", "Unsqueeze", 13, buildUnsqueeze)
	kernels.Register("", "Shape", 1, buildShape)
	kernels.Register("", "Shape", 15, buildShape) // start, end
	kernels.Register("", "Size", 1, buildSize)
}

func buildIdentity(b *kernels.BuildContext) (kernels.Kernel, error) {
	return aliasKernel{func(_ *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		out[0] = alias(in[0], in[0].Shape)
		return nil
	}}, nil
}

func buildConstant(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	var val *tensor.Tensor
	set := 0
	for _, name := range []string{"value", "sparse_value", "value_float", "value_floats",
		"value_int", "value_ints", "value_string", "value_strings"} {
		at := a.Get(name)
		if at == nil {
			continue
		}
		set++
		switch name {
		case "value", "sparse_value":
			val = at.Tensor
		case "value_float":
			val = tensor.Scalar(at.Float)
		case "value_floats":
			val = &tensor.Tensor{DType: tensor.Float32, Shape: []int{len(at.Floats)}, Data: append([]float32{}, at.Floats...)}
		case "value_int":
			val = tensor.Scalar(at.Int)
		case "value_ints":
			val = &tensor.Tensor{DType: tensor.Int64, Shape: []int{len(at.Ints)}, Data: append([]int64{}, at.Ints...)}
		case "value_string":
			val = tensor.Scalar(at.String)
		case "value_strings":
			val = &tensor.Tensor{DType: tensor.String, Shape: []int{len(at.Strings)}, Data: append([]string{}, at.Strings...)}
		}
	}
	if set != 1 || val == nil {
		return nil, b.Errorf("exactly one value attribute must be set, found %d", set)
	}
	if !val.DType.Supported() {
		return nil, kernels.Unsupported("Constant", "dtype %v", val.DType)
	}
	return kernels.KernelFunc(func(_ *kernels.Ctx, _, out []*tensor.Tensor) error {
		// Share the attribute's data: the runtime never recycles buffers
		// it did not allocate, and no kernel writes its inputs.
		out[0] = alias(val, val.Shape)
		return nil
	}), nil
}

func buildReshape(b *kernels.BuildContext) (kernels.Kernel, error) {
	allowZero := b.Opset >= 14 && b.Attrs().Int("allowzero", 0) != 0
	if b.Opset < 5 {
		target, err := b.Attrs().RequireInts("shape")
		if err != nil {
			return nil, err
		}
		return aliasKernel{func(_ *kernels.Ctx, in, out []*tensor.Tensor) error {
			if err := need(in, 1); err != nil {
				return err
			}
			s, err := reshapeTarget(in[0].Shape, target, false)
			if err != nil {
				return err
			}
			out[0] = alias(in[0], s)
			return nil
		}}, nil
	}
	return aliasKernel{func(_ *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 2); err != nil {
			return err
		}
		if in[1].DType != tensor.Int64 || len(in[1].Shape) != 1 {
			return fmt.Errorf("shape must be a 1-D int64 tensor, got %v%v", in[1].DType, in[1].Shape)
		}
		s, err := reshapeTarget(in[0].Shape, in[1].I64(), allowZero)
		if err != nil {
			return err
		}
		out[0] = alias(in[0], s)
		return nil
	}}, nil
}

// reshapeTarget resolves Reshape's 0 (copy the input dim, unless allowZero)
// and -1 (infer) entries against the input shape.
func reshapeTarget(inShape []int, target []int64, allowZero bool) ([]int, error) {
	total := product(inShape)
	out := make([]int, len(target))
	infer := -1
	known, zero := 1, false // product of the other dims, saturated
	for i, d := range target {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", target)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(inShape) {
				return nil, fmt.Errorf("shape %v copies dim %d of a rank-%d input", target, i, len(inShape))
			}
			out[i] = inShape[i]
		case d < 0:
			return nil, fmt.Errorf("shape %v has a negative dim", target)
		case d > maxDim:
			return nil, fmt.Errorf("cannot reshape %v to %v", inShape, target)
		default:
			out[i] = int(d)
		}
		known, zero = satMul(known, out[i]), zero || out[i] == 0
	}
	if infer >= 0 {
		if zero {
			return nil, fmt.Errorf("cannot infer the -1 dim of %v: another dim is 0", target)
		}
		if total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", inShape, total, target)
		}
		out[infer] = total / known
		return out, nil
	}
	if (zero && total != 0) || (!zero && known != total) {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", inShape, total, target)
	}
	return out, nil
}

func buildFlatten(b *kernels.BuildContext) (kernels.Kernel, error) {
	axis := b.Attrs().Int("axis", 1)
	if err := checkAxis(b, axis, 1); err != nil {
		return nil, err
	}
	return aliasKernel{func(_ *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		r := len(in[0].Shape)
		ax := axis
		if ax < -int64(r) || ax > int64(r) {
			return fmt.Errorf("axis %d is out of range for rank %d", axis, r)
		}
		if ax < 0 {
			ax += int64(r)
		}
		out[0] = alias(in[0], []int{product(in[0].Shape[:ax]), product(in[0].Shape[ax:])})
		return nil
	}}, nil
}

// axesSource reads an axes list from an attribute (opsets before 13) or
// from an optional input (13 and later). Nil means "not given".
func axesSource(b *kernels.BuildContext, inputIndex int) func(in []*tensor.Tensor) ([]int64, error) {
	if b.Opset < 13 {
		axes := b.Attrs().Ints("axes", nil)
		return func([]*tensor.Tensor) ([]int64, error) { return axes, nil }
	}
	return func(in []*tensor.Tensor) ([]int64, error) {
		if inputIndex >= len(in) || in[inputIndex] == nil {
			return nil, nil
		}
		if len(in[inputIndex].Shape) > 1 {
			return nil, fmt.Errorf("axes must be 1-D, got shape %v", in[inputIndex].Shape)
		}
		return intValues(in[inputIndex], "axes")
	}
}

func buildSqueeze(b *kernels.BuildContext) (kernels.Kernel, error) {
	axesOf := axesSource(b, 1)
	return aliasKernel{func(_ *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		axes, err := axesOf(in)
		if err != nil {
			return err
		}
		drop := make([]bool, len(x.Shape))
		if axes == nil {
			for i, d := range x.Shape {
				drop[i] = d == 1
			}
		} else {
			ax, err := normAxes(axes, len(x.Shape))
			if err != nil {
				return err
			}
			for _, a := range ax {
				if x.Shape[a] != 1 {
					return fmt.Errorf("cannot squeeze axis %d of shape %v: its size is not 1", a, x.Shape)
				}
				drop[a] = true
			}
		}
		s := make([]int, 0, len(x.Shape))
		for i, d := range x.Shape {
			if !drop[i] {
				s = append(s, d)
			}
		}
		out[0] = alias(x, s)
		return nil
	}}, nil
}

func buildUnsqueeze(b *kernels.BuildContext) (kernels.Kernel, error) {
	axesOf := axesSource(b, 1)
	return aliasKernel{func(_ *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x := in[0]
		axes, err := axesOf(in)
		if err != nil {
			return err
		}
		if axes == nil {
			return fmt.Errorf("axes are required")
		}
		r := len(x.Shape) + len(axes)
		ax, err := normAxes(axes, r)
		if err != nil {
			return err
		}
		ins := make([]bool, r)
		for _, a := range ax {
			ins[a] = true
		}
		s := make([]int, r)
		j := 0
		for i := range s {
			if ins[i] {
				s[i] = 1
			} else {
				s[i] = x.Shape[j]
				j++
			}
		}
		out[0] = alias(x, s)
		return nil
	}}, nil
}

func buildShape(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	start, end := int64(0), int64(1<<62)
	if b.Opset >= 15 {
		start = a.Int("start", 0)
		end = a.Int("end", end)
	}
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		r := int64(len(in[0].Shape))
		s, e := start, end
		if s < 0 {
			s += r
		}
		if e < 0 {
			e += r
		}
		s, e = clampInt(s, 0, r), clampInt(e, 0, r)
		n := max(e-s, 0)
		t, err := ctx.Alloc(tensor.Int64, []int{int(n)})
		if err != nil {
			return err
		}
		d := t.I64()
		for i := range d {
			d[i] = int64(in[0].Shape[int(s)+i])
		}
		out[0] = t
		return nil
	}), nil
}

func buildSize(b *kernels.BuildContext) (kernels.Kernel, error) {
	return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
		if err := need(in, 1); err != nil {
			return err
		}
		t, err := ctx.Alloc(tensor.Int64, []int{})
		if err != nil {
			return err
		}
		t.I64()[0] = int64(product(in[0].Shape))
		out[0] = t
		return nil
	}), nil
}
