package codec

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgedl/edgedl/tensor"
)

// maxHalf is the largest finite binary16 value; fp16 encoding saturates to it
// instead of overflowing to infinity.
const maxHalf = 65504

func encodeFP16(x []float32) []byte {
	out := make([]byte, 2*len(x))
	for i, v := range x {
		if v > maxHalf {
			v = maxHalf
		} else if v < -maxHalf {
			v = -maxHalf
		}
		binary.LittleEndian.PutUint16(out[2*i:], tensor.FloatToHalf(v))
	}
	return out
}

func decodeFP16(body []byte, shape []int) (*tensor.Tensor, error) {
	t, err := tensor.Make(tensor.Float32, shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShape, err)
	}
	d := t.F32()
	for i := range d {
		d[i] = tensor.HalfToFloat(binary.LittleEndian.Uint16(body[2*i:]))
	}
	return t, nil
}

// affine returns the int8 scale and zero point that map [lo, hi] onto
// [-128, 127]. The range is first widened to contain 0 so that zero (ReLU's
// output, padding) is exact. Non-finite bounds are treated as 0.
func affine(lo, hi float32) (scale float32, zp int8) {
	if !(lo < 0) || math.IsInf(float64(lo), 0) {
		lo = 0
	}
	if !(hi > 0) || math.IsInf(float64(hi), 0) {
		hi = 0
	}
	scale = float32((float64(hi) - float64(lo)) / 255)
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		if math.IsInf(float64(scale), 0) {
			scale = math.MaxFloat32
		} else {
			return 1, 0 // all zeros
		}
	}
	z := -128 - math.RoundToEven(float64(lo)/float64(scale))
	return scale, int8(max(-128, min(127, z)))
}

// minMax returns the smallest and largest finite values of x (0, 0 if none).
func minMax(x []float32) (lo, hi float32) {
	first := true
	for _, v := range x {
		if v-v != 0 { // NaN or ±Inf
			continue
		}
		if first {
			lo, hi, first = v, v, false
			continue
		}
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// quantize writes q = saturate(roundHalfEven(x/scale) + zp) for each x.
// NaN maps to the zero point (0.0); ±Inf saturate.
func quantize(dst []byte, x []float32, scale float32, zp int8) {
	s := float64(scale)
	z := float64(zp)
	for i, v := range x {
		q := math.RoundToEven(float64(v)/s) + z
		switch {
		case q >= 127:
			dst[i] = byte(int8(127))
		case q <= -128:
			dst[i] = byte(0x80) // int8(-128)
		case q == q:
			dst[i] = byte(int8(q))
		default:
			dst[i] = byte(zp)
		}
	}
}

func dequantize(dst []float32, q []byte, scale float32, zp int8) {
	for i, b := range q {
		dst[i] = float32(int32(int8(b))-int32(zp)) * scale
	}
}

// quantizeTensor quantizes x with one scale and zero point from its min/max.
func quantizeTensor(x []float32) ([]byte, float32, int8) {
	scale, zp := affine(minMax(x))
	out := make([]byte, len(x))
	quantize(out, x, scale, zp)
	return out, scale, zp
}

func dequantizeTensor(body []byte, shape []int, scale float32, zp int8) (*tensor.Tensor, error) {
	t, err := tensor.Make(tensor.Float32, shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShape, err)
	}
	dequantize(t.F32(), body, scale, zp)
	return t, nil
}

// channels is the size of the channel axis (1) of a non-empty tensor; empty
// tensors carry no per-channel header.
func channels(shape []int, n int) int {
	if n == 0 || len(shape) < 2 {
		return 0
	}
	return shape[1]
}

// quantizeChannels quantizes x (shape [N, C, ...]) with one scale and zero
// point per channel of axis 1. The body is C float32 scales, C int8 zero
// points, then the elements.
func quantizeChannels(x []float32, shape []int, axis int) []byte {
	_ = axis // always 1; kept for the day other layouts need it
	c := channels(shape, len(x))
	out := make([]byte, 5*c+len(x))
	if c == 0 {
		return out
	}
	outer := shape[0]
	inner := len(x) / (outer * c)
	q := out[5*c:]
	lo := make([]float32, c)
	hi := make([]float32, c)
	for ch := 0; ch < c; ch++ {
		first := true
		for o := 0; o < outer; o++ {
			a, b := minMax(x[(o*c+ch)*inner : (o*c+ch+1)*inner])
			if first || a < lo[ch] {
				lo[ch] = a
			}
			if first || b > hi[ch] {
				hi[ch] = b
			}
			first = false
		}
	}
	for ch := 0; ch < c; ch++ {
		scale, zp := affine(lo[ch], hi[ch])
		binary.LittleEndian.PutUint32(out[4*ch:], math.Float32bits(scale))
		out[4*c+ch] = byte(zp)
		for o := 0; o < outer; o++ {
			off := (o*c + ch) * inner
			quantize(q[off:off+inner], x[off:off+inner], scale, zp)
		}
	}
	return out
}

func dequantizeChannels(body []byte, shape []int, axis int) (*tensor.Tensor, error) {
	_ = axis
	t, err := tensor.Make(tensor.Float32, shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShape, err)
	}
	x := t.F32()
	c := channels(shape, len(x))
	if c == 0 {
		return t, nil
	}
	outer := shape[0]
	inner := len(x) / (outer * c)
	q := body[5*c:]
	for ch := 0; ch < c; ch++ {
		scale := math.Float32frombits(binary.LittleEndian.Uint32(body[4*ch:]))
		if !(scale > 0) || math.IsInf(float64(scale), 0) {
			return nil, fmt.Errorf("%w: channel %d scale %g", ErrInvalid, ch, scale)
		}
		zp := int8(body[4*c+ch])
		for o := 0; o < outer; o++ {
			off := (o*c + ch) * inner
			dequantize(x[off:off+inner], q[off:off+inner], scale, zp)
		}
	}
	return t, nil
}
