//go:build !noasm

#include "textflag.h"

// func affineClampAVX512(y *float32, x *float32, n int, a float32, b float32, lo float32, hi float32)
//
// y[i] = min(max(x[i]·a + b, lo), hi) for i < n (y may be x): the
// inference BatchNormalization with a fused Relu or Clip. The operand
// order of VMAXPS/VMINPS returns the value itself when it is NaN, so NaN
// propagates as in the portable loop; the product and the sum are rounded
// separately (no FMA), so the result is bit-identical to it. 64 floats per iteration, then 16,
// then the rest under a mask.
TEXT ·affineClampAVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Z1
	VBROADCASTSS b+28(FP), Z2
	VBROADCASTSS lo+32(FP), Z3
	VBROADCASTSS hi+36(FP), Z4

loop64:
	CMPQ CX, $64
	JLT  loop16
	VMOVUPS (SI), Z5
	VMOVUPS 64(SI), Z6
	VMOVUPS 128(SI), Z7
	VMOVUPS 192(SI), Z8
	VMULPS Z1, Z5, Z5
	VADDPS Z2, Z5, Z5 // v·a + b, rounded twice as in Go
	VMULPS Z1, Z6, Z6
	VADDPS Z2, Z6, Z6
	VMULPS Z1, Z7, Z7
	VADDPS Z2, Z7, Z7
	VMULPS Z1, Z8, Z8
	VADDPS Z2, Z8, Z8
	VMAXPS Z5, Z3, Z5      // max(lo, v), v if NaN
	VMAXPS Z6, Z3, Z6
	VMAXPS Z7, Z3, Z7
	VMAXPS Z8, Z3, Z8
	VMINPS Z5, Z4, Z5      // min(hi, v), v if NaN
	VMINPS Z6, Z4, Z6
	VMINPS Z7, Z4, Z7
	VMINPS Z8, Z4, Z8
	VMOVUPS Z5, (DI)
	VMOVUPS Z6, 64(DI)
	VMOVUPS Z7, 128(DI)
	VMOVUPS Z8, 192(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP  loop64

loop16:
	CMPQ CX, $16
	JLT  tail
	VMOVUPS (SI), Z5
	VMULPS Z1, Z5, Z5
	VADDPS Z2, Z5, Z5
	VMAXPS Z5, Z3, Z5
	VMINPS Z5, Z4, Z5
	VMOVUPS Z5, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  loop16

tail:
	TESTQ CX, CX
	JZ    done
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z5
	VMULPS Z1, Z5, Z5
	VADDPS Z2, Z5, Z5
	VMAXPS Z5, Z3, Z5
	VMINPS Z5, Z4, Z5
	VMOVUPS Z5, K1, (DI)

done:
	VZEROUPPER
	RET
