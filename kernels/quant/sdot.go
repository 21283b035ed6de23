package quant

import (
	"unsafe"

	"github.com/edgedl/edgedl/kernels"
)

// The arm64 integer GEMM with SDOT (Armv8.2 dot product: int8 × int8 in
// groups of four k values into int32 lanes, wrapping).
//
// B is packed exactly as for VNNI (vnni.go: int8 B̂, 32-column panels of
// 4-k groups, per-column terms). SDOT needs int8 A too, so uint8 A is
// flipped (a − 128, XOR 0x80) with za' = za − 128, and int8 A is used as
// is; then, as for VNNI,
//
//	C[i,j] = Σ â·b̂ + za'[i]·(K·zb'[j] − Σb̂) + (Σâ)·(−zb'[j]).
//
// The kernel computes a 4×16 tile into a buffer and the correction terms
// are added while copying it to C (which also handles the column tail);
// fewer than four remaining rows are copied into a zero-padded block.

// useSDOT selects the SDOT kernel (and the VNNI layout) for new packings.
var useSDOT = hasSDOT

func gemmSDOTDrive[T int8 | uint8](ctx *kernels.Ctx, m int, a []T, lda int, aZero []int32, b *PackedB, c []int32, ldc int) {
	vb := b.v
	panels := (b.N + vnniNR - 1) / vnniNR
	blocks := (m + 3) / 4
	unsigned := !isSigned[T]()
	var flip uint32
	var off int32
	if unsigned {
		flip, off = 0x80808080, -128
	}
	as := unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(a))), len(a))
	kfull, krem := b.K/4, b.K%4
	const rowBlocks = 8
	tasks := (blocks + rowBlocks - 1) / rowBlocks
	run := func(lo, hi int) {
		var tile [64]int32
		var tail [16]int8
		var za, rs [4]int32
		var pad []int8
		for t := lo; t < hi; t++ {
			for blk := t * rowBlocks; blk < min((t+1)*rowBlocks, blocks); blk++ {
				i0 := blk * 4
				rows := min(4, m-i0)
				src, sld := as[i0*lda:], lda
				if rows < 4 {
					if pad == nil {
						pad = make([]int8, 4*b.K)
					}
					clear(pad)
					for r := 0; r < rows; r++ {
						copy(pad[r*b.K:(r+1)*b.K], as[(i0+r)*lda:(i0+r)*lda+b.K])
					}
					src, sld = pad, b.K
				}
				for r := 0; r < 4; r++ {
					var z int32
					if r < rows {
						if len(aZero) > 1 {
							z = aZero[i0+r]
						} else if len(aZero) == 1 {
							z = aZero[0]
						}
					}
					za[r] = z + off
					row := unsafe.Slice((*uint8)(unsafe.Pointer(&src[r*sld])), b.K)
					if vb.needRS {
						rs[r] = rowSum(row, !unsigned) - int32(128*b.K)
					}
					if krem != 0 {
						for q := 0; q < 4; q++ {
							var x uint8
							if q < krem {
								x = row[4*kfull+q]
							}
							if unsigned {
								x ^= 0x80
							}
							tail[4*r+q] = int8(x)
						}
					}
				}
				var tp *int8
				if krem != 0 {
					tp = &tail[0]
				}
				for q := 0; q < panels; q++ {
					for h := 0; h < 2; h++ {
						j0 := q*vnniNR + 16*h
						if j0 >= b.N {
							break
						}
						gemmSDOT(kfull, &src[0], sld, &vb.data[q*vb.k4*128+64*h], &tile[0], tp, flip)
						nc := min(16, b.N-j0)
						w, v := vb.w[j0:j0+nc], vb.v[j0:j0+nc]
						for r := 0; r < rows; r++ {
							dst := c[(i0+r)*ldc+j0 : (i0+r)*ldc+j0+nc]
							tr := tile[16*r : 16*r+nc]
							zr, sr := za[r], rs[r]
							for j := range dst {
								dst[j] = tr[j] + zr*w[j] + sr*v[j]
							}
						}
					}
				}
			}
		}
	}
	if ctx.Threads() == 1 || m*b.N*b.K < 1<<17 {
		run(0, tasks)
		return
	}
	ctx.Parallel(tasks, 1, run)
}
