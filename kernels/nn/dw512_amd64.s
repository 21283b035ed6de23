//go:build !noasm

#include "textflag.h"

// Index vectors for VPERMT2PS: the even and the odd lanes of a 32-float
// pair of registers.

DATA dwEven<>+0(SB)/4, $0
DATA dwEven<>+4(SB)/4, $2
DATA dwEven<>+8(SB)/4, $4
DATA dwEven<>+12(SB)/4, $6
DATA dwEven<>+16(SB)/4, $8
DATA dwEven<>+20(SB)/4, $10
DATA dwEven<>+24(SB)/4, $12
DATA dwEven<>+28(SB)/4, $14
DATA dwEven<>+32(SB)/4, $16
DATA dwEven<>+36(SB)/4, $18
DATA dwEven<>+40(SB)/4, $20
DATA dwEven<>+44(SB)/4, $22
DATA dwEven<>+48(SB)/4, $24
DATA dwEven<>+52(SB)/4, $26
DATA dwEven<>+56(SB)/4, $28
DATA dwEven<>+60(SB)/4, $30
GLOBL dwEven<>(SB), RODATA|NOPTR, $64

DATA dwOdd<>+0(SB)/4, $1
DATA dwOdd<>+4(SB)/4, $3
DATA dwOdd<>+8(SB)/4, $5
DATA dwOdd<>+12(SB)/4, $7
DATA dwOdd<>+16(SB)/4, $9
DATA dwOdd<>+20(SB)/4, $11
DATA dwOdd<>+24(SB)/4, $13
DATA dwOdd<>+28(SB)/4, $15
DATA dwOdd<>+32(SB)/4, $17
DATA dwOdd<>+36(SB)/4, $19
DATA dwOdd<>+40(SB)/4, $21
DATA dwOdd<>+44(SB)/4, $23
DATA dwOdd<>+48(SB)/4, $25
DATA dwOdd<>+52(SB)/4, $27
DATA dwOdd<>+56(SB)/4, $29
DATA dwOdd<>+60(SB)/4, $31
GLOBL dwOdd<>(SB), RODATA|NOPTR, $64

// The depthwise kernels below read their arguments from a dwArgs (see
// dw512_amd64.go for the field meanings); the offsets are:
#define A_X 0
#define A_Y 8
#define A_W 16
#define A_EP 24
#define A_ZERO 40
#define A_MASKS 48
#define A_H 56
#define A_LD 64
#define A_OH 72
#define A_OW 80
#define A_NBLK 88
#define A_SH 96
#define A_PH 104
#define A_OFF 112

// ROWPTRS sets SI, DI, R8 to the input rows ih, ih+1, ih+2 of output row
// BX (ih = BX·sh - ph), each advanced to column off; a row outside the
// plane is the zero row instead. Clobbers R10-R13.
#define ROWPTRS \
	MOVQ  BX, R10 \
	IMULQ A_SH(AX), R10 \
	SUBQ  A_PH(AX), R10 \
	MOVQ  A_LD(AX), R11 \
	SHLQ  $2, R11 \
	MOVQ  R10, R12 \
	IMULQ R11, R12 \
	ADDQ  A_X(AX), R12 \
	MOVQ  A_ZERO(AX), R13 \
	MOVQ  R12, SI \
	CMPQ  R10, A_H(AX) \
	CMOVQCC R13, SI \
	ADDQ  R11, R12 \
	INCQ  R10 \
	MOVQ  R12, DI \
	CMPQ  R10, A_H(AX) \
	CMOVQCC R13, DI \
	ADDQ  R11, R12 \
	INCQ  R10 \
	MOVQ  R12, R8 \
	CMPQ  R10, A_H(AX) \
	CMOVQCC R13, R8 \
	MOVQ  A_OFF(AX), R10 \
	SHLQ  $2, R10 \
	ADDQ  R10, SI \
	ADDQ  R10, DI \
	ADDQ  R10, R8

// LOADW broadcasts the nine weights to Z0-Z8 and bias, lo, hi to Z9-Z11.
#define LOADW \
	MOVQ A_W(AX), R10 \
	VBROADCASTSS 0(R10), Z0 \
	VBROADCASTSS 4(R10), Z1 \
	VBROADCASTSS 8(R10), Z2 \
	VBROADCASTSS 12(R10), Z3 \
	VBROADCASTSS 16(R10), Z4 \
	VBROADCASTSS 20(R10), Z5 \
	VBROADCASTSS 24(R10), Z6 \
	VBROADCASTSS 28(R10), Z7 \
	VBROADCASTSS 32(R10), Z8 \
	VBROADCASTSS (A_EP+0)(AX), Z9 \
	VBROADCASTSS (A_EP+4)(AX), Z10 \
	VBROADCASTSS (A_EP+8)(AX), Z11

// func dw3x3s1AVX512(a *dwArgs)
//
// A 3×3, stride-1 depthwise plane: for each output row and each block of
// 16 outputs, every tap row contributes three FMAs with the input read in
// place. Each FMA is merge-masked by the block's mask for its tap
// (masks[4b+k], k < 3): lanes whose input column lies outside the row are
// neither read (AVX-512 suppresses faults of masked-out elements) nor
// added, which is the zero padding. masks[4b+3] masks the store.
// Registers: AX = args, BX = output row, CX = blocks left, DX = y row,
// SI, DI, R8 = the three input rows, R9 = masks; Z12-Z14 = one sum per
// tap row (independent FMA chains).
TEXT ·dw3x3s1AVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	LOADW
	XORQ BX, BX

row1:
	ROWPTRS
	MOVQ  BX, DX
	IMULQ A_OW(AX), DX
	SHLQ  $2, DX
	ADDQ  A_Y(AX), DX
	MOVQ  A_MASKS(AX), R9
	MOVQ  A_NBLK(AX), CX

blk1:
	KMOVW 0(R9), K1
	KMOVW 2(R9), K2
	KMOVW 4(R9), K3
	KMOVW 6(R9), K4
	VMOVAPS      Z9, Z12
	VFMADD231PS  0(SI), Z0, K1, Z12
	VFMADD231PS  4(SI), Z1, K2, Z12
	VFMADD231PS  8(SI), Z2, K3, Z12
	VMULPS.Z     0(DI), Z3, K1, Z13
	VFMADD231PS  4(DI), Z4, K2, Z13
	VFMADD231PS  8(DI), Z5, K3, Z13
	VMULPS.Z     0(R8), Z6, K1, Z14
	VFMADD231PS  4(R8), Z7, K2, Z14
	VFMADD231PS  8(R8), Z8, K3, Z14
	VADDPS       Z13, Z12, Z12
	VADDPS       Z14, Z12, Z12
	// clamp with the sum as second source: a NaN sum is kept
	VMAXPS       Z12, Z10, Z12
	VMINPS       Z12, Z11, Z12
	VMOVUPS      Z12, K4, (DX)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R8
	ADDQ $64, DX
	ADDQ $8, R9
	DECQ CX
	JNZ  blk1

	INCQ BX
	CMPQ BX, A_OH(AX)
	JLT  row1
	VZEROUPPER
	RET

// S2ROW accumulates one tap row (pointer P) of a stride-2 block into ACC
// with weights W0, W1, W2: the 32 inputs from the block's first column
// (masks K1, K2) give taps 0 (even lanes) and 1 (odd lanes), the 32 from
// two columns further (K3, K4) give tap 2 (even lanes). Masked-out inputs
// load as zero. Z18/Z19 hold the even/odd index vectors; Z15-Z17, Z20 are
// scratch.
#define S2ROW(P, W0, W1, W2, ACC) \
	VMOVUPS.Z   0(P), K1, Z15 \
	VMOVUPS.Z   64(P), K2, Z16 \
	VMOVAPS     Z15, Z17 \
	VPERMT2PS   Z16, Z18, Z17 \
	VFMADD231PS Z17, W0, ACC \
	VPERMT2PS   Z16, Z19, Z15 \
	VFMADD231PS Z15, W1, ACC \
	VMOVUPS.Z   8(P), K3, Z15 \
	VMOVUPS.Z   72(P), K4, Z20 \
	VPERMT2PS   Z20, Z18, Z15 \
	VFMADD231PS Z15, W2, ACC

// func dw3x3s2AVX512(a *dwArgs)
//
// dw3x3s1AVX512 with stride 2. Block b (16 outputs) reads 32 + 2 input
// columns per tap row, with masks masks[5b .. 5b+3] (see S2ROW) and the
// store mask masks[5b+4].
TEXT ·dw3x3s2AVX512(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	LOADW
	VMOVDQU32 dwEven<>(SB), Z18
	VMOVDQU32 dwOdd<>(SB), Z19
	XORQ BX, BX

row2:
	ROWPTRS
	MOVQ  BX, DX
	IMULQ A_OW(AX), DX
	SHLQ  $2, DX
	ADDQ  A_Y(AX), DX
	MOVQ  A_MASKS(AX), R9
	MOVQ  A_NBLK(AX), CX

blk2:
	KMOVW 0(R9), K1
	KMOVW 2(R9), K2
	KMOVW 4(R9), K3
	KMOVW 6(R9), K4
	KMOVW 8(R9), K5
	VMOVAPS Z9, Z12
	VXORPS  Z13, Z13, Z13
	VXORPS  Z14, Z14, Z14
	S2ROW(SI, Z0, Z1, Z2, Z12)
	S2ROW(DI, Z3, Z4, Z5, Z13)
	S2ROW(R8, Z6, Z7, Z8, Z14)
	VADDPS  Z13, Z12, Z12
	VADDPS  Z14, Z12, Z12
	VMAXPS  Z12, Z10, Z12
	VMINPS  Z12, Z11, Z12
	VMOVUPS Z12, K5, (DX)
	ADDQ $128, SI
	ADDQ $128, DI
	ADDQ $128, R8
	ADDQ $64, DX
	ADDQ $10, R9
	DECQ CX
	JNZ  blk2

	INCQ BX
	CMPQ BX, A_OH(AX)
	JLT  row2
	VZEROUPPER
	RET

// func gatherS2AVX512(dst *float32, src *float32, n int, tail *[3]uint16)
//
// dst[i] = src[2i] for i < n. Full blocks of 16 outputs read 32 floats
// (two registers) and keep the even lanes (VPERMT2PS with dwEven<>, the
// index vector above); a last partial block uses the masks
// tail[0] (first 16 inputs), tail[1] (next 16) and tail[2] (store), so
// nothing past src[2n-2] is read. Registers: DI = dst, SI = src, CX =
// full blocks left, Z2 = even indices.
TEXT ·gatherS2AVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tail+24(FP), DX
	VMOVDQU32 dwEven<>(SB), Z2
	SHRQ $4, CX
	JZ   tail

loop:
	VMOVUPS   0(SI), Z0
	VMOVUPS   64(SI), Z1
	VPERMT2PS Z1, Z2, Z0
	VMOVUPS   Z0, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop

tail:
	KMOVW 4(DX), K3
	KORTESTW K3, K3
	JZ    done
	KMOVW 0(DX), K1
	KMOVW 2(DX), K2
	VMOVUPS.Z 0(SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VPERMT2PS Z1, Z2, Z0
	VMOVUPS   Z0, K3, (DI)

done:
	VZEROUPPER
	RET
