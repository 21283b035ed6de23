package elementwise

import "math"

// Float32 fast paths. Go does not vectorise, so the cheap loops are
// unrolled by four (one bounds check per block, independent lanes) and
// written without branches (random signs would defeat the branch
// predictor); exp, sigmoid and tanh use float32 polynomial approximations
// inlined into their loops, and erf and gelu fitted polynomials, instead
// of float64 math calls: within a few ulp (checked against package math in
// the tests) at several times the speed.

// fast32 computes kind k on float32 data if it has a fast path and reports
// whether it did. d and x may be the same slice.
func fast32(k kind, p *params, d, x []float32) bool {
	n := len(d)
	x = x[:n]
	i := 0
	switch k {
	case kRelu:
		for ; i+4 <= n; i += 4 {
			dd, xx := d[i:i+4:i+4], x[i:i+4:i+4]
			dd[0] = max(xx[0], 0)
			dd[1] = max(xx[1], 0)
			dd[2] = max(xx[2], 0)
			dd[3] = max(xx[3], 0)
		}
		for ; i < n; i++ {
			d[i] = max(x[i], 0)
		}
	case kLeakyRelu:
		al := float32(p.alpha)
		for ; i+4 <= n; i += 4 {
			dd, xx := d[i:i+4:i+4], x[i:i+4:i+4]
			dd[0] = max(xx[0], 0) + al*min(xx[0], 0)
			dd[1] = max(xx[1], 0) + al*min(xx[1], 0)
			dd[2] = max(xx[2], 0) + al*min(xx[2], 0)
			dd[3] = max(xx[3], 0) + al*min(xx[3], 0)
		}
		for ; i < n; i++ {
			d[i] = max(x[i], 0) + al*min(x[i], 0)
		}
	case kClip:
		lo, hi := float32(p.alpha), float32(p.beta)
		clipLoop(d, x, lo, hi)
	case kHardSigmoid:
		al, be := float32(p.alpha), float32(p.beta)
		for ; i+4 <= n; i += 4 {
			dd, xx := d[i:i+4:i+4], x[i:i+4:i+4]
			dd[0] = min(max(al*xx[0]+be, 0), 1)
			dd[1] = min(max(al*xx[1]+be, 0), 1)
			dd[2] = min(max(al*xx[2]+be, 0), 1)
			dd[3] = min(max(al*xx[3]+be, 0), 1)
		}
		for ; i < n; i++ {
			d[i] = min(max(al*x[i]+be, 0), 1)
		}
	case kHardSwish: // x * HardSigmoid(x) with alpha 1/6, beta 0.5
		const al, be = 1.0 / 6, 0.5
		for ; i+4 <= n; i += 4 {
			dd, xx := d[i:i+4:i+4], x[i:i+4:i+4]
			dd[0] = xx[0] * min(max(al*xx[0]+be, 0), 1)
			dd[1] = xx[1] * min(max(al*xx[1]+be, 0), 1)
			dd[2] = xx[2] * min(max(al*xx[2]+be, 0), 1)
			dd[3] = xx[3] * min(max(al*xx[3]+be, 0), 1)
		}
		for ; i < n; i++ {
			d[i] = x[i] * min(max(al*x[i]+be, 0), 1)
		}
	case kExp:
		exp32s(d, x, 1)
	case kSigmoid:
		for i, v := range x {
			if v >= -expHi && v <= -expLo {
				d[i] = 1 / (1 + expPoly(-v))
			} else {
				d[i] = float32(sigmoid(float64(v)))
			}
		}
	case kSwish:
		al := float32(p.alpha)
		for i, v := range x {
			if t := -al * v; t >= expLo && t <= expHi {
				d[i] = v / (1 + expPoly(t))
			} else {
				d[i] = float32(float64(v) * sigmoid(p.alpha*float64(v)))
			}
		}
	case kTanh:
		tanh32s(d, x)
	case kErf:
		for i, v := range x {
			d[i] = erf32(v)
		}
	case kGelu:
		for i, v := range x {
			d[i] = gelu32(v)
		}
	default:
		return false
	}
	return true
}

// Range of exp32's polynomial path: beyond it the result is subnormal or
// overflows, and the slow path (package math) takes over.
const (
	expLo = -87.3
	expHi = 88.3
)

// exp32s computes d[i] = e**(s*x[i]), with NaN and out-of-range
// arguments handed to math.Exp.
func exp32s(d, x []float32, s float32) {
	x = x[:len(d)]
	for i, v := range x {
		v *= s
		if v >= expLo && v <= expHi {
			d[i] = expPoly(v)
		} else {
			d[i] = float32(math.Exp(float64(v)))
		}
	}
}

// expPoly is e**v for v in [expLo, expHi]: v = n ln2 + r with
// |r| <= ln2/2, e**r by a degree-6 polynomial (Cephes expf coefficients),
// scaled by 2**n through the exponent bits. Small enough to be inlined.
func expPoly(v float32) float32 {
	const (
		log2e = 1.44269504088896341
		c1    = 0.693359375 // ln2 split so that n*c1 is exact
		c2    = -2.12194440e-4
		magic = 12582912 // 1.5 * 2**23: adding it rounds to an integer
	)
	r := v*log2e + magic
	fn := r - magic
	v = v - fn*c1 - fn*c2
	y := ((((1.9875691500e-4*v+1.3981999507e-3)*v+8.3334519073e-3)*v+4.1665795894e-2)*v+1.6666665459e-1)*v + 5.0000001201e-1
	// 2**n: r's bits are 0x4b400000 + n, and 0x4b400000<<23 vanishes mod 2**32.
	return (y*(v*v) + v + 1) * math.Float32frombits((math.Float32bits(r)+127)<<23)
}

// tanh32s computes d[i] = tanh(x[i]): an odd polynomial below 0.625
// (Cephes tanhf), 1 - 2/(e**2|x| + 1) with the sign restored above, which
// reaches ±1 by itself.
func tanh32s(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		switch {
		case a < 0.625:
			z := v * v
			d[i] = ((((-5.70498872745e-3*z+2.06390887954e-2)*z-5.37397155531e-2)*z+1.33314422036e-1)*z-3.33332819422e-1)*z*v + v
		case a <= expHi/2:
			y := 1 - 2/(expPoly(2*a)+1)
			d[i] = math.Float32frombits(math.Float32bits(y) | math.Float32bits(v)&(1<<31))
		case a > expHi/2:
			d[i] = math.Float32frombits(math.Float32bits(1) | math.Float32bits(v)&(1<<31))
		default: // NaN
			d[i] = v
		}
	}
}

// erfSmall is the boundary between erf32's two approximations.
const erfSmall = 0.9

// erfPoly is erf(x)/x for |x| < erfSmall as a polynomial in x*x, fitted
// for relative error (1.2e-8 in exact arithmetic).
func erfPoly(z float32) float32 {
	return ((((-6.086069442108591e-4*z+5.011085432610913e-3)*z-2.6778279144167017e-2)*z+
		1.1282122287839907e-1)*z-3.761252135999928e-1)*z + 1.128379153483719
}

// erfcScaled is erfc(a)*exp(a*a) for a >= erfSmall, as a polynomial in
// 1/(1+a/2) fitted for relative error (9e-9 in exact arithmetic).
func erfcScaled(a float32) float32 {
	t := 1 / (1 + 0.5*a)
	return (((((((7.492850731488647e-2*t-1.6651454674856564e-1)*t+5.945753764605293e-4)*t+
		1.2325049664302051e-1)*t+1.50106304042532e-1)*t+2.551446628750941e-1)*t+
		2.806297137445022e-1)*t+2.822324877099727e-1)*t - 5.386157953139634e-6
}

// expNegSquare is exp(-scale*a*a) for scale 1 or 0.5, to a few ulp even
// where a*a is large: a*a would carry a rounding error of up to 2**-24
// relative, i.e. many ulp of the exponential. a is split into h, with 12
// significant bits so that h*h is exact, and the small rest, whose
// contribution (a-h)*(a+h) goes through a second, near-1 exponential.
// scale*a*a must not exceed -expLo.
func expNegSquare(a, scale float32) float32 {
	h := math.Float32frombits(math.Float32bits(a) &^ 0xfff)
	return expPoly(-scale*(h*h)) * expPoly(-scale*((a-h)*(a+h)))
}

// erf32 is erf in float32 (within a few ulp of math.Erf).
func erf32(x float32) float32 {
	a := math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
	switch {
	case a < erfSmall:
		return x * erfPoly(x*x)
	case a < 3.92: // erf rounds to ±1 in float32 beyond
		e := expNegSquare(a, 1) * erfcScaled(a)
		return math.Float32frombits(math.Float32bits(1-e) | math.Float32bits(x)&(1<<31))
	case a >= 3.92:
		return math.Float32frombits(math.Float32bits(1) | math.Float32bits(x)&(1<<31))
	}
	return x // NaN
}

// gelu32 is x * Phi(x) = x/2 * (1 + erf(x/sqrt2)). For negative x it uses
// erfc directly, avoiding the cancellation in 1 + erf.
func gelu32(x float32) float32 {
	s := x * (1 / math.Sqrt2)
	a := math.Float32frombits(math.Float32bits(s) &^ (1 << 31))
	switch {
	case a < erfSmall:
		return 0.5 * x * (1 + s*erfPoly(s*s))
	case a <= 9.3: // -x*x/2 >= expLo
		e := expNegSquare(math.Float32frombits(math.Float32bits(x)&^(1<<31)), 0.5) * erfcScaled(a)
		if x < 0 {
			return 0.5 * x * e
		}
		return 0.5 * x * (2 - e)
	case x > 0:
		return x
	case x < 0:
		return x * 0 // -0: the true value is below the smallest float32
	}
	return x // NaN
}
