package elementwise

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// modKernel is Mod. With fmod=0 the result takes the divisor's sign
// (Python's %); with fmod=1 the dividend's (C's fmod).
type modKernel struct{ fmod bool }

func (k *modKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	dt, err := sameDType("Mod", in)
	if err != nil {
		return err
	}
	if isHalf(dt) {
		return viaFloat32(ctx, k, in, out, dt, true)
	}
	if !numTypes.has(dt) {
		return kernels.Unsupported("Mod", "dtype %v", dt)
	}
	a, b := in[0], in[1]
	if dt.IsInteger() && zeroDivisor(b) {
		return fmt.Errorf("integer modulo by zero")
	}
	p, err := newPlan(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	o, err := ctx.Alloc(dt, p.shape)
	if err != nil {
		return err
	}
	f := k.fmod
	switch ad := a.Data.(type) {
	case []float32:
		runBinary(ctx, p, grainMath, ad, b.Data.([]float32), o.Data.([]float32), elemLoops(func(x, y float32) float32 { return fmodOf(x, y, f) }))
	case []float64:
		runBinary(ctx, p, grainMath, ad, b.Data.([]float64), o.Data.([]float64), elemLoops(func(x, y float64) float64 { return fmodOf(x, y, f) }))
	case []int8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int8), o.Data.([]int8), elemLoops(func(x, y int8) int8 { return imodOf(x, y, f) }))
	case []uint8:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint8), o.Data.([]uint8), elemLoops(func(x, y uint8) uint8 { return x % y }))
	case []int16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int16), o.Data.([]int16), elemLoops(func(x, y int16) int16 { return imodOf(x, y, f) }))
	case []uint16:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint16), o.Data.([]uint16), elemLoops(func(x, y uint16) uint16 { return x % y }))
	case []int32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int32), o.Data.([]int32), elemLoops(func(x, y int32) int32 { return imodOf(x, y, f) }))
	case []uint32:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint32), o.Data.([]uint32), elemLoops(func(x, y uint32) uint32 { return x % y }))
	case []int64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]int64), o.Data.([]int64), elemLoops(func(x, y int64) int64 { return imodOf(x, y, f) }))
	case []uint64:
		runBinary(ctx, p, grainCheap, ad, b.Data.([]uint64), o.Data.([]uint64), elemLoops(func(x, y uint64) uint64 { return x % y }))
	}
	out[0] = o
	return nil
}

func imodOf[T signed](a, b T, fmod bool) T {
	r := a % b
	if !fmod && r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

func fmodOf[T float](a, b T, fmod bool) T {
	r := T(math.Mod(float64(a), float64(b)))
	if !fmod && r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

// elemLoops builds run loops from a per-element function. The call per
// element is indirect, so it serves operators whose element work (a
// division, a math call) dominates anyway: Mod and Pow.
func elemLoops[A, B, O any](f func(A, B) O) binLoops[A, B, O] {
	return binLoops[A, B, O]{
		vv: func(d []O, a []A, b []B) {
			a, b = a[:len(d)], b[:len(d)]
			for i := range d {
				d[i] = f(a[i], b[i])
			}
		},
		vs: func(d []O, a []A, s B) {
			a = a[:len(d)]
			for i := range d {
				d[i] = f(a[i], s)
			}
		},
		sv: func(d []O, s A, b []B) {
			b = b[:len(d)]
			for i := range d {
				d[i] = f(s, b[i])
			}
		},
	}
}

// powKernel is Pow. The result has the base's dtype; the exponent may be
// of any numeric dtype (opset 12+). Integer bases with integer exponents
// are computed exactly (wrapping like numpy); other combinations in
// float64, truncated for integer bases.
type powKernel struct{}

func (k *powKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	a, b := in[0], in[1]
	if !numTypes.has(a.DType) {
		return kernels.Unsupported("Pow", "base dtype %v", a.DType)
	}
	if !numTypes.has(b.DType) {
		return kernels.Unsupported("Pow", "exponent dtype %v", b.DType)
	}
	if isHalf(a.DType) || isHalf(b.DType) {
		return viaFloat32(ctx, k, in, out, a.DType, isHalf(a.DType))
	}
	p, err := newPlan(a.Shape, b.Shape)
	if err != nil {
		return err
	}
	o, err := ctx.Alloc(a.DType, p.shape)
	if err != nil {
		return err
	}
	if a.DType.IsInteger() && b.DType.IsInteger() {
		e := b.Int64Values()
		switch ad := a.Data.(type) {
		case []int8:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]int8), elemLoops(ipow[int8]))
		case []uint8:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]uint8), elemLoops(ipow[uint8]))
		case []int16:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]int16), elemLoops(ipow[int16]))
		case []uint16:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]uint16), elemLoops(ipow[uint16]))
		case []int32:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]int32), elemLoops(ipow[int32]))
		case []uint32:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]uint32), elemLoops(ipow[uint32]))
		case []int64:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]int64), elemLoops(ipow[int64]))
		case []uint64:
			runBinary(ctx, p, grainCheap, ad, e, o.Data.([]uint64), elemLoops(ipow[uint64]))
		}
		out[0] = o
		return nil
	}
	e := float64Values(b)
	switch ad := a.Data.(type) {
	case []float32:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]float32), fpowLoops[float32]())
	case []float64:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]float64), fpowLoops[float64]())
	case []int8:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]int8), elemLoops(truncPow[int8]))
	case []uint8:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]uint8), elemLoops(truncPow[uint8]))
	case []int16:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]int16), elemLoops(truncPow[int16]))
	case []uint16:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]uint16), elemLoops(truncPow[uint16]))
	case []int32:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]int32), elemLoops(truncPow[int32]))
	case []uint32:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]uint32), elemLoops(truncPow[uint32]))
	case []int64:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]int64), elemLoops(truncPow[int64]))
	case []uint64:
		runBinary(ctx, p, grainMath, ad, e, o.Data.([]uint64), elemLoops(truncPow[uint64]))
	}
	out[0] = o
	return nil
}

// float64Values returns t's elements as float64 (t itself if float64).
func float64Values(t *tensor.Tensor) []float64 {
	if v, ok := t.Data.([]float64); ok {
		return v
	}
	v := make([]float64, t.Len())
	for i := range v {
		v[i] = t.Float64At(i)
	}
	return v
}

// ipow is a**e by squaring, wrapping on overflow. Negative exponents give
// the truncated real result (numpy refuses them).
func ipow[T integer](a T, e int64) T {
	if e < 0 {
		switch {
		case a == 1:
			return 1
		case a == 0:
			return 0 // numpy-free territory: avoid a division by zero
		case a+1 == 0 && a < 0: // -1
			if e&1 != 0 {
				return a
			}
			return 1
		}
		return 0
	}
	r := T(1)
	for e > 0 {
		if e&1 != 0 {
			r *= a
		}
		a *= a
		e >>= 1
	}
	return r
}

func truncPow[T integer](a T, e float64) T {
	return T(int64(math.Pow(float64(a), e)))
}

// fpowLoops is Pow for float bases, with shortcuts for the constant
// exponents that dominate real models (x*x in norms, sqrt).
func fpowLoops[T float]() binLoops[T, float64, T] {
	l := elemLoops(func(a T, e float64) T { return T(math.Pow(float64(a), e)) })
	general := l.vs
	l.vs = func(d, a []T, e float64) {
		a = a[:len(d)]
		switch e {
		case 1:
			copy(d, a)
		case 2:
			for i, v := range a {
				d[i] = v * v
			}
		case 3:
			for i, v := range a {
				f := float64(v)
				d[i] = T(f * f * f)
			}
		case 0.5:
			for i, v := range a {
				f := float64(v)
				if f == math.Inf(-1) {
					f = math.Inf(1) // pow(-Inf, 0.5) is +Inf, sqrt(-Inf) NaN
				}
				d[i] = T(math.Sqrt(f + 0)) // + 0 turns -0 into +0, as pow does
			}
		case -1:
			for i, v := range a {
				d[i] = 1 / v
			}
		default:
			general(d, a, e)
		}
	}
	return l
}
