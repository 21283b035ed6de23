package codebook

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/entropy"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
)

// Compression ratios of the FedAvg MNIST models (before any retraining:
// pruning and sharing only). The ratio is the ONNX file's size over the
// container's.
func TestMNISTRatios(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000-image accuracy runs")
	}
	dir, err := mnist.Dir()
	if err != nil {
		t.Skip(err)
	}
	ts, err := mnist.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	eval, err := compress.MNIST(ts, 0, ts.Len(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	configs := []struct {
		name     string
		sparsity float64
		bits     int
		minRatio float64
		maxDrop  float64 // accuracy points lost, at most
	}{
		{"5-bit codebooks", 0, 5, 8, 0.1},
		{"80% pruned + 4 bits", 0.8, 4, 20, 2},
		{"90% pruned + 3 bits", 0.9, 3, 35, 13},
	}
	for _, name := range []string{"mnist_cnn", "mnist_2nn"} {
		path := filepath.Join(testenv.Shared(t), "models", name, "model.onnx")
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		size, _ := compress.FileSize(path)
		base := accuracy(t, m, eval)
		t.Logf("%s: %d bytes, %.2f%%", name, size, 100*base)
		for _, c := range configs {
			pm := m
			if c.sparsity > 0 {
				if pm, _, err = prune.Magnitude(m, prune.MagnitudeOptions{Sparsity: c.sparsity, Scope: prune.Global}); err != nil {
					t.Fatal(err)
				}
			}
			var n [2]int
			var d *graph.Model
			for i, coder := range []entropy.Coder{entropy.Huffman, entropy.RANS} {
				b, _, err := Encode(pm, Options{Bits: c.bits, Coder: coder})
				if err != nil {
					t.Fatal(err)
				}
				n[i] = len(b)
				if d, err = Decode(b, DecodeOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			acc := accuracy(t, d, eval)
			ratio := float64(size) / float64(n[0])
			t.Logf("  %-20s Huffman %8d bytes (%5.1fx), rANS %8d bytes (%5.1fx), accuracy %.2f%%",
				c.name, n[0], ratio, n[1], float64(size)/float64(n[1]), 100*acc)
			if ratio < c.minRatio {
				t.Errorf("%s %s: ratio %.1f < %.0f", name, c.name, ratio, c.minRatio)
			}
			if drop := 100 * (base - acc); drop > c.maxDrop || math.IsNaN(drop) {
				t.Errorf("%s %s: accuracy drop %.2f points > %.1f", name, c.name, drop, c.maxDrop)
			}
		}
	}
}

func accuracy(t *testing.T, m *graph.Model, eval []compress.Batch) float64 {
	t.Helper()
	s, err := runtime.Compile(m, runtime.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := compress.Accuracy(s, eval)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
