package prune

import (
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func loadShared(tb testing.TB, name string) *graph.Model {
	tb.Helper()
	m, err := onnx.Load(filepath.Join(testenv.Shared(tb), "models", name, "model.onnx"))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func mnistTest(tb testing.TB) *mnist.Set {
	dir, err := mnist.Dir()
	if err != nil {
		tb.Skip(err)
	}
	s, err := mnist.Load(dir, "test")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Removing half of mnist_cnn's filters (32->16, 64->32) leaves a model that
// is genuinely smaller; its accuracy before fine-tuning is reported.
func TestMNISTCNNChannels(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000-image accuracy run")
	}
	m := loadShared(t, "mnist_cnn")
	p, rep, err := Channels(m, ChannelOptions{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 2 || rep.Layers[0].After != 16 || rep.Layers[1].After != 32 {
		t.Fatalf("report %+v", rep)
	}
	if w := p.Graph.Initializers["f1.weight"]; w.Shape[1] != 32*49 {
		t.Fatalf("f1.weight %v", w.Shape)
	}
	eval, err := compress.MNIST(mnistTest(t), 0, 10000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var rs []compress.Report
	for _, v := range []struct {
		name string
		m    *graph.Model
	}{{"fp32", m}, {"50% filters", p}} {
		r, err := compress.Measure(v.name, v.m, eval, compress.MeasureOptions{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	t.Logf("mnist_cnn: %d -> %d bytes; accuracy %.2f%% -> %.2f%% before fine-tuning",
		rs[0].Bytes, rs[1].Bytes, 100*rs[0].Accuracy, 100*rs[1].Accuracy)
	if rs[1].Accuracy < 0.5 {
		t.Errorf("accuracy %.4f: the rewrite is probably wrong", rs[1].Accuracy)
	}
}

// BenchmarkMNISTCNNChannels times batch-1 inference of mnist_cnn before and
// after removing half of its filters:
//
//	go test ./compress/prune -run XXX -bench MNISTCNNChannels
func BenchmarkMNISTCNNChannels(b *testing.B) {
	m := loadShared(b, "mnist_cnn")
	p, _, err := Channels(m, ChannelOptions{Ratio: 0.5})
	if err != nil {
		b.Fatal(err)
	}
	x := mnistTest(b).Batch(0, 1)
	for _, v := range []struct {
		name string
		m    *graph.Model
	}{{"fp32", m}, {"filters50", p}} {
		b.Run(v.name, func(b *testing.B) {
			s, err := runtime.Compile(v.m, runtime.Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			in := []*tensor.Tensor{x}
			for b.Loop() {
				if _, err := s.RunOrdered(in, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
