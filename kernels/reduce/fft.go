package reduce

import (
	"math"
	"math/bits"
	"math/cmplx"
	"sync"
	"sync/atomic"
)

// fftPlan computes forward DFTs of one length n in complex128: radix-2 for
// powers of two, a direct sum for short lengths, Bluestein's chirp-z
// algorithm (a power-of-two convolution) otherwise.
type fftPlan struct {
	n int
	// tw[k] = exp(-2πik/n), used by the radix-2 and direct paths.
	tw []complex128
	// Bluestein: chirp[k] = exp(-πik²/n); filt is the FFT of the
	// conjugate chirp, zero-padded and wrapped to sub.n.
	chirp []complex128
	filt  []complex128
	sub   *fftPlan
}

const (
	directMax = 16
	// The plan cache is bounded: longer or further lengths are planned per use.
	maxCachedFFT = 1 << 16
	maxFFTPlans  = 64
)

var (
	fftPlans  sync.Map // int -> *fftPlan
	fftCached atomic.Int64
)

// planFFT returns the (shared, immutable) plan for length n > 0.
func planFFT(n int) *fftPlan {
	if p, ok := fftPlans.Load(n); ok {
		return p.(*fftPlan)
	}
	p := newFFTPlan(n)
	if n <= maxCachedFFT && fftCached.Add(1) <= maxFFTPlans {
		fftPlans.Store(n, p)
	}
	return p
}

func newFFTPlan(n int) *fftPlan {
	p := &fftPlan{n: n}
	if n <= directMax || n&(n-1) == 0 {
		p.tw = make([]complex128, n)
		for k := range p.tw {
			s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
			p.tw[k] = complex(c, s)
		}
		return p
	}
	m := 1 << bits.Len(uint(2*n-2))
	p.sub = planFFT(m)
	p.chirp = make([]complex128, n)
	for k := range p.chirp {
		// k² mod 2n keeps the angle small and exact for large k.
		kk := (k * k) % (2 * n)
		s, c := math.Sincos(-math.Pi * float64(kk) / float64(n))
		p.chirp[k] = complex(c, s)
	}
	p.filt = make([]complex128, m)
	p.filt[0] = cmplx.Conj(p.chirp[0])
	for k := 1; k < n; k++ {
		p.filt[k] = cmplx.Conj(p.chirp[k])
		p.filt[m-k] = cmplx.Conj(p.chirp[k])
	}
	p.sub.transform(p.filt, nil)
	return p
}

// scratchLen is the scratch a transform of this plan needs.
func (p *fftPlan) scratchLen() int {
	switch {
	case p.sub != nil:
		return p.sub.n
	case p.n&(p.n-1) != 0:
		return p.n
	}
	return 0
}

// transform replaces x (len n) by its forward DFT. scratch must have
// scratchLen elements.
func (p *fftPlan) transform(x, scratch []complex128) {
	n := p.n
	switch {
	case p.sub != nil:
		m := p.sub.n
		a := scratch[:m]
		for k := 0; k < n; k++ {
			a[k] = x[k] * p.chirp[k]
		}
		clear(a[n:])
		p.sub.transform(a, nil)
		for k := range a {
			a[k] *= p.filt[k]
		}
		// Inverse FFT by conjugation: ifft(a) = conj(fft(conj(a)))/m.
		for k := range a {
			a[k] = cmplx.Conj(a[k])
		}
		p.sub.transform(a, nil)
		inv := 1 / float64(m)
		for k := 0; k < n; k++ {
			x[k] = cmplx.Conj(a[k]) * complex(inv, 0) * p.chirp[k]
		}
	case n&(n-1) == 0:
		p.radix2(x)
	default:
		out := scratch[:n]
		for k := 0; k < n; k++ {
			var s complex128
			idx := 0
			for j := 0; j < n; j++ {
				s += x[j] * p.tw[idx]
				idx += k
				if idx >= n {
					idx -= n
				}
			}
			out[k] = s
		}
		copy(x, out)
	}
}

// radix2 is an in-place iterative Cooley-Tukey FFT (n a power of two).
func (p *fftPlan) radix2(x []complex128) {
	n := p.n
	if n <= 1 {
		return
	}
	shift := 64 - uint(bits.Len(uint(n-1)))
	for i := 0; i < n; i++ {
		j := int(bits.Reverse64(uint64(i)) >> shift)
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size>>1, n/size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				t := p.tw[k*step] * x[start+k+half]
				u := x[start+k]
				x[start+k] = u + t
				x[start+k+half] = u - t
			}
		}
	}
}
