//go:build !noasm

#include "textflag.h"

// The maxima below propagate NaN: VMAXPS returns its second source when
// either is NaN, so each step is
//
//	r = max(acc, v)          // v if either is NaN
//	r |= unordered(acc, acc) // all-ones (a NaN) where acc was NaN

// func maxTapsAVX2(y *float32, x *float32, n int, k int, step int)
//
// y[i] = max_{t<k} x[i + t·step] for i < n (n a positive multiple of 8,
// k ≥ 1). Registers: DI = y, SI = x at the current block, CX = outputs
// left, BX = k, DX = step in bytes; Y0 = running max, Y1 = tap, Y2 = NaN
// mask; R8 = tap pointer, R9 = taps left.
TEXT ·maxTapsAVX2(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ k+24(FP), BX
	MOVQ step+32(FP), DX
	SHLQ $2, DX

block:
	VMOVUPS (SI), Y0
	LEAQ    (SI)(DX*1), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      store

tap:
	VMOVUPS (R8), Y1
	VCMPPS  $3, Y0, Y0, Y2 // unordered: NaN lanes of the running max
	VMAXPS  Y1, Y0, Y0     // max(acc, v), v where either is NaN
	VORPS   Y2, Y0, Y0
	ADDQ    DX, R8
	DECQ    R9
	JNZ     tap

store:
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     block

	VZEROUPPER
	RET

// func maxTapsS2AVX2(y *float32, x *float32, n int, k int)
//
// y[i] = max_{t<k} x[2i + t] for i < n (n a positive multiple of 8, k ≥ 1).
// Reads x[0 .. 2n+k-2]. For each block of 8 outputs, Y0 and Y3 take the
// running maxima of 16 consecutive windows starting at x[2i] and x[2i+8];
// the even lanes are the stride-2 windows (VSHUFPS picks them within
// 128-bit lanes, VPERMPD restores the order of the 64-bit pairs).
// Registers: DI = y, SI = x at the block, CX = outputs left, BX = k,
// R8 = tap pointer, R9 = taps left; Y1, Y4 taps, Y2, Y5 NaN masks.
TEXT ·maxTapsS2AVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ k+24(FP), BX

block2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y3
	LEAQ    4(SI), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      evens

tap2:
	VMOVUPS (R8), Y1
	VMOVUPS 32(R8), Y4
	VCMPPS  $3, Y0, Y0, Y2
	VCMPPS  $3, Y3, Y3, Y5
	VMAXPS  Y1, Y0, Y0
	VMAXPS  Y4, Y3, Y3
	VORPS   Y2, Y0, Y0
	VORPS   Y5, Y3, Y3
	ADDQ    $4, R8
	DECQ    R9
	JNZ     tap2

evens:
	VSHUFPS $0x88, Y3, Y0, Y0 // [a0 a2 b0 b2 | a4 a6 b4 b6]
	VPERMPD $0xD8, Y0, Y0     // [a0 a2 a4 a6 | b0 b2 b4 b6]
	VMOVUPS Y0, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     block2

	VZEROUPPER
	RET

// The sums below are the max kernels above with VADDPS.

// func sumTapsAVX2(y *float32, x *float32, n int, k int, step int)
//
// y[i] = Σ_{t<k} x[i + t·step] for i < n (n a positive multiple of 8,
// k ≥ 1). Registers: DI = y, SI = x at the current block, CX = outputs
// left, BX = k, DX = step in bytes; Y0 = running sum, Y1 = tap; R8 = tap
// pointer, R9 = taps left.
TEXT ·sumTapsAVX2(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ k+24(FP), BX
	MOVQ step+32(FP), DX
	SHLQ $2, DX

sblock:
	VMOVUPS (SI), Y0
	LEAQ    (SI)(DX*1), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      sstore

stap:
	VMOVUPS (R8), Y1
	VADDPS  Y1, Y0, Y0
	ADDQ    DX, R8
	DECQ    R9
	JNZ     stap

sstore:
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     sblock

	VZEROUPPER
	RET

// func sumTapsS2AVX2(y *float32, x *float32, n int, k int)
//
// y[i] = Σ_{t<k} x[2i + t] for i < n (n a positive multiple of 8, k ≥ 1).
// Reads x[0 .. 2n+k-2]. For each block of 8 outputs, Y0 and Y3 take the
// running sums of 16 consecutive windows starting at x[2i] and x[2i+8];
// the even lanes are the stride-2 windows (VSHUFPS picks them within
// 128-bit lanes, VPERMPD restores the order of the 64-bit pairs).
// Registers: DI = y, SI = x at the block, CX = outputs left, BX = k,
// R8 = tap pointer, R9 = taps left; Y1, Y4 taps.
TEXT ·sumTapsS2AVX2(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ k+24(FP), BX

sblock2:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y3
	LEAQ    4(SI), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      sevens

stap2:
	VMOVUPS (R8), Y1
	VMOVUPS 32(R8), Y4
	VADDPS  Y1, Y0, Y0
	VADDPS  Y4, Y3, Y3
	ADDQ    $4, R8
	DECQ    R9
	JNZ     stap2

sevens:
	VSHUFPS $0x88, Y3, Y0, Y0 // [a0 a2 b0 b2 | a4 a6 b4 b6]
	VPERMPD $0xD8, Y0, Y0     // [a0 a2 a4 a6 | b0 b2 b4 b6]
	VMOVUPS Y0, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     sblock2

	VZEROUPPER
	RET
