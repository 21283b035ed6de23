package elementwise

import (
	"math/rand"
	"testing"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func randTensor(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	r := rand.New(rand.NewSource(1))
	for i := range t.F32() {
		t.F32()[i] = float32(r.NormFloat64())
	}
	return t
}

// reuseAlloc hands out one buffer per (dtype, shape), so that benchmarks
// time the kernels, not page faults.
type reuseAlloc map[string]*tensor.Tensor

func (r reuseAlloc) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	key := dt.String() + tensor.ShapeString(shape)
	if t, ok := r[key]; ok {
		return t, nil
	}
	t, err := tensor.Make(dt, shape)
	r[key] = t
	return t, err
}

func benchKernel(b *testing.B, k kernels.Kernel, in ...*tensor.Tensor) {
	ctx := &kernels.Ctx{Allocator: reuseAlloc{}}
	out := make([]*tensor.Tensor, 1)
	b.SetBytes(int64(4 * in[0].Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.Run(ctx, in, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddSame(b *testing.B) {
	benchKernel(b, &arithKernel{op: "Add", k: opAdd}, randTensor(1, 32, 112, 112), randTensor(1, 32, 112, 112))
}

func BenchmarkAddBias(b *testing.B) {
	benchKernel(b, &arithKernel{op: "Add", k: opAdd}, randTensor(1, 32, 112, 112), randTensor(32, 1, 1))
}

func BenchmarkAddRow(b *testing.B) {
	benchKernel(b, &arithKernel{op: "Add", k: opAdd}, randTensor(128, 768), randTensor(768))
}

func BenchmarkAddSmallInner(b *testing.B) {
	benchKernel(b, &arithKernel{op: "Add", k: opAdd}, randTensor(1, 64, 7, 7), randTensor(64, 1, 1))
}

func benchUnary(b *testing.B, name string) {
	a, err := DefaultActivation(name)
	if err != nil {
		b.Fatal(err)
	}
	benchKernel(b, &unaryKernel{op: name, k: a.k, p: a.p}, randTensor(1, 32, 112, 112))
}

func BenchmarkRelu(b *testing.B)    { benchUnary(b, "Relu") }
func BenchmarkSigmoid(b *testing.B) { benchUnary(b, "Sigmoid") }
func BenchmarkTanh(b *testing.B)    { benchUnary(b, "Tanh") }
func BenchmarkExp(b *testing.B)     { benchUnary(b, "Exp") }
func BenchmarkErf(b *testing.B)     { benchUnary(b, "Erf") }
func BenchmarkGelu(b *testing.B)    { benchUnary(b, "Gelu") }
func BenchmarkClip(b *testing.B)    { benchUnary(b, "Clip") }
