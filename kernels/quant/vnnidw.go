package quant

import (
	"unsafe"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// 3×3 depthwise convolution with VNNI (stride 1 or 2, no dilation).
//
// Each input plane is copied once into scratch with its padding filled
// with the input zero point, so the kernel has no borders to handle. For
// 16 output pixels and one kernel row, VPERMB gathers each pixel's three
// horizontal taps (bytes s·j, s·j+1, s·j+2 of the row) into the four bytes
// of its lane and VPDPBUSD multiplies them by that kernel row's weights
// (the fourth weight is 0): three instructions per kernel row for 48
// multiply-adds, then the fused requantisation of the conv kernel. The
// zero points fold into a per-channel bias exactly as in vnniconv.go (the
// padding holds the zero point, so every tap contributes x̂·ŵ).

// dwVNNIW holds 3×3 depthwise weights for dwVNNI3x3: per channel three
// dwords (one kernel row's int8 weights w − zw, then a zero byte) and
// Σŵ.
type dwVNNIW struct {
	w3   []int32
	wsum []int32
	wabs []int64 // Σ|ŵ| per channel
}

// dwArgs is read by dwVNNI3x3 (offsets fixed there).
type dwArgs struct {
	perm   *uint8  // 0: 64-byte VPERMB index
	w      *int32  // 8: three weight dwords
	bias   int32   // 16
	_      int32   // 20
	mult   float64 // 24
	lo, hi float64 // 32, 40: clamp bounds minus the zero point
	zero   int32   // 48
	mode   int32   // 52: 0 int32 output, 1 requantized 8-bit output
	_      uint64  // 56
	rows   int     // 64: output rows
	cols   int     // 72: output columns
	stride int     // 80
	ldi    int     // 88: padded input row stride
	mult32 float32 // 96: mode 2 constants (see f32Params)
	lo32   float32 // 100
	hi32   float32 // 104
	sub    int32   // 108
	c32    float32 // 112
}

// dwPerm[s-1] gathers, for stride s, bytes s·j, s·j+1, s·j+2 into lane j.
var dwPerm = func() (p [2][64]uint8) {
	for s := 1; s <= 2; s++ {
		for j := 0; j < 16; j++ {
			for t := 0; t < 4; t++ {
				v := s*j + t
				if t == 3 {
					v = s * j // its weight is zero
				}
				p[s-1][4*j+t] = uint8(v)
			}
		}
	}
	return p
}()

// packDWVNNI packs [M, 1, 3, 3] weights whose w − zero fits in int8, or
// returns nil.
func packDWVNNI(w *tensor.Tensor, wZero []int32) *dwVNNIW {
	if !useVNNI || !hasVBMI || w.Rank() != 4 || w.Shape[2] != 3 || w.Shape[3] != 3 {
		return nil
	}
	var flip int32
	if w.DType == tensor.Uint8 {
		flip = 128
	}
	for _, z := range wZero {
		if z != flip {
			return nil
		}
	}
	m := w.Shape[0]
	d := &dwVNNIW{w3: make([]int32, 3*m), wsum: make([]int32, m), wabs: make([]int64, m)}
	for c := 0; c < m; c++ {
		for ky := 0; ky < 3; ky++ {
			var word uint32
			for kx := 0; kx < 3; kx++ {
				h := int32(w.Int64At(c*9+ky*3+kx)) - flip
				word |= uint32(uint8(int8(h))) << (8 * kx)
				d.wsum[c] += h
				d.wabs[c] += int64(max(h, -h))
			}
			d.w3[3*c+ky] = int32(word)
		}
	}
	return d
}

// dwVNNIFits reports whether the geometry suits dwVNNI3x3.
func dwVNNIFits(g *convGeom) bool {
	if len(g.in) != 2 || g.kernel[0] != 3 || g.kernel[1] != 3 || g.dilations[0] != 1 || g.dilations[1] != 1 {
		return false
	}
	s := g.strides[0]
	return (s == 1 || s == 2) && g.strides[1] == s
}

// dwVNNI runs a 3×3 depthwise convolution with dwVNNI3x3.
func dwVNNI[T int8 | uint8](ctx *kernels.Ctx, g *convGeom, x []T, xZero int32, d *dwVNNIW, st *outputStage, y *tensor.Tensor) {
	ih, iw, oh, ow := g.in[0], g.in[1], g.out[0], g.out[1]
	s, ph, pw := g.strides[0], g.padBegin[0], g.padBegin[1]
	hp, wp := (oh-1)*s+3, (ow-1)*s+3
	// int8 input is flipped to uint8 (+128) while it is padded
	zx := xZero
	var flip uint8
	if isSigned[T]() {
		flip, zx = 0x80, xZero+128
	}
	mode := int32(1)
	if st.dt == tensor.Int32 || st.dt == tensor.Float32 {
		mode = 0
	}
	perIn := g.cout / g.group
	planes := g.n * g.cout
	zb := uint8(T(xZero)) ^ flip
	ctx.Parallel(planes, max(1, (1<<15)/(9*oh*ow)), func(lo, hi int) {
		// The padding is the same for every plane: fill it once.
		buf := make([]uint8, hp*wp+64)
		fillBytes(buf, zb)
		var acc []int32
		if st.dt == tensor.Float32 {
			acc = make([]int32, oh*ow)
		}
		args := dwArgs{perm: &dwPerm[s-1][0], lo: st.lo - st.zero, hi: st.hi - st.zero, zero: int32(st.zero),
			rows: oh, cols: ow, stride: s, ldi: wp}
		args.lo32, args.hi32, args.sub, args.c32 = f32Params(st)
		prev := -1
		for p := lo; p < hi; p++ {
			n, m := p/g.cout, p%g.cout
			if c := n*g.cin + m/perIn; c != prev {
				plane := x[c*ih*iw : (c+1)*ih*iw]
				pu := unsafe.Slice((*uint8)(unsafe.Pointer(&plane[0])), len(plane))
				// input rows and columns inside the padded plane
				c1, r1 := min(iw, wp-pw), min(ih, hp-ph)
				if c1 > 0 && r1 > 0 {
					_ = buf[(r1-1+ph)*wp+pw+c1-1]
					_ = pu[(r1-1)*iw+c1-1]
					padRows(&buf[ph*wp+pw], wp, &pu[0], iw, r1, c1, uint32(flip)*0x01010101)
				}
				prev = c
			}
			args.w = &d.w3[3*m]
			args.bias = -zx * d.wsum[m]
			if st.dt != tensor.Float32 {
				args.bias += st.biasAt(m)
			}
			args.mult = st.multAt(m)
			args.mult32 = float32(args.mult)
			args.mode = mode
			if mode == 1 && f32Fits(d.wabs[m], args.bias) {
				args.mode = 2
			}
			off := p * oh * ow
			var out *byte
			switch yd := y.Data.(type) {
			case []int8:
				out = (*byte)(unsafe.Pointer(&yd[off]))
			case []uint8:
				out = &yd[off]
			case []int32:
				out = (*byte)(unsafe.Pointer(&yd[off]))
			case []float32:
				out = (*byte)(unsafe.Pointer(&acc[0]))
			}
			dwVNNI3x3(&buf[0], out, &args)
			if acc != nil {
				st.channel(y, off, acc, m)
			}
		}
	})
}

// fillBytes sets every byte of b to v.
func fillBytes(b []uint8, v uint8) {
	if len(b) == 0 {
		return
	}
	b[0] = v
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}
