package gemm

import (
	"fmt"
	"unsafe"
)

// PackedA is a left operand packed once (for example constant weights of
// a Conv lowered to W·im2col) in the layout the micro-kernel reads: for
// each K block, panels of mr rows, k-major. It is immutable and safe for
// concurrent use.
type PackedA struct {
	kern *microKernel
	m, k int
	kc   int
	data []float32
}

// PackedB is a right operand packed once (for example constant weights of
// Gemm/MatMul x·W): for each K block, panels of nr columns, k-major. It is
// immutable and safe for concurrent use.
type PackedB struct {
	kern *microKernel
	k, n int
	kc   int
	data []float32
}

// PackA packs op(A) (m×k; A is k×m as stored when transA) for
// SgemmPackedA.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	checkMat("A", transA, m, k, a, lda)
	kern := activeKernel
	kc := blockK(kern, k)
	pa := &PackedA{kern: kern, m: m, k: k, kc: kc}
	pa.data = alignedFloats(packedASize(kern, m, k, kc))
	packA(kern, transA, m, k, kc, a, lda, 1, pa.data)
	return pa
}

// PackB packs op(B) (k×n; B is n×k as stored when transB) for
// SgemmPackedB.
func PackB(transB bool, k, n int, b []float32, ldb int) *PackedB {
	checkMat("B", transB, k, n, b, ldb)
	kern := activeKernel
	kc := blockK(kern, k)
	npad := roundUp(n, kern.nr)
	pb := &PackedB{kern: kern, k: k, n: n, kc: kc}
	pb.data = alignedFloats(npad * k)
	for p0 := 0; p0 < k; p0 += kc {
		kb := min(kc, k-p0)
		packBBlock(kern.nr, transB, b, ldb, p0, kb, 0, n, pb.data[p0*npad:])
	}
	return pb
}

// M and K are the dimensions of the packed op(A).
func (pa *PackedA) M() int { return pa.m }

// K is the shared dimension of the packed op(A).
func (pa *PackedA) K() int { return pa.k }

// K is the shared dimension of the packed op(B).
func (pb *PackedB) K() int { return pb.k }

// N is the column count of the packed op(B).
func (pb *PackedB) N() int { return pb.n }

func (pa *PackedA) dims() string {
	if pa == nil {
		return "nil"
	}
	return fmt.Sprintf("%dx%d", pa.m, pa.k)
}

func (pb *PackedB) dims() string {
	if pb == nil {
		return "nil"
	}
	return fmt.Sprintf("%dx%d", pb.k, pb.n)
}

func roundUp(x, r int) int { return (x + r - 1) / r * r }

// blockK splits k into equal blocks no larger than kern.kc, rounded up to
// a multiple of 8 so that the kernels' unrolled loop has no tail.
func blockK(kern *microKernel, k int) int {
	nb := (k + kern.kc - 1) / kern.kc
	if nb <= 1 {
		return max(k, 1)
	}
	return min(roundUp((k+nb-1)/nb, 8), k)
}

func packedASize(kern *microKernel, m, k, kc int) int {
	return roundUp(m, kern.mr) * k
}

// packA packs alpha*op(A) into dst: K block pb starts at pb*kc*mpad and
// holds mpad/mr panels of kb×mr values; rows past m are zero.
func packA(kern *microKernel, transA bool, m, k, kc int, a []float32, lda int, alpha float32, dst []float32) {
	mr := kern.mr
	mpad := roundUp(m, mr)
	for p0 := 0; p0 < k; p0 += kc {
		kb := min(kc, k-p0)
		blk := dst[p0*mpad : p0*mpad+mpad*kb]
		for i0 := 0; i0 < m; i0 += mr {
			rows := min(mr, m-i0)
			d := blk[i0*kb : i0*kb+mr*kb]
			if transA {
				if rows == mr && alpha == 1 && packPanelAFast(mr, true, a[p0*lda+i0:], lda, kb, d) {
					continue
				}
				for p := 0; p < kb; p++ {
					src := a[(p0+p)*lda+i0 : (p0+p)*lda+i0+rows]
					dp := d[p*mr : p*mr+mr]
					if alpha == 1 {
						copy(dp, src)
					} else {
						for r, v := range src {
							dp[r] = alpha * v
						}
					}
					clear(dp[rows:])
				}
				continue
			}
			if rows == mr && alpha == 1 && (packPanelAFast(mr, false, a[i0*lda+p0:], lda, kb, d) ||
				packPanelA(mr, a[i0*lda+p0:], lda, kb, d)) {
				continue
			}
			for r := 0; r < rows; r++ {
				src := a[(i0+r)*lda+p0 : (i0+r)*lda+p0+kb]
				if alpha == 1 {
					for p, v := range src {
						d[p*mr+r] = v
					}
				} else {
					for p, v := range src {
						d[p*mr+r] = alpha * v
					}
				}
			}
			for r := rows; r < mr; r++ {
				for p := 0; p < kb; p++ {
					d[p*mr+r] = 0
				}
			}
		}
	}
}

// packBBlock packs rows p0..p0+kb and columns j0..j0+ncols of op(B) into
// dst as panels of kb×nr values; columns past the block are zero.
func packBBlock(nr int, transB bool, b []float32, ldb int, p0, kb, j0, ncols int, dst []float32) {
	for jj := 0; jj < ncols; jj += nr {
		w := min(nr, ncols-jj)
		d := dst[jj*kb : jj*kb+nr*kb]
		j := j0 + jj
		if !transB {
			if w == nr && packRows(nr, b[p0*ldb+j:], ldb, kb, d) {
				continue
			}
			for p := 0; p < kb; p++ {
				dp := d[p*nr : p*nr+nr]
				copy(dp, b[(p0+p)*ldb+j:(p0+p)*ldb+j+w])
				clear(dp[w:])
			}
			continue
		}
		for c := 0; c < w; c++ {
			src := b[(j+c)*ldb+p0 : (j+c)*ldb+p0+kb]
			for p, v := range src {
				d[p*nr+c] = v
			}
		}
		if w < nr {
			for p := 0; p < kb; p++ {
				clear(d[p*nr+w : p*nr+nr])
			}
		}
	}
}

// alignedFloats returns n float32s starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int((64 - uintptr(unsafe.Pointer(&s[0]))%64) % 64 / 4)
	return s[off : off+n : off+n]
}

// grow returns a 64-byte aligned buffer of n floats, reusing buf if it is
// large enough.
func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return alignedFloats(max(n, cap(buf)*5/4))[:n]
}

func packRowsGo(nr int, src []float32, ldb, kb int, dst []float32) bool {
	for p := 0; p < kb; p++ {
		copy(dst[p*nr:p*nr+nr], src[p*ldb:p*ldb+nr])
	}
	return true
}

// packPanelA packs a full panel of mr rows of a non-transposed A (rows of
// kb values at stride lda, starting at a[0]) into d, k-major. It reports
// false for panel heights it has no unrolled loop for.
func packPanelA(mr int, a []float32, lda, kb int, d []float32) bool {
	switch mr {
	case 12:
		_ = a[11*lda+kb-1]
		r0, r1, r2, r3 := a[0:kb], a[lda:lda+kb], a[2*lda:2*lda+kb], a[3*lda:3*lda+kb]
		r4, r5, r6, r7 := a[4*lda:4*lda+kb], a[5*lda:5*lda+kb], a[6*lda:6*lda+kb], a[7*lda:7*lda+kb]
		r8, r9, r10, r11 := a[8*lda:8*lda+kb], a[9*lda:9*lda+kb], a[10*lda:10*lda+kb], a[11*lda:11*lda+kb]
		d = d[:12*kb]
		for p := range r0 {
			q := d[12*p : 12*p+12 : 12*p+12]
			q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
			q[4], q[5], q[6], q[7] = r4[p], r5[p], r6[p], r7[p]
			q[8], q[9], q[10], q[11] = r8[p], r9[p], r10[p], r11[p]
		}
		return true
	case 6:
		_ = a[5*lda+kb-1]
		r0, r1, r2 := a[0:kb], a[lda:lda+kb], a[2*lda:2*lda+kb]
		r3, r4, r5 := a[3*lda:3*lda+kb], a[4*lda:4*lda+kb], a[5*lda:5*lda+kb]
		d = d[:6*kb]
		for p := range r0 {
			q := d[6*p : 6*p+6 : 6*p+6]
			q[0], q[1], q[2] = r0[p], r1[p], r2[p]
			q[3], q[4], q[5] = r3[p], r4[p], r5[p]
		}
		return true
	case 4:
		_ = a[3*lda+kb-1]
		r0, r1, r2, r3 := a[0:kb], a[lda:lda+kb], a[2*lda:2*lda+kb], a[3*lda:3*lda+kb]
		d = d[:4*kb]
		for p := range r0 {
			q := d[4*p : 4*p+4 : 4*p+4]
			q[0], q[1], q[2], q[3] = r0[p], r1[p], r2[p], r3[p]
		}
		return true
	}
	return false
}
