package shape

import (
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// copyPlan describes a gather of src elements into a contiguous dst:
// dst[i0, i1, ...] = src[off + i0*strides[0] + i1*strides[1] + ...].
// Strides may be zero (broadcast) or negative (reversed slices). Transpose,
// Slice, Expand, Tile, DepthToSpace and SpaceToDepth are all such copies.
type copyPlan struct {
	shape   []int // coalesced output dims, outermost first
	strides []int // source stride of each dim
	off     int   // source offset of dst element 0
	n       int   // number of elements
}

// minParallel is the element count below which copies stay on one thread:
// under it, waking workers costs more than the copy.
const minParallel = 1 << 15

// tile is the edge of the square blocks transposed at a time; 32x32
// elements of up to 8 bytes fit L1 twice over.
const tile = 32

// newCopyPlan simplifies (shape, strides): size-1 dims are dropped and a
// dim is merged into its inner neighbour when the pair is contiguous in
// the source, so a permutation of an NCHW tensor becomes a 2-D or 3-D
// problem and a no-op permutation a single row copy.
func newCopyPlan(shape, strides []int, off int) *copyPlan {
	p := &copyPlan{off: off, n: 1}
	for _, d := range shape {
		p.n *= d
	}
	if p.n == 0 {
		return p
	}
	for i, d := range shape {
		if d == 1 {
			continue
		}
		k := len(p.shape) - 1
		if k >= 0 && p.strides[k] == strides[i]*d {
			p.shape[k] *= d
			p.strides[k] = strides[i]
			continue
		}
		p.shape = append(p.shape, d)
		p.strides = append(p.strides, strides[i])
	}
	return p
}

// copyImpl dispatches copyPlan.run on the storage width.
var copyImpl = instantiate(runCopy[uint8], runCopy[uint16], runCopy[uint32], runCopy[uint64], runCopy[string])

type copyArgs struct {
	ctx      *kernels.Ctx
	p        *copyPlan
	dst, src any
}

// run executes the plan from src into dst (both tensors' Data, same dtype).
func (p *copyPlan) run(ctx *kernels.Ctx, dt tensor.DType, dst, src any) error {
	return copyImpl.call(dt, copyArgs{ctx, p, dst, src})
}

func runCopy[T word](a copyArgs) error {
	p := a.p
	dst, src := view[T](a.dst), view[T](a.src)
	if p.n == 0 {
		return nil
	}
	r := len(p.shape)
	if r == 0 {
		dst[0] = src[p.off]
		return nil
	}
	inner, istr := p.shape[r-1], p.strides[r-1]
	if istr != 0 && istr != 1 && inner >= 4 {
		for j := 0; j < r-1; j++ {
			if p.strides[j] == 1 && p.shape[j] >= 4 {
				transposeTiles(a.ctx, p, j, dst, src)
				return nil
			}
		}
	}
	rows := p.n / inner
	grain := max(1, minParallel/inner)
	a.ctx.Parallel(rows, grain, func(lo, hi int) {
		copyRows(p, lo, hi, dst, src)
	})
	return nil
}

// copyRows copies output rows [lo, hi) (a row is the innermost dim).
func copyRows[T word](p *copyPlan, lo, hi int, dst, src []T) {
	r := len(p.shape)
	inner, istr := p.shape[r-1], p.strides[r-1]
	oshape, ostr := p.shape[:r-1], p.strides[:r-1]
	// Odometer over the outer dims, started at row lo.
	idx := make([]int, len(oshape))
	base := p.off
	rem := lo
	for k := len(oshape) - 1; k >= 0; k-- {
		idx[k] = rem % oshape[k]
		rem /= oshape[k]
		base += idx[k] * ostr[k]
	}
	o := lo * inner
	for row := lo; row < hi; row++ {
		d := dst[o : o+inner]
		switch istr {
		case 1:
			copy(d, src[base:base+inner])
		case 0:
			v := src[base]
			for i := range d {
				d[i] = v
			}
		default:
			s := base
			for i := range d {
				d[i] = src[s]
				s += istr
			}
		}
		o += inner
		for k := len(oshape) - 1; k >= 0; k-- {
			idx[k]++
			base += ostr[k]
			if idx[k] < oshape[k] {
				break
			}
			base -= idx[k] * ostr[k]
			idx[k] = 0
		}
	}
}

// transposeTiles handles plans whose innermost source stride is not 1
// while dim j is contiguous in the source: the (j, last) plane is copied
// in tile x tile blocks so both the reads and the writes stay in cache.
func transposeTiles[T word](ctx *kernels.Ctx, p *copyPlan, j int, dst, src []T) {
	r := len(p.shape)
	nj, nl, sl := p.shape[j], p.shape[r-1], p.strides[r-1]
	dstStr := tensor.Strides(p.shape)
	dj := dstStr[j]
	// The remaining ("outer") dims, with their strides in src and dst.
	var oshape, osrc, odst []int
	for k := 0; k < r-1; k++ {
		if k != j {
			oshape = append(oshape, p.shape[k])
			osrc = append(osrc, p.strides[k])
			odst = append(odst, dstStr[k])
		}
	}
	outer := product(oshape)
	jblocks := (nj + tile - 1) / tile
	units := outer * jblocks
	grain := max(1, minParallel/(tile*nl))
	if p.n < minParallel {
		grain = units
	}
	ctx.Parallel(units, grain, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			o, jb := u/jblocks, u%jblocks
			sbase, dbase := p.off, 0
			for k := len(oshape) - 1; k >= 0; k-- {
				i := o % oshape[k]
				o /= oshape[k]
				sbase += i * osrc[k]
				dbase += i * odst[k]
			}
			j0 := jb * tile
			j1 := min(j0+tile, nj)
			for l0 := 0; l0 < nl; l0 += tile {
				transposeBlock(dst, src, dbase+j0*dj, dj, sbase+j0, sl, j1-j0, l0, min(l0+tile, nl))
			}
		}
	})
}

// transposeBlock copies an nj x (l1-l0) block whose source rows (one per
// l, sl apart) are contiguous over j into destination rows (one per j, dj
// apart) contiguous over l. Eight source rows are read together so that
// each destination row gets eight adjacent elements (a 32-byte run of
// float32) per visit: fewer partial cache-line writes, and still few
// enough streams for the cache's associativity with power-of-two strides.
func transposeBlock[T word](dst, src []T, dbase, dj, sbase, sl, nj, l0, l1 int) {
	l := l0
	for ; l+8 <= l1; l += 8 {
		s := sbase + l*sl
		s0 := src[s : s+nj]
		s1 := src[s+sl : s+sl+nj]
		s2 := src[s+2*sl : s+2*sl+nj]
		s3 := src[s+3*sl : s+3*sl+nj]
		s4 := src[s+4*sl : s+4*sl+nj]
		s5 := src[s+5*sl : s+5*sl+nj]
		s6 := src[s+6*sl : s+6*sl+nj]
		s7 := src[s+7*sl : s+7*sl+nj]
		d := dbase + l
		for j, v := range s0 {
			o := dst[d : d+8 : d+8]
			o[0], o[1], o[2], o[3] = v, s1[j], s2[j], s3[j]
			o[4], o[5], o[6], o[7] = s4[j], s5[j], s6[j], s7[j]
			d += dj
		}
	}
	for ; l < l1; l++ {
		s := sbase + l*sl
		d := dbase + l
		for _, v := range src[s : s+nj] {
			dst[d] = v
			d += dj
		}
	}
}
