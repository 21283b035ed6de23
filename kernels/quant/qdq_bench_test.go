package quant

import (
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// benchQDQ times one QuantizeLinear or DequantizeLinear over a 1 Mi-element
// tensor with per-tensor int8 parameters.
func benchQDQ(b *testing.B, op string, x *tensor.Tensor) {
	build, err := kernels.Lookup("", op, 21)
	if err != nil {
		b.Fatal(err)
	}
	meta := []kernels.Input{{Present: true}, {Present: true}, {Present: true, DType: tensor.Int8}}
	k, err := build(&kernels.BuildContext{Node: &graph.Node{OpType: op}, Inputs: meta})
	if err != nil {
		b.Fatal(err)
	}
	in := []*tensor.Tensor{x, tensor.Scalar(float32(0.5)), tensor.Scalar(int8(-3))}
	out := []*tensor.Tensor{nil}
	b.SetBytes(int64(x.Len()))
	for range b.N {
		if err := k.Run(nil, in, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuantizeLinear(b *testing.B) {
	x := tensor.New(tensor.Float32, 1<<20)
	for i := range x.F32() {
		x.F32()[i] = float32(i%1000) * 0.37
	}
	benchQDQ(b, "QuantizeLinear", x)
}

func BenchmarkDequantizeLinear(b *testing.B) {
	benchQDQ(b, "DequantizeLinear", tensor.New(tensor.Int8, 1<<20))
}
