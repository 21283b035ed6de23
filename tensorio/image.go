package tensorio

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // register decoders for image.Decode
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"
	"strings"

	"github.com/edgedl/edgedl/tensor"
)

// ImageOptions say how an image becomes a tensor. The zero value gives a
// float32 [1,3,H,W] tensor of the image at its own size with values in [0,1].
type ImageOptions struct {
	// Width and Height resize the image exactly (bilinear, antialiased when
	// shrinking, like PIL's BILINEAR). 0 keeps the size.
	Width, Height int
	// ShortSide, if positive and Width/Height are 0, resizes so that the
	// shorter side has this length, keeping the aspect ratio (torchvision's
	// Resize(int)).
	ShortSide int
	// CropWidth and CropHeight, if positive, cut a centred window out of the
	// (resized) image (torchvision's CenterCrop).
	CropWidth, CropHeight int
	// Channels is 1 (grayscale, ITU-R 601-2 luma), 3 (RGB, the default)
	// or 4 (RGBA, not premultiplied).
	Channels int
	// Scale divides the 0..255 pixel values first (0 means 255).
	Scale float32
	// Mean and Std normalise each channel after scaling: (v/Scale-Mean)/Std.
	// One value applies to every channel; nil means 0 and 1.
	Mean, Std []float32
	// Layout is "nchw" (the default) or "nhwc".
	Layout string
	// DType is Float32 (the default) or Uint8 (raw rounded pixel values;
	// Scale, Mean and Std are ignored).
	DType tensor.DType
	// NoBatch drops the leading batch dimension of 1.
	NoBatch bool
}

// LoadImage decodes a PNG, JPEG or GIF file; errors name the file.
func LoadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := DecodeImage(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// DecodeImage decodes a PNG, JPEG or GIF image.
func DecodeImage(r io.Reader) (image.Image, error) {
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("tensorio: decoding image: %w", err)
	}
	return img, nil
}

// planes holds an image as float32 channel planes of 0..255 values.
type planes struct {
	w, h int
	c    [][]float32
}

// toPlanes converts img to n channel planes (1: luma, 3: RGB, 4: RGBA).
func toPlanes(img image.Image, n int) planes {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	p := planes{w: w, h: h, c: make([][]float32, n)}
	for i := range p.c {
		p.c[i] = make([]float32, w*h)
	}
	set := func(i int, r, g, bl, a float32) {
		if n == 1 {
			// ITU-R 601-2 luma, rounded to 8 bits as PIL's convert("L").
			p.c[0][i] = float32(math.Round(float64(0.299*r + 0.587*g + 0.114*bl)))
			return
		}
		p.c[0][i], p.c[1][i], p.c[2][i] = r, g, bl
		if n == 4 {
			p.c[3][i] = a
		}
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				f := float32(v)
				if n == 1 {
					p.c[0][y*w+x] = f
				} else {
					set(y*w+x, f, f, f, 255)
				}
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				set(y*w+x, float32(r), float32(g), float32(bl), 255)
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				q := row[4*x : 4*x+4]
				set(y*w+x, float32(q[0]), float32(q[1]), float32(q[2]), float32(q[3]))
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				set(y*w+x, float32(c.R)/257, float32(c.G)/257, float32(c.B)/257, float32(c.A)/257)
			}
		}
	}
	return p
}

// resampleAxis precomputes PIL-style bilinear (triangle filter) weights
// mapping in samples to out samples; the filter widens by the scale factor
// when shrinking, which antialiases.
func resampleAxis(in, out int) (starts []int, weights [][]float32) {
	scale := float64(in) / float64(out)
	fs := math.Max(scale, 1)
	support := fs // the triangle filter has support 1
	starts = make([]int, out)
	weights = make([][]float32, out)
	for i := 0; i < out; i++ {
		center := (float64(i) + 0.5) * scale
		lo := int(center - support + 0.5)
		if lo < 0 {
			lo = 0
		}
		hi := int(center + support + 0.5)
		if hi > in {
			hi = in
		}
		ws := make([]float64, 0, hi-lo)
		var sum float64
		for x := lo; x < hi; x++ {
			w := 1 - math.Abs((float64(x)-center+0.5)/fs)
			if w < 0 {
				w = 0
			}
			ws = append(ws, w)
			sum += w
		}
		wf := make([]float32, len(ws))
		for k, w := range ws {
			if sum > 0 {
				wf[k] = float32(w / sum)
			}
		}
		starts[i], weights[i] = lo, wf
	}
	return starts, weights
}

// resize resamples every plane to w×h (horizontal pass, then vertical),
// rounding to 8-bit values as an 8-bit image library would.
func (p planes) resize(w, h int) planes {
	if w == p.w && h == p.h {
		return p
	}
	xs, xw := resampleAxis(p.w, w)
	ys, yw := resampleAxis(p.h, h)
	out := planes{w: w, h: h, c: make([][]float32, len(p.c))}
	tmp := make([]float32, p.h*w)
	for ci, src := range p.c {
		for y := 0; y < p.h; y++ {
			row := src[y*p.w : (y+1)*p.w]
			for x := 0; x < w; x++ {
				var s float32
				for k, wt := range xw[x] {
					s += wt * row[xs[x]+k]
				}
				tmp[y*w+x] = s
			}
		}
		dst := make([]float32, w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var s float32
				for k, wt := range yw[y] {
					s += wt * tmp[(ys[y]+k)*w+x]
				}
				dst[y*w+x] = clamp8(s)
			}
		}
		out.c[ci] = dst
	}
	return out
}

func clamp8(v float32) float32 {
	v = float32(math.Round(float64(v)))
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return v
}

// crop cuts a centred w×h window (torchvision's rounding of the offsets).
func (p planes) crop(w, h int) (planes, error) {
	if w > p.w || h > p.h {
		return p, fmt.Errorf("tensorio: cannot crop %dx%d out of a %dx%d image", w, h, p.w, p.h)
	}
	x0 := int(math.Round(float64(p.w-w) / 2))
	y0 := int(math.Round(float64(p.h-h) / 2))
	out := planes{w: w, h: h, c: make([][]float32, len(p.c))}
	for ci, src := range p.c {
		dst := make([]float32, w*h)
		for y := 0; y < h; y++ {
			copy(dst[y*w:(y+1)*w], src[(y0+y)*p.w+x0:])
		}
		out.c[ci] = dst
	}
	return out, nil
}

// perChannel expands a 1- or n-value list to n values.
func perChannel(name string, v []float32, n int, def float32) ([]float32, error) {
	switch len(v) {
	case 0:
		out := make([]float32, n)
		for i := range out {
			out[i] = def
		}
		return out, nil
	case 1:
		out := make([]float32, n)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	case n:
		return v, nil
	}
	return nil, fmt.Errorf("tensorio: %s has %d values for %d channels", name, len(v), n)
}

// ImageTensor converts an image to a tensor as opts says: channel
// conversion, resize, centre crop, scaling and per-channel normalisation.
func ImageTensor(img image.Image, opts ImageOptions) (*tensor.Tensor, error) {
	if img == nil {
		return nil, errors.New("tensorio: nil image")
	}
	n := opts.Channels
	if n == 0 {
		n = 3
	}
	if n != 1 && n != 3 && n != 4 {
		return nil, fmt.Errorf("tensorio: images have 1, 3 or 4 channels, not %d", n)
	}
	if opts.Width < 0 || opts.Height < 0 || opts.ShortSide < 0 || opts.CropWidth < 0 || opts.CropHeight < 0 {
		return nil, errors.New("tensorio: negative image size")
	}
	if (opts.Width > 0) != (opts.Height > 0) {
		return nil, fmt.Errorf("tensorio: resize needs both width and height, got %dx%d", opts.Width, opts.Height)
	}
	layout := strings.ToLower(opts.Layout)
	if layout == "" {
		layout = "nchw"
	}
	if layout != "nchw" && layout != "nhwc" {
		return nil, fmt.Errorf("tensorio: unknown layout %q (want nchw or nhwc)", opts.Layout)
	}
	dt := opts.DType
	if dt == tensor.Undefined {
		dt = tensor.Float32
	}
	if dt != tensor.Float32 && dt != tensor.Uint8 {
		return nil, fmt.Errorf("tensorio: images become float32 or uint8 tensors, not %v", dt)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, errors.New("tensorio: empty image")
	}
	if _, err := tensor.NumElements([]int{n, b.Dx(), b.Dy()}); err != nil {
		return nil, fmt.Errorf("tensorio: image of %dx%d: %w", b.Dx(), b.Dy(), err)
	}
	p := toPlanes(img, n)
	switch {
	case opts.Width > 0:
		p = p.resize(opts.Width, opts.Height)
	case opts.ShortSide > 0:
		w, h := opts.ShortSide, opts.ShortSide
		if p.w > p.h {
			w = int(float64(opts.ShortSide) * float64(p.w) / float64(p.h))
		} else {
			h = int(float64(opts.ShortSide) * float64(p.h) / float64(p.w))
		}
		p = p.resize(w, h)
	}
	if opts.CropWidth > 0 || opts.CropHeight > 0 {
		cw, ch := opts.CropWidth, opts.CropHeight
		if cw == 0 {
			cw = p.w
		}
		if ch == 0 {
			ch = p.h
		}
		var err error
		if p, err = p.crop(cw, ch); err != nil {
			return nil, err
		}
	}
	scale := opts.Scale
	if scale == 0 {
		scale = 255
	}
	mean, err := perChannel("mean", opts.Mean, n, 0)
	if err != nil {
		return nil, err
	}
	std, err := perChannel("std", opts.Std, n, 1)
	if err != nil {
		return nil, err
	}
	for _, s := range std {
		if s == 0 {
			return nil, errors.New("tensorio: std must not be 0")
		}
	}
	shape := []int{n, p.h, p.w}
	if layout == "nhwc" {
		shape = []int{p.h, p.w, n}
	}
	if !opts.NoBatch {
		shape = append([]int{1}, shape...)
	}
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, fmt.Errorf("tensorio: %w", err)
	}
	hw := p.w * p.h
	index := func(c, i int) int {
		if layout == "nhwc" {
			return i*n + c
		}
		return c*hw + i
	}
	for c, plane := range p.c {
		switch d := t.Data.(type) {
		case []uint8:
			for i, v := range plane {
				d[index(c, i)] = uint8(clamp8(v))
			}
		case []float32:
			m, s := mean[c], std[c]
			for i, v := range plane {
				d[index(c, i)] = (v/scale - m) / s
			}
		}
	}
	return t, nil
}
