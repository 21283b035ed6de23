package quant

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
)

// The portable integer GEMM.
//
// C[i,j] = Σ_p (A[i,p] − aZero[i]) · (B[p,j] − bZero[j]) is computed as
//
//	Σ_p A[i,p]·B'[p,j] − aZero[i]·colSum(B')[j],   B' = B − bZero
//
// B' is formed once, when B is packed (weights are packed at build time), so
// the per-element work is a pure multiply-accumulate of raw A values and the
// A zero point costs one multiply-subtract per output element.
//
// The micro-kernel multiplies one A value by a 64-bit word holding two B'
// values (b0 + b1·2³²): a single 64-bit multiply then yields both products,
// and 32-bit lanes accumulate them exactly as long as |Σ| < 2³¹, which
// bounds the K chunk (kChunk). This doubles Go's scalar throughput. The
// SIMD implementations (vnni.go, avx2.go) replace the packing and the
// micro-kernel behind the same exported functions.

const (
	mr = 4 // rows of A per micro-kernel call
	nr = 4 // columns of B per packed panel (two 64-bit words per k)
	// kChunk bounds the K extent accumulated in 32-bit lanes: products are at
	// most 255·255 = 65025 in magnitude, and 32768·65025 < 2³¹.
	kChunk = 32768
	// Parallel tiles: mcTile rows × ncTile panels of C.
	mcTile = 64
	ncTile = 16
)

// PackedB is the right-hand operand of the integer GEMM: a K×N matrix of
// 8-bit integers with its per-column zero points already subtracted, laid
// out for the micro-kernel. It is immutable once packed and may be shared by
// concurrent GEMMs.
type PackedB struct {
	K, N int
	// colSum[j] = Σ_p (B[p,j] − bZero[j]).
	colSum []int32
	// panels holds ceil(N/nr) panels of 2·K words; word 2p+h of panel q is
	// B'[p, 4q+2h] + B'[p, 4q+2h+1]·2³² (columns past N are zero).
	panels []int64
	// v, if set, is the VNNI form used instead of panels (vnni.go); a2
	// the AVX2 form (avx2.go).
	v  *vnniB
	a2 *avx2B
}

// PackedWords is the number of int64 words PackB needs for a K×N matrix
// (in the layout of the GEMM implementation this CPU uses).
func PackedWords(k, n int) int {
	if useVNNI || useSDOT {
		return vnniWords(k, n)
	}
	if useAVX2 {
		return avx2Words(k, n)
	}
	return (n + nr - 1) / nr * 2 * k
}

// PackB packs the K×N matrix B (or, if trans, the N×K matrix Bᵀ) with row
// stride ldb. zero holds B's zero points: empty (none), one value for the
// whole matrix, or one per column (N values).
func PackB[T int8 | uint8](k, n int, b []T, ldb int, trans bool, zero []int32) (*PackedB, error) {
	if err := checkPack(k, n, b, ldb, trans, zero); err != nil {
		return nil, err
	}
	return PackBInto(make([]int64, PackedWords(k, n)), k, n, b, ldb, trans, zero)
}

// PackBInto is PackB using words (at least PackedWords(k, n) long, for
// example scratch memory from the allocator) as the panel storage.
func PackBInto[T int8 | uint8](words []int64, k, n int, b []T, ldb int, trans bool, zero []int32) (*PackedB, error) {
	if err := checkPack(k, n, b, ldb, trans, zero); err != nil {
		return nil, err
	}
	if len(words) < PackedWords(k, n) {
		return nil, fmt.Errorf("quant: PackBInto needs %d words, got %d", PackedWords(k, n), len(words))
	}
	words = words[:PackedWords(k, n)]
	p := &PackedB{K: k, N: n, colSum: make([]int32, n)}
	if useVNNI || useSDOT {
		packVNNI(p, words, k, n, b, ldb, trans, zero)
		p.v.sdot = !useVNNI
		return p, nil
	}
	if useAVX2 && k > 0 && n > 0 {
		packAVX2(p, words, k, n, b, ldb, trans, zero)
		return p, nil
	}
	clear(words)
	p.panels = words
	for j := 0; j < n; j++ {
		var z int32
		if len(zero) == 1 {
			z = zero[0]
		} else if len(zero) == n {
			z = zero[j]
		}
		panel := words[j/nr*2*k:]
		h, shift := (j%nr)/2, uint(32*(j%2))
		var sum int32
		for q := 0; q < k; q++ {
			var v int32
			if trans {
				v = int32(b[j*ldb+q]) - z
			} else {
				v = int32(b[q*ldb+j]) - z
			}
			sum += v
			panel[2*q+h] += int64(v) << shift
		}
		p.colSum[j] = sum
	}
	return p, nil
}

// GemmU8 computes, for i < m and j < b.N,
//
//	c[i*ldc+j] = Σ_{p<b.K} (a[i*lda+p] − aZero[i]) · (B[p,j] − bZero[j])
//
// in int32 arithmetic (wrapping on overflow, like the ONNX integer ops).
// aZero has no value (zero), one value for all rows or one per row. The
// work is split with ctx.Parallel (ctx may be nil). The caller guarantees
// the slice sizes (kernels validate shapes before calling).
func GemmU8(ctx *kernels.Ctx, m int, a []uint8, lda int, aZero []int32, b *PackedB, c []int32, ldc int) {
	gemm(ctx, m, a, lda, aZero, b, c, ldc)
}

// GemmS8 is GemmU8 for a signed 8-bit A.
func GemmS8(ctx *kernels.Ctx, m int, a []int8, lda int, aZero []int32, b *PackedB, c []int32, ldc int) {
	gemm(ctx, m, a, lda, aZero, b, c, ldc)
}

func gemm[T int8 | uint8](ctx *kernels.Ctx, m int, a []T, lda int, aZero []int32, b *PackedB, c []int32, ldc int) {
	if m <= 0 || b.N == 0 {
		return
	}
	if b.K == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+b.N])
		}
		return
	}
	if b.v != nil && b.v.sdot {
		gemmSDOTDrive(ctx, m, a, lda, aZero, b, c, ldc)
		return
	}
	if b.v != nil {
		gemmVNNI(ctx, m, a, lda, aZero, b, c, ldc)
		return
	}
	if b.a2 != nil {
		gemmAVX2Drive(ctx, m, a, lda, aZero, b, c, ldc)
		return
	}
	panels := (b.N + nr - 1) / nr
	rt := (m + mcTile - 1) / mcTile
	ct := (panels + ncTile - 1) / ncTile
	tile := func(t int) {
		i0, q0 := t/ct*mcTile, t%ct*ncTile
		gemmTile(a, lda, aZero, b, c, ldc, i0, min(i0+mcTile, m), q0, min(q0+ncTile, panels))
	}
	if ctx == nil || ctx.Threads() == 1 || m*b.N*b.K < 1<<16 {
		for t := 0; t < rt*ct; t++ {
			tile(t)
		}
		return
	}
	ctx.Parallel(rt*ct, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			tile(t)
		}
	})
}

// gemmTile computes rows [i0,i1) × panels [q0,q1) of C.
func gemmTile[T int8 | uint8](a []T, lda int, aZero []int32, b *PackedB, c []int32, ldc int, i0, i1, q0, q1 int) {
	k := b.K
	var acc [mr * nr]int32
	for q := q0; q < q1; q++ {
		panel := b.panels[q*2*k : (q+1)*2*k]
		j0 := q * nr
		nc := min(nr, b.N-j0)
		for i := i0; i < i1; i += mr {
			rows := min(mr, i1-i)
			clear(acc[:])
			for p0 := 0; p0 < k; p0 += kChunk {
				p1 := min(p0+kChunk, k)
				w := panel[2*p0 : 2*p1]
				if rows == mr {
					kernel4x4(a[i*lda+p0:i*lda+p1], a[(i+1)*lda+p0:], a[(i+2)*lda+p0:], a[(i+3)*lda+p0:], w, &acc)
				} else {
					for r := 0; r < rows; r++ {
						kernel1x4(a[(i+r)*lda+p0:(i+r)*lda+p1], w, (*[nr]int32)(acc[r*nr:]))
					}
				}
			}
			for r := 0; r < rows; r++ {
				var za int32
				if len(aZero) > 1 {
					za = aZero[i+r]
				} else if len(aZero) == 1 {
					za = aZero[0]
				}
				row := c[(i+r)*ldc+j0 : (i+r)*ldc+j0+nc]
				for j := range row {
					row[j] = acc[r*nr+j] - za*b.colSum[j0+j]
				}
			}
		}
	}
}

// split2 separates the two 32-bit lanes of a packed accumulator.
func split2(w int64) (lo, hi int32) {
	lo = int32(w)
	return lo, int32((w - int64(lo)) >> 32)
}

// kernel4x4 adds to acc (row-major 4×4) the products of four A rows
// (a0 gives the length k; a1..a3 are at least as long) with a 4-column panel
// w of 2k words.
func kernel4x4[T int8 | uint8](a0, a1, a2, a3 []T, w []int64, acc *[mr * nr]int32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 int64
	k := len(a0)
	a1, a2, a3 = a1[:k], a2[:k], a3[:k]
	w = w[:2*k]
	for p := 0; p < k; p++ {
		ww := w[2*p : 2*p+2 : 2*p+2]
		w0, w1 := ww[0], ww[1]
		x := int64(a0[p])
		c00 += x * w0
		c01 += x * w1
		x = int64(a1[p])
		c10 += x * w0
		c11 += x * w1
		x = int64(a2[p])
		c20 += x * w0
		c21 += x * w1
		x = int64(a3[p])
		c30 += x * w0
		c31 += x * w1
	}
	for r, pair := range [mr][2]int64{{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}} {
		l0, h0 := split2(pair[0])
		l1, h1 := split2(pair[1])
		acc[r*nr] += l0
		acc[r*nr+1] += h0
		acc[r*nr+2] += l1
		acc[r*nr+3] += h1
	}
}

// kernel1x4 is kernel4x4 for a single row.
func kernel1x4[T int8 | uint8](a []T, w []int64, acc *[nr]int32) {
	var c0, c1 int64
	w = w[:2*len(a)]
	for p, v := range a {
		ww := w[2*p : 2*p+2 : 2*p+2]
		x := int64(v)
		c0 += x * ww[0]
		c1 += x * ww[1]
	}
	l0, h0 := split2(c0)
	l1, h1 := split2(c1)
	acc[0] += l0
	acc[1] += h0
	acc[2] += l1
	acc[3] += h1
}

// checkPack validates PackB's arguments before anything is allocated.
func checkPack[T int8 | uint8](k, n int, b []T, ldb int, trans bool, zero []int32) error {
	if k < 0 || n < 0 {
		return fmt.Errorf("quant: PackB of a %d×%d matrix", k, n)
	}
	if len(zero) > 1 && len(zero) != n {
		return fmt.Errorf("quant: %d zero points for %d columns", len(zero), n)
	}
	if (trans && ldb < k) || (!trans && ldb < n) {
		return fmt.Errorf("quant: PackB row stride %d too small", ldb)
	}
	need := 0
	if k > 0 && n > 0 {
		if trans {
			need = (n-1)*ldb + k
		} else {
			need = (k-1)*ldb + n
		}
	}
	if len(b) < need {
		return fmt.Errorf("quant: PackB needs %d elements, got %d", need, len(b))
	}
	lo, hi := int32(0), int32(255)
	if isSigned[T]() {
		lo, hi = -128, 127
	}
	for _, z := range zero {
		if z < lo || z > hi {
			return fmt.Errorf("quant: zero point %d out of range for %T", z, b[:0])
		}
	}
	return nil
}

// isSigned reports whether T is int8.
func isSigned[T int8 | uint8]() bool { return ^T(0) < 0 }
