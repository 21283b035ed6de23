package quant

import (
	"math"
	"unsafe"

	"github.com/edgedl/edgedl/kernels"
)

// The AVX-512 VNNI integer GEMM.
//
// VPDPBUSD multiplies unsigned bytes by signed bytes, sums each group of
// four products and adds them to 32-bit lanes (wrapping, not saturating:
// a group sums to at most 4·255·128 < 2¹⁹, so only the running int32 sum
// can wrap, exactly as the ONNX int32 arithmetic does). Operands are
// therefore brought to that form:
//
//	â = a        (uint8 A)      za' = za
//	â = a ⊕ 0x80 (int8 A, a+128) za' = za + 128
//	b̂ = b        (int8 B)       zb' = zb
//	b̂ = b ⊕ 0x80 (uint8 B, b−128 as int8) zb' = zb − 128
//
// and, since (a − za)(b − zb) = (â − za')(b̂ − zb'),
//
//	C[i,j] = Σ_p â·b̂ + za'[i]·(K·zb'[j] − Σ_p b̂[p,j]) + (Σ_p â[i,p])·(−zb'[j])
//
// all in wrapping int32 arithmetic, which equals the int64 sum wrapped to
// 32 bits. The last term (A's row sums) is needed only when some zb' ≠ 0
// (int8 weights with a zero point, or uint8 weights whose zero point is
// not 128); B's column terms are computed once at packing.
//
// Packed B: panels of 32 columns; in each, ceil(K/4) groups of 128 bytes
// (column j's four k values at bytes 4j..4j+3), padded with zeros.

const (
	vnniNR   = 32  // columns per panel
	vnniMR   = 8   // rows per micro-kernel call
	vnniRows = 128 // rows per parallel tile
)

// useVNNI selects the VNNI layout for new packings (tests switch it).
var useVNNI = hasVNNI

// vnniB is the VNNI form of a packed B.
type vnniB struct {
	k4     int    // ceil(K/4)
	data   []int8 // panels × k4 × 128 bytes
	w, v   []int32
	needRS bool // some zb' ≠ 0: row sums of A are needed
	sdot   bool // for the arm64 SDOT kernel (sdot.go)
}

// gemmArgs is read by the assembly kernels (offsets fixed there).
type gemmArgs struct {
	tail         *uint8 // 0: mr rows × 4 bytes of the partial k group, or nil
	za           *int32 // 8: mr effective A zero points
	rs           *int32 // 16: mr A row sums, or nil
	w            *int32 // 24: 32 column terms K·zb' − Σb̂
	v            *int32 // 32: 32 column terms −zb'
	mask0, mask1 uint32 // 40, 44: columns stored
	signed       uint32 // 48: flip A's bytes (int8 A)
}

// convArgs is read by convVNNI8x32 (offsets fixed there).
type convArgs struct {
	bias   *int32   // 0: 8 per-row addends
	mult   *float64 // 8: 8 per-row multipliers (mode 1)
	lo, hi float64  // 16, 24: clamp bounds minus the zero point
	zero   int32    // 32
	mode   int32    // 36: 0 int32 output, 1 requantized 8-bit output
	mask0  uint32   // 40
	mask1  uint32   // 44
	rows   int      // 48: rows stored (1..8)
	mult32 *float32 // 56: 8 per-row multipliers (mode 2)
	lo32   float32  // 64: C + lo − zero
	hi32   float32  // 68: C + hi − zero
	sub    int32    // 72: bits(C) − zero
	c32    float32  // 76: C
}

// The exact float32 requantisation (mode 2 of the kernels). The reference
// rounds float64(v)·float64(m) half to even, v the int32 accumulator plus
// bias and m a float32. When |v| ≤ 2²⁴, float32(v) is exact and so is the
// float64 product (24 × 24 significant bits), and one FMA v·m + C with
// C = 1.5·2²³ rounds that exact product half to even to an integer (the
// float32 spacing is 1 in [2²³, 2²⁴), C is even); products too large for
// that range saturate either way, as do infinities, and NaN maps to the
// lower bound like the reference. The clamp runs on v·m + C against
// C + lo − zero and C + hi − zero, and bits(t) − bits(C) + zero is then the
// output. |v| ≤ 255·Σ|ŵ| + |bias'| bounds v per channel, checked for
// every tile; tiles that may exceed 2²⁴ use the float64 epilogue (mode 1).
const (
	magicC   = 12582912 // 1.5·2²³
	f32Exact = 1 << 24
)

// f32Params fills the mode 2 constants of an output stage.
func f32Params(st *outputStage) (lo, hi float32, sub int32, c float32) {
	c = magicC
	lo = float32(magicC + (st.lo - st.zero))
	hi = float32(magicC + (st.hi - st.zero))
	sub = int32(math.Float32bits(c)) - int32(st.zero)
	return
}

// useF32Epilogue enables mode 2 (tests switch it off to cover mode 1).
var useF32Epilogue = true

// f32Fits reports whether a channel with Σ|ŵ| = wabs and bias b can use
// the float32 epilogue.
func f32Fits(wabs int64, b int32) bool {
	if !useF32Epilogue {
		return false
	}
	if b < 0 {
		return 255*wabs-int64(b) <= f32Exact
	}
	return 255*wabs+int64(b) <= f32Exact
}

func vnniWords(k, n int) int {
	return (n + vnniNR - 1) / vnniNR * (k + 3) / 4 * 128 / 8
}

// asBytes views words as bytes.
func asBytes(words []int64) []int8 {
	if len(words) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&words[0])), 8*len(words))
}

// packVNNI fills p.v from B (see PackB); words holds at least
// vnniWords(k, n) words.
func packVNNI[T int8 | uint8](p *PackedB, words []int64, k, n int, b []T, ldb int, trans bool, zero []int32) {
	panels := (n + vnniNR - 1) / vnniNR
	k4 := (k + 3) / 4
	data := asBytes(words)[:panels*k4*128]
	clear(data)
	v := &vnniB{k4: k4, data: data, w: make([]int32, panels*vnniNR), v: make([]int32, panels*vnniNR)}
	var flip int32
	if !isSigned[T]() {
		flip = 128
	}
	for j := 0; j < n; j++ {
		var z int32
		if len(zero) == 1 {
			z = zero[0]
		} else if len(zero) == n {
			z = zero[j]
		}
		panel := data[j/vnniNR*k4*128:]
		jj := j % vnniNR
		var sum, raw int32
		for q := 0; q < k; q++ {
			var bv int32
			if trans {
				bv = int32(b[j*ldb+q])
			} else {
				bv = int32(b[q*ldb+j])
			}
			raw += bv - z
			h := bv - flip
			panel[q/4*128+jj*4+q%4] = int8(h)
			sum += h
		}
		zb := z - flip
		p.colSum[j] = raw
		v.w[j] = int32(k)*zb - sum
		v.v[j] = -zb
		if zb != 0 {
			v.needRS = true
		}
	}
	p.v = v
}

// gemmVNNI is gemm with the VNNI kernels (b.v != nil, b.K > 0).
func gemmVNNI[T int8 | uint8](ctx *kernels.Ctx, m int, a []T, lda int, aZero []int32, b *PackedB, c []int32, ldc int) {
	vb := b.v
	panels := (b.N + vnniNR - 1) / vnniNR
	rt := (m + vnniRows - 1) / vnniRows
	// Panels per tile: enough tiles for the threads, whole panels else.
	pt := panels
	if th := ctx.Threads(); th > 1 && rt < 2*th {
		pt = max(1, panels*rt/(4*th))
	}
	ct := (panels + pt - 1) / pt
	signed := isSigned[T]()
	var flip int32
	if signed {
		flip = 128
	}
	au := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(a))), len(a))
	kfull, krem := b.K/4, b.K%4
	tile := func(t int) {
		i0, q0 := t/ct*vnniRows, t%ct*pt
		i1, q1 := min(i0+vnniRows, m), min(q0+pt, panels)
		var args gemmArgs
		var za, rs [vnniMR]int32
		var tail [vnniMR * 4]uint8
		if signed {
			args.signed = 1
		}
		args.za = &za[0]
		if vb.needRS {
			args.rs = &rs[0]
		}
		for i := i0; i < i1; i += vnniMR {
			mr := min(vnniMR, i1-i)
			for r := 0; r < mr; r++ {
				var z int32
				if len(aZero) > 1 {
					z = aZero[i+r]
				} else if len(aZero) == 1 {
					z = aZero[0]
				}
				za[r] = z + flip
				row := au[(i+r)*lda : (i+r)*lda+b.K]
				if krem != 0 {
					for t := 0; t < 4; t++ {
						var x uint8
						if t < krem {
							x = row[4*kfull+t]
						}
						if signed {
							x ^= 0x80
						}
						tail[4*r+t] = x
					}
				}
				if vb.needRS {
					rs[r] = rowSum(row, signed)
				}
			}
			if krem != 0 {
				args.tail = &tail[0]
			}
			kern := gemmVNNIKernels[mr]
			for q := q0; q < q1; q++ {
				nc := min(vnniNR, b.N-q*vnniNR)
				args.mask0, args.mask1 = colMasks(nc)
				args.w = &vb.w[q*vnniNR]
				args.v = &vb.v[q*vnniNR]
				kern(kfull, &au[i*lda], lda, &vb.data[q*vb.k4*128], &c[i*ldc+q*vnniNR], ldc, &args)
			}
		}
	}
	if ctx.Threads() == 1 || m*b.N*b.K < 1<<17 {
		for t := 0; t < rt*ct; t++ {
			tile(t)
		}
		return
	}
	ctx.Parallel(rt*ct, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			tile(t)
		}
	})
}

// colMasks returns the store masks of the two 16-lane halves of a panel
// with nc valid columns.
func colMasks(nc int) (uint32, uint32) {
	if nc >= 32 {
		return 0xffff, 0xffff
	}
	if nc >= 16 {
		return 0xffff, uint32(1)<<(nc-16) - 1
	}
	return uint32(1)<<nc - 1, 0
}

// rowSum is Σ row as uint8 values, or with every byte flipped (int8
// values plus 128), eight bytes at a time.
func rowSum(row []uint8, flip bool) int32 {
	var s uint64
	var f uint64
	var fb uint8
	if flip {
		f, fb = 0x8080808080808080, 0x80
	}
	i := 0
	for ; i+8 <= len(row); i += 8 {
		w := *(*uint64)(unsafe.Pointer(&row[i])) ^ f
		// pairwise byte sums into 16-bit fields, then into 32 bits
		w = (w & 0x00ff00ff00ff00ff) + (w >> 8 & 0x00ff00ff00ff00ff)
		w = (w & 0x0000ffff0000ffff) + (w >> 16 & 0x0000ffff0000ffff)
		s += w&0xffffffff + w>>32
	}
	for ; i < len(row); i++ {
		s += uint64(row[i] ^ fb)
	}
	return int32(s)
}
