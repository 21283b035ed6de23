package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestPixels checks SgemmPixels (the assembly kernels where present, and
// the portable loop) against a float64 definition: segment lengths around
// the kernel heights, channel counts around the 32-lane panels, beta,
// bias, clipping, threads, and NaN guards on every output not written.
func TestPixels(t *testing.T) {
	saved := pixelKernels
	defer func() { pixelKernels = saved }()
	for _, asm := range []bool{true, false} {
		if asm && saved == nil {
			continue
		}
		pixelKernels = nil
		if asm {
			pixelKernels = saved
		}
		t.Run(fmt.Sprintf("asm=%v", asm), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			for it := 0; it < 60; it++ {
				m := []int{1, 5, 16, 17, 31, 32, 33, 64, 70}[rng.IntN(9)]
				k := []int{1, 2, 3, 5, 9, 27, 100}[rng.IntN(7)]
				nseg := []int{1 + rng.IntN(6), 16 + rng.IntN(8)}[rng.IntN(2)] // panel- and segment-major
				// segments on disjoint pixel ranges, random lengths and bases
				var segs []Segment
				pixel := 0
				xlen := 40 + rng.IntN(200)
				for s := 0; s < nseg; s++ {
					n := 1 + rng.IntN(MaxSegment)
					pixel += rng.IntN(3)
					segs = append(segs, Segment{Pixel: int32(pixel), N: int32(n)})
					pixel += n
				}
				ldy := pixel + rng.IntN(4)
				off := make([]int32, k)
				for p := range off {
					off[p] = int32(rng.IntN(xlen - MaxSegment))
				}
				for i := range segs {
					segs[i].Base = int32(rng.IntN(MaxSegment - int(segs[i].N) + 1))
				}
				x := randSlice(rng, xlen)
				w := randSlice(rng, m*k)
				pw := PackPixelWeights(m, k, w, k)
				beta := []float32{0, 1, 0.5}[rng.IntN(3)]
				ep := Epilogue{Act: Activation(rng.IntN(3)), Min: -0.3, Max: 0.4}
				if rng.IntN(2) == 0 {
					ep.RowBias = randSlice(rng, m)
				}
				y := make([]float32, m*ldy)
				written := make([]bool, len(y))
				for _, s := range segs {
					for c := 0; c < m; c++ {
						for i := 0; i < int(s.N); i++ {
							written[c*ldy+int(s.Pixel)+i] = true
						}
					}
				}
				for i := range y {
					y[i] = float32(math.NaN())
					if written[i] && beta != 0 {
						y[i] = rng.Float32() - 0.5
					}
				}
				orig := append([]float32(nil), y...)
				var par ParallelFor
				if rng.IntN(2) == 0 {
					par = goParallel(3)
				}
				SgemmPixels(pw, x, off, segs, beta, y, ldy, &Options{Parallel: par, Epilogue: ep})
				for _, s := range segs {
					for c := 0; c < m; c++ {
						for i := 0; i < int(s.N); i++ {
							at := c*ldy + int(s.Pixel) + i
							var want, mag float64
							for p := 0; p < k; p++ {
								v := float64(w[c*k+p]) * float64(x[int(s.Base)+int(off[p])+i])
								want += v
								mag += math.Abs(v)
							}
							if beta != 0 {
								want += float64(beta) * float64(orig[at])
							}
							if ep.RowBias != nil {
								want += float64(ep.RowBias[c])
							}
							switch ep.Act {
							case ActReLU:
								want = math.Max(want, 0)
							case ActClip:
								want = math.Min(math.Max(want, float64(ep.Min)), float64(ep.Max))
							}
							if d := math.Abs(float64(y[at]) - want); !(d <= 1e-5*(mag+1)) {
								t.Fatalf("it %d m=%d k=%d seg %+v: y[c=%d,i=%d] = %g, want %g", it, m, k, s, c, i, y[at], want)
							}
						}
					}
				}
				for i, v := range y {
					if !written[i] && !math.IsNaN(float64(v)) {
						t.Fatalf("it %d: y[%d] outside the segments was written (%g)", it, i, v)
					}
				}
			}
		})
	}
}

// TestPixelsRejects checks that out-of-range segments panic with a message
// instead of reading or writing outside the slices.
func TestPixelsRejects(t *testing.T) {
	pw := PackPixelWeights(2, 1, []float32{1, 2}, 1)
	x := make([]float32, 20)
	y := make([]float32, 2*10)
	for _, s := range []Segment{{Base: 15, N: 6}, {Pixel: 8, N: 3}, {N: 15}, {N: 0}, {Base: -1, N: 2}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("segment %+v accepted", s)
				}
			}()
			SgemmPixels(pw, x, []int32{0}, []Segment{s}, 0, y, 10, nil)
		}()
	}
	// the last channel's row must reach the segment's end
	defer func() {
		if recover() == nil {
			t.Errorf("a y one float short of the last row accepted")
		}
	}()
	SgemmPixels(pw, x, []int32{0}, []Segment{{Pixel: 5, N: 4}}, 0, y[:10+8], 10, nil)
}

// TestPixelWeightsUnpack checks that Unpack inverts PackPixelWeights.
func TestPixelWeightsUnpack(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, s := range [][2]int{{1, 1}, {31, 7}, {33, 5}, {70, 300}} {
		m, k := s[0], s[1]
		w := randSlice(rng, m*k)
		got := PackPixelWeights(m, k, w, k).Unpack()
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("%dx%d: element %d = %g, want %g", m, k, i, got[i], w[i])
			}
		}
	}
}
