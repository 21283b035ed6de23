package gemm

import "math"

// ParallelFor runs fn over [0,n) split into contiguous chunks of at least
// grain items, possibly concurrently, and returns when all are done. The
// method value of kernels.Ctx.Parallel has this type.
type ParallelFor func(n, grain int, fn func(lo, hi int))

// Activation selects the element-wise function applied by an Epilogue.
type Activation uint8

const (
	// ActNone applies no activation.
	ActNone Activation = iota
	// ActReLU is max(x, 0).
	ActReLU
	// ActClip is min(max(x, Epilogue.Min), Epilogue.Max) (ReLU6 is Min=0, Max=6).
	ActClip
)

// Epilogue is applied to each element of C after the product is formed,
// while the tile is still in registers:
//
//	C[i,j] = act(alpha*(A·B)[i,j] + beta*C[i,j] + RowBias[i] + ColBias[j])
//
// A nil bias is skipped. RowBias (length ≥ m) fits Conv lowered to
// W[Cout×K]·im2col[K×HW], where the bias is per output channel; ColBias
// (length ≥ n) fits Gemm/MatMul x[M×K]·W[K×N].
type Epilogue struct {
	RowBias []float32
	ColBias []float32
	Act     Activation
	// Min and Max bound ActClip.
	Min, Max float32
}

// Options tunes a GEMM call. The zero value (or a nil *Options) means one
// thread and no epilogue.
type Options struct {
	// Parallel, if set, splits the work over M or N blocks.
	Parallel ParallelFor
	// Epilogue is fused into the store of C.
	Epilogue Epilogue
}

// kparams is what the micro-kernels read besides their operands. Its
// layout is mirrored by the assembly (see the P_* offsets there and
// TestKparamsLayout).
type kparams struct {
	rowBias *float32 // mr values for this tile's rows (flagRowBias)
	colBias *float32 // nr values for this tile's columns (flagColBias)
	flags   uint32
	rows    uint32 // rows of the tile to store, 1..mr
	mask0   uint32 // AVX-512: lanes of columns 0..15 to store
	mask1   uint32 // AVX-512: lanes of columns 16..31 to store
	alpha   float32
	beta    float32
	lo, hi  float32 // clip bounds (flagClip)
	cols    uint32  // columns of the tile to store, 1..nr
	_       uint32
	ldb     int    // row stride of B for the direct (unpacked B) kernels
	off     *int32 // row offsets of B for the indirect kernels
	idx     *int32 // the pixel kernels' 16 channel offsets (i·ldy)
}

const (
	flagAlpha   = 1 << 0 // acc *= alpha
	flagLoadC   = 1 << 1 // acc += beta*C
	flagRowBias = 1 << 2 // acc += rowBias[r]
	flagColBias = 1 << 3 // acc += colBias[j]
	flagClip    = 1 << 4 // acc = min(max(acc, lo), hi)
)

// epilogueFlags returns the flags and clip bounds for e.
func epilogueFlags(e *Epilogue) (flags uint32, lo, hi float32) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if e.RowBias != nil {
		flags |= flagRowBias
	}
	if e.ColBias != nil {
		flags |= flagColBias
	}
	switch e.Act {
	case ActReLU:
		flags |= flagClip
		lo = 0
	case ActClip:
		flags |= flagClip
		lo, hi = e.Min, e.Max
	}
	return
}

// finish applies the epilogue part of p (bias and clip) to v at tile
// position (r, j).
func finish(v float32, r, j int, p *kparams, rb, cb []float32) float32 {
	if p.flags&flagRowBias != 0 {
		v += rb[r]
	}
	if p.flags&flagColBias != 0 {
		v += cb[j]
	}
	if p.flags&flagClip != 0 {
		// Written so that NaN stays NaN, like VMAXPS/VMINPS with the
		// accumulator as second source.
		if v < p.lo {
			v = p.lo
		}
		if v > p.hi {
			v = p.hi
		}
	}
	return v
}
