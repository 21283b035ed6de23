package nn

import (
	"fmt"
	"time"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Dropout", 1, buildDropout)
}

// dropoutKernel is a compiled Dropout node. In inference (no training_mode
// input, or a false one) it is the identity, sharing the input's buffer,
// with an all-true mask. In training mode it keeps each element with
// probability 1-ratio and scales the kept ones by 1/(1-ratio).
//
// Random numbers come from a Mersenne Twister seeded with the seed
// attribute and drawn as numpy's RandomState.uniform does, so a seeded node
// reproduces the masks of the ONNX reference implementation; without a seed
// each run draws a fresh seed.
type dropoutKernel struct {
	opset    int64
	ratio    float32 // attribute ratio (opset < 12)
	seed     int64
	hasSeed  bool
	mayTrain bool // a training_mode input that is not the constant false
	mask     bool // the mask output is wanted
}

func buildDropout(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 1 {
		return nil, b.Errorf("Dropout needs input data")
	}
	a := b.Attrs()
	k := &dropoutKernel{opset: b.Opset, ratio: a.Float("ratio", 0.5), seed: a.Int("seed", 0), hasSeed: a.Has("seed")}
	k.mask = len(b.Node.Outputs) > 1 && b.Node.Outputs[1] != ""
	if b.Opset >= 12 && b.HasInput(2) {
		k.mayTrain = true
		if t := b.ConstInput(2); t != nil && t.Len() == 1 && t.Float64At(0) == 0 {
			k.mayTrain = false
		}
	}
	return k, nil
}

// Nondeterministic implements kernels.Nondeterministic: a Dropout that may
// train must not be folded.
func (k *dropoutKernel) Nondeterministic() bool { return k.mayTrain }

// MayAlias implements kernels.Aliaser: in inference the output is the input.
func (k *dropoutKernel) MayAlias() bool { return true }

func (k *dropoutKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	x := in[0]
	ratio := float64(k.ratio)
	if k.opset >= 12 && len(in) > 1 && in[1] != nil {
		if in[1].Len() != 1 {
			return fmt.Errorf("ratio must be a scalar, has shape %v", in[1].Shape)
		}
		ratio = in[1].Float64At(0)
	}
	training := false
	if k.opset >= 12 && len(in) > 2 && in[2] != nil {
		if in[2].Len() != 1 {
			return fmt.Errorf("training_mode must be a scalar, has shape %v", in[2].Shape)
		}
		training = in[2].Float64At(0) != 0
	}
	if !(ratio >= 0 && ratio <= 1) {
		return fmt.Errorf("ratio %v must be in [0, 1]", ratio)
	}
	if !training || ratio == 0 {
		out[0] = &tensor.Tensor{DType: x.DType, Shape: append([]int{}, x.Shape...), Data: x.Data}
		if k.mask && len(out) > 1 {
			return k.fullMask(ctx, x, out)
		}
		return nil
	}
	if !isFloatDT(x.DType) {
		return kernels.Unsupported("Dropout", "training on dtype %v", x.DType)
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	m, err := ctx.Alloc(tensor.Bool, x.Shape)
	if err != nil {
		return err
	}
	if k.mask && len(out) > 1 {
		out[1] = m
	}
	mask := m.Data.([]bool)
	seed := uint32(k.seed)
	if !k.hasSeed {
		seed = uint32(time.Now().UnixNano())
	}
	var mt mt19937
	mt.seed(seed)
	for i := range mask {
		mask[i] = mt.float64() >= ratio
	}
	scale := 1 / (1 - ratio)
	switch d := y.Data.(type) {
	case []float32:
		applyMask(d, x.Data.([]float32), mask, scale)
	case []float64:
		applyMask(d, x.Data.([]float64), mask, scale)
	case []uint16:
		for i, keep := range mask {
			if !keep {
				continue
			}
			v := float32(x.Float64At(i) * scale)
			if x.DType == tensor.Float16 {
				d[i] = tensor.FloatToHalf(v)
			} else {
				d[i] = tensor.FloatToBFloat16(v)
			}
		}
	}
	return nil
}

func applyMask[F float](y, x []F, mask []bool, scale float64) {
	for i, keep := range mask {
		if keep {
			y[i] = F(float64(x[i]) * scale)
		}
	}
}

// fullMask sets the all-kept mask: bool since opset 10, X's type before.
func (k *dropoutKernel) fullMask(ctx *kernels.Ctx, x *tensor.Tensor, out []*tensor.Tensor) error {
	dt := tensor.Bool
	if k.opset < 10 {
		dt = x.DType
	}
	m, err := ctx.Alloc(dt, x.Shape)
	if err != nil {
		return err
	}
	switch d := m.Data.(type) {
	case []bool:
		for i := range d {
			d[i] = true
		}
	case []float32:
		for i := range d {
			d[i] = 1
		}
	case []float64:
		for i := range d {
			d[i] = 1
		}
	case []uint16:
		one := tensor.FloatToHalf(1)
		if dt == tensor.BFloat16 {
			one = tensor.FloatToBFloat16(1)
		}
		for i := range d {
			d[i] = one
		}
	default:
		return kernels.Unsupported("Dropout", "mask of dtype %v", dt)
	}
	out[1] = m
	return nil
}

// mt19937 is the 32-bit Mersenne Twister, seeded and sampled exactly as
// numpy's legacy RandomState (init_genrand; doubles from two draws).
type mt19937 struct {
	state [624]uint32
	pos   int
}

func (m *mt19937) seed(s uint32) {
	m.state[0] = s
	for i := 1; i < 624; i++ {
		prev := m.state[i-1]
		m.state[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	m.pos = 624
}

func (m *mt19937) next() uint32 {
	if m.pos >= 624 {
		const upper, lower = 0x80000000, 0x7fffffff
		for i := 0; i < 624; i++ {
			y := m.state[i]&upper | m.state[(i+1)%624]&lower
			v := m.state[(i+397)%624] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.state[i] = v
		}
		m.pos = 0
	}
	y := m.state[m.pos]
	m.pos++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// float64 returns a uniform double in [0, 1) with 53 random bits.
func (m *mt19937) float64() float64 {
	a, b := m.next()>>5, m.next()>>6
	return (float64(a)*67108864 + float64(b)) / (1 << 53)
}
