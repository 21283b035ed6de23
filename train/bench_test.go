package train

import (
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

func randomBatch(n int, shape []int, classes int, seed uint64) *data.Batch {
	r := rand.New(rand.NewPCG(seed, 1))
	per := numel(shape)
	x := make([]float32, n*per)
	for i := range x {
		x[i] = r.Float32()
	}
	b := &data.Batch{X: tensor.Float32s(append([]int{n}, shape...), x), Labels: make([]int, n), Index: make([]int, n)}
	for i := range b.Labels {
		b.Labels[i] = r.IntN(classes)
		b.Index[i] = i
	}
	return b
}

// benchStep measures one SGD training step (forward, loss, backward,
// update) at batch 64 on two threads; samples/s is reported.
func benchStep(b *testing.B, name string) {
	m, err := arch.Build(name, 1)
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(m, Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	batch := randomBatch(64, []int{1, 28, 28}, 10, 1)
	opt := &SGD{Momentum: 0.9}
	b.ResetTimer()
	cpu0 := testenv.ProcessCPU()
	for i := 0; i < b.N; i++ {
		p.ZeroGrad()
		if _, err := p.Step(batch, CrossEntropy{}); err != nil {
			b.Fatal(err)
		}
		opt.Step(p.Vars(), 0.01)
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "samples/s")
	if cpu := testenv.ProcessCPU() - cpu0; cpu > 0 {
		// with 2 threads fully busy, wall time would be CPU time / 2
		b.ReportMetric(float64(64*b.N)/cpu.Seconds()*2, "samples/2cpu-s")
	}
}

func BenchmarkStepMNISTCNN(b *testing.B) { benchStep(b, "mnist-cnn") }
func BenchmarkStepMNIST2NN(b *testing.B) { benchStep(b, "mnist-2nn") }
func BenchmarkStepLeNet5(b *testing.B)   { benchStep(b, "lenet-5") }

// BenchmarkPerExampleMNIST2NN measures DP-SGD's per-example gradients
// (microbatches of one) at batch 64 on two threads.
func BenchmarkPerExampleMNIST2NN(b *testing.B) {
	p, err := Compile(arch.MNIST2NN(1), Options{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	batch := randomBatch(64, []int{1, 28, 28}, 10, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.ZeroGrad()
		if _, err := p.PerExampleStep(batch, CrossEntropy{}, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "samples/s")
}
