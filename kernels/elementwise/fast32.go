package elementwise

import "math"

// Float32 fast paths. Go does not vectorise, so the cheap loops are
// unrolled by four (one bounds check per block, independent lanes) and
// written without branches (random signs would defeat the branch
// predictor); exp, sigmoid and tanh use float32 polynomial approximations
// inlined into their loops instead of float64 math calls: within a few ulp
// (checked against package math in the tests) at several times the speed.

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
		exp32s(d, x, -1)
		for i, e := range d {
			d[i] = 1 / (1 + e)
		}
	case kSwish:
		if len(d) > 0 && &d[0] == &x[0] {
			return false // needs x after d is overwritten
		}
		exp32s(d, x, float32(-p.alpha))
		for i, e := range d {
			d[i] = x[i] / (1 + e)
		}
	case kTanh:
		tanh32s(d, x)
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
