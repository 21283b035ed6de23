package elementwise

import (
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// kind names an elementwise float function (unary math or activation).
type kind uint8

const (
	kIdentity kind = iota
	kAbs
	kNeg
	kFloor
	kCeil
	kRound
	kSqrt
	kReciprocal
	kExp
	kLog
	kSin
	kCos
	kTan
	kAsin
	kAcos
	kAtan
	kSinh
	kCosh
	kAsinh
	kAcosh
	kAtanh
	kSign
	kErf
	kRelu
	kLeakyRelu
	kElu
	kSelu
	kCelu
	kSigmoid
	kHardSigmoid
	kHardSwish
	kTanh
	kSoftplus
	kSoftsign
	kGelu
	kGeluTanh
	kMish
	kSwish
	kThresholdedRelu
	kShrink
	kClip
	kAffine
	kScaledTanh
)

// expensive reports whether a kind calls a transcendental function per
// element (smaller parallel grain).
func (k kind) expensive() bool {
	switch k {
	case kIdentity, kAbs, kNeg, kFloor, kCeil, kRound, kReciprocal, kSign, kRelu,
		kLeakyRelu, kHardSigmoid, kHardSwish, kSoftsign, kThresholdedRelu, kShrink,
		kClip, kAffine:
		return false
	}
	return true
}

// params are a kind's coefficients; which ones a kind reads is documented
// at NewActivation.
type params struct{ alpha, beta float64 }

// floatUnary computes d[i] = f(x[i]) for kind k. d and x may be the same
// slice. Transcendentals are evaluated in float64 and rounded, so float32
// results are correctly rounded in practice.
func floatUnary[T float](k kind, p *params, d, x []T) {
	if d32, ok := any(d).([]float32); ok && fast32(k, p, d32, any(x).([]float32)) {
		return
	}
	x = x[:len(d)]
	al, be := T(p.alpha), T(p.beta)
	switch k {
	case kIdentity:
		copy(d, x)
	case kAbs:
		for i, v := range x {
			d[i] = T(math.Abs(float64(v)))
		}
	case kNeg:
		for i, v := range x {
			d[i] = -v
		}
	case kFloor:
		for i, v := range x {
			d[i] = T(math.Floor(float64(v)))
		}
	case kCeil:
		for i, v := range x {
			d[i] = T(math.Ceil(float64(v)))
		}
	case kRound:
		for i, v := range x {
			d[i] = T(math.RoundToEven(float64(v)))
		}
	case kSqrt:
		for i, v := range x {
			d[i] = T(math.Sqrt(float64(v)))
		}
	case kReciprocal:
		for i, v := range x {
			d[i] = 1 / v
		}
	case kExp:
		for i, v := range x {
			d[i] = T(math.Exp(float64(v)))
		}
	case kLog:
		for i, v := range x {
			d[i] = T(math.Log(float64(v)))
		}
	case kSin:
		for i, v := range x {
			d[i] = T(math.Sin(float64(v)))
		}
	case kCos:
		for i, v := range x {
			d[i] = T(math.Cos(float64(v)))
		}
	case kTan:
		for i, v := range x {
			d[i] = T(math.Tan(float64(v)))
		}
	case kAsin:
		for i, v := range x {
			d[i] = T(math.Asin(float64(v)))
		}
	case kAcos:
		for i, v := range x {
			d[i] = T(math.Acos(float64(v)))
		}
	case kAtan:
		for i, v := range x {
			d[i] = T(math.Atan(float64(v)))
		}
	case kSinh:
		for i, v := range x {
			d[i] = T(math.Sinh(float64(v)))
		}
	case kCosh:
		for i, v := range x {
			d[i] = T(math.Cosh(float64(v)))
		}
	case kAsinh:
		for i, v := range x {
			d[i] = T(math.Asinh(float64(v)))
		}
	case kAcosh:
		for i, v := range x {
			d[i] = T(math.Acosh(float64(v)))
		}
	case kAtanh:
		for i, v := range x {
			d[i] = T(math.Atanh(float64(v)))
		}
	case kSign:
		for i, v := range x {
			switch {
			case v > 0:
				d[i] = 1
			case v < 0:
				d[i] = -1
			default: // zero or NaN, as numpy
				d[i] = v
			}
		}
	case kErf:
		for i, v := range x {
			d[i] = T(math.Erf(float64(v)))
		}
	case kRelu:
		for i, v := range x {
			if v < 0 {
				v = 0
			}
			d[i] = v
		}
	case kLeakyRelu:
		for i, v := range x {
			if v < 0 {
				v *= al
			}
			d[i] = v
		}
	case kElu:
		for i, v := range x {
			if v < 0 {
				v = T(p.alpha * math.Expm1(float64(v)))
			}
			d[i] = v
		}
	case kSelu: // gamma * (x > 0 ? x : alpha*(exp(x)-1)), gamma = beta
		for i, v := range x {
			if v > 0 {
				d[i] = be * v
			} else {
				d[i] = T(p.beta * p.alpha * math.Expm1(float64(v)))
			}
		}
	case kCelu: // max(0,x) + min(0, alpha*(exp(x/alpha)-1))
		for i, v := range x {
			if v < 0 {
				v = T(p.alpha * math.Expm1(float64(v)/p.alpha))
			}
			d[i] = v
		}
	case kSigmoid:
		for i, v := range x {
			d[i] = T(sigmoid(float64(v)))
		}
	case kHardSigmoid:
		for i, v := range x {
			d[i] = max(0, min(1, al*v+be))
		}
	case kHardSwish:
		for i, v := range x {
			d[i] = v * max(0, min(1, v*(1.0/6)+0.5))
		}
	case kTanh:
		for i, v := range x {
			d[i] = T(math.Tanh(float64(v)))
		}
	case kSoftplus:
		for i, v := range x {
			d[i] = T(softplus(float64(v)))
		}
	case kSoftsign:
		for i, v := range x {
			d[i] = v / (1 + T(math.Abs(float64(v))))
		}
	case kGelu: // 0.5 x (1 + erf(x/sqrt2)) = 0.5 x erfc(-x/sqrt2), without cancellation
		for i, v := range x {
			f := float64(v)
			d[i] = T(0.5 * f * math.Erfc(-f*(1/math.Sqrt2)))
		}
	case kGeluTanh: // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
		const c = 0.7978845608028654 // sqrt(2/pi)
		for i, v := range x {
			f := float64(v)
			d[i] = T(0.5 * f * (1 + math.Tanh(c*(f+0.044715*f*f*f))))
		}
	case kMish: // x tanh(softplus(x))
		for i, v := range x {
			f := float64(v)
			d[i] = T(f * math.Tanh(softplus(f)))
		}
	case kSwish: // x sigmoid(alpha x)
		for i, v := range x {
			f := float64(v)
			d[i] = T(f * sigmoid(p.alpha*f))
		}
	case kThresholdedRelu:
		for i, v := range x {
			if !(v > al) {
				v = 0
			}
			d[i] = v
		}
	case kShrink: // lambd = alpha, bias = beta
		for i, v := range x {
			switch {
			case v < -al:
				d[i] = v + be
			case v > al:
				d[i] = v - be
			default:
				d[i] = 0
			}
		}
	case kClip: // [alpha, beta]; NaN passes through
		for i, v := range x {
			if v < al {
				v = al
			}
			if v > be {
				v = be
			}
			d[i] = v
		}
	case kAffine:
		for i, v := range x {
			d[i] = al*v + be
		}
	case kScaledTanh:
		for i, v := range x {
			d[i] = T(p.alpha * math.Tanh(p.beta*float64(v)))
		}
	default:
		panic("elementwise: unknown kind")
	}
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is log(1+exp(x)) without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// integer reports whether k is defined on integer tensors.
func (k kind) integer() bool {
	switch k {
	case kIdentity, kAbs, kNeg, kSign, kRelu:
		return true
	}
	return false
}

// intUnary is floatUnary for the integer kinds.
func intUnary[T integer](k kind, d, x []T) {
	x = x[:len(d)]
	switch k {
	case kIdentity:
		copy(d, x)
	case kAbs:
		for i, v := range x {
			if v < 0 {
				v = -v
			}
			d[i] = v
		}
	case kNeg:
		for i, v := range x {
			d[i] = -v
		}
	case kSign:
		var one T = 1
		for i, v := range x {
			switch {
			case v > 0:
				d[i] = 1
			case v < 0:
				d[i] = -one // only reached for signed T
			default:
				d[i] = 0
			}
		}
	case kRelu:
		for i, v := range x {
			d[i] = max(v, 0)
		}
	default:
		panic("elementwise: kind not defined on integers")
	}
}

// unaryKernel applies one kind elementwise.
type unaryKernel struct {
	op   string
	k    kind
	p    params
	ints bool // integer dtypes accepted
}

func (u *unaryKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if isHalf(x.DType) {
		return u.runHalf(ctx, x, out)
	}
	if !x.DType.IsFloat() && !(u.ints && u.k.integer() && x.DType.IsInteger()) {
		return kernels.Unsupported(u.op, "dtype %v", x.DType)
	}
	o, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	grain := grainCheap
	if u.k.expensive() {
		grain = grainMath
	}
	switch xd := x.Data.(type) {
	case []float32:
		parUnary(ctx, grain, o.Data.([]float32), xd, func(d, x []float32) { floatUnary(u.k, &u.p, d, x) })
	case []float64:
		parUnary(ctx, grain, o.Data.([]float64), xd, func(d, x []float64) { floatUnary(u.k, &u.p, d, x) })
	case []int8:
		parUnary(ctx, grain, o.Data.([]int8), xd, func(d, x []int8) { intUnary(u.k, d, x) })
	case []uint8:
		parUnary(ctx, grain, o.Data.([]uint8), xd, func(d, x []uint8) { intUnary(u.k, d, x) })
	case []int16:
		parUnary(ctx, grain, o.Data.([]int16), xd, func(d, x []int16) { intUnary(u.k, d, x) })
	case []uint16:
		parUnary(ctx, grain, o.Data.([]uint16), xd, func(d, x []uint16) { intUnary(u.k, d, x) })
	case []int32:
		parUnary(ctx, grain, o.Data.([]int32), xd, func(d, x []int32) { intUnary(u.k, d, x) })
	case []uint32:
		parUnary(ctx, grain, o.Data.([]uint32), xd, func(d, x []uint32) { intUnary(u.k, d, x) })
	case []int64:
		parUnary(ctx, grain, o.Data.([]int64), xd, func(d, x []int64) { intUnary(u.k, d, x) })
	case []uint64:
		parUnary(ctx, grain, o.Data.([]uint64), xd, func(d, x []uint64) { intUnary(u.k, d, x) })
	default:
		return kernels.Unsupported(u.op, "dtype %v", x.DType)
	}
	out[0] = o
	return nil
}

// runHalf widens blocks of a float16/bfloat16 input to float32, applies the
// kind and rounds back, without a full-size temporary.
func (u *unaryKernel) runHalf(ctx *kernels.Ctx, x *tensor.Tensor, out []*tensor.Tensor) error {
	o, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	src, dst := x.Data.([]uint16), o.Data.([]uint16)
	ctx.Parallel(len(dst), grainMath, func(lo, hi int) {
		buf := make([]float32, min(hi-lo, 1024))
		for i := lo; i < hi; i += len(buf) {
			b := buf[:min(len(buf), hi-i)]
			decodeHalf(b, src[i:], x.DType)
			floatUnary(u.k, &u.p, b, b)
			encodeHalf(dst[i:i+len(b)], b, x.DType)
		}
	})
	out[0] = o
	return nil
}

// parUnary runs f over matching chunks of d and x in parallel.
func parUnary[D, S any](ctx *kernels.Ctx, grain int, d []D, x []S, f func(d []D, x []S)) {
	ctx.Parallel(len(d), grain, func(lo, hi int) { f(d[lo:hi], x[lo:hi]) })
}

// predKernel maps a float tensor to bool: IsNaN, IsInf.
type predKernel struct {
	op       string
	pos, neg bool // IsInf's detect_positive / detect_negative; both false means IsNaN
}

func (k *predKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if isHalf(x.DType) {
		return viaFloat32(ctx, k, in, out, x.DType, false)
	}
	o, err := ctx.Alloc(tensor.Bool, x.Shape)
	if err != nil {
		return err
	}
	d := o.Data.([]bool)
	switch xd := x.Data.(type) {
	case []float32:
		parUnary(ctx, grainCheap, d, xd, func(d []bool, x []float32) { predLoop(k.pos, k.neg, d, x) })
	case []float64:
		parUnary(ctx, grainCheap, d, xd, func(d []bool, x []float64) { predLoop(k.pos, k.neg, d, x) })
	default:
		return kernels.Unsupported(k.op, "dtype %v", x.DType)
	}
	out[0] = o
	return nil
}

func predLoop[T float](pos, neg bool, d []bool, x []T) {
	x = x[:len(d)]
	if !pos && !neg {
		for i, v := range x {
			d[i] = v != v
		}
		return
	}
	inf := T(math.Inf(1))
	for i, v := range x {
		d[i] = (pos && v == inf) || (neg && v == -inf)
	}
}

// notKernel is Not (bool) and BitwiseNot (integers).
type notKernel struct{ op string }

func (k *notKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	o, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	if k.op == "BitwiseNot" && !x.DType.IsInteger() || k.op == "Not" && x.DType != tensor.Bool {
		return kernels.Unsupported(k.op, "dtype %v", x.DType)
	}
	switch xd := x.Data.(type) {
	case []bool:
		parUnary(ctx, grainCheap, o.Data.([]bool), xd, func(d, x []bool) {
			for i, v := range x[:len(d)] {
				d[i] = !v
			}
		})
	case []int8:
		parUnary(ctx, grainCheap, o.Data.([]int8), xd, bitNot[int8])
	case []uint8:
		parUnary(ctx, grainCheap, o.Data.([]uint8), xd, bitNot[uint8])
	case []int16:
		parUnary(ctx, grainCheap, o.Data.([]int16), xd, bitNot[int16])
	case []uint16:
		parUnary(ctx, grainCheap, o.Data.([]uint16), xd, bitNot[uint16])
	case []int32:
		parUnary(ctx, grainCheap, o.Data.([]int32), xd, bitNot[int32])
	case []uint32:
		parUnary(ctx, grainCheap, o.Data.([]uint32), xd, bitNot[uint32])
	case []int64:
		parUnary(ctx, grainCheap, o.Data.([]int64), xd, bitNot[int64])
	case []uint64:
		parUnary(ctx, grainCheap, o.Data.([]uint64), xd, bitNot[uint64])
	default:
		return kernels.Unsupported(k.op, "dtype %v", x.DType)
	}
	out[0] = o
	return nil
}

func bitNot[T integer](d, x []T) {
	for i, v := range x[:len(d)] {
		d[i] = ^v
	}
}
