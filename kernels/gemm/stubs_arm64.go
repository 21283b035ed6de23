//go:build !noasm

package gemm

// sgemmKernelNEON is the 12×8 NEON micro-kernel (kernel_arm64.s).
//
//go:noescape
func sgemmKernelNEON(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// The R8 and R4 variants compute only the first 8 or 4 rows of a panel.

//go:noescape
func sgemmKernelNEONR8(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelNEONR4(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// kernelNEON is the 12×8 NEON kernel (Advanced SIMD is mandatory on
// arm64). The 12×kc A panel (12 KiB) stays in L1, the kc×nc B block
// (256 KiB) in L2.
var kernelNEON = &microKernel{
	name: "neon_12x8", mr: 12, nr: 8, kc: 256, nc: 256,
	maskRows: true, padRowBias: true,
	fn: sgemmKernelNEON,
	short: []shortKernel{
		{h: 4, fn: sgemmKernelNEONR4},
		{h: 8, fn: sgemmKernelNEONR8},
	},
}

func bestKernel() *microKernel { return kernelNEON }

// asmKernels lists the assembly kernels (for tests).
func asmKernels() []*microKernel { return []*microKernel{kernelNEON} }

// packRows copies kb rows of nr contiguous values (row stride ldb) into
// dst.
func packRows(nr int, src []float32, ldb, kb int, dst []float32) bool {
	return packRowsGo(nr, src, ldb, kb, dst)
}

// packPanelAFast has no fast path here.
func packPanelAFast(mr int, trans bool, a []float32, lda, kb int, d []float32) bool {
	return false
}
