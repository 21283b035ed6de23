package entropy

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// streams returns test inputs: edge cases and draws from skewed
// distributions like the ones weight-sharing indices and mask gaps have.
func streams() map[string]struct {
	syms  []byte
	alpha int
} {
	r := rand.New(rand.NewPCG(1, 2))
	draw := func(n, alpha int, p func() float64) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = byte(min(alpha-1, int(p()*float64(alpha))))
		}
		return out
	}
	geo := func() float64 { return math.Min(0.999, r.ExpFloat64()/20) }
	return map[string]struct {
		syms  []byte
		alpha int
	}{
		"empty":           {nil, 4},
		"one symbol":      {[]byte{3}, 4},
		"constant":        {bytes.Repeat([]byte{7}, 1000), 256},
		"two symbols":     {draw(5000, 2, r.Float64), 2},
		"uniform 256":     {draw(20000, 256, r.Float64), 256},
		"skewed 32":       {draw(20000, 32, geo), 32},
		"normalish 16":    {draw(20000, 16, func() float64 { return math.Max(0, math.Min(0.999, 0.5+r.NormFloat64()/8)) }), 16},
		"very skewed 256": {draw(50000, 256, func() float64 { return math.Min(0.999, r.ExpFloat64()/400) }), 256},
		// Fibonacci-like frequencies force Huffman depths beyond 15 bits.
		"deep tree": {fib(), 40},
	}
}

func fib() []byte {
	var out []byte
	a, b := 1, 1
	for s := 0; s < 25; s++ {
		out = append(out, bytes.Repeat([]byte{byte(s)}, a)...)
		a, b = b, a+b
	}
	return out
}

func entropyBits(syms []byte) float64 {
	var c [256]float64
	for _, s := range syms {
		c[s]++
	}
	h := 0.0
	for _, v := range c {
		if v > 0 {
			p := v / float64(len(syms))
			h -= v * math.Log2(p)
		}
	}
	return h
}

func TestRoundTrip(t *testing.T) {
	for name, tc := range streams() {
		for _, c := range []Coder{Huffman, RANS} {
			enc, err := Encode(c, tc.syms, tc.alpha)
			if err != nil {
				t.Fatalf("%s/%v: %v", name, c, err)
			}
			dec, n, err := Decode(append(enc, 0xAA), len(tc.syms))
			if err != nil {
				t.Fatalf("%s/%v: %v", name, c, err)
			}
			if n != len(enc) || !bytes.Equal(dec, tc.syms) {
				t.Fatalf("%s/%v: round trip differs (read %d of %d bytes)", name, c, n, len(enc))
			}
			if len(tc.syms) >= 1000 {
				h := entropyBits(tc.syms) / 8
				t.Logf("%-16s %-8v %7d bytes, entropy %8.0f bytes (%.3fx)", name, c, len(enc), h, float64(len(enc))/math.Max(h, 1))
			}
		}
	}
}

func TestCodeLengthsLimited(t *testing.T) {
	freq := make([]int, 40)
	for _, s := range fib() {
		freq[s]++
	}
	lens := CodeLengths(freq)
	kraft := 0.0
	for s, l := range lens {
		if freq[s] > 0 && (l == 0 || l > maxLen) {
			t.Fatalf("symbol %d: length %d", s, l)
		}
		if l > 0 {
			kraft += math.Pow(2, -float64(l))
		}
	}
	if kraft > 1 {
		t.Fatalf("Kraft sum %v > 1", kraft)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Encode(Huffman, []byte{0, 1, 2, 1, 0, 0, 0, 3}, 4)
	goodR, _ := Encode(RANS, []byte{0, 1, 2, 1, 0, 0, 0, 3}, 4)
	cases := map[string]struct {
		b   []byte
		max int
	}{
		"empty":          {nil, 10},
		"unknown coder":  {append([]byte{9}, good[1:]...), 10},
		"too many":       {good, 7},
		"truncated":      {good[:len(good)-1], 10},
		"truncated rans": {goodR[:len(goodR)-1], 10},
		"bad alphabet":   {[]byte{1, 1, 0}, 10},
		"huge count":     {[]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 4}, 1 << 40},
		"oversubscribed": {[]byte{1, 1, 4, 0x11, 0x10, 1, 0}, 10},
		"bad freq sum":   {[]byte{2, 1, 2, 1, 1, 4, 0, 0, 0x80, 0}, 10},
	}
	for name, tc := range cases {
		if _, _, err := Decode(tc.b, tc.max); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := Encode(Huffman, []byte{5}, 4); err == nil {
		t.Error("symbol outside the alphabet accepted")
	}
	if _, err := Encode(Huffman, nil, 0); err == nil {
		t.Error("empty alphabet accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, tc := range streams() {
		for _, c := range []Coder{Huffman, RANS} {
			if len(tc.syms) < 2000 {
				b, _ := Encode(c, tc.syms, tc.alpha)
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		syms, n, err := Decode(b, 1<<16)
		if err != nil {
			return
		}
		if n > len(b) || len(syms) > 1<<16 {
			t.Fatalf("read %d of %d bytes, %d symbols", n, len(b), len(syms))
		}
	})
}

func ExampleEncode() {
	syms := []byte{0, 0, 0, 0, 0, 0, 1, 1, 2, 3}
	b, _ := Encode(Huffman, syms, 4)
	back, _, _ := Decode(b, len(syms))
	fmt.Println(len(b), "bytes;", bytes.Equal(back, syms))
	// Output: 8 bytes; true
}
