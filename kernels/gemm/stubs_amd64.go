//go:build !noasm

package gemm

import "golang.org/x/sys/cpu"

// sgemmKernelAVX512 is the 12×32 AVX-512F micro-kernel (kernel_amd64.s).
//
//go:noescape
func sgemmKernelAVX512(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// sgemmKernelAVX512Direct is sgemmKernelAVX512 reading B unpacked.
//
//go:noescape
func sgemmKernelAVX512Direct(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// The R8 and R4 variants compute only the first 8 or 4 rows of a panel.

//go:noescape
func sgemmKernelAVX512R8(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R8Direct(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R4(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R4Direct(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// The N16 variants compute only the first 16 columns of a tile (12, 8
// or 4 rows), for the last panel of an N that ends within 16 columns of
// a multiple of 32: half the FMAs of the full tile.

//go:noescape
func sgemmKernelAVX512N16(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512N16Direct(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R8N16(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R8N16Direct(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R4N16(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R4N16Direct(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// The Indirect variants read row p of B at b + p.off[p] floats (see
// SgemmPackedAIndirect), under the lane masks.

//go:noescape
func sgemmKernelAVX512Indirect(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R8Indirect(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R4Indirect(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512N16Indirect(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R8N16Indirect(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

//go:noescape
func sgemmKernelAVX512R4N16Indirect(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// The pixel kernels of SgemmPixels (14, 7 or 4 pixels × 32 channels).

//go:noescape
func convPixelsAVX512H14(k int, w *float32, x *float32, y *float32, ldy int, p *kparams)

//go:noescape
func convPixelsAVX512H7(k int, w *float32, x *float32, y *float32, ldy int, p *kparams)

//go:noescape
func convPixelsAVX512H4(k int, w *float32, x *float32, y *float32, ldy int, p *kparams)

// pixelKernels lists the pixel kernels by increasing height (nil: none).
var pixelKernels = func() []pixelKernel {
	if !hasAVX512 {
		return nil
	}
	return []pixelKernel{{4, convPixelsAVX512H4}, {7, convPixelsAVX512H7}, {14, convPixelsAVX512H14}}
}()

// sgemmKernelAVX2 is the 6×16 AVX2+FMA micro-kernel (kernel_amd64.s).
//
//go:noescape
func sgemmKernelAVX2(k int, a *float32, b *float32, c *float32, ldc int, p *kparams)

// packRows32AVX512 copies kb rows of 32 floats, stride ldb, to dst.
//
//go:noescape
func packRows32AVX512(src *float32, ldb int, kb int, dst *float32)

// packRows16AVX copies kb rows of 16 floats, stride ldb, to dst.
//
//go:noescape
func packRows16AVX(src *float32, ldb int, kb int, dst *float32)

// packA12AVX packs a 12-row panel of a non-transposed A.
//
//go:noescape
func packA12AVX(src *float32, lda int, kb int, dst *float32)

// packA12TransAVX packs a 12-row panel of a transposed A.
//
//go:noescape
func packA12TransAVX(src *float32, lda int, kb int, dst *float32)

var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// kernelAVX512 is the Zen 4 / Skylake-X tuned 12×32 kernel. The 12×kc A
// panel (18 KiB at kc=384) stays in the 32 KiB L1; the kc×nc B block
// (576 KiB at nc=384) in L2.
var kernelAVX512 = &microKernel{
	name: "avx512_12x32", mr: 12, nr: 32, kc: 384, nc: 384,
	maskRows: true, maskCols: true, padRowBias: true,
	fn: sgemmKernelAVX512, direct: sgemmKernelAVX512Direct, indirect: sgemmKernelAVX512Indirect,
	short: []shortKernel{
		{h: 4, fn: sgemmKernelAVX512R4, direct: sgemmKernelAVX512R4Direct, indirect: sgemmKernelAVX512R4Indirect},
		{h: 8, fn: sgemmKernelAVX512R8, direct: sgemmKernelAVX512R8Direct, indirect: sgemmKernelAVX512R8Indirect},
	},
	narrow: []shortKernel{
		{h: 4, fn: sgemmKernelAVX512R4N16, direct: sgemmKernelAVX512R4N16Direct, indirect: sgemmKernelAVX512R4N16Indirect},
		{h: 8, fn: sgemmKernelAVX512R8N16, direct: sgemmKernelAVX512R8N16Direct, indirect: sgemmKernelAVX512R8N16Indirect},
		{h: 12, fn: sgemmKernelAVX512N16, direct: sgemmKernelAVX512N16Direct, indirect: sgemmKernelAVX512N16Indirect},
	},
}

// kernelAVX2 is the 6×16 AVX2+FMA kernel.
var kernelAVX2 = &microKernel{
	name: "avx2_6x16", mr: 6, nr: 16, kc: 384, nc: 512,
	maskRows: true, padRowBias: true,
	fn: sgemmKernelAVX2,
}

func bestKernel() *microKernel {
	switch {
	case hasAVX512:
		return kernelAVX512
	case hasAVX2:
		return kernelAVX2
	}
	return kernelGo
}

// asmKernels lists the assembly kernels this CPU can run (for tests).
func asmKernels() []*microKernel {
	var ks []*microKernel
	if hasAVX512 {
		ks = append(ks, kernelAVX512)
	}
	if hasAVX2 {
		ks = append(ks, kernelAVX2)
	}
	return ks
}

// packRows copies kb rows of nr contiguous values (row stride ldb) into
// dst; it reports false when it has no fast path for nr.
func packRows(nr int, src []float32, ldb, kb int, dst []float32) bool {
	if kb == 0 {
		return true
	}
	_ = src[(kb-1)*ldb+nr-1]
	_ = dst[kb*nr-1]
	switch {
	case nr == 32 && hasAVX512:
		packRows32AVX512(&src[0], ldb, kb, &dst[0])
	case nr == 16 && hasAVX2:
		packRows16AVX(&src[0], ldb, kb, &dst[0])
	default:
		return packRowsGo(nr, src, ldb, kb, dst)
	}
	return true
}

// packPanelAFast packs a full 12-row panel with the AVX loops (see
// packPanelA); it reports false when it has no fast path.
func packPanelAFast(mr int, trans bool, a []float32, lda, kb int, d []float32) bool {
	if mr != 12 || kb == 0 || !hasAVX2 {
		return false
	}
	if trans {
		_ = a[(kb-1)*lda+11]
		_ = d[12*kb-1]
		packA12TransAVX(&a[0], lda, kb, &d[0])
		return true
	}
	_ = a[11*lda+kb-1]
	_ = d[12*kb-1]
	packA12AVX(&a[0], lda, kb, &d[0])
	return true
}
