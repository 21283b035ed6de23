package image

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	for _, v := range []int64{16, 20, 22} {
		kernels.Register("", "GridSample", v, buildGridSample)
	}
	kernels.Register("", "AffineGrid", 20, buildAffineGrid)
}

// Padding modes of GridSample.
const (
	padZeros = iota
	padBorder
	padReflection
)

// gridSample is a compiled GridSample node. The grid holds normalized
// coordinates in [-1, 1], innermost spatial axis first (x, y[, z]).
type gridSample struct {
	mode         int
	padding      int
	alignCorners bool
	only2D       bool // opset 16 accepts 4-D inputs only
}

func buildGridSample(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &gridSample{alignCorners: a.Int("align_corners", 0) != 0, only2D: b.Opset < 20}
	def := "linear"
	if b.Opset < 20 {
		def = "bilinear"
	}
	switch m := a.String("mode", def); m {
	case "linear", "bilinear":
		k.mode = modeLinear
	case "nearest":
		k.mode = modeNearest
	case "cubic", "bicubic":
		k.mode = modeCubic
	default:
		return nil, b.Errorf("unknown mode %q", m)
	}
	switch p := a.String("padding_mode", "zeros"); p {
	case "zeros":
		k.padding = padZeros
	case "border":
		k.padding = padBorder
	case "reflection":
		k.padding = padReflection
	default:
		return nil, b.Errorf("unknown padding_mode %q", p)
	}
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("needs X and grid")
	}
	return k, nil
}

// reflect folds x into [lo, hi] by mirroring at the borders.
func reflect(x, lo, hi float32) float32 {
	rng := hi - lo
	if rng <= 0 {
		return lo
	}
	if x < lo {
		dx := lo - x
		n := int(dx / rng)
		r := dx - float32(n)*rng
		if n%2 == 0 {
			return lo + r
		}
		return hi - r
	}
	if x > hi {
		dx := x - hi
		n := int(dx / rng)
		r := dx - float32(n)*rng
		if n%2 == 0 {
			return hi - r
		}
		return lo + r
	}
	return x
}

// keysCubic fills c with the Keys cubic weights (A = -0.75) of the four
// taps around a point at fractional offset t from the second tap.
func keysCubic(c *[4]float32, t float32) {
	const A = -0.75
	t1, t2, t3 := t+1, 1-t, 2-t
	c[0] = ((A*t1-5*A)*t1+8*A)*t1 - 4*A
	c[1] = ((A+2)*t-(A+3))*t*t + 1
	c[2] = ((A+2)*t2-(A+3))*t2*t2 + 1
	c[3] = ((A*t3-5*A)*t3+8*A)*t3 - 4*A
}

// dimTaps are the input indices (-1: zero padding) and weights of one
// spatial axis for one sample point.
type dimTaps struct {
	n   int
	idx [4]int
	w   [4]float32
}

// taps computes the taps of normalized coordinate g along an axis of size
// d. Nearest rounds half to even (nearbyint), in 2-D and 3-D alike: the
// conformance data for volumetric inputs was generated that way.
func (k *gridSample) taps(t *dimTaps, g float32, d int) {
	fd := float32(d)
	var x, lo, hi float32
	if k.alignCorners {
		x = (g + 1) / 2 * (fd - 1)
		lo, hi = 0, fd-1
	} else {
		x = ((g+1)*fd - 1) / 2
		lo, hi = -0.5, fd-0.5
	}
	if k.mode == modeNearest {
		x = float32(math.RoundToEven(float64(x)))
	}
	if x < lo || x > hi {
		switch k.padding {
		case padBorder:
			x = min(max(x, 0), fd-1)
		case padReflection:
			x = reflect(x, lo, hi)
		}
	}
	fetch := func(i int) int {
		switch k.padding {
		case padZeros:
			if i < 0 || i >= d {
				return -1
			}
			return i
		case padReflection:
			i = int(reflect(float32(i), lo, hi))
		}
		return clampInt(i, 0, d-1)
	}
	if math.IsNaN(float64(x)) || x < -1e9 || x > 1e9 {
		// Far outside any sensible range: sample nothing (or the border).
		t.n, t.idx[0], t.w[0] = 1, fetch(-1<<30), 1
		if k.padding != padZeros && x > 0 {
			t.idx[0] = d - 1
		}
		return
	}
	switch k.mode {
	case modeNearest:
		t.n, t.idx[0], t.w[0] = 1, fetch(int(x)), 1
	case modeLinear:
		x0 := float32(math.Floor(float64(x)))
		f := x - x0
		t.n = 2
		t.idx[0], t.idx[1] = fetch(int(x0)), fetch(int(x0)+1)
		t.w[0], t.w[1] = 1-f, f
	case modeCubic:
		x0 := float32(math.Floor(float64(x)))
		t.n = 4
		keysCubic(&t.w, x-x0)
		for i := 0; i < 4; i++ {
			t.idx[i] = fetch(int(x0) - 1 + i)
		}
	}
}

func (k *gridSample) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x, grid := in[0], in[1]
	r := len(x.Shape)
	nd := r - 2
	if r < 3 || (k.only2D && r != 4) {
		return fmt.Errorf("X %v has an unsupported rank", x.Shape)
	}
	if len(grid.Shape) != r || grid.Shape[0] != x.Shape[0] || grid.Shape[r-1] != nd {
		return fmt.Errorf("grid %v does not match X %v (want [N, spatial..., %d])", grid.Shape, x.Shape, nd)
	}
	if !isFloat(x.DType) || !isFloat(grid.DType) {
		return kernels.Unsupported("GridSample", "dtypes %v, %v", x.DType, grid.DType)
	}
	n, c := x.Shape[0], x.Shape[1]
	dims := x.Shape[2:]
	outShape := append([]int{n, c}, grid.Shape[1:r-1]...)
	y, err := ctx.Alloc(x.DType, outShape)
	if err != nil {
		return err
	}
	out[0] = y
	if y.Len() == 0 {
		return nil
	}
	xf, err := f32(x)
	if err != nil {
		return err
	}
	gf, err := f32(grid)
	if err != nil {
		return err
	}
	yf := scratch(y)
	points := 1
	for _, d := range grid.Shape[1 : r-1] {
		points *= d
	}
	plane := 1
	for _, d := range dims {
		plane *= d
	}
	strides := tensor.Strides(dims)
	ctx.Parallel(n*points, max(1, 1024/max(c, 1)), func(lo, hi int) {
		t := make([]dimTaps, nd)
		var offs []int
		var ws []float32
		for np := lo; np < hi; np++ {
			b, p := np/points, np%points
			g := gf[np*nd : (np+1)*nd]
			for i := 0; i < nd; i++ {
				// grid components run x, y, z: the last axis first
				k.taps(&t[i], g[nd-1-i], dims[i])
			}
			// Expand the per-axis taps into flat offsets and weights.
			offs, ws = append(offs[:0], 0), append(ws[:0], 1)
			for i := 0; i < nd; i++ {
				m := len(offs)
				for j := 0; j < m; j++ {
					o, w := offs[j], ws[j]
					for q := 0; q < t[i].n; q++ {
						if o < 0 || t[i].idx[q] < 0 {
							if q == 0 {
								offs[j] = -1
							}
							continue
						}
						no, nw := o+t[i].idx[q]*strides[i], w*t[i].w[q]
						if q == 0 {
							offs[j], ws[j] = no, nw
						} else {
							offs, ws = append(offs, no), append(ws, nw)
						}
					}
				}
			}
			for ch := 0; ch < c; ch++ {
				src := xf[(b*c+ch)*plane : (b*c+ch+1)*plane]
				var acc float32
				for j, o := range offs {
					if o >= 0 {
						acc += ws[j] * src[o]
					}
				}
				yf[(b*c+ch)*points+p] = acc
			}
		}
	})
	store(y, yf)
	return nil
}

// affineGrid is a compiled AffineGrid node: it maps a regular grid of
// normalized output coordinates through per-batch affine matrices.
type affineGrid struct{ alignCorners bool }

func buildAffineGrid(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("needs theta and size")
	}
	return &affineGrid{alignCorners: b.Attrs().Int("align_corners", 0) != 0}, nil
}

// linspace returns the normalized coordinates of n pixels.
func (k *affineGrid) linspace(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		if k.alignCorners {
			if n > 1 {
				v[i] = -1 + float64(i)*2/float64(n-1)
			} else {
				v[i] = -1
			}
		} else {
			v[i] = -1 + float64(2*i+1)/float64(n)
		}
	}
	return v
}

func (k *affineGrid) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	theta, sizeT := in[0], in[1]
	if !isFloat(theta.DType) {
		return kernels.Unsupported("AffineGrid", "dtype %v", theta.DType)
	}
	size := sizeT.Int64Values()
	if len(size) != 4 && len(size) != 5 {
		return fmt.Errorf("size %v must have 4 or 5 values", size)
	}
	nd := len(size) - 2
	n := int(size[0])
	if len(theta.Shape) != 3 || theta.Shape[0] != n || theta.Shape[1] != nd || theta.Shape[2] != nd+1 {
		return fmt.Errorf("theta %v must be [%d,%d,%d]", theta.Shape, n, nd, nd+1)
	}
	spatial := make([]int, nd)
	for i, s := range size[2:] {
		if s <= 0 || s > int64(tensor.MaxElements) {
			return fmt.Errorf("invalid size %v", size)
		}
		spatial[i] = int(s)
	}
	outShape := append(append([]int{n}, spatial...), nd)
	y, err := ctx.Alloc(theta.DType, outShape)
	if err != nil {
		return err
	}
	tf := floats(theta)
	// Base coordinates per axis, innermost (x) first in the output vector.
	axes := make([][]float64, nd)
	for i := range axes {
		axes[i] = k.linspace(spatial[nd-1-i])
	}
	points := 1
	for _, s := range spatial {
		points *= s
	}
	yf := scratch(y)
	base := make([]float64, nd+1)
	base[nd] = 1
	coord := make([]int, nd)
	for b := 0; b < n; b++ {
		th := tf[b*nd*(nd+1) : (b+1)*nd*(nd+1)]
		clear(coord)
		for p := 0; p < points; p++ {
			for i := 0; i < nd; i++ {
				base[i] = axes[i][coord[nd-1-i]]
			}
			o := yf[(b*points+p)*nd : (b*points+p+1)*nd]
			for r := 0; r < nd; r++ {
				var acc float64
				for j, v := range base {
					acc += th[r*(nd+1)+j] * v
				}
				o[r] = float32(acc)
			}
			for a := nd - 1; a >= 0; a-- {
				coord[a]++
				if coord[a] < spatial[a] {
					break
				}
				coord[a] = 0
			}
		}
	}
	store(y, yf)
	out[0] = y
	return nil
}
