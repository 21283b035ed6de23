package elementwise

import (
	"fmt"
	"math"
	"sort"

	"github.com/edgedl/edgedl/kernels"
)

// Activation is an elementwise function with its coefficients, compiled
// once and applied to runs of float32 or float64 data. Operators that end
// in an activation (Conv, Gemm, LSTM, a fused Conv+Relu) apply it to their
// output tiles; the elementwise kernels themselves use the same code. The
// zero value is the identity. An Activation is immutable and safe for
// concurrent use.
type Activation struct {
	k kind
	p params
}

// actSpec describes a named activation: its kind, the ONNX default
// coefficients and the attributes that carry them.
type actSpec struct {
	k           kind
	alpha, beta float64
	aAttr       string
	bAttr       string
}

var actSpecs = map[string]actSpec{
	"Identity":        {k: kIdentity},
	"Abs":             {k: kAbs},
	"Neg":             {k: kNeg},
	"Floor":           {k: kFloor},
	"Ceil":            {k: kCeil},
	"Round":           {k: kRound},
	"Sqrt":            {k: kSqrt},
	"Reciprocal":      {k: kReciprocal},
	"Exp":             {k: kExp},
	"Log":             {k: kLog},
	"Sin":             {k: kSin},
	"Cos":             {k: kCos},
	"Tan":             {k: kTan},
	"Asin":            {k: kAsin},
	"Acos":            {k: kAcos},
	"Atan":            {k: kAtan},
	"Sinh":            {k: kSinh},
	"Cosh":            {k: kCosh},
	"Asinh":           {k: kAsinh},
	"Acosh":           {k: kAcosh},
	"Atanh":           {k: kAtanh},
	"Sign":            {k: kSign},
	"Erf":             {k: kErf},
	"Relu":            {k: kRelu},
	"Sigmoid":         {k: kSigmoid},
	"Tanh":            {k: kTanh},
	"Softplus":        {k: kSoftplus},
	"Softsign":        {k: kSoftsign},
	"HardSwish":       {k: kHardSwish},
	"Mish":            {k: kMish},
	"Gelu":            {k: kGelu},
	"GeluTanh":        {k: kGeluTanh},
	"LeakyRelu":       {k: kLeakyRelu, alpha: 0.01, aAttr: "alpha"},
	"Elu":             {k: kElu, alpha: 1, aAttr: "alpha"},
	"Celu":            {k: kCelu, alpha: 1, aAttr: "alpha"},
	"ThresholdedRelu": {k: kThresholdedRelu, alpha: 1, aAttr: "alpha"},
	"Swish":           {k: kSwish, alpha: 1, aAttr: "alpha"},
	"Selu":            {k: kSelu, alpha: 1.67326319217681884765625, beta: 1.05070102214813232421875, aAttr: "alpha", bAttr: "gamma"},
	"HardSigmoid":     {k: kHardSigmoid, alpha: 0.2, beta: 0.5, aAttr: "alpha", bAttr: "beta"},
	"Shrink":          {k: kShrink, alpha: 0.5, aAttr: "lambd", bAttr: "bias"},
	"Clip":            {k: kClip, alpha: -math.MaxFloat32, beta: math.MaxFloat32, aAttr: "min", bAttr: "max"},
	"Affine":          {k: kAffine, alpha: 1, aAttr: "alpha", bAttr: "beta"},
	"ScaledTanh":      {k: kScaledTanh, alpha: 1, beta: 1, aAttr: "alpha", bAttr: "beta"},
}

// ActivationNames lists the names NewActivation accepts, sorted.
func ActivationNames() []string {
	names := make([]string, 0, len(actSpecs))
	for n := range actSpecs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewActivation returns the activation called name, an ONNX operator type
// or ONNX RNN activation name, with explicit coefficients. Kinds that take
// coefficients read them as follows (others ignore both):
//
//	LeakyRelu, Elu, Celu, ThresholdedRelu, Swish   alpha
//	HardSigmoid   max(0, min(1, alpha*x + beta))
//	Selu          beta * (x > 0 ? x : alpha*(exp(x)-1))   (beta is ONNX's gamma)
//	Shrink        lambd = alpha, bias = beta
//	Clip          min = alpha, max = beta
//	Affine        alpha*x + beta
//	ScaledTanh    alpha * tanh(beta*x)
//
// Gelu is the exact (erf) form and GeluTanh the tanh approximation.
func NewActivation(name string, alpha, beta float32) (Activation, error) {
	s, ok := actSpecs[name]
	if !ok {
		return Activation{}, fmt.Errorf("elementwise: unknown activation %q", name)
	}
	return Activation{k: s.k, p: params{float64(alpha), float64(beta)}}, nil
}

// DefaultActivation returns the activation called name with ONNX's default
// coefficients (LeakyRelu alpha 0.01, HardSigmoid 0.2 and 0.5 ...).
func DefaultActivation(name string) (Activation, error) {
	s, ok := actSpecs[name]
	if !ok {
		return Activation{}, fmt.Errorf("elementwise: unknown activation %q", name)
	}
	return Activation{k: s.k, p: params{s.alpha, s.beta}}, nil
}

// ActivationFromAttrs returns the activation computed by an ONNX node of
// type op, reading its coefficients from the node's attributes with ONNX's
// defaults (Gelu's approximate attribute included). For Clip only the
// opset-6 attributes min and max are read; a fusion pass must take Clip-11
// bounds from the constant inputs and call NewActivation.
func ActivationFromAttrs(op string, a kernels.Attrs) (Activation, error) {
	s, ok := actSpecs[op]
	if !ok {
		return Activation{}, fmt.Errorf("elementwise: unknown activation %q", op)
	}
	if op == "Gelu" {
		switch ap := a.String("approximate", "none"); ap {
		case "none":
		case "tanh":
			s.k = kGeluTanh
		default:
			return Activation{}, fmt.Errorf("elementwise: Gelu approximate=%q is not none or tanh", ap)
		}
	}
	act := Activation{k: s.k, p: params{s.alpha, s.beta}}
	if s.aAttr != "" && a.Has(s.aAttr) {
		act.p.alpha = float64(a.Float(s.aAttr, 0))
	}
	if s.bAttr != "" && a.Has(s.bAttr) {
		act.p.beta = float64(a.Float(s.bAttr, 0))
	}
	return act, nil
}

// ApplyActivation applies the activation called name (see NewActivation)
// to x in place. Callers applying one activation many times should keep
// the Activation from NewActivation instead.
func ApplyActivation(name string, alpha, beta float32, x []float32) error {
	a, err := NewActivation(name, alpha, beta)
	if err != nil {
		return err
	}
	a.Apply(x)
	return nil
}

// IsIdentity reports whether a leaves its input unchanged.
func (a Activation) IsIdentity() bool { return a.k == kIdentity }

// Apply computes x[i] = f(x[i]).
func (a Activation) Apply(x []float32) {
	if a.k != kIdentity {
		floatUnary(a.k, &a.p, x, x)
	}
}

// ApplyTo computes dst[i] = f(src[i]); len(src) must be at least len(dst).
func (a Activation) ApplyTo(dst, src []float32) { floatUnary(a.k, &a.p, dst, src) }

// Apply64 is Apply for float64 data.
func (a Activation) Apply64(x []float64) {
	if a.k != kIdentity {
		floatUnary(a.k, &a.p, x, x)
	}
}
