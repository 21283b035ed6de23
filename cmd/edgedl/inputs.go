package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/tensorio"
)

// inputFlags are the flags that say where a model's inputs come from and
// how images become tensors (shared by run and profile).
type inputFlags struct {
	files     stringList
	resize    sizeFlag
	crop      sizeFlag
	mean, std floatList
	scale     float64
	layout    string
	grayscale bool
}

func (f *inputFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.files, "input", "input `FILE` (.pb, .npy, .png, .jpg, .gif), one per model input in order, or NAME=FILE; repeatable")
	fs.Var(&f.resize, "resize", "resize images to `WxH`, or their short side to N (default: the model input's H,W)")
	fs.Var(&f.crop, "crop", "centre-crop images to `WxH` after resizing")
	fs.Var(&f.mean, "mean", "per-channel `mean`s subtracted from images after scaling, e.g. 0.485,0.456,0.406")
	fs.Var(&f.std, "std", "per-channel standard `deviation`s dividing images, e.g. 0.229,0.224,0.225")
	fs.Float64Var(&f.scale, "scale", 255, "`divisor` of 0..255 pixel values")
	fs.StringVar(&f.layout, "layout", "", "image `layout`: nchw or nhwc (default: guessed from the model input, else nchw)")
	fs.BoolVar(&f.grayscale, "grayscale", false, "convert images to one channel (automatic when the model takes 1 channel)")
}

// load reads the --input files for the model inputs infos, in graph order.
func (f *inputFlags) load(e *env, infos []graph.ValueInfo) ([]*tensor.Tensor, error) {
	names := make([]string, len(infos))
	for i, v := range infos {
		names[i] = v.Name
	}
	if len(f.files) != len(infos) {
		return nil, usagef("the model takes %d input(s) (%s), got %d --input", len(infos), strings.Join(names, ", "), len(f.files))
	}
	paths := make([]string, len(infos))
	var positional []string
	for _, arg := range f.files {
		if name, path, ok := strings.Cut(arg, "="); ok {
			if i := indexOf(names, name); i >= 0 {
				if paths[i] != "" {
					return nil, usagef("input %q is given twice", name)
				}
				paths[i] = path
				continue
			}
		}
		positional = append(positional, arg)
	}
	for i := range paths {
		if paths[i] == "" {
			paths[i], positional = positional[0], positional[1:]
		}
	}
	out := make([]*tensor.Tensor, len(infos))
	for i, v := range infos {
		t, err := f.loadOne(e, paths[i], v)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func (f *inputFlags) loadOne(e *env, path string, v graph.ValueInfo) (*tensor.Tensor, error) {
	var t *tensor.Tensor
	var err error
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".pb":
		t, err = onnx.ReadTensor(path)
	case ".npy":
		t, err = tensorio.LoadNPY(path)
	case ".png", ".jpg", ".jpeg", ".gif":
		t, err = f.loadImage(e, path, v)
	default:
		return nil, fmt.Errorf("%s: unknown input format %q (want .pb, .npy, .png, .jpg or .gif)", path, ext)
	}
	if err != nil {
		return nil, err
	}
	if t, err = convertInput(e, path, v, t); err != nil {
		return nil, err
	}
	if err := checkInput(path, v, t); err != nil {
		return nil, err
	}
	e.log.Debug("input", "name", v.Name, "file", path, "dtype", t.DType, "shape", tensor.ShapeString(t.Shape))
	return t, nil
}

// loadImage decodes an image and shapes it for model input v.
func (f *inputFlags) loadImage(e *env, path string, v graph.ValueInfo) (*tensor.Tensor, error) {
	if !v.HasShape || (len(v.Shape) != 3 && len(v.Shape) != 4) {
		return nil, fmt.Errorf("%s: model input %q has shape %s, not an image's [N,C,H,W] or [N,H,W,C]", path, v.Name, v.ShapeString())
	}
	dims := v.Shape
	if len(dims) == 4 {
		dims = dims[1:]
	}
	isChan := func(d graph.Dim) bool { return d.Known() && (d.Value == 1 || d.Value == 3 || d.Value == 4) }
	layout := strings.ToLower(f.layout)
	if layout == "" {
		layout = "nchw"
		if !isChan(dims[0]) && isChan(dims[2]) {
			layout = "nhwc"
		}
	}
	var c, h, w graph.Dim
	switch layout {
	case "nchw":
		c, h, w = dims[0], dims[1], dims[2]
	case "nhwc":
		h, w, c = dims[0], dims[1], dims[2]
	default:
		return nil, usagef("--layout %q: want nchw or nhwc", f.layout)
	}
	opts := tensorio.ImageOptions{
		Channels: 3, Scale: float32(f.scale), Mean: f.mean, Std: f.std,
		Layout: layout, NoBatch: len(v.Shape) == 3,
	}
	if c.Known() {
		opts.Channels = int(c.Value)
	}
	if f.grayscale {
		opts.Channels = 1
	}
	if v.DType == tensor.Uint8 {
		opts.DType = tensor.Uint8
	}
	switch {
	case f.resize.w > 0:
		opts.Width, opts.Height = f.resize.w, f.resize.h
	case f.resize.n > 0:
		opts.ShortSide = f.resize.n
	case f.crop.w == 0 && h.Known() && w.Known():
		opts.Width, opts.Height = int(w.Value), int(h.Value)
	}
	opts.CropWidth, opts.CropHeight = f.crop.w, f.crop.h
	if f.crop.n > 0 {
		opts.CropWidth, opts.CropHeight = f.crop.n, f.crop.n
	}
	img, err := tensorio.LoadImage(path)
	if err != nil {
		return nil, err
	}
	t, err := tensorio.ImageTensor(img, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	e.log.Info("image input", "file", path, "size", fmt.Sprintf("%dx%d", img.Bounds().Dx(), img.Bounds().Dy()),
		"tensor", tensor.ShapeString(t.Shape), "layout", layout, "channels", opts.Channels)
	return t, nil
}

// convertInput casts between the dtypes NumPy and ONNX users mix up
// (float64/float32, int32/int64); other mismatches are left for checkInput.
func convertInput(e *env, path string, v graph.ValueInfo, t *tensor.Tensor) (*tensor.Tensor, error) {
	if v.DType == tensor.Undefined || t.DType == v.DType {
		return t, nil
	}
	ok := (t.DType == tensor.Float64 && v.DType == tensor.Float32) ||
		(t.DType == tensor.Float32 && v.DType == tensor.Float64) ||
		(t.DType == tensor.Int32 && v.DType == tensor.Int64) ||
		(t.DType == tensor.Int64 && v.DType == tensor.Int32)
	if !ok {
		return t, nil
	}
	c, err := tensor.Make(v.DType, t.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch d := c.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(t.Float64At(i))
		}
	case []float64:
		for i := range d {
			d[i] = t.Float64At(i)
		}
	case []int64:
		for i := range d {
			d[i] = t.Int64At(i)
		}
	case []int32:
		for i := range d {
			x := t.Int64At(i)
			if int64(int32(x)) != x {
				return nil, fmt.Errorf("%s: input %q is int32 but element %d is %d", path, v.Name, i, x)
			}
			d[i] = int32(x)
		}
	}
	e.log.Info("converted input", "name", v.Name, "file", path, "from", t.DType, "to", v.DType)
	return c, nil
}

// checkInput checks t against the declared input v, naming the file.
func checkInput(path string, v graph.ValueInfo, t *tensor.Tensor) error {
	if v.Kind != graph.KindTensor {
		return fmt.Errorf("%s: model input %q is not a tensor; only tensor inputs are supported", path, v.Name)
	}
	if v.DType != tensor.Undefined && t.DType != v.DType {
		return fmt.Errorf("%s: input %q must be %v, the file holds %v", path, v.Name, v.DType, t.DType)
	}
	if v.HasShape {
		bad := len(t.Shape) != len(v.Shape)
		for i := 0; !bad && i < len(v.Shape); i++ {
			bad = v.Shape[i].Known() && int64(t.Shape[i]) != v.Shape[i].Value
		}
		if bad {
			return fmt.Errorf("%s: input %q must have shape %s, the file holds %s", path, v.Name, v.ShapeString(), tensor.ShapeString(t.Shape))
		}
	}
	return nil
}
