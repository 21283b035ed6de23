//go:build !noasm

#include "textflag.h"

// AVX-512 versions of the pooling tap kernels of pool_amd64.s, for any
// length: full blocks of 16 outputs, then one block under masks (fault
// suppression keeps the masked-out loads from touching memory), so no
// output is left to scalar code.
//
// The maxima propagate NaN: VMAXPS with the running value as second
// source keeps a NaN there, and lanes where the new tap is NaN take it
// (VCMPPS unordered into K2, merge-masked move).
//
// Masks (m): m[0] masks the partial block's stores (and the loads of the
// stride-1 kernels); the stride-2 kernels load its first 16 window starts
// under m[1] and the next 16 under m[2].

// The even lanes of a pair of registers, for VPERMT2PS.
DATA poolEven<>+0(SB)/4, $0
DATA poolEven<>+4(SB)/4, $2
DATA poolEven<>+8(SB)/4, $4
DATA poolEven<>+12(SB)/4, $6
DATA poolEven<>+16(SB)/4, $8
DATA poolEven<>+20(SB)/4, $10
DATA poolEven<>+24(SB)/4, $12
DATA poolEven<>+28(SB)/4, $14
DATA poolEven<>+32(SB)/4, $16
DATA poolEven<>+36(SB)/4, $18
DATA poolEven<>+40(SB)/4, $20
DATA poolEven<>+44(SB)/4, $22
DATA poolEven<>+48(SB)/4, $24
DATA poolEven<>+52(SB)/4, $26
DATA poolEven<>+56(SB)/4, $28
DATA poolEven<>+60(SB)/4, $30
GLOBL poolEven<>(SB), RODATA|NOPTR, $64

// func maxTapsAVX512(y *float32, x *float32, n int, k int, step int, m *[3]uint16, rows int, ldy int, ldx int)
//
// y[r·ldy + i] = max_{t<k} x[r·ldx + i + t·step] for r < rows, i < n
// (k ≥ 1). Registers: DI = y, SI = x at the block, CX = full blocks
// left, BX = k, DX = step in bytes, R8 = tap pointer, R9 = taps left,
// R11 = rows left, R14/AX = y/x of the row, R12/R13 = ldy/ldx in bytes;
// Z0 = running value, Z1 = tap.
TEXT ·maxTapsAVX512(SB), NOSPLIT, $0-72
	MOVQ y+0(FP), R14
	MOVQ x+8(FP), AX
	MOVQ k+24(FP), BX
	MOVQ step+32(FP), DX
	MOVQ m+40(FP), R10
	MOVQ rows+48(FP), R11
	MOVQ ldy+56(FP), R12
	MOVQ ldx+64(FP), R13
	SHLQ $2, DX
	SHLQ $2, R12
	SHLQ $2, R13
	TESTQ R11, R11
	JZ   maxdone

maxrow:
	MOVQ R14, DI
	MOVQ AX, SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   maxtail

maxblock:
	VMOVUPS (SI), Z0
	LEAQ    (SI)(DX*1), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      maxstore

maxtap:
	VMOVUPS (R8), Z1
	VMAXPS  Z0, Z1, Z0
	VCMPPS  $3, Z1, Z1, K2
	VMOVAPS Z1, K2, Z0
	ADDQ    DX, R8
	DECQ    R9
	JNZ     maxtap

maxstore:
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     maxblock

maxtail:
	KMOVW    0(R10), K1
	KORTESTW K1, K1
	JZ       maxnext
	VMOVUPS.Z (SI), K1, Z0
	LEAQ    (SI)(DX*1), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      maxtailstore

maxtailtap:
	VMOVUPS.Z (R8), K1, Z1
	VMAXPS  Z0, Z1, Z0
	VCMPPS  $3, Z1, Z1, K2
	VMOVAPS Z1, K2, Z0
	ADDQ    DX, R8
	DECQ    R9
	JNZ     maxtailtap

maxtailstore:
	VMOVUPS Z0, K1, (DI)

maxnext:
	ADDQ R12, R14
	ADDQ R13, AX
	DECQ R11
	JNZ  maxrow

maxdone:
	VZEROUPPER
	RET

// func maxTapsS2AVX512(y *float32, x *float32, n int, k int, m *[3]uint16, rows int, ldy int, ldx int)
//
// y[r·ldy + i] = max_{t<k} x[r·ldx + 2i + t] for r < rows, i < n (k ≥
// 1), reading nothing past x[(rows-1)·ldx + 2n+k-3]. A block of 16
// outputs keeps the running values of the 32 windows starting at
// x[2i .. 2i+31] in Z0 and Z3 and stores their even lanes. Registers as
// in maxTapsAVX512, with Z3, Z4 for the second 16 windows; Z5 = even
// indices.
TEXT ·maxTapsS2AVX512(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), R14
	MOVQ x+8(FP), AX
	MOVQ k+24(FP), BX
	MOVQ m+32(FP), R10
	MOVQ rows+40(FP), R11
	MOVQ ldy+48(FP), R12
	MOVQ ldx+56(FP), R13
	SHLQ $2, R12
	SHLQ $2, R13
	VMOVDQU32 poolEven<>(SB), Z5
	TESTQ R11, R11
	JZ   maxdone2

maxrow2:
	MOVQ R14, DI
	MOVQ AX, SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   maxtail2

maxblock2:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z3
	LEAQ    4(SI), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      maxevens2

maxtap2:
	VMOVUPS (R8), Z1
	VMOVUPS 64(R8), Z4
	VMAXPS  Z0, Z1, Z0
	VCMPPS  $3, Z1, Z1, K2
	VMOVAPS Z1, K2, Z0
	VMAXPS  Z3, Z4, Z3
	VCMPPS  $3, Z4, Z4, K2
	VMOVAPS Z4, K2, Z3
	ADDQ    $4, R8
	DECQ    R9
	JNZ     maxtap2

maxevens2:
	VPERMT2PS Z3, Z5, Z0
	VMOVUPS   Z0, (DI)
	ADDQ    $128, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     maxblock2

maxtail2:
	KMOVW    0(R10), K1
	KORTESTW K1, K1
	JZ       maxnext2
	KMOVW    2(R10), K3
	KMOVW    4(R10), K4
	VMOVUPS.Z (SI), K3, Z0
	VMOVUPS.Z 64(SI), K4, Z3
	LEAQ    4(SI), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      maxtailevens2

maxtailtap2:
	VMOVUPS.Z (R8), K3, Z1
	VMOVUPS.Z 64(R8), K4, Z4
	VMAXPS  Z0, Z1, Z0
	VCMPPS  $3, Z1, Z1, K2
	VMOVAPS Z1, K2, Z0
	VMAXPS  Z3, Z4, Z3
	VCMPPS  $3, Z4, Z4, K2
	VMOVAPS Z4, K2, Z3
	ADDQ    $4, R8
	DECQ    R9
	JNZ     maxtailtap2

maxtailevens2:
	VPERMT2PS Z3, Z5, Z0
	VMOVUPS   Z0, K1, (DI)

maxnext2:
	ADDQ R12, R14
	ADDQ R13, AX
	DECQ R11
	JNZ  maxrow2

maxdone2:
	VZEROUPPER
	RET

// func sumTapsAVX512(y *float32, x *float32, n int, k int, step int, m *[3]uint16, rows int, ldy int, ldx int)
//
// y[r·ldy + i] = Σ_{t<k} x[r·ldx + i + t·step] for r < rows, i < n
// (k ≥ 1). Registers as in maxTapsAVX512; Z0 = running value, Z1 = tap.
TEXT ·sumTapsAVX512(SB), NOSPLIT, $0-72
	MOVQ y+0(FP), R14
	MOVQ x+8(FP), AX
	MOVQ k+24(FP), BX
	MOVQ step+32(FP), DX
	MOVQ m+40(FP), R10
	MOVQ rows+48(FP), R11
	MOVQ ldy+56(FP), R12
	MOVQ ldx+64(FP), R13
	SHLQ $2, DX
	SHLQ $2, R12
	SHLQ $2, R13
	TESTQ R11, R11
	JZ   sumdone

sumrow:
	MOVQ R14, DI
	MOVQ AX, SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   sumtail

sumblock:
	VMOVUPS (SI), Z0
	LEAQ    (SI)(DX*1), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      sumstore

sumtap:
	VMOVUPS (R8), Z1
	VADDPS  Z1, Z0, Z0
	ADDQ    DX, R8
	DECQ    R9
	JNZ     sumtap

sumstore:
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     sumblock

sumtail:
	KMOVW    0(R10), K1
	KORTESTW K1, K1
	JZ       sumnext
	VMOVUPS.Z (SI), K1, Z0
	LEAQ    (SI)(DX*1), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      sumtailstore

sumtailtap:
	VMOVUPS.Z (R8), K1, Z1
	VADDPS  Z1, Z0, Z0
	ADDQ    DX, R8
	DECQ    R9
	JNZ     sumtailtap

sumtailstore:
	VMOVUPS Z0, K1, (DI)

sumnext:
	ADDQ R12, R14
	ADDQ R13, AX
	DECQ R11
	JNZ  sumrow

sumdone:
	VZEROUPPER
	RET

// func sumTapsS2AVX512(y *float32, x *float32, n int, k int, m *[3]uint16, rows int, ldy int, ldx int)
//
// y[r·ldy + i] = Σ_{t<k} x[r·ldx + 2i + t] for r < rows, i < n (k ≥ 1),
// reading nothing past x[(rows-1)·ldx + 2n+k-3]. A block of 16 outputs keeps the running values of the 32
// windows starting at x[2i .. 2i+31] in Z0 and Z3 and stores their even
// lanes. Registers as in sumTapsAVX512, with Z3, Z4 for the second 16
// windows; Z5 = even indices.
TEXT ·sumTapsS2AVX512(SB), NOSPLIT, $0-64
	MOVQ y+0(FP), R14
	MOVQ x+8(FP), AX
	MOVQ k+24(FP), BX
	MOVQ m+32(FP), R10
	MOVQ rows+40(FP), R11
	MOVQ ldy+48(FP), R12
	MOVQ ldx+56(FP), R13
	SHLQ $2, R12
	SHLQ $2, R13
	VMOVDQU32 poolEven<>(SB), Z5
	TESTQ R11, R11
	JZ   sumdone2

sumrow2:
	MOVQ R14, DI
	MOVQ AX, SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   sumtail2

sumblock2:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z3
	LEAQ    4(SI), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      sumevens2

sumtap2:
	VMOVUPS (R8), Z1
	VMOVUPS 64(R8), Z4
	VADDPS  Z1, Z0, Z0
	VADDPS  Z4, Z3, Z3
	ADDQ    $4, R8
	DECQ    R9
	JNZ     sumtap2

sumevens2:
	VPERMT2PS Z3, Z5, Z0
	VMOVUPS   Z0, (DI)
	ADDQ    $128, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     sumblock2

sumtail2:
	KMOVW    0(R10), K1
	KORTESTW K1, K1
	JZ       sumnext2
	KMOVW    2(R10), K3
	KMOVW    4(R10), K4
	VMOVUPS.Z (SI), K3, Z0
	VMOVUPS.Z 64(SI), K4, Z3
	LEAQ    4(SI), R8
	MOVQ    BX, R9
	DECQ    R9
	JZ      sumtailevens2

sumtailtap2:
	VMOVUPS.Z (R8), K3, Z1
	VMOVUPS.Z 64(R8), K4, Z4
	VADDPS  Z1, Z0, Z0
	VADDPS  Z4, Z3, Z3
	ADDQ    $4, R8
	DECQ    R9
	JNZ     sumtailtap2

sumtailevens2:
	VPERMT2PS Z3, Z5, Z0
	VMOVUPS   Z0, K1, (DI)

sumnext2:
	ADDQ R12, R14
	ADDQ R13, AX
	DECQ R11
	JNZ  sumrow2

sumdone2:
	VZEROUPPER
	RET
