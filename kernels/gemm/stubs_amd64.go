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
	fn: sgemmKernelAVX512, direct: sgemmKernelAVX512Direct,
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
