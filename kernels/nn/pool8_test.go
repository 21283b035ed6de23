package nn

import (
	"math/rand/v2"
	"testing"
)

// TestMaxTaps8 compares the byte max-pooling kernels (AVX-512 where the
// CPU has them) with the portable loops at every length around the 64-byte
// blocks, with guard bands, for int8 and uint8.
func TestMaxTaps8(t *testing.T) {
	defer func(v bool) { hasPool8 = v }(hasPool8)
	for _, vec := range []bool{hasPool8, false} {
		hasPool8 = vec
		testTaps8[int8](t)
		testTaps8[uint8](t)
	}
}

func testTaps8[T int8 | uint8](t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const guard = 16
	for _, s2 := range []bool{false, true} {
		for k := 1; k <= 4; k++ {
			for n := 0; n <= 200; n++ {
				step := 1
				if !s2 {
					step = 1 + rng.IntN(n+3)
				}
				// exactly the bytes the taps reach, so an over-read panics
				// or is caught by the race-free bounds of the slice
				size := n + (k-1)*step
				if s2 {
					size = 2*n + k - 2
				}
				if n == 0 {
					size = 0
				}
				x := make([]T, size)
				for i := range x {
					x[i] = T(rng.Uint32())
				}
				got := make([]T, n+2*guard)
				for i := range got {
					got[i] = 77
				}
				want := make([]T, n)
				if s2 {
					maxTapsS28(got[guard:guard+n], x, k)
					maxTapsS28Go(want, x, k)
				} else {
					maxTaps8(got[guard:guard+n], x, k, step)
					maxTaps8Go(want, x, k, step)
				}
				for i := 0; i < guard; i++ {
					if got[i] != 77 || got[guard+n+i] != 77 {
						t.Fatalf("%T vec %v s2 %v k %d n %d: guard band overwritten", x, hasPool8, s2, k, n)
					}
				}
				for i, v := range want {
					if g := got[guard+i]; g != v {
						t.Fatalf("%T vec %v s2 %v k %d n %d step %d: y[%d] = %v, want %v", x, hasPool8, s2, k, n, step, i, g, v)
					}
				}
			}
		}
	}
}

// TestMaxPool8 compares the int8/uint8 vector MaxPool with the scalar
// windows over kernels, strides, pads, dilations and ceil overhangs.
func TestMaxPool8(t *testing.T) {
	defer func(v bool) { hasPool8 = v }(hasPool8)
	for _, vec := range []bool{hasPool8, false} {
		hasPool8 = vec
		testPool8[int8](t)
		testPool8[uint8](t)
	}
}

func testPool8[T int8 | uint8](t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := 0; iter < 1000; iter++ {
		kh, kw := 1+rng.IntN(4), 1+rng.IntN(4)
		d := conv2d{h: kh + rng.IntN(20), w: kw + rng.IntN(150), kh: kh, kw: kw,
			sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(2), dh: 1, dw: 1}
		if d.sw == 1 && rng.IntN(4) == 0 {
			d.dw = 2
		}
		if rng.IntN(4) == 0 {
			d.dh = 2
			d.h += kh
		}
		if rng.IntN(2) == 0 {
			d.ph, d.pw = rng.IntN(kh), rng.IntN(kw)
		}
		d.oh = (d.h+2*d.ph-(d.kh-1)*d.dh-1)/d.sh + 1
		d.ow = (d.w+2*d.pw-(d.kw-1)*d.dw-1)/d.sw + 1
		if rng.IntN(3) == 0 { // ceil mode: one more window reaching past the end
			d.ow++
		}
		if rng.IntN(3) == 0 {
			d.oh++
		}
		if d.oh < 1 || d.ow < 1 {
			continue
		}
		x := make([]T, d.h*d.w)
		for i := range x {
			x[i] = T(rng.Uint32())
		}
		want := make([]T, d.oh*d.ow)
		maxPool2dFast(x, want, &d)
		got := make([]T, d.oh*d.ow)
		maxPool2d8(x, got, &d, maxPool8Buf(&d, []T(nil)))
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%T vec %v %+v: y[%d] = %v, want %v", x, hasPool8, d, i, got[i], want[i])
			}
		}
	}
}
