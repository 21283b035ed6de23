package secagg

import (
	"fmt"
	"math"
)

// FixedPoint maps float32 updates to the integers mod 2^32 that secure
// aggregation sums, and sums back to floats: x ↦ round(clip(x, ±Bound) ·
// Scale) as a two's-complement int32. The sum of n encoded vectors decodes
// exactly (to the rounding of each input) as long as n·Bound·Scale < 2^31;
// NewFixedPoint picks the largest power-of-two Scale that guarantees it.
type FixedPoint struct {
	Scale float64
	Bound float64
}

// NewFixedPoint returns the encoding for up to clients vectors with
// coordinates in [-bound, bound].
func NewFixedPoint(bound float64, clients int) (FixedPoint, error) {
	if !(bound > 0) || clients < 1 {
		return FixedPoint{}, fmt.Errorf("secagg: fixed point for bound %v and %d clients", bound, clients)
	}
	limit := (math.MaxInt32 - float64(clients)) / (float64(clients) * bound) // leave room for rounding
	if limit < 1 {
		return FixedPoint{}, fmt.Errorf("secagg: %d clients with bound %v do not fit in 32 bits", clients, bound)
	}
	return FixedPoint{Scale: math.Exp2(math.Floor(math.Log2(limit))), Bound: bound}, nil
}

// Encode writes the fixed-point words of v into dst (same length) and
// returns how many coordinates were clipped to ±Bound. Non-finite values are
// an error.
func (f FixedPoint) Encode(dst []uint32, v []float32) (clipped int, err error) {
	if len(dst) != len(v) {
		return 0, fmt.Errorf("secagg: fixed point: %d words for %d values", len(dst), len(v))
	}
	for i, x := range v {
		y := float64(x)
		if y-y != 0 {
			return clipped, fmt.Errorf("secagg: fixed point: non-finite value at %d", i)
		}
		if y > f.Bound {
			y, clipped = f.Bound, clipped+1
		} else if y < -f.Bound {
			y, clipped = -f.Bound, clipped+1
		}
		dst[i] = uint32(int32(math.RoundToEven(y * f.Scale)))
	}
	return clipped, nil
}

// Decode reads a sum of encoded vectors back into floats.
func (f FixedPoint) Decode(dst []float32, sum []uint32) error {
	if len(dst) != len(sum) {
		return fmt.Errorf("secagg: fixed point: %d values for %d words", len(dst), len(sum))
	}
	for i, w := range sum {
		dst[i] = float32(float64(int32(w)) / f.Scale)
	}
	return nil
}
