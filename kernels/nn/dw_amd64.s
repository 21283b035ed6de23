//go:build !noasm

#include "textflag.h"

// func dwRow3s1AVX2(x *float32, ld int, w *[9]float32, y *float32, n int, ep *[3]float32)
//
// Registers: SI, DI, R8 = input rows 0, 1, 2; DX = y; CX = outputs left;
// Y0-Y8 = the nine weights broadcast; Y12 = lo, Y13 = hi, Y14 = bias;
// Y9-Y11 = one partial sum per input row (independent FMA chains).
TEXT ·dwRow3s1AVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ld+8(FP), AX
	MOVQ w+16(FP), BX
	MOVQ y+24(FP), DX
	MOVQ n+32(FP), CX
	MOVQ ep+40(FP), R9
	SHLQ $2, AX          // ld in bytes
	LEAQ (SI)(AX*1), DI  // row 1
	LEAQ (DI)(AX*1), R8  // row 2

	VBROADCASTSS 0(BX), Y0
	VBROADCASTSS 4(BX), Y1
	VBROADCASTSS 8(BX), Y2
	VBROADCASTSS 12(BX), Y3
	VBROADCASTSS 16(BX), Y4
	VBROADCASTSS 20(BX), Y5
	VBROADCASTSS 24(BX), Y6
	VBROADCASTSS 28(BX), Y7
	VBROADCASTSS 32(BX), Y8
	VBROADCASTSS 0(R9), Y14 // bias
	VBROADCASTSS 4(R9), Y12 // lo
	VBROADCASTSS 8(R9), Y13 // hi

loop:
	// row 0, starting from the bias
	VMOVAPS     Y14, Y9
	VFMADD231PS 0(SI), Y0, Y9
	VFMADD231PS 4(SI), Y1, Y9
	VFMADD231PS 8(SI), Y2, Y9
	// row 1
	VMULPS      0(DI), Y3, Y10
	VFMADD231PS 4(DI), Y4, Y10
	VFMADD231PS 8(DI), Y5, Y10
	// row 2
	VMULPS      0(R8), Y6, Y11
	VFMADD231PS 4(R8), Y7, Y11
	VFMADD231PS 8(R8), Y8, Y11
	VADDPS      Y10, Y9, Y9
	VADDPS      Y11, Y9, Y9
	// clamp with the sum as second source: a NaN sum is kept
	VMAXPS      Y9, Y12, Y9
	VMINPS      Y9, Y13, Y9
	VMOVUPS     Y9, 0(DX)

	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, DX
	SUBQ $8, CX
	JNZ  loop

	VZEROUPPER
	RET

// func dwRow3s2AVX2(x *float32, ld int, w *[9]float32, y *float32, n int, ep *[3]float32)
//
// dwRow3s1AVX2 with stride 2: output i reads x[r·ld + 2i + k]. Each row's
// taps come from two 8-float loads split into even and odd lanes
// (VSHUFPS, then VPERMPD to restore the order of the 128-bit halves); the
// third tap is the even lanes of the loads one float further on.
// Registers: SI, DI, R8 = input rows; DX = y; CX = outputs left; Y0-Y8 =
// weights; Y13 = lo, Y14 = hi, Y15 = bias; Y12 = the sum; Y9-Y11 scratch.
TEXT ·dwRow3s2AVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ld+8(FP), AX
	MOVQ w+16(FP), BX
	MOVQ y+24(FP), DX
	MOVQ n+32(FP), CX
	MOVQ ep+40(FP), R9
	SHLQ $2, AX
	LEAQ (SI)(AX*1), DI
	LEAQ (DI)(AX*1), R8

	VBROADCASTSS 0(BX), Y0
	VBROADCASTSS 4(BX), Y1
	VBROADCASTSS 8(BX), Y2
	VBROADCASTSS 12(BX), Y3
	VBROADCASTSS 16(BX), Y4
	VBROADCASTSS 20(BX), Y5
	VBROADCASTSS 24(BX), Y6
	VBROADCASTSS 28(BX), Y7
	VBROADCASTSS 32(BX), Y8
	VBROADCASTSS 0(R9), Y15 // bias
	VBROADCASTSS 4(R9), Y13 // lo
	VBROADCASTSS 8(R9), Y14 // hi

loop2:
	VMOVAPS Y15, Y12

	// row 0: taps x[2i], x[2i+1], x[2i+2]
	VMOVUPS     0(SI), Y9
	VMOVUPS     32(SI), Y10
	VSHUFPS     $0x88, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y0, Y12
	VSHUFPS     $0xDD, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y1, Y12
	VMOVUPS     8(SI), Y9
	VMOVUPS     40(SI), Y10
	VSHUFPS     $0x88, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y2, Y12

	// row 1
	VMOVUPS     0(DI), Y9
	VMOVUPS     32(DI), Y10
	VSHUFPS     $0x88, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y3, Y12
	VSHUFPS     $0xDD, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y4, Y12
	VMOVUPS     8(DI), Y9
	VMOVUPS     40(DI), Y10
	VSHUFPS     $0x88, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y5, Y12

	// row 2
	VMOVUPS     0(R8), Y9
	VMOVUPS     32(R8), Y10
	VSHUFPS     $0x88, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y6, Y12
	VSHUFPS     $0xDD, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y7, Y12
	VMOVUPS     8(R8), Y9
	VMOVUPS     40(R8), Y10
	VSHUFPS     $0x88, Y10, Y9, Y11
	VPERMPD     $0xD8, Y11, Y11
	VFMADD231PS Y11, Y8, Y12

	VMAXPS  Y12, Y13, Y12
	VMINPS  Y12, Y14, Y12
	VMOVUPS Y12, 0(DX)

	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R8
	ADDQ $32, DX
	SUBQ $8, CX
	JNZ  loop2

	VZEROUPPER
	RET
