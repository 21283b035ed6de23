// Package gemm provides single-precision matrix multiplication, the kernel
// under Conv, Gemm and MatMul.
//
// Sgemm is the BLAS-style entry point on row-major matrices. This file holds
// the portable Go implementation; faster versions (SIMD micro-kernels, packed
// weights) keep this exact contract and are tested against sgemmRef.
package gemm

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m×k, op(B) is k×n, C is m×n;
// lda, ldb, ldc are the row strides of A, B and C as stored. When beta is
// 0, C need not be initialised (NaNs in C are overwritten).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmRef is the reference loop: for i, j: C[i,j] = alpha*sum_p A[i,p]B[p,j] + beta*C[i,j].
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			var av float32
			if transA {
				av = a[p*lda+i]
			} else {
				av = a[i*lda+p]
			}
			av *= alpha
			if !transB {
				brow := b[p*ldb : p*ldb+n]
				for j, bv := range brow {
					row[j] += av * bv
				}
			} else {
				for j := 0; j < n; j++ {
					row[j] += av * b[j*ldb+p]
				}
			}
		}
	}
}
