package gemm

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkPackA(b *testing.B) {
	const m, k = 1280, 320
	rng := rand.New(rand.NewPCG(1, 1))
	a := randSlice(rng, m*k)
	kern := activeKernel
	kc := blockK(kern, k)
	dst := alignedFloats(packedASize(kern, m, k, kc))
	b.SetBytes(int64(m * k * 4))
	for i := 0; i < b.N; i++ {
		packA(kern, false, m, k, kc, a, k, 1, dst)
	}
}

func BenchmarkPackB(b *testing.B) {
	const k, n = 288, 384
	rng := rand.New(rand.NewPCG(1, 1))
	src := randSlice(rng, 576*3136)
	kern := activeKernel
	dst := alignedFloats(k * n)
	b.SetBytes(int64(k * n * 4))
	for i := 0; i < b.N; i++ {
		j := (i * n) % (3136 - n)
		packBBlock(kern.nr, false, src, 3136, 0, k, j, n, dst)
	}
}
