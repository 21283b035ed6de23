package rnn

import (
	"fmt"
	"math"
	"strings"
)

type actKind uint8

const (
	actSigmoid actKind = iota
	actTanh
	actRelu
	actAffine
	actLeakyRelu
	actThresholdedRelu
	actScaledTanh
	actHardSigmoid
	actElu
	actSoftsign
	actSoftplus
)

// activation is one of the functions an RNN gate may use, with its
// parameters resolved.
type activation struct {
	kind        actKind
	alpha, beta float32
}

// actSpec lists, per activation name (lower case), its kind and how many of
// activation_alpha / activation_beta it consumes, with their defaults.
var actSpecs = map[string]struct {
	kind           actKind
	nAlpha, nBeta  int
	defAlp, defBet float32
}{
	"sigmoid":         {actSigmoid, 0, 0, 0, 0},
	"tanh":            {actTanh, 0, 0, 0, 0},
	"relu":            {actRelu, 0, 0, 0, 0},
	"affine":          {actAffine, 1, 1, 1, 0},
	"leakyrelu":       {actLeakyRelu, 1, 0, 0.01, 0},
	"thresholdedrelu": {actThresholdedRelu, 1, 0, 1, 0},
	"scaledtanh":      {actScaledTanh, 1, 1, 1, 1},
	"hardsigmoid":     {actHardSigmoid, 1, 1, 0.2, 0.5},
	"elu":             {actElu, 1, 0, 1, 0},
	"softsign":        {actSoftsign, 0, 0, 0, 0},
	"softplus":        {actSoftplus, 0, 0, 0, 0},
}

// parseActivations resolves activation names. As in ONNX Runtime, the
// alpha and beta lists are consumed in order by the functions that take
// parameters; missing values fall back to each function's default.
func parseActivations(names []string, alphas, betas []float32) ([]activation, error) {
	out := make([]activation, len(names))
	for i, name := range names {
		s, ok := actSpecs[strings.ToLower(name)]
		if !ok {
			return nil, fmt.Errorf("unknown activation %q", name)
		}
		a := activation{kind: s.kind, alpha: s.defAlp, beta: s.defBet}
		if s.nAlpha > 0 && len(alphas) > 0 {
			a.alpha, alphas = alphas[0], alphas[1:]
		}
		if s.nBeta > 0 && len(betas) > 0 {
			a.beta, betas = betas[0], betas[1:]
		}
		out[i] = a
	}
	return out, nil
}

// expf is exp in float32 to about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2,
// a degree-6 polynomial for e^r (Cephes' expf coefficients) and 2^n put
// straight into the exponent bits. The gate functions spend most of their
// time here, and math.Exp in float64 is several times slower.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375 // ln2 = ln2hi + ln2lo, ln2hi exact in few bits
		ln2lo = -2.12194440e-4
	)
	if !(x > -87 && x < 88) { // also NaN
		return float32(math.Exp(float64(x)))
	}
	f := x * log2e
	if f < 0 {
		f -= 0.5
	} else {
		f += 0.5
	}
	n := int32(f)
	fn := float32(n)
	r := x - fn*ln2hi - fn*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(n+127)<<23)
}

func sigmoid(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + expf(-x))
	}
	e := expf(x)
	return e / (1 + e)
}

// tanhf is tanh in float32 as the odd rational minimax approximation
// x·P(x²)/Q(x²) that Eigen uses, accurate to a few ulp; beyond ±7.9 the
// result rounds to ±1.
func tanhf(x float32) float32 {
	const (
		a1  = 4.89352455891786e-03
		a3  = 6.37261928875436e-04
		a5  = 1.48572235717979e-05
		a7  = 5.12229709037114e-08
		a9  = -8.60467152213735e-11
		a11 = 2.00018790482477e-13
		a13 = -2.76076847742355e-16
		b0  = 4.89352518554385e-03
		b2  = 2.26843463243900e-03
		b4  = 1.18534705686654e-04
		b6  = 1.19825839466702e-06
		lim = 7.90531110763549805
	)
	if x != x {
		return x
	}
	x = min(max(x, -lim), lim)
	x2 := x * x
	p := float32(a13)
	p = p*x2 + a11
	p = p*x2 + a9
	p = p*x2 + a7
	p = p*x2 + a5
	p = p*x2 + a3
	p = p*x2 + a1
	q := float32(b6)
	q = q*x2 + b4
	q = q*x2 + b2
	q = q*x2 + b0
	return x * p / q
}

// apply replaces every element of x by f(x).
func (a activation) apply(x []float32) {
	switch a.kind {
	case actSigmoid:
		for i, v := range x {
			x[i] = sigmoid(v)
		}
	case actTanh:
		for i, v := range x {
			x[i] = tanhf(v)
		}
	case actRelu:
		for i, v := range x {
			x[i] = max(v, 0)
		}
	case actAffine:
		for i, v := range x {
			x[i] = a.alpha*v + a.beta
		}
	case actLeakyRelu:
		for i, v := range x {
			if v < 0 {
				x[i] = a.alpha * v
			}
		}
	case actThresholdedRelu:
		for i, v := range x {
			if v <= a.alpha {
				x[i] = 0
			}
		}
	case actScaledTanh:
		for i, v := range x {
			x[i] = a.alpha * tanhf(a.beta*v)
		}
	case actHardSigmoid:
		for i, v := range x {
			x[i] = min(max(a.alpha*v+a.beta, 0), 1)
		}
	case actElu:
		for i, v := range x {
			if v < 0 {
				x[i] = a.alpha * float32(math.Expm1(float64(v)))
			}
		}
	case actSoftsign:
		for i, v := range x {
			x[i] = v / (1 + float32(math.Abs(float64(v))))
		}
	case actSoftplus:
		for i, v := range x {
			f := float64(v)
			if f > 0 { // log(1+e^x) = x + log1p(e^-x), without overflow
				x[i] = float32(f + math.Log1p(math.Exp(-f)))
			} else {
				x[i] = float32(math.Log1p(math.Exp(f)))
			}
		}
	}
}

// clipAll limits x to [-c, c]; c <= 0 means no clipping.
func clipAll(x []float32, c float32) {
	if c <= 0 {
		return
	}
	for i, v := range x {
		x[i] = min(max(v, -c), c)
	}
}
