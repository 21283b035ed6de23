//go:build !noasm

#include "textflag.h"

// AVX-512BW/VBMI max-pooling tap kernels for int8 and uint8 planes (the
// quantized MaxPool): the byte forms of maxTapsAVX512 / maxTapsS2AVX512 in
// pool512_amd64.s, 64 outputs per block, the partial block under a 64-bit
// lane mask. Each body is a macro taking the byte maximum instruction
// (VPMAXSB for int8, VPMAXUB for uint8).

// byteEven holds the byte indices 0, 2, ..., 126: VPERMT2B with it takes
// the even bytes of a 128-byte pair of registers.
DATA byteEven<>+0(SB)/8, $0x0e0c0a0806040200
DATA byteEven<>+8(SB)/8, $0x1e1c1a1816141210
DATA byteEven<>+16(SB)/8, $0x2e2c2a2826242220
DATA byteEven<>+24(SB)/8, $0x3e3c3a3836343230
DATA byteEven<>+32(SB)/8, $0x4e4c4a4846444240
DATA byteEven<>+40(SB)/8, $0x5e5c5a5856545250
DATA byteEven<>+48(SB)/8, $0x6e6c6a6866646260
DATA byteEven<>+56(SB)/8, $0x7e7c7a7876747270
GLOBL byteEven<>(SB), RODATA|NOPTR, $64

// TAPS8 computes, for each of rows rows r, y[r·ldy + i] = max_{t<k}
// x[r·ldx + i + t·step] for i < n (k ≥ 1). Registers: DI = y, SI = x at
// the block, CX = full blocks left, BX = k, DX = step, R8 = tap pointer,
// R9 = taps left, K1 = tail mask, R10 = rows left, R13/R14 = y/x of the
// row, AX/R12 = ldy/ldx; Z0 = running value, Z1 = tap.
#define TAPS8(MAXB) \
	MOVQ y+0(FP), R13 \
	MOVQ x+8(FP), R14 \
	MOVQ k+24(FP), BX \
	MOVQ step+32(FP), DX \
	KMOVQ m+40(FP), K1 \
	MOVQ rows+48(FP), R10 \
	MOVQ ldy+56(FP), AX \
	MOVQ ldx+64(FP), R12 \
	TESTQ R10, R10 \
	JZ   done \
row: \
	MOVQ R13, DI \
	MOVQ R14, SI \
	MOVQ n+16(FP), CX \
	SHRQ $6, CX \
	JZ   tail \
block: \
	VMOVDQU8 (SI), Z0 \
	LEAQ (SI)(DX*1), R8 \
	MOVQ BX, R9 \
	DECQ R9 \
	JZ   store \
tap: \
	VMOVDQU8 (R8), Z1 \
	MAXB Z1, Z0, Z0 \
	ADDQ DX, R8 \
	DECQ R9 \
	JNZ  tap \
store: \
	VMOVDQU8 Z0, (DI) \
	ADDQ $64, SI \
	ADDQ $64, DI \
	DECQ CX \
	JNZ  block \
tail: \
	KORTESTQ K1, K1 \
	JZ   next \
	VMOVDQU8.Z (SI), K1, Z0 \
	LEAQ (SI)(DX*1), R8 \
	MOVQ BX, R9 \
	DECQ R9 \
	JZ   tailstore \
tailtap: \
	VMOVDQU8.Z (R8), K1, Z1 \
	MAXB Z1, Z0, Z0 \
	ADDQ DX, R8 \
	DECQ R9 \
	JNZ  tailtap \
tailstore: \
	VMOVDQU8 Z0, K1, (DI) \
next: \
	ADDQ AX, R13 \
	ADDQ R12, R14 \
	DECQ R10 \
	JNZ  row \
done: \
	VZEROUPPER \
	RET

// TAPSS28 computes, for each of rows rows r, y[r·ldy + i] = max_{t<k}
// x[r·ldx + 2i + t] for i < n (k ≥ 1), reading nothing past
// x[r·ldx + 2n+k-3]. For each tap t the 128 bytes from x[128b + t] are
// loaded (the last byte, never selected, masked off) and their even bytes
// picked with VPERMT2B. Registers as TAPS8, with K2/K3 the load masks of
// the two halves (K4 of a full block's second half), Z2 the second half,
// Z5 the even indices, Z6 the permuted tap.
#define TAPSS28(MAXB) \
	MOVQ y+0(FP), R13 \
	MOVQ x+8(FP), R14 \
	MOVQ k+24(FP), BX \
	KMOVQ m0+32(FP), K1 \
	KMOVQ m1+40(FP), K2 \
	KMOVQ m2+48(FP), K3 \
	MOVQ $0x7fffffffffffffff, R11 \
	KMOVQ R11, K4 \
	VMOVDQU8 byteEven<>(SB), Z5 \
	MOVQ rows+56(FP), R10 \
	MOVQ ldy+64(FP), AX \
	MOVQ ldx+72(FP), R12 \
	TESTQ R10, R10 \
	JZ   done \
row: \
	MOVQ R13, DI \
	MOVQ R14, SI \
	MOVQ n+16(FP), CX \
	SHRQ $6, CX \
	JZ   tail \
block: \
	VMOVDQU8 (SI), Z0 \
	VMOVDQU8.Z 64(SI), K4, Z2 \
	VPERMT2B Z2, Z5, Z0 \
	LEAQ 1(SI), R8 \
	MOVQ BX, R9 \
	DECQ R9 \
	JZ   store \
tap: \
	VMOVDQU8 (R8), Z6 \
	VMOVDQU8.Z 64(R8), K4, Z2 \
	VPERMT2B Z2, Z5, Z6 \
	MAXB Z6, Z0, Z0 \
	INCQ R8 \
	DECQ R9 \
	JNZ  tap \
store: \
	VMOVDQU8 Z0, (DI) \
	ADDQ $128, SI \
	ADDQ $64, DI \
	DECQ CX \
	JNZ  block \
tail: \
	KORTESTQ K1, K1 \
	JZ   next \
	VMOVDQU8.Z (SI), K2, Z0 \
	VMOVDQU8.Z 64(SI), K3, Z2 \
	VPERMT2B Z2, Z5, Z0 \
	LEAQ 1(SI), R8 \
	MOVQ BX, R9 \
	DECQ R9 \
	JZ   tailstore \
tailtap: \
	VMOVDQU8.Z (R8), K2, Z6 \
	VMOVDQU8.Z 64(R8), K3, Z2 \
	VPERMT2B Z2, Z5, Z6 \
	MAXB Z6, Z0, Z0 \
	INCQ R8 \
	DECQ R9 \
	JNZ  tailtap \
tailstore: \
	VMOVDQU8 Z0, K1, (DI) \
next: \
	ADDQ AX, R13 \
	ADDQ R12, R14 \
	DECQ R10 \
	JNZ  row \
done: \
	VZEROUPPER \
	RET

// func maxTapsI8AVX512(y *int8, x *int8, n int, k int, step int, m uint64, rows int, ldy int, ldx int)
TEXT ·maxTapsI8AVX512(SB), NOSPLIT, $0-72
	TAPS8(VPMAXSB)

// func maxTapsU8AVX512(y *uint8, x *uint8, n int, k int, step int, m uint64, rows int, ldy int, ldx int)
TEXT ·maxTapsU8AVX512(SB), NOSPLIT, $0-72
	TAPS8(VPMAXUB)

// func maxTapsS2I8AVX512(y *int8, x *int8, n int, k int, m0 uint64, m1 uint64, m2 uint64, rows int, ldy int, ldx int)
TEXT ·maxTapsS2I8AVX512(SB), NOSPLIT, $0-80
	TAPSS28(VPMAXSB)

// func maxTapsS2U8AVX512(y *uint8, x *uint8, n int, k int, m0 uint64, m1 uint64, m2 uint64, rows int, ldy int, ldx int)
TEXT ·maxTapsS2U8AVX512(SB), NOSPLIT, $0-80
	TAPSS28(VPMAXUB)
