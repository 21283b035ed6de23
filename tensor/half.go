package tensor

import "math"

// HalfToFloat converts IEEE 754 binary16 bits to float32.
func HalfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: value = mant * 2^-24
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// FloatToHalf converts float32 to binary16 bits, rounding to nearest even.
func FloatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is correct (up to inf)
	}
	return sign | uint16(h)
}

// BFloat16ToFloat converts bfloat16 bits to float32.
func BFloat16ToFloat(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// FloatToBFloat16 converts float32 to bfloat16 bits, rounding to nearest even.
func FloatToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// WidenHalves converts float16 (or, when dt is BFloat16, bfloat16) bits to
// float32: the one loop the kernels use to compute half-precision tensors in
// float32.
func WidenHalves(dst []float32, src []uint16, dt DType) {
	src = src[:len(dst)]
	if dt == BFloat16 {
		for i, v := range src {
			dst[i] = BFloat16ToFloat(v)
		}
		return
	}
	for i, v := range src {
		dst[i] = HalfToFloat(v)
	}
}

// NarrowHalves rounds float32 values to float16 (or bfloat16) bits.
func NarrowHalves(dst []uint16, src []float32, dt DType) {
	src = src[:len(dst)]
	if dt == BFloat16 {
		for i, v := range src {
			dst[i] = FloatToBFloat16(v)
		}
		return
	}
	for i, v := range src {
		dst[i] = FloatToHalf(v)
	}
}

// StoreFloat32s writes src into dst, a float32, float64, float16 or bfloat16
// tensor of the same length, narrowing or widening as dst's dtype requires.
// It is a no-op when dst's data already is src.
func StoreFloat32s(dst *Tensor, src []float32) {
	switch d := dst.Data.(type) {
	case []float32:
		if len(d) > 0 && len(src) > 0 && &d[0] == &src[0] {
			return
		}
		copy(d, src)
	case []float64:
		for i, v := range src[:len(d)] {
			d[i] = float64(v)
		}
	case []uint16:
		if dst.DType == Float16 || dst.DType == BFloat16 {
			NarrowHalves(d, src, dst.DType)
		}
	}
}
