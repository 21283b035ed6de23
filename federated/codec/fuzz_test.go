package codec

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoders: they must return an error
// or a vector of the stated dimension, never panic, and never allocate for a
// dimension other than the receiver's.
func FuzzDecode(f *testing.F) {
	for _, dim := range []int{0, 1, 9, 33} {
		v := randVec(uint64(dim), dim)
		for _, lossless := range []bool{false, true} {
			for _, enc := range []Encoder{
				Dense{Lossless: lossless},
				QSGD{Levels: 7, BucketSize: 4, Lossless: lossless, Rand: newRand(1)},
				QSGD{Levels: 2, Elias: true, Lossless: lossless, Rand: newRand(1)},
				SignSGD{Lossless: lossless},
				&TopK{K: 3, Lossless: lossless},
			} {
				msg, err := enc.Encode(v)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(msg, uint16(dim))
			}
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte, dim uint16) {
		d := int(dim % 4096)
		got, err := Decode(msg, d)
		if err != nil {
			return
		}
		if len(got) != d {
			t.Fatalf("decoded %d coordinates, want %d", len(got), d)
		}
		for i, x := range got {
			if math.IsNaN(float64(x)) {
				t.Fatalf("NaN at %d from an accepted message", i)
			}
		}
		v := NewVote(d)
		_ = v.Add(msg)
	})
}

// FuzzRoundTrip encodes arbitrary finite vectors with every scheme and checks
// that the result always decodes.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 192}, uint8(3))
	f.Add(make([]byte, 64), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, knob uint8) {
		n := len(data) / 4
		v := make([]float32, n)
		for i := range v {
			x := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			if x-x != 0 {
				x = 0
			}
			v[i] = x
		}
		lossless := knob&1 == 1
		levels := 1 + int(knob>>1)
		for _, enc := range []Encoder{
			Dense{Lossless: lossless},
			QSGD{Levels: levels, BucketSize: int(knob % 5), Elias: knob&2 == 2, Lossless: lossless, Rand: newRand(uint64(knob))},
			SignSGD{Lossless: lossless},
			&EFSign{Lossless: lossless},
			&TopK{K: 1 + int(knob%7), ErrorFeedback: true, Lossless: lossless},
			&DGC{K: 1 + int(knob%5), Momentum: 0.5, Lossless: lossless},
		} {
			msg, err := enc.Encode(v)
			if err != nil {
				// Only overflow to ±Inf inside an encoder (huge inputs) may fail.
				continue
			}
			if _, err := Decode(msg, n); err != nil {
				t.Fatalf("%T: own message refused: %v", enc, err)
			}
		}
	})
}
