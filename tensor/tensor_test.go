package tensor

import (
	"errors"
	"math"
	"testing"
)

func TestNumElements(t *testing.T) {
	cases := []struct {
		shape []int
		n     int
		err   bool
	}{
		{[]int{}, 1, false},
		{[]int{2, 3, 4}, 24, false},
		{[]int{0, 1 << 40}, 0, false}, // a zero dim makes any shape empty
		{[]int{-1, 3}, 0, true},
		{[]int{1 << 20, 1 << 20}, 0, true},
	}
	for _, c := range cases {
		n, err := NumElements(c.shape)
		if (err != nil) != c.err || (!c.err && n != c.n) {
			t.Errorf("%v: %d %v", c.shape, n, err)
		}
	}
	if _, err := Make(Float32, []int{1 << 30}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Make: %v", err)
	}
}

func TestHalfRoundTrip(t *testing.T) {
	// Every finite half value survives half -> float -> half.
	for h := 0; h < 1<<16; h++ {
		f := HalfToFloat(uint16(h))
		if f != f {
			continue // NaN payloads need not round-trip exactly
		}
		if back := FloatToHalf(f); back != uint16(h) {
			t.Fatalf("half %#04x -> %g -> %#04x", h, f, back)
		}
	}
	cases := map[float32]uint16{
		1: 0x3c00, -2: 0xc000, 65504: 0x7bff, 65520: 0x7c00, // rounds to +Inf
		5.960464477539063e-08: 0x0001, // smallest subnormal
		1.0009765625 / 2 * 2:  0x3c01,
		float32(math.Inf(-1)): 0xfc00,
	}
	for f, want := range cases {
		if got := FloatToHalf(f); got != want {
			t.Errorf("FloatToHalf(%g) = %#04x, want %#04x", f, got, want)
		}
	}
	// Ties round to even: 1 + 2^-11 is halfway between 1 and 1+2^-10.
	if got := FloatToHalf(1 + 1.0/2048); got != 0x3c00 {
		t.Errorf("tie to even: %#04x", got)
	}
	if got := FloatToBFloat16(1.00390625); got != 0x3f80 { // tie -> even
		t.Errorf("bfloat16 tie: %#04x", got)
	}
	if BFloat16ToFloat(0x3fc0) != 1.5 {
		t.Error("bfloat16 1.5")
	}
}

func TestBroadcast(t *testing.T) {
	s, err := BroadcastShapes([]int{8, 1, 6, 1}, []int{7, 1, 5})
	if err != nil || !EqualShapes(s, []int{8, 7, 6, 5}) {
		t.Errorf("%v %v", s, err)
	}
	if _, err := BroadcastShapes([]int{3}, []int{4}); err == nil {
		t.Error("3 vs 4 broadcast")
	}
	if st := BroadcastStrides([]int{3, 1}, []int{2, 3, 4}); !equalInts(st, []int{0, 1, 0}) {
		t.Errorf("strides %v", st)
	}
}

func equalInts(a, b []int) bool { return EqualShapes(a, b) }

func TestFromSliceChecks(t *testing.T) {
	if _, err := FromSlice(Float32, []int{3}, []float32{1, 2}); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := FromSlice(Int64, []int{1}, []float32{1}); err == nil {
		t.Error("dtype mismatch accepted")
	}
	if _, err := FromSlice(Float16, []int{1}, []uint16{0x3c00}); err != nil {
		t.Error(err)
	}
	x := Float32s([]int{2, 2}, []float32{1, 2, 3, 4})
	c := x.Clone()
	c.F32()[0] = 9
	if x.F32()[0] != 1 {
		t.Error("Clone shares data")
	}
	if r, err := x.Reshaped([]int{4}); err != nil || r.Shape[0] != 4 {
		t.Error(err)
	}
	if _, err := x.Reshaped([]int{3}); err == nil {
		t.Error("bad reshape accepted")
	}
}
