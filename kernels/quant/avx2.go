package quant

import (
	"unsafe"

	"github.com/edgedl/edgedl/kernels"
)

// The AVX2 integer GEMM, for x86-64 CPUs without AVX-512 VNNI.
//
// VPMADDUBSW (uint8 × int8 pairs into int16) would be twice as dense but
// saturates: 2·255·127 > 2¹⁵−1, so it is exact only for 7-bit operands.
// This kernel widens instead: zero points are subtracted while packing
// (A per row block, B once), so both operands are int16 in [−255, 255],
// and VPMADDWD adds two int16 products into an int32 lane without
// saturation (2·255² < 2³¹); the int32 sums wrap like the reference. No
// correction terms are needed.
//
// Packed B: panels of 16 columns; in each, ceil(K/2) pairs of k values,
// column j's pair as two int16 at bytes 4j..4j+3 (64 bytes per pair).
// Packed A: blocks of 4 rows; per pair of k values, the 4 rows' pairs.

const (
	avx2NR = 16
	avx2MR = 4
)

// useAVX2 selects the AVX2 layout for new packings when VNNI is not used.
var useAVX2 = hasAVX2 && !hasVNNI

// avx2B is the AVX2 form of a packed B.
type avx2B struct {
	kp   int     // ceil(K/2)
	data []int16 // panels × kp × 32
}

// avx2Masks[16−n:32−n] has n all-ones lanes followed by zeros.
var avx2Masks = func() (m [32]int32) {
	for i := 16; i < 32; i++ {
		m[i] = 0
	}
	for i := 0; i < 16; i++ {
		m[i] = -1
	}
	return m
}()

func avx2Words(k, n int) int {
	return (n + avx2NR - 1) / avx2NR * ((k + 1) / 2) * 32 * 2 / 8
}

// packAVX2 fills p.a2 from B (see PackB).
func packAVX2[T int8 | uint8](p *PackedB, words []int64, k, n int, b []T, ldb int, trans bool, zero []int32) {
	panels := (n + avx2NR - 1) / avx2NR
	kp := (k + 1) / 2
	data := unsafe.Slice((*int16)(unsafe.Pointer(&words[0])), 4*len(words))[:panels*kp*32]
	clear(data)
	for j := 0; j < n; j++ {
		var z int32
		if len(zero) == 1 {
			z = zero[0]
		} else if len(zero) == n {
			z = zero[j]
		}
		panel := data[j/avx2NR*kp*32:]
		jj := j % avx2NR
		var sum int32
		for q := 0; q < k; q++ {
			var bv int32
			if trans {
				bv = int32(b[j*ldb+q])
			} else {
				bv = int32(b[q*ldb+j])
			}
			v := bv - z
			panel[q/2*32+jj*2+q%2] = int16(v)
			sum += v
		}
		p.colSum[j] = sum
	}
	p.a2 = &avx2B{kp: kp, data: data}
}

// gemmAVX2Drive is gemm with the AVX2 kernel (b.a2 != nil, b.K > 0).
func gemmAVX2Drive[T int8 | uint8](ctx *kernels.Ctx, m int, a []T, lda int, aZero []int32, b *PackedB, c []int32, ldc int) {
	ab := b.a2
	panels := (b.N + avx2NR - 1) / avx2NR
	blocks := (m + avx2MR - 1) / avx2MR
	const rowBlocks = 16 // row blocks per parallel task
	tasks := (blocks + rowBlocks - 1) / rowBlocks
	run := func(lo, hi int) {
		ap := make([]int16, ab.kp*avx2MR*2)
		for t := lo; t < hi; t++ {
			for blk := t * rowBlocks; blk < min((t+1)*rowBlocks, blocks); blk++ {
				i0 := blk * avx2MR
				rows := min(avx2MR, m-i0)
				clear(ap)
				for r := 0; r < rows; r++ {
					var z int32
					if len(aZero) > 1 {
						z = aZero[i0+r]
					} else if len(aZero) == 1 {
						z = aZero[0]
					}
					row := a[(i0+r)*lda : (i0+r)*lda+b.K]
					for p, v := range row {
						ap[p/2*8+r*2+p%2] = int16(int32(v) - z)
					}
				}
				for q := 0; q < panels; q++ {
					nc := min(avx2NR, b.N-q*avx2NR)
					gemmAVX2(ab.kp, &ap[0], &ab.data[q*ab.kp*32], &c[i0*ldc+q*avx2NR], ldc, rows, &avx2Masks[16-nc])
				}
			}
		}
	}
	if ctx.Threads() == 1 || m*b.N*b.K < 1<<17 {
		run(0, tasks)
		return
	}
	ctx.Parallel(tasks, 1, run)
}
