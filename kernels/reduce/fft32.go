package reduce

import (
	"math"
	"sync"
)

// This file holds a single-precision complex FFT that follows pocketfft's
// mixed-radix algorithm (the FFT behind numpy 2 and hence behind the ONNX
// reference outputs) operation for operation: the same factorisation,
// butterflies, twiddles rounded from double and evaluation order. Float32
// DFTs therefore round like the reference does, including the tiny
// non-zero residues where the exact result is 0, which a more accurate
// float64 transform cannot reproduce within the conformance tolerance
// (atol 1e-7). It is used for complex float32 signals, which numpy also
// transforms in single precision, and covers lengths whose factors are 2,
// 3 and 5; everything else uses the float64 plans in fft.go.

// c32 is a complex value in float32. Products are wrapped in explicit
// float32 conversions so the compiler never fuses them into FMAs, which
// would change the rounding.
type c32 struct{ r, i float32 }

func (a c32) add(b c32) c32 { return c32{a.r + b.r, a.i + b.i} }
func (a c32) sub(b c32) c32 { return c32{a.r - b.r, a.i - b.i} }

// scale multiplies both parts by s.
func (a c32) scale(s float32) c32 { return c32{float32(a.r * s), float32(a.i * s)} }

// twMul multiplies by the twiddle w, conjugated for the forward transform.
func twMul(fwd bool, v, w c32) c32 {
	if fwd {
		return c32{float32(v.r*w.r) + float32(v.i*w.i), float32(v.i*w.r) - float32(v.r*w.i)}
	}
	return c32{float32(v.r*w.r) - float32(v.i*w.i), float32(v.r*w.i) + float32(v.i*w.r)}
}

// rot90 multiplies by -i (forward) or +i (backward).
func rot90(fwd bool, a c32) c32 {
	if fwd {
		return c32{a.i, -a.r}
	}
	return c32{-a.i, a.r}
}

const hsqt2 = float32(0.707106781186547524400844362104849)

// rot45 multiplies by e^(∓iπ/4); rot135 by e^(∓3iπ/4).
func rot45(fwd bool, a c32) c32 {
	if fwd {
		return c32{float32(hsqt2 * (a.r + a.i)), float32(hsqt2 * (a.i - a.r))}
	}
	return c32{float32(hsqt2 * (a.r - a.i)), float32(hsqt2 * (a.i + a.r))}
}

func rot135(fwd bool, a c32) c32 {
	if fwd {
		return c32{float32(hsqt2 * (a.i - a.r)), float32(hsqt2 * (-a.r - a.i))}
	}
	return c32{float32(hsqt2 * (-a.r - a.i)), float32(hsqt2 * (a.r - a.i))}
}

type radix struct {
	ip int
	tw []c32 // (ip-1)·(ido-1) twiddles, tw[(j-1)(ido-1)+i-1] = ω^(j·l1·i)
}

// fft32Plan is a mixed-radix plan for one length.
type fft32Plan struct {
	n     int
	radix []radix
}

var fft32Plans sync.Map // int -> *fft32Plan (nil when the length is not 2·3·5-smooth)

// planFFT32 returns the plan for n, or nil when n has a prime factor
// above 5. Plans are cached with the float64 plans' bounds.
func planFFT32(n int) *fft32Plan {
	if p, ok := fft32Plans.Load(n); ok {
		return p.(*fft32Plan)
	}
	p := newFFT32Plan(n)
	if n <= maxCachedFFT && fftCached.Add(1) <= maxFFTPlans {
		fft32Plans.Store(n, p)
	}
	return p
}

func newFFT32Plan(n int) *fft32Plan {
	if n < 1 {
		return nil
	}
	p := &fft32Plan{n: n}
	if n == 1 {
		return p
	}
	// pocketfft's factor order: 8s, then 4s, a 2 moved to the front, then
	// the odd factors ascending.
	var f []int
	l := n
	for l&7 == 0 {
		f, l = append(f, 8), l>>3
	}
	for l&3 == 0 {
		f, l = append(f, 4), l>>2
	}
	if l&1 == 0 {
		l >>= 1
		f = append(f, 2)
		f[0], f[len(f)-1] = f[len(f)-1], f[0]
	}
	for _, d := range []int{3, 5} {
		for l%d == 0 {
			f, l = append(f, d), l/d
		}
	}
	if l > 1 {
		return nil
	}
	l1 := 1
	for _, ip := range f {
		ido := n / (l1 * ip)
		r := radix{ip: ip, tw: make([]c32, (ip-1)*(ido-1))}
		for j := 1; j < ip; j++ {
			for i := 1; i < ido; i++ {
				m := (j * l1 * i) % n
				s, c := math.Sincos(2 * math.Pi * float64(m) / float64(n))
				r.tw[(j-1)*(ido-1)+i-1] = c32{float32(c), float32(s)}
			}
		}
		p.radix = append(p.radix, r)
		l1 *= ip
	}
	return p
}

// exec transforms c (len n) in place, forward or backward, and multiplies
// the result by fct. ch is scratch of len n.
func (p *fft32Plan) exec(c, ch []c32, fwd bool, fct float32) {
	n := p.n
	if n == 1 {
		c[0] = c[0].scale(fct)
		return
	}
	p1, p2 := c[:n], ch[:n]
	l1 := 1
	for _, r := range p.radix {
		ido := n / (l1 * r.ip)
		switch r.ip {
		case 2:
			pass2(fwd, ido, l1, p1, p2, r.tw)
		case 3:
			pass3(fwd, ido, l1, p1, p2, r.tw)
		case 4:
			pass4(fwd, ido, l1, p1, p2, r.tw)
		case 5:
			pass5(fwd, ido, l1, p1, p2, r.tw)
		case 8:
			pass8(fwd, ido, l1, p1, p2, r.tw)
		}
		p1, p2 = p2, p1
		l1 *= r.ip
	}
	if &p1[0] != &c[0] {
		if fct != 1 {
			for i, v := range p1 {
				c[i] = v.scale(fct)
			}
		} else {
			copy(c, p1)
		}
	} else if fct != 1 {
		for i, v := range c {
			c[i] = v.scale(fct)
		}
	}
}

// The passes read cc as [ip][l1][ido] blocks (CC(a,b,c) = cc[a+ido(b+ip·c)])
// and write ch as CH(a,b,c) = ch[a+ido(b+l1·c)].

func pass2(fwd bool, ido, l1 int, cc, ch, wa []c32) {
	for k := 0; k < l1; k++ {
		for i := 0; i < ido; i++ {
			a, b := cc[i+ido*(2*k)], cc[i+ido*(1+2*k)]
			ch[i+ido*k] = a.add(b)
			if i == 0 {
				ch[i+ido*(k+l1)] = a.sub(b)
			} else {
				ch[i+ido*(k+l1)] = twMul(fwd, a.sub(b), wa[i-1])
			}
		}
	}
}

func pass3(fwd bool, ido, l1 int, cc, ch, wa []c32) {
	const twr = float32(-0.5)
	twi := float32(0.8660254037844386467637231707529362)
	if fwd {
		twi = -twi
	}
	for k := 0; k < l1; k++ {
		for i := 0; i < ido; i++ {
			t0 := cc[i+ido*(3*k)]
			c1, c2 := cc[i+ido*(1+3*k)], cc[i+ido*(2+3*k)]
			t1, t2 := c1.add(c2), c1.sub(c2)
			ch[i+ido*k] = t0.add(t1)
			ca := t0.add(t1.scale(twr))
			cb := c32{-float32(t2.i * twi), float32(t2.r * twi)}
			if i == 0 {
				ch[i+ido*(k+l1)] = ca.add(cb)
				ch[i+ido*(k+2*l1)] = ca.sub(cb)
			} else {
				ch[i+ido*(k+l1)] = twMul(fwd, ca.add(cb), wa[i-1])
				ch[i+ido*(k+2*l1)] = twMul(fwd, ca.sub(cb), wa[(ido-1)+i-1])
			}
		}
	}
}

func pass4(fwd bool, ido, l1 int, cc, ch, wa []c32) {
	for k := 0; k < l1; k++ {
		for i := 0; i < ido; i++ {
			c0, c1 := cc[i+ido*(4*k)], cc[i+ido*(1+4*k)]
			c2, c3 := cc[i+ido*(2+4*k)], cc[i+ido*(3+4*k)]
			t2, t1 := c0.add(c2), c0.sub(c2)
			t3, t4 := c1.add(c3), c1.sub(c3)
			t4 = rot90(fwd, t4)
			if i == 0 {
				ch[ido*k] = t2.add(t3)
				ch[ido*(k+2*l1)] = t2.sub(t3)
				ch[ido*(k+l1)] = t1.add(t4)
				ch[ido*(k+3*l1)] = t1.sub(t4)
				continue
			}
			ch[i+ido*k] = t2.add(t3)
			ch[i+ido*(k+l1)] = twMul(fwd, t1.add(t4), wa[i-1])
			ch[i+ido*(k+2*l1)] = twMul(fwd, t2.sub(t3), wa[(ido-1)+i-1])
			ch[i+ido*(k+3*l1)] = twMul(fwd, t1.sub(t4), wa[2*(ido-1)+i-1])
		}
	}
}

func pass5(fwd bool, ido, l1 int, cc, ch, wa []c32) {
	tw1r, tw1i := float32(0.3090169943749474241022934171828191), float32(0.9510565162951535721164393333793821)
	tw2r, tw2i := float32(-0.8090169943749474241022934171828191), float32(0.5877852522924731291687059546390728)
	if fwd {
		tw1i, tw2i = -tw1i, -tw2i
	}
	for k := 0; k < l1; k++ {
		for i := 0; i < ido; i++ {
			cc0 := func(j int) c32 { return cc[i+ido*(j+5*k)] }
			t0 := cc0(0)
			t1, t4 := cc0(1).add(cc0(4)), cc0(1).sub(cc0(4))
			t2, t3 := cc0(2).add(cc0(3)), cc0(2).sub(cc0(3))
			ch[i+ido*k] = c32{t0.r + t1.r + t2.r, t0.i + t1.i + t2.i}
			step := func(u1, u2 int, twar, twbr, twai, twbi float32) {
				ca := c32{t0.r + float32(twar*t1.r) + float32(twbr*t2.r), t0.i + float32(twar*t1.i) + float32(twbr*t2.i)}
				cb := c32{-(float32(twai*t4.i) + float32(twbi*t3.i)), float32(twai*t4.r) + float32(twbi*t3.r)}
				if i == 0 {
					ch[ido*(k+u1*l1)] = ca.add(cb)
					ch[ido*(k+u2*l1)] = ca.sub(cb)
				} else {
					ch[i+ido*(k+u1*l1)] = twMul(fwd, ca.add(cb), wa[(u1-1)*(ido-1)+i-1])
					ch[i+ido*(k+u2*l1)] = twMul(fwd, ca.sub(cb), wa[(u2-1)*(ido-1)+i-1])
				}
			}
			step(1, 4, tw1r, tw2r, tw1i, tw2i)
			step(2, 3, tw2r, tw1r, tw2i, -tw1i)
		}
	}
}

func pass8(fwd bool, ido, l1 int, cc, ch, wa []c32) {
	for k := 0; k < l1; k++ {
		for i := 0; i < ido; i++ {
			at := func(j int) c32 { return cc[i+ido*(j+8*k)] }
			out := func(j int) *c32 { return &ch[i+ido*(k+j*l1)] }
			a1, a5 := at(1).add(at(5)), at(1).sub(at(5))
			a3, a7 := at(3).add(at(7)), at(3).sub(at(7))
			a0, a4 := at(0).add(at(4)), at(0).sub(at(4))
			a2, a6 := at(2).add(at(6)), at(2).sub(at(6))
			if i == 0 {
				a1, a3 = a1.add(a3), a1.sub(a3)
				a3 = rot90(fwd, a3)
				a7 = rot90(fwd, a7)
				a5, a7 = a5.add(a7), a5.sub(a7)
				a5 = rot45(fwd, a5)
				a7 = rot135(fwd, a7)
				s, d := a0.add(a2), a0.sub(a2)
				*out(0), *out(4) = s.add(a1), s.sub(a1)
				*out(2), *out(6) = d.add(a3), d.sub(a3)
				a6 = rot90(fwd, a6)
				s, d = a4.add(a6), a4.sub(a6)
				*out(1), *out(5) = s.add(a5), s.sub(a5)
				*out(3), *out(7) = d.add(a7), d.sub(a7)
				continue
			}
			a7 = rot90(fwd, a7)
			a1, a3 = a1.add(a3), a1.sub(a3)
			a3 = rot90(fwd, a3)
			a5, a7 = a5.add(a7), a5.sub(a7)
			a5 = rot45(fwd, a5)
			a7 = rot135(fwd, a7)
			a0, a2 = a0.add(a2), a0.sub(a2)
			w := func(x int) c32 { return wa[x*(ido-1)+i-1] }
			*out(0) = a0.add(a1)
			*out(4) = twMul(fwd, a0.sub(a1), w(3))
			*out(2) = twMul(fwd, a2.add(a3), w(1))
			*out(6) = twMul(fwd, a2.sub(a3), w(5))
			a6 = rot90(fwd, a6)
			a4, a6 = a4.add(a6), a4.sub(a6)
			*out(1) = twMul(fwd, a4.add(a5), w(0))
			*out(5) = twMul(fwd, a4.sub(a5), w(4))
			*out(3) = twMul(fwd, a6.add(a7), w(2))
			*out(7) = twMul(fwd, a6.sub(a7), w(6))
		}
	}
}
