package gemm

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m×k, op(B) is k×n, C is m×n;
// lda, ldb, ldc are the row strides of A, B and C as stored. When beta is
// 0, C need not be initialised (NaNs in C are overwritten).
//
// Sgemm runs on the calling goroutine; see SgemmEx for threading and a
// fused epilogue, and PackA/PackB for operands that are reused.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmEx(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// SgemmParallel is Sgemm split over par (for example kernels.Ctx.Parallel).
func SgemmParallel(par ParallelFor, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmEx(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &Options{Parallel: par})
}

// SgemmEx is Sgemm with options: a parallel-for to split the work over
// threads and an epilogue (bias, activation) fused into the store of C.
// opt may be nil.
func SgemmEx(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int,
	b []float32, ldb int, beta float32, c []float32, ldc int, opt *Options) {
	checkMat("A", transA, m, k, a, lda)
	checkMat("B", transB, k, n, b, ldb)
	checkC(m, n, c, ldc, opt)
	if m == 0 || n == 0 {
		return
	}
	kern := activeKernel
	g := call{kern: kern, m: m, n: n, k: k, alpha: alpha, beta: beta, c: c, ldc: ldc}
	g.setOptions(opt)
	if k == 0 {
		g.scaleOnly()
		return
	}
	// A is packed once for the whole call and shared by all threads.
	ws := getWorkspace()
	defer putWorkspace(ws)
	kc := blockK(kern, k)
	ws.a = grow(ws.a, packedASize(kern, m, k, kc))
	packA(kern, transA, m, k, kc, a, lda, alpha, ws.a)
	g.pa = ws.a
	g.kcA = kc
	g.alpha = 1 // folded into packed A
	g.b, g.ldb, g.transB = b, ldb, transB
	g.run(ws)
}

// SgemmPackedA computes C = alpha*A*op(B) + beta*C with A pre-packed by
// PackA (m×k as packed, i.e. after its transpose). op(B) is k×n. opt may
// be nil.
func SgemmPackedA(m, n, k int, alpha float32, pa *PackedA, transB bool, b []float32, ldb int,
	beta float32, c []float32, ldc int, opt *Options) {
	if pa == nil || pa.m != m || pa.k != k {
		panic(fmt.Sprintf("gemm: SgemmPackedA: packed A is %s, call wants %dx%d", pa.dims(), m, k))
	}
	checkMat("B", transB, k, n, b, ldb)
	checkC(m, n, c, ldc, opt)
	if m == 0 || n == 0 {
		return
	}
	g := call{kern: pa.kern, m: m, n: n, k: k, alpha: alpha, beta: beta, c: c, ldc: ldc}
	g.setOptions(opt)
	if k == 0 {
		g.scaleOnly()
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	g.pa, g.kcA = pa.data, pa.kc
	g.b, g.ldb, g.transB = b, ldb, transB
	g.run(ws)
}

// SgemmPackedB computes C = alpha*op(A)*B + beta*C with B pre-packed by
// PackB (k×n as packed). op(A) is m×k. opt may be nil.
func SgemmPackedB(transA bool, m, n, k int, alpha float32, a []float32, lda int, pb *PackedB,
	beta float32, c []float32, ldc int, opt *Options) {
	if pb == nil || pb.k != k || pb.n != n {
		panic(fmt.Sprintf("gemm: SgemmPackedB: packed B is %s, call wants %dx%d", pb.dims(), k, n))
	}
	checkMat("A", transA, m, k, a, lda)
	checkC(m, n, c, ldc, opt)
	if m == 0 || n == 0 {
		return
	}
	kern := pb.kern
	g := call{kern: kern, m: m, n: n, k: k, alpha: alpha, beta: beta, c: c, ldc: ldc}
	g.setOptions(opt)
	if k == 0 {
		g.scaleOnly()
		return
	}
	ws := getWorkspace()
	defer putWorkspace(ws)
	ws.a = grow(ws.a, packedASize(kern, m, k, pb.kc))
	packA(kern, transA, m, k, pb.kc, a, lda, alpha, ws.a)
	g.pa, g.kcA = ws.a, pb.kc
	g.alpha = 1
	g.pb = pb
	g.run(ws)
}

// checkMat panics unless x holds an r×c matrix op(X) with row stride ld.
func checkMat(name string, trans bool, r, c int, x []float32, ld int) {
	if r < 0 || c < 0 {
		panic(fmt.Sprintf("gemm: negative dimension for %s: %dx%d", name, r, c))
	}
	if trans {
		r, c = c, r
	}
	if r == 0 || c == 0 {
		return
	}
	if ld < c {
		panic(fmt.Sprintf("gemm: ld%s=%d < %d", name, ld, c))
	}
	if len(x) < (r-1)*ld+c {
		panic(fmt.Sprintf("gemm: %s has %d elements, needs %d", name, len(x), (r-1)*ld+c))
	}
}

func checkC(m, n int, c []float32, ldc int, opt *Options) {
	checkMat("C", false, m, n, c, ldc)
	if opt == nil {
		return
	}
	if e := &opt.Epilogue; e.RowBias != nil && len(e.RowBias) < m {
		panic(fmt.Sprintf("gemm: Epilogue.RowBias has %d elements, needs %d", len(e.RowBias), m))
	}
	if e := &opt.Epilogue; e.ColBias != nil && len(e.ColBias) < n {
		panic(fmt.Sprintf("gemm: Epilogue.ColBias has %d elements, needs %d", len(e.ColBias), n))
	}
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
