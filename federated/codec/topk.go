package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// TopK sends the K coordinates of largest magnitude (K = max(1,
// ⌈Fraction·d⌉) unless K is set) as ascending varint index gaps and float32
// values. With ErrorFeedback the unsent mass is kept in Residual and added to
// the next input (Stich et al. 2018; Karimireddy et al. 2019), so every
// coordinate is eventually sent:
//
//	a = v + r,   sent = topk(a),   r ← a - sent.
type TopK struct {
	Fraction      float64
	K             int
	ErrorFeedback bool
	Lossless      bool
	Residual      []float32
}

func (t *TopK) Encode(v []float32) ([]byte, error) {
	if err := checkInput(v); err != nil {
		return nil, err
	}
	k, err := pickK(t.K, t.Fraction, len(v))
	if err != nil {
		return nil, err
	}
	a := v
	if t.ErrorFeedback {
		if t.Residual == nil {
			t.Residual = make([]float32, len(v))
		}
		if len(t.Residual) != len(v) {
			return nil, fmt.Errorf("codec: top-k residual has %d coordinates, input %d", len(t.Residual), len(v))
		}
		a = make([]float32, len(v))
		for i, x := range v {
			a[i] = x + t.Residual[i]
		}
		if checkFinite(a) != nil {
			return nil, fmt.Errorf("codec: top-k: input plus residual overflows float32")
		}
	}
	idx := TopIndices(a, k)
	if t.ErrorFeedback {
		copy(t.Residual, a)
		for _, i := range idx {
			t.Residual[i] = 0
		}
	}
	return encodeSparse(a, idx, len(v), t.Lossless), nil
}

// DGC is Deep Gradient Compression (Lin et al., ICLR 2018): top-k
// sparsification with momentum correction and momentum factor masking. For
// each gradient g (optionally clipped to ClipNorm first):
//
//	u ← m·u + g        (momentum, accumulated locally)
//	w ← w + u          (velocity accumulation)
//	send top-k of w; zero w and u at the sent coordinates
//
// The receiver applies what it gets as an already-momentum-corrected update
// (no momentum on the server). Warm-up is a schedule of Fraction the caller
// lowers over the first epochs.
type DGC struct {
	Fraction float64
	K        int
	Momentum float64 // m, e.g. 0.9
	ClipNorm float64 // local gradient clipping before accumulation; 0: off
	Lossless bool
	U, W     []float32 // momentum and accumulated velocity; allocated on first use
}

func (g *DGC) Encode(grad []float32) ([]byte, error) {
	if err := checkInput(grad); err != nil {
		return nil, err
	}
	k, err := pickK(g.K, g.Fraction, len(grad))
	if err != nil {
		return nil, err
	}
	if g.U == nil {
		g.U, g.W = make([]float32, len(grad)), make([]float32, len(grad))
	}
	if len(g.U) != len(grad) || len(g.W) != len(grad) {
		return nil, fmt.Errorf("codec: DGC state has %d coordinates, input %d", len(g.U), len(grad))
	}
	c := 1.0
	if g.ClipNorm > 0 {
		var ss float64
		for _, x := range grad {
			ss += float64(x) * float64(x)
		}
		if n := math.Sqrt(ss); n > g.ClipNorm {
			c = g.ClipNorm / n
		}
	}
	for i, x := range grad {
		u := g.Momentum*float64(g.U[i]) + c*float64(x)
		g.U[i] = float32(u)
		g.W[i] = float32(float64(g.W[i]) + u)
	}
	if checkFinite(g.W) != nil {
		return nil, fmt.Errorf("codec: DGC: accumulated velocity overflows float32")
	}
	idx := TopIndices(g.W, k)
	msg := encodeSparse(g.W, idx, len(grad), g.Lossless)
	for _, i := range idx {
		g.W[i], g.U[i] = 0, 0
	}
	return msg, nil
}

func pickK(k int, fraction float64, d int) (int, error) {
	if k <= 0 {
		if !(fraction > 0 && fraction <= 1) {
			return 0, fmt.Errorf("codec: top-k needs K > 0 or a fraction in (0, 1], got %v", fraction)
		}
		k = int(math.Ceil(fraction * float64(d)))
	}
	return min(max(k, 1), d), nil
}

func encodeSparse(a []float32, idx []int, dim int, lossless bool) []byte {
	body := make([]byte, 0, binary.MaxVarintLen64+len(idx)*6)
	body = binary.AppendUvarint(body, uint64(len(idx)))
	prev := -1
	for _, i := range idx {
		body = binary.AppendUvarint(body, uint64(i-prev-1))
		prev = i
	}
	for _, i := range idx {
		body = binary.LittleEndian.AppendUint32(body, math.Float32bits(a[i]))
	}
	return frame(SchemeSparse, dim, body, lossless)
}

func decodeSparse(body []byte, dim int, put func(int, float64)) error {
	k, n := binary.Uvarint(body)
	if n <= 0 {
		return corrupt("sparse count varint")
	}
	body = body[n:]
	// Each entry takes at least 1 index byte and 4 value bytes: bound k by
	// the body before trusting it.
	if k > uint64(dim) || k*5 > uint64(len(body)) {
		return corrupt("sparse: %d entries in %d bytes for %d coordinates", k, len(body), dim)
	}
	idx := make([]int, k)
	pos := -1
	for j := range idx {
		gap, n := binary.Uvarint(body)
		if n <= 0 {
			return corrupt("sparse: bad index gap %d", j)
		}
		body = body[n:]
		if gap >= uint64(dim-pos-1) {
			return corrupt("sparse: index beyond %d", dim)
		}
		pos += int(gap) + 1
		idx[j] = pos
	}
	if uint64(len(body)) != 4*k {
		return corrupt("sparse: %d value bytes for %d entries", len(body), k)
	}
	for j, i := range idx {
		x := math.Float32frombits(binary.LittleEndian.Uint32(body[4*j:]))
		if x-x != 0 {
			return corrupt("sparse: non-finite value at %d", i)
		}
		put(i, float64(x))
	}
	return nil
}

// TopIndices returns the indices of the k entries of v with the largest
// magnitude, ascending. Ties at the threshold go to the lower indices. It
// runs in expected O(len(v)) time and does not modify v.
func TopIndices(v []float32, k int) []int {
	d := len(v)
	if k <= 0 || d == 0 {
		return nil
	}
	if k >= d {
		idx := make([]int, d)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	mags := make([]float32, d)
	for i, x := range v {
		mags[i] = float32(math.Abs(float64(x)))
	}
	// After selection, mags[d-k] is the k-th largest magnitude.
	thr := nthElement(mags, d-k)
	above := 0
	for _, x := range v {
		if float32(math.Abs(float64(x))) > thr {
			above++
		}
	}
	ties := k - above
	idx := make([]int, 0, k)
	for i, x := range v {
		m := float32(math.Abs(float64(x)))
		if m > thr || (m == thr && ties > 0) {
			if m == thr {
				ties--
			}
			idx = append(idx, i)
		}
	}
	return idx
}

// nthElement reorders a so that a[n] is the value a sorted a would have
// there, and returns it (Hoare's selection with median-of-three pivots and a
// three-way partition).
func nthElement(a []float32, n int) float32 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		p := a[mid]
		// Dutch national flag partition of a[lo..hi] around p.
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case a[i] < p:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case a[i] > p:
				a[i], a[gt] = a[gt], a[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case n < lt:
			hi = lt - 1
		case n > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	return a[n]
}
