package reduce

import (
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	// Generalised cosine windows w[n] = a0 - a1 cos(2πn/N) + a2 cos(4πn/N),
	// with N = size (periodic) or size-1 (symmetric).
	windows := []struct {
		name       string
		a0, a1, a2 float64
	}{
		{"HannWindow", 0.5, 0.5, 0},
		{"HammingWindow", 25.0 / 46, 21.0 / 46, 0},
		{"BlackmanWindow", 0.42, 0.5, 0.08},
	}
	for _, w := range windows {
		kernels.Register("", w.name, 17, func(b *kernels.BuildContext) (kernels.Kernel, error) {
			a := b.Attrs()
			k := &windowKernel{
				name: w.name, a0: w.a0, a1: w.a1, a2: w.a2,
				periodic: a.Int("periodic", 1) != 0,
				dt:       tensor.DType(a.Int("output_datatype", int64(tensor.Float32))),
			}
			if !numericDType(k.dt) {
				return nil, kernels.Unsupported(w.name, "output_datatype %v", k.dt)
			}
			return k, nil
		})
	}
	kernels.Register("", "MelWeightMatrix", 17, buildMel)
}

// numericDType reports whether d is a numeric dtype edgedl can store.
func numericDType(d tensor.DType) bool {
	return d.IsFloat() || d.IsInteger()
}

// scalarInt reads a scalar (or one-element) integer input.
func scalarInt(t *tensor.Tensor, what string) (int64, error) {
	if t == nil || t.Len() != 1 || !t.DType.IsInteger() {
		return 0, errorf("%s must be an integer scalar", what)
	}
	return t.Int64At(0), nil
}

// setFloat64s stores vals into the numeric tensor t from element off on,
// converting to its dtype.
func setFloat64s(t *tensor.Tensor, off int, vals []float64) {
	switch d := t.Data.(type) {
	case []float32:
		d = d[off:]
		for i, v := range vals {
			d[i] = float32(v)
		}
	case []float64:
		d = d[off:]
		copy(d, vals)
	case []uint16:
		d = d[off:]
		switch t.DType {
		case tensor.Float16:
			for i, v := range vals {
				d[i] = tensor.FloatToHalf(float32(v))
			}
		case tensor.BFloat16:
			for i, v := range vals {
				d[i] = tensor.FloatToBFloat16(float32(v))
			}
		default:
			for i, v := range vals {
				d[i] = uint16(v)
			}
		}
	case []int8:
		d = d[off:]
		for i, v := range vals {
			d[i] = int8(v)
		}
	case []uint8:
		d = d[off:]
		for i, v := range vals {
			d[i] = uint8(v)
		}
	case []int16:
		d = d[off:]
		for i, v := range vals {
			d[i] = int16(v)
		}
	case []int32:
		d = d[off:]
		for i, v := range vals {
			d[i] = int32(v)
		}
	case []uint32:
		d = d[off:]
		for i, v := range vals {
			d[i] = uint32(v)
		}
	case []int64:
		d = d[off:]
		for i, v := range vals {
			d[i] = int64(v)
		}
	case []uint64:
		d = d[off:]
		for i, v := range vals {
			d[i] = uint64(v)
		}
	}
}

type windowKernel struct {
	name       string
	a0, a1, a2 float64
	periodic   bool
	dt         tensor.DType
}

func (k *windowKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	n, err := scalarInt(in[0], "size")
	if err != nil {
		return err
	}
	if n < 0 || n > int64(tensor.MaxElements) {
		return errorf("window size %d out of range", n)
	}
	y, err := ctx.Alloc(k.dt, []int{int(n)})
	if err != nil {
		return err
	}
	den := float64(n)
	if !k.periodic {
		den--
	}
	var vals [256]float64 // computed in float64, stored in chunks
	for lo := 0; lo < int(n); lo += len(vals) {
		chunk := vals[:min(len(vals), int(n)-lo)]
		for j := range chunk {
			if den == 0 { // a one-point symmetric window
				chunk[j] = 1
				continue
			}
			x := 2 * math.Pi * float64(lo+j) / den
			chunk[j] = k.a0 - k.a1*math.Cos(x) + k.a2*math.Cos(2*x)
		}
		setFloat64s(y, lo, chunk)
	}
	out[0] = y
	return nil
}

// melKernel builds the triangular filter bank mapping a onesided spectrum
// of dft_length/2+1 bins to num_mel_bins mel bands, following the ONNX
// reference implementation (HTK mel scale, bin edges floored).
type melKernel struct{ dt tensor.DType }

func buildMel(b *kernels.BuildContext) (kernels.Kernel, error) {
	dt := tensor.DType(b.Attrs().Int("output_datatype", int64(tensor.Float32)))
	if !numericDType(dt) {
		return nil, kernels.Unsupported("MelWeightMatrix", "output_datatype %v", dt)
	}
	return &melKernel{dt: dt}, nil
}

func (k *melKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	mels, err := scalarInt(in[0], "num_mel_bins")
	if err != nil {
		return err
	}
	dftLen, err := scalarInt(in[1], "dft_length")
	if err != nil {
		return err
	}
	rate, err := scalarInt(in[2], "sample_rate")
	if err != nil {
		return err
	}
	if in[3].Len() != 1 || in[4].Len() != 1 {
		return errorf("lower_edge_hertz and upper_edge_hertz must be scalars")
	}
	lo, hi := in[3].Float64At(0), in[4].Float64At(0)
	if mels <= 0 || dftLen <= 0 || rate <= 0 || mels > 1<<20 || dftLen > 1<<24 {
		return errorf("num_mel_bins %d, dft_length %d and sample_rate %d must be positive and reasonable", mels, dftLen, rate)
	}
	bins := int(dftLen/2 + 1)
	nm := int(mels)
	y, err := ctx.Alloc(k.dt, []int{bins, nm})
	if err != nil {
		return err
	}
	toMel := func(hz float64) float64 { return 2595 * math.Log10(1+hz/700) }
	lowMel, highMel := toMel(lo), toMel(hi)
	step := (highMel - lowMel) / float64(nm+2)
	edges := make([]int, nm+2)
	for i := range edges {
		hz := 700 * (math.Pow(10, (float64(i)*step+lowMel)/2595) - 1)
		edges[i] = int(math.Floor(float64(dftLen+1) * hz / float64(rate)))
	}
	set := func(j, i int, v float64) error {
		if j < 0 || j >= bins {
			return errorf("mel band %d reaches spectrogram bin %d, outside [0, %d)", i, j, bins)
		}
		one := [1]float64{v}
		setFloat64s(y, j*nm+i, one[:])
		return nil
	}
	for i := 0; i < nm; i++ {
		l, c, r := edges[i], edges[i+1], edges[i+2]
		if c == l {
			if err := set(c, i, 1); err != nil {
				return err
			}
		} else {
			for j := l; j <= c; j++ {
				if err := set(j, i, float64(j-l)/float64(c-l)); err != nil {
					return err
				}
			}
		}
		for j := c; j < r; j++ {
			if err := set(j, i, float64(r-j)/float64(r-c)); err != nil {
				return err
			}
		}
	}
	out[0] = y
	return nil
}
