package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/internal/testenv"
)

// benchShapes are M, K, N: square, a 3×3 conv as im2col GEMM (64 output
// channels, 56×56), MobileNetV2-like 1×1 convs (W[Cout×Cin]·X[Cin×HW]) and
// its batch-1 classifier.
var benchShapes = []struct {
	name    string
	m, k, n int
}{
	{"1024x1024x1024", 1024, 1024, 1024},
	{"conv3x3_M64_K576_N3136", 64, 576, 3136},
	{"pw_M96_K16_N12544", 96, 16, 12544},
	{"pw_M32_K192_N784", 32, 192, 784},
	{"pw_M1280_K320_N49", 1280, 320, 49},
	{"fc_M1_K1280_N1000", 1, 1280, 1000},
	// SqueezeNet 1.1: Fire expand 3x3 at 55², 27², 13², the classifier
	// 1x1 conv, the first 3x3 stride-2 conv.
	{"sq_M64_K144_N3025", 64, 144, 3025},
	{"sq_M128_K288_N729", 128, 288, 729},
	{"sq_M256_K576_N169", 256, 576, 169},
	{"sq_M1000_K512_N169", 1000, 512, 169},
	{"sq_M64_K27_N12321", 64, 27, 12321},
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32() - 0.5
	}
	return s
}

// timed runs f b.N times and reports GFLOP/s of wall time and, as
// GFLOP/cpu-s, per CPU-second of the process (per core when threaded).
func timed(b *testing.B, m, n, k int, f func()) {
	b.ResetTimer()
	cpu0 := testenv.ProcessCPU()
	for i := 0; i < b.N; i++ {
		f()
	}
	cpu := testenv.ProcessCPU() - cpu0
	b.StopTimer()
	flop := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flop/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkSgemm times plain Sgemm (A and B packed on every call).
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", s.name, threads), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				A, B, C := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
				var opt *Options
				if threads > 1 {
					opt = &Options{Parallel: goParallel(threads)}
				}
				timed(b, s.m, s.n, s.k, func() {
					SgemmEx(false, false, s.m, s.n, s.k, 1, A, s.k, B, s.n, 0, C, s.n, opt)
				})
			})
		}
	}
}

// BenchmarkPackedA times the Conv path: weights pre-packed as A, the
// image as B, with bias+ReLU fused.
func BenchmarkPackedA(b *testing.B) {
	for _, s := range benchShapes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", s.name, threads), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				A, B, C := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
				pa := PackA(false, s.m, s.k, A, s.k)
				opt := &Options{Epilogue: Epilogue{RowBias: randSlice(rng, s.m), Act: ActReLU}}
				if threads > 1 {
					opt.Parallel = goParallel(threads)
				}
				timed(b, s.m, s.n, s.k, func() {
					SgemmPackedA(s.m, s.n, s.k, 1, pa, false, B, s.n, 0, C, s.n, opt)
				})
			})
		}
	}
}

// BenchmarkPackedB times the Gemm/MatMul path: weights pre-packed as B.
func BenchmarkPackedB(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			A, B, C := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n), make([]float32, s.m*s.n)
			pb := PackB(false, s.k, s.n, B, s.n)
			timed(b, s.m, s.n, s.k, func() {
				SgemmPackedB(false, s.m, s.n, s.k, 1, A, s.k, pb, 0, C, s.n, nil)
			})
		})
	}
}

// BenchmarkKernel times the micro-kernel alone on cache-resident panels.
func BenchmarkKernel(b *testing.B) {
	for _, kern := range kernelsUnderTest() {
		b.Run(kern.name, func(b *testing.B) {
			const k = 256
			rng := rand.New(rand.NewPCG(1, 1))
			a := alignedFloats(kern.mr * k)
			copy(a, randSlice(rng, len(a)))
			bb := alignedFloats(kern.nr * k)
			copy(bb, randSlice(rng, len(bb)))
			c := make([]float32, kern.mr*kern.nr)
			p := kparams{rows: uint32(kern.mr), cols: uint32(kern.nr), mask0: 0xffff, mask1: 0xffff}
			timed(b, kern.mr, kern.nr, k, func() {
				kern.fn(k, &a[0], &bb[0], &c[0], kern.nr, &p)
			})
		})
	}
}
