package quant

import (
	"sync"
	"unsafe"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// Convolution with the VNNI kernels, transposed with respect to the GEMM
// API: output channels are the rows (8 per tile, weights broadcast as the
// signed operand) and output pixels the columns (32 per tile, the unsigned
// operand), so a tile row is a run of one NCHW output channel and the
// kernel requantizes it and stores bytes directly (convVNNI8x32): int32
// results never leave the registers.
//
// Per image and group: the input patches as K rows of pixels (the input
// plane itself for a 1×1 stride-1 unpadded convolution, else an im2col
// into scratch, padded with the input zero point), interleaved into
// 32-pixel panels by packPixelsVNNI (flipping int8 input to uint8), then
// one kernel call per panel and block of 8 channels.
//
// With x̂ = x (+128 for int8 x), ŵ = w − zw (int8), zx' = zx (+128):
//
//	Σ (x − zx)(w − zw) = Σ x̂·ŵ − zx'·Σŵ
//
// so the zero points reduce to a per-channel bias. This needs ŵ to fit in
// int8: int8 weights with zero point 0 (symmetric quantisation, what ONNX
// Runtime emits) or uint8 weights with zero point 128. Other weights use
// the GEMM route.

// vnniConvW is a convolution's weights in the VNNI tile layout.
type vnniConvW struct {
	k, k4, cb int    // per group: patch length, ceil(k/4), ceil(ng/8)
	data      []int8 // group × cb × k4 × 32 bytes (8 channels × 4 k values)
	wsum      []int32
	wabs      []int64 // Σ|ŵ| per channel (bounds the accumulators)
}

// packVNNIConv packs weights [M, C/g, k...] (w − zero must fit in int8)
// or returns nil.
func packVNNIConv(w *tensor.Tensor, wZero []int32, group int) *vnniConvW {
	if !useVNNI || w.Rank() > 4 {
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
	ng, k := m/group, product(w.Shape[1:])
	v := &vnniConvW{k: k, k4: (k + 3) / 4, cb: (ng + 7) / 8, wsum: make([]int32, m), wabs: make([]int64, m)}
	v.data = make([]int8, group*v.cb*v.k4*32)
	for c := 0; c < m; c++ {
		gr, cc := c/ng, c%ng
		blk := v.data[(gr*v.cb+cc/8)*v.k4*32:]
		var s int32
		for p := 0; p < k; p++ {
			h := int32(w.Int64At(c*k+p)) - flip
			blk[p/4*32+cc%8*4+p%4] = int8(h)
			s += h
			v.wabs[c] += int64(max(h, -h))
		}
		v.wsum[c] = s
	}
	return v
}

// convVNNI runs a 1-D or 2-D convolution with packed VNNI weights.
//
// The GEMM's columns come from one of three sources, all read through a
// table of row offsets (one per patch element):
//
//   - direct: a 1×1, stride-1, unpadded convolution reads the input
//     planes themselves;
//   - grid: a stride-1 convolution pads the input planes once (border of
//     zero points, scratch) and computes the outputs on the oh × Wp grid
//     of the padded width: patch element (c, ky, kx) of grid position
//     oy·Wp + x is then padded[c][oy + ky·dh][x + kx·dw], so every patch
//     row is a contiguous run of the padded input at a fixed offset and no
//     im2col is needed; the kernel writes the grid into scratch and the
//     Wp − ow junk columns are dropped when copying to y;
//   - im2col: other convolutions write the patches transposed (K rows of
//     pixels) into scratch.
func convVNNI[T int8 | uint8](ctx *kernels.Ctx, g *convGeom, x []T, xZero int32, w *packedConvWeights, st *outputStage, y *tensor.Tensor) error {
	vn := w.vn
	mpix, k := g.m, g.k
	var flip uint32
	zx := xZero
	if isSigned[T]() {
		flip, zx = 0x80808080, xZero+128
	}
	// per channel (padded to blocks of 8 per group): bias and multiplier
	nb := g.group * vn.cb * 8
	bias := make([]int32, nb)
	mult := make([]float64, nb)
	mult32 := make([]float32, nb)
	fits := make([]bool, nb)
	mode := int32(1)
	switch st.dt {
	case tensor.Int32, tensor.Float32:
		mode = 0
	}
	for c := 0; c < g.cout; c++ {
		i := c/g.ng*vn.cb*8 + c%g.ng
		bias[i] = -zx * vn.wsum[c]
		if st.dt != tensor.Float32 {
			bias[i] += st.biasAt(c)
		}
		mult[i] = st.multAt(c)
		mult32[i] = float32(mult[i]) // exact: a float32 widened
		fits[i] = f32Fits(vn.wabs[c], bias[i])
	}
	// a tile of 8 channels uses the float32 epilogue if all of them can
	tileF32 := make([]bool, nb/8)
	for b := range tileF32 {
		tileF32[b] = mode == 1
		for _, f := range fits[8*b : 8*b+8] {
			tileF32[b] = tileF32[b] && f
		}
	}
	lo32, hi32, sub, c32 := f32Params(st)

	sp := len(g.in)
	ih, iw, oh, ow, kh, kw := 1, g.in[sp-1], 1, g.out[sp-1], 1, g.kernel[sp-1]
	sh, sw, dh, dw, ph, pw := 1, g.strides[sp-1], 1, g.dilations[sp-1], 0, g.padBegin[sp-1]
	if sp == 2 {
		ih, oh, kh, sh, dh, ph = g.in[0], g.out[0], g.kernel[0], g.strides[0], g.dilations[0], g.padBegin[0]
	}
	cg := g.cin / g.group
	direct := kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && oh == ih && ow == iw
	grid := !direct && sh == 1 && sw == 1 && st.dt != tensor.Float32
	hp, wp := oh+(kh-1)*dh, ow+(kw-1)*dw // grid: padded plane
	// gathered grid: the columns are the output pixels themselves, each
	// panel of 32 picked from a 64-byte window of the grid (VPERMB), so no
	// junk columns are computed and results go straight to y
	var gidx []uint8
	if grid && hasVBMI {
		gidx = gatherIndex(mpix, ow, wp)
	}
	ncols := mpix // GEMM columns: pixels, or grid positions
	if grid && gidx == nil {
		ncols = oh * wp
	}
	np := (ncols + vnniNR - 1) / vnniNR
	k4 := vn.k4
	offs := make([]int, 4*k4)
	for r := range offs {
		switch {
		case r >= k:
			offs[r] = offs[0] // its weights are zero
		case grid:
			c, t := r/(kh*kw), r%(kh*kw)
			offs[r] = c*hp*wp + t/kw*dh*wp + t%kw*dw
		default:
			offs[r] = r * mpix
		}
	}
	var scratch []*tensor.Tensor
	alloc := func(dt tensor.DType, n int) (*tensor.Tensor, error) {
		t, err := allocUninit(ctx, dt, []int{n})
		if err == nil {
			scratch = append(scratch, t)
		}
		return t, err
	}
	defer func() {
		for _, t := range scratch {
			ctx.Free(t)
		}
	}()
	var src []uint8 // the column source of the current image and group
	switch {
	case grid:
		t, err := alloc(tensor.Uint8, cg*hp*wp+wp+128)
		if err != nil {
			return err
		}
		src = t.Data.([]uint8)
		fillBytes(src, uint8(T(xZero)))
	case !direct:
		t, err := alloc(tensor.Uint8, k*mpix)
		if err != nil {
			return err
		}
		src = t.Data.([]uint8)
	}
	// grid output, or int32 results of a float output: scratch rows
	var gout *tensor.Tensor
	ldo := mpix
	if (grid && gidx == nil) || st.dt == tensor.Float32 {
		dt := tensor.Uint8
		if mode == 0 {
			dt = tensor.Int32
		}
		ldo = np * vnniNR
		var err error
		if gout, err = alloc(dt, g.ng*ldo); err != nil {
			return err
		}
	}
	// panels may read 32 columns from every row when this holds
	fullTo := ncols
	if grid {
		fullTo = np * vnniNR
	}
	if gidx != nil {
		// windows of 64 bytes from the last panel's first grid position
		fullTo = gridPos(mpix, ow, wp, (np-1)*vnniNR) + 64
	}
	if len(src) > 0 || direct {
		// the assembly packer reads 32 bytes at src[j0+offs[p]] for full panels
		need := fullTo
		for _, o := range offs {
			need = max(need, o+fullTo)
		}
		if have := len(src); direct {
			have = cg * inSizeOf(g)
			if need > have {
				panic("quant: VNNI conv source too short")
			}
		} else if need > have {
			panic("quant: VNNI conv source too short")
		}
	}
	th := ctx.Threads()
	chunks := 1
	if np < 4*th {
		chunks = min(vn.cb, (4*th+np-1)/np)
	}
	per := (vn.cb + chunks - 1) / chunks
	small := ncols*g.ng*k < 1<<16
	inSize := product(g.in)
	for n := 0; n < g.n; n++ {
		for gr := 0; gr < g.group; gr++ {
			xi := x[(n*g.cin+gr*cg)*inSize : (n*g.cin+(gr+1)*cg)*inSize]
			xu := unsafe.Slice((*uint8)(unsafe.Pointer(&xi[0])), len(xi))
			switch {
			case direct:
				src = xu
			case grid:
				// interior rows of the padded planes (the border keeps the
				// zero point)
				c1, r1 := min(iw, wp-pw), min(ih, hp-ph)
				if c1 > 0 && r1 > 0 {
					for c := 0; c < cg; c++ {
						_ = src[c*hp*wp+(r1-1+ph)*wp+pw+c1-1]
						_ = xu[c*ih*iw+(r1-1)*iw+c1-1]
						padRows(&src[c*hp*wp+ph*wp+pw], wp, &xu[c*ih*iw], iw, r1, c1, 0)
					}
				}
			default:
				colT := unsafe.Slice((*T)(unsafe.Pointer(&src[0])), k*mpix)
				im2colT(ctx, g, xi, T(xZero), colT)
			}
			// Each worker packs the pixel panel of its tiles into its own
			// buffer (kept in L1 for the channel blocks that use it).
			tile := func(t int, panel []uint8, packed *int) {
				q, b0 := t/chunks, t%chunks*per
				if *packed != q {
					if gidx != nil {
						_ = panel[len(offs)/4*128-1]
						j0 := gridPos(mpix, ow, wp, q*vnniNR)
						_ = src[j0+offs[len(offs)-1]+63]
						packPixelsGatherVNNI(&src[j0], &offs[0], len(offs)/4, &panel[0], flip, &gidx[q*vnniNR])
					} else {
						packPanel(src, offs, k, q*vnniNR, min(vnniNR, ncols-q*vnniNR), q*vnniNR+vnniNR <= fullTo, panel, flip)
					}
					*packed = q
				}
				b1 := min(b0+per, vn.cb)
				var args convArgs
				args.lo, args.hi = st.lo-st.zero, st.hi-st.zero
				args.lo32, args.hi32, args.sub, args.c32 = lo32, hi32, sub, c32
				args.zero = int32(st.zero)
				args.mask0, args.mask1 = colMasks(ncols - q*vnniNR)
				for b := b0; b < b1; b++ {
					ch := b * 8 // within the group
					args.rows = min(8, g.ng-ch)
					pi := (gr*vn.cb + b) * 8
					args.bias = &bias[pi]
					args.mult = &mult[pi]
					args.mult32 = &mult32[pi]
					args.mode = mode
					if tileF32[pi/8] {
						args.mode = 2
					}
					row := (n*g.cout+gr*g.ng+ch)*mpix + q*vnniNR
					var out *byte
					if gout != nil {
						switch od := gout.Data.(type) {
						case []uint8:
							out = &od[ch*ldo+q*vnniNR]
						case []int32:
							out = (*byte)(unsafe.Pointer(&od[ch*ldo+q*vnniNR]))
						}
					} else {
						switch yd := y.Data.(type) {
						case []int8:
							out = (*byte)(unsafe.Pointer(&yd[row]))
						case []uint8:
							out = &yd[row]
						case []int32:
							out = (*byte)(unsafe.Pointer(&yd[row]))
						}
					}
					convVNNI8x32(k4, &vn.data[(gr*vn.cb+b)*k4*32], &panel[0], out, ldo, &args)
				}
			}
			work := func(lo, hi int) {
				bp := panelPool.Get().(*[]uint8)
				if cap(*bp) < k4*128 {
					*bp = make([]uint8, k4*128)
				}
				panel := (*bp)[:k4*128]
				packed := -1
				for t := lo; t < hi; t++ {
					tile(t, panel, &packed)
				}
				panelPool.Put(bp)
			}
			if small || th == 1 {
				work(0, np*chunks)
			} else {
				ctx.Parallel(np*chunks, 1, work)
			}
			if gout != nil {
				off := (n*g.cout + gr*g.ng) * mpix
				ctx.Parallel(g.ng, max(1, (1<<14)/mpix), func(lo, hi int) {
					for c := lo; c < hi; c++ {
						copyOut(st, y, off+c*mpix, gout, c*ldo, grid, oh, ow, wp, gr*g.ng+c)
					}
				})
			}
		}
	}
	return nil
}

// panelPool holds the workers' pixel panel buffers.
var panelPool = sync.Pool{New: func() any { return new([]uint8) }}

// copyOut moves one channel's results from scratch (at element so of
// gout) to y at element off: grid rows lose their junk columns, int32
// results of a float output go through the output stage.
func copyOut(st *outputStage, y *tensor.Tensor, off int, gout *tensor.Tensor, so int, grid bool, oh, ow, wp, c int) {
	switch od := gout.Data.(type) {
	case []uint8:
		var yd []uint8
		switch v := y.Data.(type) {
		case []uint8:
			yd = v
		case []int8:
			yd = unsafe.Slice((*uint8)(unsafe.Pointer(&v[0])), len(v))
		}
		for oy := 0; oy < oh; oy++ {
			copy(yd[off+oy*ow:off+(oy+1)*ow], od[so+oy*wp:])
		}
	case []int32:
		if !grid {
			st.channel(y, off, od[so:so+oh*ow], c)
			return
		}
		yd := y.Data.([]int32) // grid is not used for float output
		for oy := 0; oy < oh; oy++ {
			copy(yd[off+oy*ow:off+(oy+1)*ow], od[so+oy*wp:])
		}
	}
}

// gridPos is the position of output pixel j (of m, ow per row) on the
// grid of width wp; j = m maps one past the last pixel.
func gridPos(m, ow, wp, j int) int {
	if j >= m {
		return (m-1)/ow*wp + (m-1)%ow + 1
	}
	return j/ow*wp + j%ow
}

// gatherIndex returns, for every panel of 32 output pixels (m pixels,
// ow per row, rows wp apart on the grid), the offsets of its pixels from
// the panel's first grid position (32 bytes per panel, plus 32 bytes of
// slack for the 64-byte index load), or nil if a panel spans more than
// 64 grid positions.
func gatherIndex(m, ow, wp int) []uint8 {
	np := (m + vnniNR - 1) / vnniNR
	idx := make([]uint8, np*vnniNR+32)
	for q := 0; q < np; q++ {
		b := gridPos(m, ow, wp, q*vnniNR)
		for t := 0; t < vnniNR && q*vnniNR+t < m; t++ {
			d := gridPos(m, ow, wp, q*vnniNR+t) - b
			if d >= 64 {
				return nil
			}
			idx[q*vnniNR+t] = uint8(d)
		}
	}
	return idx
}

// packPanel interleaves columns [j0, j0+nc) of the k rows of src (row p
// at src[offs[p]:]) into dst (ceil(k/4) groups of 128 bytes), XORing with
// flip. full says that 32 columns may be read from every row (the
// assembly packer); otherwise nc columns are packed in Go and the others
// keep their stale values (their outputs are not stored).
func packPanel(src []uint8, offs []int, k, j0, nc int, full bool, dst []uint8, flip uint32) {
	if full {
		_ = dst[len(offs)/4*128-1]
		packPixelsVNNI(&src[j0], &offs[0], len(offs)/4, &dst[0], flip)
		return
	}
	fb := uint8(flip)
	for p := 0; p < k; p++ {
		row := src[offs[p]+j0 : offs[p]+j0+nc]
		d := dst[p/4*128+p%4:]
		for j, v := range row {
			d[4*j] = v ^ fb
		}
	}
}

// im2colT writes the input patches of a 1-D or 2-D convolution
// transposed: row (c, ky, kx) of col holds, for every output pixel, the
// input value that tap sees (the zero point outside the image).
func im2colT[T int8 | uint8](ctx *kernels.Ctx, g *convGeom, x []T, zp T, col []T) {
	sp := len(g.in)
	ih, iw, oh, ow, kh, kw := 1, g.in[sp-1], 1, g.out[sp-1], 1, g.kernel[sp-1]
	sh, sw, dh, dw, ph, pw := 1, g.strides[sp-1], 1, g.dilations[sp-1], 0, g.padBegin[sp-1]
	if sp == 2 {
		ih, oh, kh, sh, dh, ph = g.in[0], g.out[0], g.kernel[0], g.strides[0], g.dilations[0], g.padBegin[0]
	}
	m := oh * ow
	ctx.Parallel(g.k, max(1, (1<<15)/max(1, m)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c, t := r/(kh*kw), r%(kh*kw)
			ky, kx := t/kw, t%kw
			plane := x[c*ih*iw : (c+1)*ih*iw]
			row := col[r*m : (r+1)*m]
			x0 := kx*dw - pw
			c0 := 0
			if x0 < 0 {
				c0 = min(ow, (-x0+sw-1)/sw)
			}
			c1 := 0
			if iw-1-x0 >= 0 {
				c1 = min(ow, (iw-1-x0)/sw+1)
			}
			c1 = max(c1, c0)
			for oy := 0; oy < oh; oy++ {
				dst := row[oy*ow : (oy+1)*ow]
				iy := oy*sh - ph + ky*dh
				if iy < 0 || iy >= ih {
					for i := range dst {
						dst[i] = zp
					}
					continue
				}
				line := plane[iy*iw : (iy+1)*iw]
				for i := 0; i < c0; i++ {
					dst[i] = zp
				}
				for i := c1; i < ow; i++ {
					dst[i] = zp
				}
				if sw == 1 {
					copy(dst[c0:c1], line[x0+c0:x0+c1])
					continue
				}
				ox := c0
				if sw == 2 && hasVNNI {
					// 32 outputs read 64 bytes from x0+2·ox on
					chunks := min(c1-c0, (iw-(x0+2*c0))/2) / 32
					if chunks > 0 {
						du := unsafe.Slice((*uint8)(unsafe.Pointer(&dst[0])), len(dst))
						lu := unsafe.Slice((*uint8)(unsafe.Pointer(&line[0])), len(line))
						_ = lu[x0+2*c0+64*chunks-1]
						_ = du[c0+32*chunks-1]
						gather2(&du[c0], &lu[x0+2*c0], chunks)
						ox += 32 * chunks
					}
				}
				for ; ox < c1; ox++ {
					dst[ox] = line[x0+ox*sw]
				}
			}
		}
	})
}

// inSizeOf is the number of elements of one input plane.
func inSizeOf(g *convGeom) int { return product(g.in) }

// allocUninit is ctx.Alloc without zeroing when the allocator offers that
// (the runtime's does): for buffers written in full before being read.
func allocUninit(ctx *kernels.Ctx, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if ctx != nil {
		if a, ok := ctx.Allocator.(interface {
			AllocUninit(tensor.DType, []int) (*tensor.Tensor, error)
		}); ok {
			return a.AllocUninit(dt, shape)
		}
	}
	return ctx.Alloc(dt, shape)
}
