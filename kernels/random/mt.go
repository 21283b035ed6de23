package random

import (
	"math"
	"math/rand/v2"
)

// mt19937 is the 32-bit Mersenne Twister with numpy's legacy seeding and
// double generation, so that a seeded node reproduces
// numpy.random.RandomState(seed).
type mt19937 struct {
	key      [624]uint32
	pos      int
	hasGauss bool
	gauss    float64
}

func newMT(seed uint32) *mt19937 {
	m := &mt19937{pos: 624}
	m.key[0] = seed
	for i := 1; i < 624; i++ {
		prev := m.key[i-1]
		m.key[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	return m
}

// newSource returns a generator for a node: seeded when the node has a
// seed attribute, else from the process-wide random source.
func newSource(seed float32, seeded bool) *mt19937 {
	if seeded && !math.IsNaN(float64(seed)) {
		return newMT(uint32(int64(seed)))
	}
	return newMT(rand.Uint32())
}

func (m *mt19937) next32() uint32 {
	const upper, lower = 0x80000000, 0x7fffffff
	if m.pos == 624 {
		k := &m.key
		for i := 0; i < 624; i++ {
			y := k[i]&upper | k[(i+1)%624]&lower
			v := k[(i+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			k[i] = v
		}
		m.pos = 0
	}
	y := m.key[m.pos]
	m.pos++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// double returns a uniform float64 in [0, 1) with 53 random bits.
func (m *mt19937) double() float64 {
	a, b := m.next32()>>5, m.next32()>>6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// gaussian returns a standard normal deviate (numpy's legacy polar
// method, which yields two deviates per accepted pair).
func (m *mt19937) gaussian() float64 {
	if m.hasGauss {
		m.hasGauss = false
		return m.gauss
	}
	var x1, x2, r2 float64
	for {
		x1 = 2*m.double() - 1
		x2 = 2*m.double() - 1
		r2 = x1*x1 + x2*x2
		if r2 < 1 && r2 != 0 {
			break
		}
	}
	f := math.Sqrt(-2 * math.Log(r2) / r2)
	m.gauss, m.hasGauss = f*x1, true
	return f * x2
}

// bernoulli draws one Binomial(1, p) sample the way numpy's legacy
// inversion algorithm does: one uniform per sample, even for p = 0 or 1.
func (m *mt19937) bernoulli(p float64) bool {
	u := m.double()
	if p <= 0.5 {
		return u > 1-p
	}
	return u <= p
}
