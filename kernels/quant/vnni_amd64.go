//go:build !noasm

package quant

import "golang.org/x/sys/cpu"

// gemmVNNI1..8 compute an mr×32 tile of C for mr A rows read in place
// (vnni_amd64.s): k4 full groups of four k values from A, then, if
// args.tail is set, one group from args.tail; B is a packed panel.
//
//go:noescape
func gemmVNNI1(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

//go:noescape
func gemmVNNI2(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

//go:noescape
func gemmVNNI3(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

//go:noescape
func gemmVNNI4(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

//go:noescape
func gemmVNNI5(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

//go:noescape
func gemmVNNI6(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

//go:noescape
func gemmVNNI7(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

//go:noescape
func gemmVNNI8(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs)

// convVNNI8x32 computes an 8-channel × 32-pixel convolution tile from
// packed weights and a packed pixel panel and writes it through the
// output stage args describes.
//
//go:noescape
func convVNNI8x32(k4 int, w *int8, x *uint8, out *byte, ldo int, args *convArgs)

// packPixelsVNNI interleaves kg groups of four 32-byte rows (row i at
// src + offs[i])
// into 128-byte panel rows, XORing every byte with flip.
//
//go:noescape
func packPixelsVNNI(src *uint8, offs *int, kg int, dst *uint8, flip uint32)

// packPixelsGatherVNNI is packPixelsVNNI reading a 64-byte window at
// src + offs[i] and taking pixel j of row i from window byte idx[j]
// (VPERMB; idx holds 64 bytes, the first 32 are used).
//
//go:noescape
func packPixelsGatherVNNI(src *uint8, offs *int, kg int, dst *uint8, flip uint32, idx *uint8)

// hasVNNI: AVX-512 with VNNI (Ice Lake, Zen 4 and later). x/sys/cpu
// reports AVX-512 features only when the OS saves the ZMM state.
var hasVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI

var gemmVNNIKernels = [9]func(k4 int, a *uint8, lda int, b *int8, c *int32, ldc int, args *gemmArgs){
	nil, gemmVNNI1, gemmVNNI2, gemmVNNI3, gemmVNNI4, gemmVNNI5, gemmVNNI6, gemmVNNI7, gemmVNNI8,
}

// dwVNNI3x3 computes one output plane of a 3×3 depthwise convolution
// from a padded input plane (see dwArgs).
//
//go:noescape
func dwVNNI3x3(in *uint8, out *byte, args *dwArgs)

// hasVBMI: VPERMB, used by the depthwise kernel.
var hasVBMI = cpu.X86.HasAVX512VBMI

// gather2 sets dst[i] = src[2i] for i < 32·chunks, reading 64·chunks
// bytes of src.
//
//go:noescape
func gather2(dst *uint8, src *uint8, chunks int)

// gemmAVX2 computes a 4×16 tile of C from a packed int16 A block and a
// packed int16 B panel (avx2.go), storing rows rows under mask.
//
//go:noescape
func gemmAVX2(kp int, a *int16, b *int16, c *int32, ldc int, rows int, mask *int32)

// hasAVX2 selects the AVX2 GEMM on CPUs without VNNI.
var hasAVX2 = cpu.X86.HasAVX2

// padRows copies rows rows of width bytes (source stride lds) to dst
// (stride ldd), XORing every byte with flip.
//
//go:noescape
func padRows(dst *uint8, ldd int, src *uint8, lds int, rows int, width int, flip uint32)
