package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// QSGD is the stochastic s-level quantiser of Alistarh et al. (NeurIPS 2017).
// Per bucket of BucketSize coordinates with L2 norm ‖v‖, coordinate v_i is
// sent as sign(v_i) and a level l_i in 0..s, where l_i = ⌊s|v_i|/‖v‖⌋ + 1 with
// probability s|v_i|/‖v‖ - ⌊s|v_i|/‖v‖⌋ and ⌊…⌋ otherwise; the receiver sets
// v_i ≈ ‖v‖ sign(v_i) l_i / s. The estimate is unbiased, with variance at most
// min(d/s², √d/s)‖v‖² per bucket (d = bucket size).
//
// Levels are coded either at fixed width — 1 sign bit plus ⌈log2(s+1)⌉ level
// bits, so Bits(8) (s = 127) is 8 bits per coordinate and Bits(4) (s = 7) is 4
// — or, with Elias, as the Elias gamma code of l_i+1 followed by a sign bit
// only when l_i > 0, which costs one bit for every zero level (the paper's
// Elias coding of levels; at small s most levels are zero). Each bucket's norm
// is a float32.
type QSGD struct {
	Levels     int  // s, in 1..32767
	BucketSize int  // coordinates per norm; 0: the whole vector
	Elias      bool // variable-length level coding
	Lossless   bool // zstd the body
	// Rand draws the stochastic rounding; it must be set. Seed it per client
	// and round for reproducible simulations.
	Rand *rand.Rand
}

// Bits returns the number of levels s for which fixed-width QSGD uses b bits
// per coordinate (one of them the sign): s = 2^(b-1) - 1. b is in 2..16.
func Bits(b int) int { return 1<<(b-1) - 1 }

func levelBits(s int) uint { return uint(bits.Len(uint(s))) }

func (q QSGD) Encode(v []float32) ([]byte, error) {
	if q.Levels < 1 || q.Levels > maxQSGDLevel {
		return nil, fmt.Errorf("codec: QSGD levels %d outside 1..%d", q.Levels, maxQSGDLevel)
	}
	if q.Rand == nil {
		return nil, fmt.Errorf("codec: QSGD needs a random source")
	}
	if err := checkInput(v); err != nil {
		return nil, err
	}
	d := len(v)
	bucket := q.BucketSize
	if bucket <= 0 || bucket > d {
		bucket = max(d, 1)
	}
	nb := (d + bucket - 1) / bucket
	s := float64(q.Levels)
	lb := levelBits(q.Levels)

	hdr := make([]byte, 0, 16+4*nb)
	hdr = binary.AppendUvarint(hdr, uint64(q.Levels))
	coding := byte(0)
	if q.Elias {
		coding = 1
	}
	hdr = append(hdr, coding)
	hdr = binary.AppendUvarint(hdr, uint64(bucket))

	w := bitWriter{buf: make([]byte, 0, d*int(lb+1)/8+8)}
	for b := 0; b < nb; b++ {
		part := v[b*bucket : min((b+1)*bucket, d)]
		var ss float64
		for _, x := range part {
			ss += float64(x) * float64(x)
		}
		norm := math.Sqrt(ss)
		nf := float32(norm)
		if math.IsInf(float64(nf), 0) {
			return nil, fmt.Errorf("codec: QSGD: bucket %d norm %g overflows float32", b, norm)
		}
		if float64(nf) < norm {
			// Round the sent norm up so that s|v_i|/norm <= s for every i.
			nf = math.Nextafter32(nf, float32(math.Inf(1)))
		}
		hdr = binary.LittleEndian.AppendUint32(hdr, math.Float32bits(nf))
		for _, x := range part {
			var level uint32
			if nf > 0 {
				r := math.Abs(float64(x)) / float64(nf) * s
				l := math.Floor(r)
				if q.Rand.Float64() < r-l {
					l++
				}
				level = uint32(min(l, s))
			}
			neg := uint32(0)
			if x < 0 {
				neg = 1
			}
			if q.Elias {
				w.gamma(level + 1)
				if level > 0 {
					w.write(neg, 1)
				}
			} else {
				if level == 0 {
					neg = 0 // canonical: no negative zero
				}
				w.write(neg<<lb|level, lb+1)
			}
		}
	}
	body := append(hdr, w.bytes()...)
	return frame(SchemeQSGD, d, body, q.Lossless), nil
}

func decodeQSGD(body []byte, dim int, put func(int, float64)) error {
	levels, n := binary.Uvarint(body)
	if n <= 0 || levels < 1 || levels > maxQSGDLevel {
		return corrupt("QSGD levels")
	}
	body = body[n:]
	if len(body) < 1 || body[0] > 1 {
		return corrupt("QSGD coding")
	}
	elias := body[0] == 1
	body = body[1:]
	bucket, n := binary.Uvarint(body)
	if n <= 0 || bucket < 1 || bucket > uint64(max(dim, 1)) {
		return corrupt("QSGD bucket size")
	}
	body = body[n:]
	nb := (dim + int(bucket) - 1) / int(bucket)
	if len(body) < 4*nb {
		return corrupt("QSGD: %d bytes for %d bucket norms", len(body), nb)
	}
	norms := body[:4*nb]
	stream := body[4*nb:]
	s := float64(levels)
	lb := levelBits(int(levels))
	if !elias && uint64(len(stream)) != (uint64(dim)*uint64(lb+1)+7)/8 {
		return corrupt("QSGD: %d level bytes for %d coordinates at %d bits", len(stream), dim, lb+1)
	}
	r := bitReader{buf: stream}
	for b := 0; b < nb; b++ {
		norm := math.Float32frombits(binary.LittleEndian.Uint32(norms[4*b:]))
		if norm-norm != 0 || norm < 0 {
			return corrupt("QSGD: bucket %d norm %v", b, norm)
		}
		scale := float64(norm) / s
		lo, hi := b*int(bucket), min((b+1)*int(bucket), dim)
		for i := lo; i < hi; i++ {
			var level, neg uint32
			if elias {
				level = r.gamma(16) - 1
				if r.bad {
					return corrupt("QSGD: truncated or bad level code at %d", i)
				}
				if level > 0 {
					neg = r.read(1)
				}
			} else {
				c := r.read(lb + 1)
				neg, level = c>>lb, c&(1<<lb-1)
			}
			if r.bad {
				return corrupt("QSGD: truncated at coordinate %d", i)
			}
			if uint64(level) > levels {
				return corrupt("QSGD: level %d above %d at %d", level, levels, i)
			}
			x := scale * float64(level)
			if neg == 1 {
				if level == 0 {
					return corrupt("QSGD: negative zero level at %d", i)
				}
				x = -x
			}
			put(i, x)
		}
	}
	if !r.finish() {
		return corrupt("QSGD: trailing data after %d coordinates", dim)
	}
	return nil
}
