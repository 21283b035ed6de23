package random

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "RandomNormal", 1, buildGenerator(distNormal, false))
	kernels.Register("", "RandomUniform", 1, buildGenerator(distUniform, false))
	kernels.Register("", "RandomNormalLike", 1, buildGenerator(distNormal, true))
	kernels.Register("", "RandomUniformLike", 1, buildGenerator(distUniform, true))
	kernels.Register("", "Bernoulli", 15, buildBernoulli)
	kernels.Register("", "Multinomial", 7, buildMultinomial)
}

const (
	distNormal = iota
	distUniform
)

// seedAttr reads the optional float seed attribute.
func seedAttr(b *kernels.BuildContext) (float32, bool) {
	a := b.Attrs()
	return a.Float("seed", 0), a.Has("seed")
}

// nondeterministic is embedded in every random kernel so the runtime never
// constant-folds it.
type nondeterministic struct{}

// Nondeterministic implements kernels.Nondeterministic.
func (nondeterministic) Nondeterministic() bool { return true }

// generator is a compiled RandomNormal/RandomUniform(Like) node.
type generator struct {
	nondeterministic
	dist   int
	like   bool
	dtype  tensor.DType // Undefined for *Like without dtype: the input's
	shape  []int
	a, b   float32 // mean, scale (normal) or low, high (uniform)
	seed   float32
	seeded bool
	opName string
}

func buildGenerator(dist int, like bool) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		at := b.Attrs()
		k := &generator{dist: dist, like: like, opName: b.Node.OpType}
		k.seed, k.seeded = seedAttr(b)
		if dist == distNormal {
			k.a, k.b = at.Float("mean", 0), at.Float("scale", 1)
		} else {
			k.a, k.b = at.Float("low", 0), at.Float("high", 1)
		}
		if at.Has("dtype") || !like {
			k.dtype = tensor.DType(at.Int("dtype", int64(tensor.Float32)))
			if !isFloat(k.dtype) {
				return nil, kernels.Unsupported(k.opName, "dtype %v", k.dtype)
			}
		}
		if !like {
			shape, err := at.RequireInts("shape")
			if err != nil {
				return nil, err
			}
			for _, d := range shape {
				if d < 0 || d > int64(tensor.MaxElements) {
					return nil, b.Errorf("invalid shape %v", shape)
				}
				k.shape = append(k.shape, int(d))
			}
			if _, err := tensor.NumElements(k.shape); err != nil {
				return nil, b.Errorf("%v", err)
			}
		} else if len(b.Inputs) < 1 {
			return nil, b.Errorf("needs an input")
		}
		return k, nil
	}
}

func isFloat(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16:
		return true
	}
	return false
}

func (k *generator) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	shape, dt := k.shape, k.dtype
	if k.like {
		shape = in[0].Shape
		if dt == tensor.Undefined {
			dt = in[0].DType
		}
		if !isFloat(dt) {
			return kernels.Unsupported(k.opName, "dtype %v", dt)
		}
	}
	y, err := ctx.Alloc(dt, shape)
	if err != nil {
		return err
	}
	m := newSource(k.seed, k.seeded)
	n := y.Len()
	// The reference draws float64 values, narrows them to the output type,
	// then scales and shifts in that type; do the same.
	draw := m.double
	mul, add := k.b-k.a, k.a // uniform: u·(high-low) + low
	if k.dist == distNormal {
		draw, mul, add = m.gaussian, k.b, k.a // normal: z·scale + mean
	}
	switch d := y.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(draw())*mul + add
		}
	case []float64:
		for i := range d {
			d[i] = draw()*float64(mul) + float64(add)
		}
	case []uint16:
		for i := 0; i < n; i++ {
			// float16 arithmetic rounds after each step
			v := narrow(dt, float32(draw()))
			v = narrow(dt, v*narrow(dt, mul))
			d[i] = bits(dt, v+narrow(dt, add))
		}
	}
	out[0] = y
	return nil
}

// narrow rounds v to the precision of a 16-bit float type.
func narrow(dt tensor.DType, v float32) float32 {
	if dt == tensor.BFloat16 {
		return tensor.BFloat16ToFloat(tensor.FloatToBFloat16(v))
	}
	return tensor.HalfToFloat(tensor.FloatToHalf(v))
}

func bits(dt tensor.DType, v float32) uint16 {
	if dt == tensor.BFloat16 {
		return tensor.FloatToBFloat16(v)
	}
	return tensor.FloatToHalf(v)
}

// bernoulli is a compiled Bernoulli node: 1 with probability p per element.
type bernoulli struct {
	nondeterministic
	dtype  tensor.DType // Undefined: the input's
	seed   float32
	seeded bool
}

func buildBernoulli(b *kernels.BuildContext) (kernels.Kernel, error) {
	k := &bernoulli{}
	k.seed, k.seeded = seedAttr(b)
	if b.Attrs().Has("dtype") {
		k.dtype = tensor.DType(b.Attrs().Int("dtype", 0))
	}
	return k, nil
}

func (k *bernoulli) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if !isFloat(x.DType) {
		return kernels.Unsupported("Bernoulli", "input dtype %v", x.DType)
	}
	dt := k.dtype
	if dt == tensor.Undefined {
		dt = x.DType
	}
	y, err := ctx.Alloc(dt, x.Shape)
	if err != nil {
		return err
	}
	m := newSource(k.seed, k.seeded)
	hits := make([]bool, x.Len())
	for i := range hits {
		p := x.Float64At(i)
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("probability %v outside [0,1]", p)
		}
		hits[i] = m.bernoulli(p)
	}
	if err := fromBools(y, hits); err != nil {
		return err
	}
	out[0] = y
	return nil
}

// fromBools writes 0/1 values into any numeric or bool tensor.
func fromBools(y *tensor.Tensor, v []bool) error {
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	switch d := y.Data.(type) {
	case []bool:
		copy(d, v)
	case []float32:
		for i, b := range v {
			d[i] = float32(one(b))
		}
	case []float64:
		for i, b := range v {
			d[i] = one(b)
		}
	case []uint16:
		for i, b := range v {
			switch y.DType {
			case tensor.Float16:
				d[i] = tensor.FloatToHalf(float32(one(b)))
			case tensor.BFloat16:
				d[i] = tensor.FloatToBFloat16(float32(one(b)))
			default:
				d[i] = uint16(one(b))
			}
		}
	case []int8:
		setInts(d, v)
	case []uint8:
		setInts(d, v)
	case []int16:
		setInts(d, v)
	case []int32:
		setInts(d, v)
	case []uint32:
		setInts(d, v)
	case []int64:
		setInts(d, v)
	case []uint64:
		setInts(d, v)
	default:
		return kernels.Unsupported("Bernoulli", "output dtype %v", y.DType)
	}
	return nil
}

func setInts[T int8 | uint8 | int16 | int32 | uint32 | int64 | uint64](d []T, v []bool) {
	for i, b := range v {
		if b {
			d[i] = 1
		}
	}
}

// multinomial is a compiled Multinomial node: sample_size class indices
// per batch row, drawn from the softmax of the row's logits.
type multinomial struct {
	nondeterministic
	dtype   tensor.DType
	samples int
	seed    float32
	seeded  bool
}

func buildMultinomial(b *kernels.BuildContext) (kernels.Kernel, error) {
	a := b.Attrs()
	k := &multinomial{dtype: tensor.DType(a.Int("dtype", int64(tensor.Int32))), samples: int(a.Int("sample_size", 1))}
	k.seed, k.seeded = seedAttr(b)
	if k.dtype != tensor.Int32 && k.dtype != tensor.Int64 {
		return nil, b.Errorf("dtype %v must be int32 or int64", k.dtype)
	}
	if k.samples < 1 || k.samples > tensor.MaxElements {
		return nil, b.Errorf("invalid sample_size %d", k.samples)
	}
	return k, nil
}

func (k *multinomial) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	if len(x.Shape) != 2 || !isFloat(x.DType) {
		return fmt.Errorf("input must be a [batch, classes] float tensor, got %v %v", x.DType, x.Shape)
	}
	bn, cn := x.Shape[0], x.Shape[1]
	y, err := ctx.Alloc(k.dtype, []int{bn, k.samples})
	if err != nil {
		return err
	}
	if cn == 0 && bn > 0 {
		return fmt.Errorf("no classes to sample from")
	}
	m := newSource(k.seed, k.seeded)
	cdf := make([]float64, cn)
	for b := 0; b < bn; b++ {
		// Cumulative softmax of the logits, stabilised by the row maximum.
		mx := math.Inf(-1)
		for c := 0; c < cn; c++ {
			mx = math.Max(mx, x.Float64At(b*cn+c))
		}
		var sum float64
		for c := 0; c < cn; c++ {
			sum += math.Exp(x.Float64At(b*cn+c) - mx)
			cdf[c] = sum
		}
		for s := 0; s < k.samples; s++ {
			u := m.double() * sum
			c := 0
			for c < cn-1 && u >= cdf[c] {
				c++
			}
			if k.dtype == tensor.Int32 {
				y.Data.([]int32)[b*k.samples+s] = int32(c)
			} else {
				y.I64()[b*k.samples+s] = int64(c)
			}
		}
	}
	out[0] = y
	return nil
}
