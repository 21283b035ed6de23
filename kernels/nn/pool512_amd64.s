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

// Offsets of samePool (pool_amd64.go).
#define SP_MASKS 0
#define SP_INV 8
#define SP_LASTOFF 16
#define SP_END 24
#define SP_LASTMASK 32
#define SP_PLANE 40
#define SP_UP 48

// K1 = the store mask of the block at BX: all lanes but in the last.
#define SAMEMASK(next) \
	CMPQ  BX, SP_LASTOFF(R8) \
	JNE   next \
	KMOVW SP_LASTMASK(R8), K1

// func poolSame3SumAVX512(y *float32, x *float32, planes int, p *samePool)
//
// The window sums, times p.inv, of planes consecutive planes of a 3x3
// stride-1 pool with one row and column of padding on each side (the
// output has the input's size). A plane is a flat vector of blocks of 16
// floats across rows, where a tap is a constant offset, valid in the
// lanes of a mask. The vertical sums V of a block (the block and the
// blocks one row above and below) stay in registers, and the horizontal
// sums take the neighbours of a block's lanes from V of the blocks
// before and after (VALIGND), so each input block is loaded three times
// and nothing goes through memory. p.masks holds per block (and one
// block past the plane) the masks of the rows above and below, the
// centre, then the columns to the left and right, in 16 bytes.
// Registers: SI = x plane, DI = y plane, R8 = p, BX = block offset, R10
// = block masks, R11 = inv, R12/R13 = byte offsets of the rows
// above/below, CX = x block (the next one); Z0-Z2 = V of the blocks
// before, at and after BX, Z3-Z5 sums; K1 = store mask, K2-K4 = masks
// of the next block's rows above, below and centre, K5/K6 = masks of
// the left and right columns.
TEXT ·poolSame3SumAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ p+24(FP), R8
	MOVQ SP_INV(R8), R11
	MOVQ SP_UP(R8), R12
	MOVQ R12, R13
	NEGQ R13

s3plane:
	MOVQ   SP_MASKS(R8), R10
	XORQ   BX, BX
	KXNORW K1, K1, K1
	VPXORD Z0, Z0, Z0
	KMOVW  0(R10), K2
	KMOVW  2(R10), K3
	KMOVW  4(R10), K4
	VMOVUPS.Z (SI), K4, Z1
	VADDPS (SI)(R12*1), Z1, K2, Z1
	VADDPS (SI)(R13*1), Z1, K3, Z1

s3blk:
	SAMEMASK(s3)

s3:
	LEAQ   64(SI)(BX*1), CX
	KMOVW  16(R10), K2
	KMOVW  18(R10), K3
	KMOVW  20(R10), K4
	KMOVW  6(R10), K5
	KMOVW  8(R10), K6
	VMOVUPS.Z (CX), K4, Z2
	VADDPS (CX)(R12*1), Z2, K2, Z2
	VADDPS (CX)(R13*1), Z2, K3, Z2
	VALIGND.Z $15, Z0, Z1, K5, Z3
	VALIGND.Z $1, Z1, Z2, K6, Z4
	VADDPS  Z1, Z3, Z5
	VADDPS  Z4, Z5, Z5
	VMULPS  (R11)(BX*1), Z5, Z5
	VMOVUPS Z5, K1, (DI)(BX*1)
	VMOVAPS Z1, Z0
	VMOVAPS Z2, Z1
	ADDQ    $16, R10
	ADDQ    $64, BX
	CMPQ    BX, SP_END(R8)
	JNE     s3blk

	ADDQ SP_PLANE(R8), SI
	ADDQ SP_PLANE(R8), DI
	DECQ planes+16(FP)
	JNZ  s3plane

	VZEROUPPER
	RET

// MAXTAP folds tap t into acc in the lanes of mask k, NaN propagating:
// VMAXPS keeps acc where either is NaN, then the NaN lanes of the tap
// (K7) take it.
#define MAXTAP(t, k, acc) \
	VMAXPS  acc, t, k, acc \
	VCMPPS  $3, t, t, k, K7 \
	VMOVAPS t, K7, acc

// func poolSame3MaxAVX512(y *float32, x *float32, planes int, p *samePool)
//
// poolSame3SumAVX512 with maxima (NaN propagating) and no scaling; the
// masked taps are left out, and every window holds its centre.
TEXT ·poolSame3MaxAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ p+24(FP), R8
	MOVQ SP_UP(R8), R12
	MOVQ R12, R13
	NEGQ R13

m3plane:
	MOVQ   SP_MASKS(R8), R10
	XORQ   BX, BX
	KXNORW K1, K1, K1
	KMOVW  0(R10), K2
	KMOVW  2(R10), K3
	KMOVW  4(R10), K4
	VMOVUPS.Z (SI), K4, Z1
	VMOVUPS.Z (SI)(R12*1), K2, Z3
	MAXTAP(Z3, K2, Z1)
	VMOVUPS.Z (SI)(R13*1), K3, Z3
	MAXTAP(Z3, K3, Z1)

m3blk:
	SAMEMASK(m3)

m3:
	LEAQ   64(SI)(BX*1), CX
	KMOVW  16(R10), K2
	KMOVW  18(R10), K3
	KMOVW  20(R10), K4
	KMOVW  6(R10), K5
	KMOVW  8(R10), K6
	VMOVUPS.Z (CX), K4, Z2
	VMOVUPS.Z (CX)(R12*1), K2, Z3
	MAXTAP(Z3, K2, Z2)
	VMOVUPS.Z (CX)(R13*1), K3, Z3
	MAXTAP(Z3, K3, Z2)
	VMOVAPS Z1, Z5
	VALIGND.Z $15, Z0, Z1, K5, Z3
	MAXTAP(Z3, K5, Z5)
	VALIGND.Z $1, Z1, Z2, K6, Z4
	MAXTAP(Z4, K6, Z5)
	VMOVUPS Z5, K1, (DI)(BX*1)
	VMOVAPS Z1, Z0
	VMOVAPS Z2, Z1
	ADDQ    $16, R10
	ADDQ    $64, BX
	CMPQ    BX, SP_END(R8)
	JNE     m3blk

	ADDQ SP_PLANE(R8), SI
	ADDQ SP_PLANE(R8), DI
	DECQ planes+16(FP)
	JNZ  m3plane

	VZEROUPPER
	RET

// Offsets of s2Pool (pool_amd64.go).
#define S2_ROWS 0
#define S2_ROWSEND 8
#define S2_MASKS 16
#define S2_INV 24
#define S2_ROWSTEP 32
#define S2_PAIRS 40
#define S2_LDY 48
#define S2_PW 56
#define S2_INPLANE 64

// The odd lanes of a pair of registers, for VPERMT2PS.
DATA poolOdd<>+0(SB)/4, $1
DATA poolOdd<>+4(SB)/4, $3
DATA poolOdd<>+8(SB)/4, $5
DATA poolOdd<>+12(SB)/4, $7
DATA poolOdd<>+16(SB)/4, $9
DATA poolOdd<>+20(SB)/4, $11
DATA poolOdd<>+24(SB)/4, $13
DATA poolOdd<>+28(SB)/4, $15
DATA poolOdd<>+32(SB)/4, $17
DATA poolOdd<>+36(SB)/4, $19
DATA poolOdd<>+40(SB)/4, $21
DATA poolOdd<>+44(SB)/4, $23
DATA poolOdd<>+48(SB)/4, $25
DATA poolOdd<>+52(SB)/4, $27
DATA poolOdd<>+56(SB)/4, $29
DATA poolOdd<>+60(SB)/4, $31
GLOBL poolOdd<>(SB), RODATA|NOPTR, $64

// func poolS2MaxAVX512(y *float32, x *float32, planes int, p *s2Pool)
//
// MaxPool of planes consecutive planes with windows of at most 3
// columns at stride 2, left padding pw 0 or 1 (any vertical geometry:
// p.rows per output row). Per output row, the input row is taken in
// pairs of blocks of 16 (32 columns), each the maxima over the window's
// valid rows (under the pair's load masks), split into its even and odd
// columns E and O (VPERMT2PS). The 16 outputs c of pair b then take E[c],
// O[c] and E[c+1] (pw 0) or O[c-1] (pw 1), E[c+1] and O[c-1] across the
// neighbouring pairs (VALIGND), each tap under the mask of the outputs
// whose window holds it. p.masks holds per pair (and one past the last
// output block) the load masks of its two blocks, the masks of taps
// E[c], O[c] and the third, then the store mask, in 16 bytes.
// Registers: SI = x plane, DI = y row, R8 = p, R10 = row entry, R11 =
// the window's first input row, BX = pair offset, R12 = output offset,
// R13 = pair masks, CX = pairs left, AX = load pointer, DX = rows left;
// Z10-Z15 = E, O of the pairs before, at and after the output block,
// Z29/Z30 = odd/even lanes, Z31 = -Inf; K2/K3 = load masks.
TEXT ·poolS2MaxAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ p+24(FP), R8
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z31
	VMOVDQU32 poolEven<>(SB), Z30
	VMOVDQU32 poolOdd<>(SB), Z29

m2plane:
	MOVQ S2_ROWS(R8), R10

m2row:
	MOVQ    (R10), R11
	ADDQ    SI, R11
	XORQ    BX, BX
	XORQ    R12, R12
	MOVQ    S2_MASKS(R8), R13
	MOVQ    S2_PAIRS(R8), CX
	VMOVAPS Z31, Z13

m2pair:
	VMOVAPS  Z31, Z0
	VMOVAPS  Z31, Z1
	KMOVW    0(R13), K2
	KMOVW    2(R13), K3
	KORTESTW K2, K2
	JZ       m2split
	MOVQ     8(R10), DX
	TESTQ    DX, DX
	JZ       m2split
	LEAQ     (R11)(BX*1), AX
	VMOVUPS.Z (AX), K2, Z0
	DECQ     DX
	KORTESTW K3, K3
	JZ       m2lo
	VMOVUPS.Z 64(AX), K3, Z1
	TESTQ    DX, DX
	JZ       m2split

m2tap:
	ADDQ     S2_ROWSTEP(R8), AX
	VMOVUPS.Z (AX), K2, Z2
	MAXTAP(Z2, K2, Z0)
	VMOVUPS.Z 64(AX), K3, Z3
	MAXTAP(Z3, K3, Z1)
	DECQ     DX
	JNZ      m2tap
	JMP      m2split

m2lo: // the second block is past the row
	TESTQ    DX, DX
	JZ       m2split

m2lotap:
	ADDQ     S2_ROWSTEP(R8), AX
	VMOVUPS.Z (AX), K2, Z2
	MAXTAP(Z2, K2, Z0)
	DECQ     DX
	JNZ      m2lotap

m2split:
	VMOVAPS   Z0, Z15
	VPERMT2PS Z1, Z29, Z15
	VMOVAPS   Z0, Z14
	VPERMT2PS Z1, Z30, Z14
	TESTQ     BX, BX
	JZ        m2rotate

	// the output block of the previous pair (masks at -16(R13))
	VMOVAPS Z31, Z0
	KMOVW   -12(R13), K4
	MAXTAP(Z12, K4, Z0)
	KMOVW   -10(R13), K4
	MAXTAP(Z13, K4, Z0)
	CMPQ    S2_PW(R8), $0
	JNE     m2left
	VALIGND $1, Z12, Z14, Z2
	JMP     m2third

m2left:
	VALIGND $15, Z11, Z13, Z2

m2third:
	KMOVW   -8(R13), K4
	MAXTAP(Z2, K4, Z0)
	KMOVW   -6(R13), K4
	VMOVUPS Z0, K4, (DI)(R12*1)
	ADDQ    $64, R12

m2rotate:
	VMOVAPS Z12, Z10
	VMOVAPS Z13, Z11
	VMOVAPS Z14, Z12
	VMOVAPS Z15, Z13
	ADDQ    $128, BX
	ADDQ    $16, R13
	DECQ    CX
	JNZ     m2pair

	ADDQ S2_LDY(R8), DI
	ADDQ $16, R10
	CMPQ R10, S2_ROWSEND(R8)
	JNE  m2row

	ADDQ S2_INPLANE(R8), SI
	DECQ planes+16(FP)
	JNZ  m2plane

	VZEROUPPER
	RET

// func poolS2SumAVX512(y *float32, x *float32, planes int, p *s2Pool)
//
// poolS2MaxAVX512 with sums (zero padding), each output then multiplied
// by its reciprocal tap count from p.inv (per output row and block, 16
// lanes; R14 walks it). Z31 = 0.
TEXT ·poolS2SumAVX512(SB), NOSPLIT, $0-32
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ p+24(FP), R8
	VPXORD Z31, Z31, Z31
	VMOVDQU32 poolEven<>(SB), Z30
	VMOVDQU32 poolOdd<>(SB), Z29

s2plane:
	MOVQ S2_ROWS(R8), R10
	MOVQ S2_INV(R8), R14

s2row:
	MOVQ    (R10), R11
	ADDQ    SI, R11
	XORQ    BX, BX
	XORQ    R12, R12
	MOVQ    S2_MASKS(R8), R13
	MOVQ    S2_PAIRS(R8), CX
	VMOVAPS Z31, Z13

s2pair:
	VMOVAPS  Z31, Z0
	VMOVAPS  Z31, Z1
	KMOVW    0(R13), K2
	KMOVW    2(R13), K3
	KORTESTW K2, K2
	JZ       s2split
	MOVQ     8(R10), DX
	TESTQ    DX, DX
	JZ       s2split
	LEAQ     (R11)(BX*1), AX
	VMOVUPS.Z (AX), K2, Z0
	DECQ     DX
	KORTESTW K3, K3
	JZ       s2lo
	VMOVUPS.Z 64(AX), K3, Z1
	TESTQ    DX, DX
	JZ       s2split

s2tap:
	ADDQ     S2_ROWSTEP(R8), AX
	VADDPS   (AX), Z0, K2, Z0
	VADDPS   64(AX), Z1, K3, Z1
	DECQ     DX
	JNZ      s2tap
	JMP      s2split

s2lo: // the second block is past the row
	TESTQ    DX, DX
	JZ       s2split

s2lotap:
	ADDQ     S2_ROWSTEP(R8), AX
	VADDPS   (AX), Z0, K2, Z0
	DECQ     DX
	JNZ      s2lotap

s2split:
	VMOVAPS   Z0, Z15
	VPERMT2PS Z1, Z29, Z15
	VMOVAPS   Z0, Z14
	VPERMT2PS Z1, Z30, Z14
	TESTQ     BX, BX
	JZ        s2rotate

	// the output block of the previous pair (masks at -16(R13))
	VMOVAPS Z31, Z0
	KMOVW   -12(R13), K4
	VADDPS  Z12, Z0, K4, Z0
	KMOVW   -10(R13), K4
	VADDPS  Z13, Z0, K4, Z0
	CMPQ    S2_PW(R8), $0
	JNE     s2left
	VALIGND $1, Z12, Z14, Z2
	JMP     s2third

s2left:
	VALIGND $15, Z11, Z13, Z2

s2third:
	KMOVW   -8(R13), K4
	VADDPS  Z2, Z0, K4, Z0
	VMULPS  (R14), Z0, Z0
	ADDQ    $64, R14
	KMOVW   -6(R13), K4
	VMOVUPS Z0, K4, (DI)(R12*1)
	ADDQ    $64, R12

s2rotate:
	VMOVAPS Z12, Z10
	VMOVAPS Z13, Z11
	VMOVAPS Z14, Z12
	VMOVAPS Z15, Z13
	ADDQ    $128, BX
	ADDQ    $16, R13
	DECQ    CX
	JNZ     s2pair

	ADDQ S2_LDY(R8), DI
	ADDQ $16, R10
	CMPQ R10, S2_ROWSEND(R8)
	JNE  s2row

	ADDQ S2_INPLANE(R8), SI
	DECQ planes+16(FP)
	JNZ  s2plane

	VZEROUPPER
	RET

// Offsets of narrowPool (pool_amd64.go).
#define NP_ROWS 0
#define NP_ROWSEND 8
#define NP_IDX 16
#define NP_MASKS 24
#define NP_INV 32
#define NP_KW 40
#define NP_ROWSTEP 48
#define NP_LDY 56
#define NP_INPLANE 64
#define NP_LOAD 72

// NARROW3 loads, for windows of up to 3 columns (p.idx and p.masks
// padded to 3 taps), the taps' indices into Z20-Z22 and masks into K4-K6.
#define NARROW3 \
	MOVQ      NP_IDX(R8), AX \
	VMOVDQU32 (AX), Z20 \
	VMOVDQU32 64(AX), Z21 \
	VMOVDQU32 128(AX), Z22 \
	MOVQ      NP_MASKS(R8), AX \
	KMOVW     (AX), K4 \
	KMOVW     2(AX), K5 \
	KMOVW     4(AX), K6

// func poolNarrowMaxAVX512(y *float32, x *float32, planes int, p *narrowPool)
//
// MaxPool of planes consecutive planes whose rows fit two blocks of 16
// (w ≤ 32) and whose output rows one (ow ≤ 16), any geometry: per output
// row, the maxima over the window's valid input rows (p.rows: the byte
// offset of the first and their count) stay in Z0:Z1, and tap j of the
// 16 outputs picks its columns from them by VPERMI2PS (indices
// p.idx[j]) under the mask of the outputs whose window holds it
// (p.masks[j]; p.masks[kw] is the store mask). Windows of up to 3
// columns take 3 taps unrolled (NARROW3), others a loop. Registers: SI = x plane, DI = y row, R8 = p, R10 = row entry, AX
// = load pointer, DX = rows left, R13 = tap indices, R9 = tap masks, CX
// = taps left; Z31 = -Inf; K1 = store mask, K2/K3 = load masks of the
// two blocks.
TEXT ·poolNarrowMaxAVX512(SB), NOSPLIT, $0-32
	MOVQ  y+0(FP), DI
	MOVQ  x+8(FP), SI
	MOVQ  p+24(FP), R8
	MOVL  $0xff800000, AX
	VPBROADCASTD AX, Z31
	KMOVW NP_LOAD(R8), K2
	KMOVW NP_LOAD+2(R8), K3
	MOVQ  NP_MASKS(R8), AX
	MOVQ  NP_KW(R8), CX
	KMOVW (AX)(CX*2), K1
	NARROW3

nmplane:
	MOVQ NP_ROWS(R8), R10

nmrow:
	VMOVAPS  Z31, Z0
	VMOVAPS  Z31, Z1
	MOVQ     8(R10), DX
	TESTQ    DX, DX
	JZ       nmhoriz
	MOVQ     (R10), AX
	ADDQ     SI, AX
	VMOVUPS.Z (AX), K2, Z0
	DECQ     DX
	KORTESTW K3, K3
	JZ       nmlo
	VMOVUPS.Z 64(AX), K3, Z1
	TESTQ    DX, DX
	JZ       nmhoriz

nmtap:
	ADDQ     NP_ROWSTEP(R8), AX
	VMOVUPS.Z (AX), K2, Z2
	MAXTAP(Z2, K2, Z0)
	VMOVUPS.Z 64(AX), K3, Z3
	MAXTAP(Z3, K3, Z1)
	DECQ     DX
	JNZ      nmtap
	JMP      nmhoriz

nmlo: // one block per row
	TESTQ    DX, DX
	JZ       nmhoriz

nmlotap:
	ADDQ     NP_ROWSTEP(R8), AX
	VMOVUPS.Z (AX), K2, Z2
	MAXTAP(Z2, K2, Z0)
	DECQ     DX
	JNZ      nmlotap

nmhoriz:
	VMOVAPS Z31, Z4
	CMPQ    NP_KW(R8), $3
	JHI     nmhloop
	VMOVAPS   Z20, Z2
	VPERMI2PS Z1, Z0, Z2
	MAXTAP(Z2, K4, Z4)
	VMOVAPS   Z21, Z2
	VPERMI2PS Z1, Z0, Z2
	MAXTAP(Z2, K5, Z4)
	VMOVAPS   Z22, Z2
	VPERMI2PS Z1, Z0, Z2
	MAXTAP(Z2, K6, Z4)
	JMP       nmstore

nmhloop:
	MOVQ    NP_IDX(R8), R13
	MOVQ    NP_MASKS(R8), R9
	MOVQ    NP_KW(R8), CX

nmhtap:
	VMOVDQU32 (R13), Z2
	VPERMI2PS Z1, Z0, Z2
	KMOVW     (R9), K7
	MAXTAP(Z2, K7, Z4)
	ADDQ      $64, R13
	ADDQ      $2, R9
	DECQ      CX
	JNZ       nmhtap

nmstore:
	VMOVUPS Z4, K1, (DI)
	ADDQ    NP_LDY(R8), DI
	ADDQ    $16, R10
	CMPQ    R10, NP_ROWSEND(R8)
	JNE     nmrow

	ADDQ NP_INPLANE(R8), SI
	DECQ planes+16(FP)
	JNZ  nmplane

	VZEROUPPER
	RET

// func poolNarrowSumAVX512(y *float32, x *float32, planes int, p *narrowPool)
//
// poolNarrowMaxAVX512 with sums (zero padding), each output row then
// multiplied by its reciprocal tap counts from p.inv (16 per row; R12
// walks it). Z31 = 0.
TEXT ·poolNarrowSumAVX512(SB), NOSPLIT, $0-32
	MOVQ  y+0(FP), DI
	MOVQ  x+8(FP), SI
	MOVQ  p+24(FP), R8
	VPXORD Z31, Z31, Z31
	KMOVW NP_LOAD(R8), K2
	KMOVW NP_LOAD+2(R8), K3
	MOVQ  NP_MASKS(R8), AX
	MOVQ  NP_KW(R8), CX
	KMOVW (AX)(CX*2), K1
	NARROW3

nsplane:
	MOVQ NP_ROWS(R8), R10
	MOVQ NP_INV(R8), R12

nsrow:
	VMOVAPS  Z31, Z0
	VMOVAPS  Z31, Z1
	MOVQ     8(R10), DX
	TESTQ    DX, DX
	JZ       nshoriz
	MOVQ     (R10), AX
	ADDQ     SI, AX
	VMOVUPS.Z (AX), K2, Z0
	DECQ     DX
	KORTESTW K3, K3
	JZ       nslo
	VMOVUPS.Z 64(AX), K3, Z1
	TESTQ    DX, DX
	JZ       nshoriz

nstap:
	ADDQ     NP_ROWSTEP(R8), AX
	VADDPS   (AX), Z0, K2, Z0
	VADDPS   64(AX), Z1, K3, Z1
	DECQ     DX
	JNZ      nstap
	JMP      nshoriz

nslo: // one block per row
	TESTQ    DX, DX
	JZ       nshoriz

nslotap:
	ADDQ     NP_ROWSTEP(R8), AX
	VADDPS   (AX), Z0, K2, Z0
	DECQ     DX
	JNZ      nslotap

nshoriz:
	VMOVAPS Z31, Z4
	CMPQ    NP_KW(R8), $3
	JHI     nshloop
	VMOVAPS   Z20, Z2
	VPERMI2PS Z1, Z0, Z2
	VADDPS    Z2, Z4, K4, Z4
	VMOVAPS   Z21, Z2
	VPERMI2PS Z1, Z0, Z2
	VADDPS    Z2, Z4, K5, Z4
	VMOVAPS   Z22, Z2
	VPERMI2PS Z1, Z0, Z2
	VADDPS    Z2, Z4, K6, Z4
	JMP       nsstore

nshloop:
	MOVQ    NP_IDX(R8), R13
	MOVQ    NP_MASKS(R8), R9
	MOVQ    NP_KW(R8), CX

nshtap:
	VMOVDQU32 (R13), Z2
	VPERMI2PS Z1, Z0, Z2
	KMOVW     (R9), K7
	VADDPS    Z2, Z4, K7, Z4
	ADDQ      $64, R13
	ADDQ      $2, R9
	DECQ      CX
	JNZ       nshtap

nsstore:
	VMULPS  (R12), Z4, Z4
	ADDQ    $64, R12
	VMOVUPS Z4, K1, (DI)
	ADDQ    NP_LDY(R8), DI
	ADDQ    $16, R10
	CMPQ    R10, NP_ROWSEND(R8)
	JNE     nsrow

	ADDQ NP_INPLANE(R8), SI
	DECQ planes+16(FP)
	JNZ  nsplane

	VZEROUPPER
	RET

// func sumPlanesAVX512(y *float32, x *float32, planes int, n int, scale float32, m int)
//
// y[p] = scale · Σ_{i<n} x[p·n + i] for p < planes (n ≥ 1): blocks of 16
// into two accumulators, the last n%16 floats under mask m, then a tree
// of halves. Registers: DI = y, SI = x plane, AX = block pointer, CX =
// blocks left, DX = 4n; K1 = m; Z0, Z1 sums; X4 = scale.
TEXT ·sumPlanesAVX512(SB), NOSPLIT, $0-48
	MOVQ  y+0(FP), DI
	MOVQ  x+8(FP), SI
	MOVQ  n+24(FP), DX
	SHLQ  $2, DX
	VMOVSS scale+32(FP), X4
	MOVQ  m+40(FP), AX
	KMOVW AX, K1

gsplane:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	MOVQ   SI, AX
	MOVQ   n+24(FP), CX
	SHRQ   $5, CX
	JZ     gsone

gstwo:
	VADDPS (AX), Z0, Z0
	VADDPS 64(AX), Z1, Z1
	ADDQ   $128, AX
	DECQ   CX
	JNZ    gstwo

gsone:
	TESTQ  $16, n+24(FP)
	JZ     gstail
	VADDPS (AX), Z0, Z0
	ADDQ   $64, AX

gstail:
	VADDPS (AX), Z1, K1, Z1
	VADDPS Z1, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS  Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS  X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VADDPS  X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VADDSS  X1, X0, X0
	VMULSS  X4, X0, X0
	VMOVSS  X0, (DI)
	ADDQ    $4, DI
	ADDQ    DX, SI
	DECQ    planes+16(FP)
	JNZ     gsplane

	VZEROUPPER
	RET
