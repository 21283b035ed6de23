package fused

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// edgedl.QAdd replaces DequantizeLinear(a), DequantizeLinear(b) -> Add ->
// QuantizeLinear: y = saturate(round((sa(a-za) + sb(b-zb)) / sy) + zy),
// rounding half to even like QuantizeLinear. Inputs a, b (int8 or uint8,
// numpy broadcasting); attributes a_scale, a_zero, b_scale, b_zero,
// y_scale, y_zero, y_type.
func init() { kernels.Register(Domain, "QAdd", 1, buildQAdd) }

type qadd struct {
	sa, sb, za, zb, zy float32
	yType              tensor.DType
}

func buildQAdd(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	ys := a.Float("y_scale", 0)
	k := qadd{
		za: float32(a.Int("a_zero", 0)), zb: float32(a.Int("b_zero", 0)), zy: float32(a.Int("y_zero", 0)),
		yType: tensor.DType(a.Int("y_type", int64(tensor.Int8))),
	}
	if ys <= 0 || a.Float("a_scale", 0) <= 0 || a.Float("b_scale", 0) <= 0 {
		return nil, b.Errorf("QAdd needs positive a_scale, b_scale and y_scale")
	}
	if k.yType != tensor.Int8 && k.yType != tensor.Uint8 {
		return nil, b.Errorf("QAdd output type %v", k.yType)
	}
	// Fold the output scale into the input scales: y = a*sa' + b*sb' + c.
	k.sa, k.sb = a.Float("a_scale", 0)/ys, a.Float("b_scale", 0)/ys
	return k, nil
}

func (k qadd) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	a, b := in[0], in[1]
	if a == nil || b == nil {
		return fmt.Errorf("QAdd: missing input")
	}
	shape, err := tensor.BroadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	y, err := ctx.Alloc(k.yType, shape)
	if err != nil {
		return err
	}
	av, bv := toF32Ints(a), toF32Ints(b)
	if av == nil || bv == nil {
		return kernels.Unsupported("QAdd", "input dtypes %v, %v", a.DType, b.DType)
	}
	c := k.zy - k.za*k.sa - k.zb*k.sb
	lo, hi := float32(-128), float32(127)
	if k.yType == tensor.Uint8 {
		lo, hi = 0, 255
	}
	n := y.Len()
	val := func(i int, x float32) float32 {
		v := float32(math.RoundToEven(float64(x + c)))
		return min(max(v, lo), hi)
	}
	sameShape := tensor.EqualShapes(a.Shape, shape) && tensor.EqualShapes(b.Shape, shape)
	// The residual-add case: same shapes, int8 everywhere.
	a8, okA := a.Data.([]int8)
	b8, okB := b.Data.([]int8)
	y8, okY := y.Data.([]int8)
	if sameShape && okA && okB && okY {
		ctx.Parallel(n, 16384, func(from, to int) {
			for i := from; i < to; i++ {
				x := float32(a8[i])*k.sa + float32(b8[i])*k.sb + c
				// Round half to even in float32: adding and subtracting
				// 1.5*2^23 rounds exactly for |x| < 2^22.
				r := (x + 12582912) - 12582912
				y8[i] = int8(min(max(r, lo), hi))
			}
		})
		out[0] = y
		return nil
	}
	var sa, sb, st []int
	if !sameShape {
		sa, sb, st = tensor.BroadcastStrides(a.Shape, shape), tensor.BroadcastStrides(b.Shape, shape), tensor.Strides(shape)
	}
	index := func(i int, s []int) int {
		off := 0
		for d, step := range st {
			off += (i / step) * s[d]
			i %= step
		}
		return off
	}
	ctx.Parallel(n, 4096, func(from, to int) {
		for i := from; i < to; i++ {
			ia, ib := i, i
			if !sameShape {
				ia, ib = index(i, sa), index(i, sb)
			}
			v := val(i, av(ia)*k.sa+bv(ib)*k.sb)
			switch d := y.Data.(type) {
			case []int8:
				d[i] = int8(v)
			case []uint8:
				d[i] = uint8(v)
			}
		}
	})
	out[0] = y
	return nil
}

// toF32Ints returns an element reader for an int8 or uint8 tensor.
func toF32Ints(t *tensor.Tensor) func(int) float32 {
	switch d := t.Data.(type) {
	case []int8:
		return func(i int) float32 { return float32(d[i]) }
	case []uint8:
		return func(i int) float32 { return float32(d[i]) }
	}
	return nil
}
