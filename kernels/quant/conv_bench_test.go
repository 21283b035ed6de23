package quant

import (
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// BenchmarkConv times fused int8 convolutions of MobileNet-like shapes.
func BenchmarkConv(b *testing.B) {
	for _, c := range []struct {
		name      string
		x, w      []int
		group     int
		pads, str []int
	}{
		{"1x1_32to64_112", []int{1, 32, 112, 112}, []int{64, 32, 1, 1}, 1, nil, nil},
		{"3x3_16to32_56", []int{1, 16, 56, 56}, []int{32, 16, 3, 3}, 1, []int{1, 1, 1, 1}, nil},
		{"dw3x3_96_56_s2", []int{1, 96, 56, 56}, []int{96, 1, 3, 3}, 96, []int{1, 1, 1, 1}, []int{2, 2}},
	} {
		r := rand.New(rand.NewPCG(1, 2))
		x, _ := randTensor(r, tensor.Int8, c.x)
		w, _ := randTensor(r, tensor.Int8, c.w)
		k, err := NewConv(ConvParams{XType: tensor.Int8, XScale: 0.1, XZero: 3, W: w, WScale: []float32{0.01},
			YType: tensor.Int8, YScale: 0.5, YZero: -2, Group: c.group, Pads: c.pads, Strides: c.str})
		if err != nil {
			b.Fatal(err)
		}
		macs := float64(c.w[0]*c.w[1]*c.w[2]*c.w[3]) * float64(c.x[2]*c.x[3])
		if c.str != nil {
			macs /= float64(c.str[0] * c.str[1])
		}
		b.Run(c.name, func(b *testing.B) {
			ctx := &kernels.Ctx{}
			out := []*tensor.Tensor{nil}
			for range b.N {
				if err := k.Run(ctx, []*tensor.Tensor{x}, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
		})
	}
}
