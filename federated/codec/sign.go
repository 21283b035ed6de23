package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// SignSGD sends one bit per coordinate, the sign, times a single scale
// (Bernstein et al., ICML 2018). Zero coordinates are sent as positive. With
// Scale 0 (meaning 1) the receiver gets ±1 per coordinate, which is what
// majority vote (Vote) needs.
type SignSGD struct {
	Scale    float32 // 0 means 1
	Lossless bool
}

func (s SignSGD) Encode(v []float32) ([]byte, error) {
	if err := checkInput(v); err != nil {
		return nil, err
	}
	scale := s.Scale
	if scale == 0 {
		scale = 1
	}
	if scale-scale != 0 || scale < 0 {
		return nil, fmt.Errorf("codec: sign scale %v", scale)
	}
	return encodeSign(v, scale, s.Lossless), nil
}

// EFSign is error-feedback sign compression (Karimireddy et al., ICML 2019,
// EF-SignSGD): with residual e,
//
//	p = v + e,   Δ = (‖p‖₁/d) sign(p),   e ← p - Δ,
//
// and Δ is what is sent (a scale and one bit per coordinate). The residual
// carries what the sign threw away into the next message, which restores the
// convergence that plain signSGD loses. Residual is allocated on first use.
type EFSign struct {
	Lossless bool
	Residual []float32
}

func (e *EFSign) Encode(v []float32) ([]byte, error) {
	if err := checkInput(v); err != nil {
		return nil, err
	}
	if e.Residual == nil {
		e.Residual = make([]float32, len(v))
	}
	if len(e.Residual) != len(v) {
		return nil, fmt.Errorf("codec: EF-sign residual has %d coordinates, input %d", len(e.Residual), len(v))
	}
	p := make([]float32, len(v))
	var l1 float64
	for i, x := range v {
		p[i] = x + e.Residual[i]
		l1 += math.Abs(float64(p[i]))
	}
	scale := float32(0)
	if len(v) > 0 {
		scale = float32(l1 / float64(len(v)))
	}
	if checkFinite(p) != nil || scale-scale != 0 {
		return nil, fmt.Errorf("codec: EF-sign: input plus residual overflows float32")
	}
	for i, x := range p {
		if x < 0 {
			e.Residual[i] = x + scale
		} else {
			e.Residual[i] = x - scale
		}
	}
	return encodeSign(p, scale, e.Lossless), nil
}

func encodeSign(v []float32, scale float32, lossless bool) []byte {
	body := make([]byte, 4+(len(v)+7)/8)
	binary.LittleEndian.PutUint32(body, math.Float32bits(scale))
	bitsOut := body[4:]
	for i, x := range v {
		if x < 0 {
			bitsOut[i>>3] |= 0x80 >> (i & 7)
		}
	}
	return frame(SchemeSign, len(v), body, lossless)
}

func decodeSign(body []byte, dim int, put func(int, float64)) error {
	if len(body) != 4+(dim+7)/8 {
		return corrupt("sign body of %d bytes for %d coordinates", len(body), dim)
	}
	scale := math.Float32frombits(binary.LittleEndian.Uint32(body))
	if scale-scale != 0 || scale < 0 {
		return corrupt("sign scale %v", scale)
	}
	b := body[4:]
	if dim%8 != 0 && b[len(b)-1]&(0xFF>>(dim%8)) != 0 {
		return corrupt("sign: padding bits set")
	}
	for i := 0; i < dim; i++ {
		x := float64(scale)
		if b[i>>3]&(0x80>>(i&7)) != 0 {
			x = -x
		}
		put(i, x)
	}
	return nil
}

// Vote is the server side of signSGD with majority vote (Bernstein et al.,
// ICLR 2019): it counts, per coordinate, the signs of the workers' sign
// messages; the result is the sign of the count. Workers' scales are ignored.
type Vote struct {
	counts []int32
	voters int
}

// NewVote returns an empty vote over dim coordinates.
func NewVote(dim int) *Vote { return &Vote{counts: make([]int32, dim)} }

// Voters returns how many messages were counted.
func (v *Vote) Voters() int { return v.voters }

// Add counts one worker's sign message (scheme sign, len = dim). A malformed
// message is refused and leaves the count unchanged.
func (v *Vote) Add(msg []byte) error {
	info, body, err := parseHeader(msg)
	if err != nil {
		return err
	}
	if info.Scheme != SchemeSign {
		return fmt.Errorf("codec: vote: %s message, want sign", info.Scheme)
	}
	if info.Dim != len(v.counts) {
		return fmt.Errorf("%w: message has %d coordinates, vote %d", ErrDim, info.Dim, len(v.counts))
	}
	if info.Compressed {
		if body, err = zstdDecode(body, maxBody(SchemeSign, info.Dim)); err != nil {
			return err
		}
	}
	signs := make([]int8, info.Dim)
	if err := decodeSign(body, info.Dim, func(i int, x float64) {
		if math.Signbit(x) {
			signs[i] = -1
		} else {
			signs[i] = 1
		}
	}); err != nil {
		return err
	}
	for i, s := range signs {
		v.counts[i] += int32(s)
	}
	v.voters++
	return nil
}

// Result writes sign(count) per coordinate into dst: +1, -1, or 0 on a tie.
func (v *Vote) Result(dst []float32) error {
	if len(dst) != len(v.counts) {
		return fmt.Errorf("%w: result has %d coordinates, vote %d", ErrDim, len(dst), len(v.counts))
	}
	for i, c := range v.counts {
		switch {
		case c > 0:
			dst[i] = 1
		case c < 0:
			dst[i] = -1
		default:
			dst[i] = 0
		}
	}
	return nil
}

// Encode returns the vote as a sign message with the given scale (the
// server's learning rate, say) for the 1-bit downlink; ties go positive.
func (v *Vote) Encode(scale float32, lossless bool) ([]byte, error) {
	r := make([]float32, len(v.counts))
	_ = v.Result(r)
	return SignSGD{Scale: scale, Lossless: lossless}.Encode(r)
}
