package nn_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// benchModel times whole-model inference on a shared reference model. With
// EDGEDL_NN_PROFILE=1 it also logs the time spent per operator type (and
// per Conv shape class), which is how this package's kernels are tuned.
func benchModel(b *testing.B, name string, threads int) {
	dir := filepath.Join(testenv.Shared(b), "models", name)
	m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	x, err := onnx.ReadTensor(filepath.Join(dir, "test_data_set_0", "input_0.pb"))
	if err != nil {
		b.Fatal(err)
	}
	in := []*tensor.Tensor{x}
	if _, err := s.RunOrdered(in, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.RunOrdered(in, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if os.Getenv("EDGEDL_NN_PROFILE") == "" {
		return
	}
	per := map[string]time.Duration{}
	const runs = 20
	for i := 0; i < runs; i++ {
		_, err := s.RunOrdered(in, func(_ int, n *graph.Node, in, out []*tensor.Tensor, d time.Duration) {
			per[opClass(n, in)] += d
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var keys []string
	var total time.Duration
	for k, d := range per {
		keys = append(keys, k)
		total += d
	}
	sort.Slice(keys, func(i, j int) bool { return per[keys[i]] > per[keys[j]] })
	b.Logf("%s threads=%d: %v per run", name, threads, total/runs)
	for _, k := range keys {
		b.Logf("  %-40s %8.3f ms", k, float64(per[k]/runs)/1e6)
	}
}

func opClass(n *graph.Node, in []*tensor.Tensor) string {
	if n.OpType != "Conv" || len(in) < 2 {
		return n.OpType
	}
	w := in[1]
	g := int64(1)
	if a := n.Attrs["group"]; a != nil {
		g = a.Int
	}
	s := int64(1)
	if a := n.Attrs["strides"]; a != nil && len(a.Ints) > 0 {
		s = a.Ints[0]
	}
	kind := "general"
	if g > 1 && w.Shape[1] == 1 {
		kind = "depthwise"
	}
	return fmt.Sprintf("Conv %s k%v s%d", kind, w.Shape[2:], s)
}

func BenchmarkMobileNetV2(b *testing.B)   { benchModel(b, "mobilenet_v2", 1) }
func BenchmarkMobileNetV2x2(b *testing.B) { benchModel(b, "mobilenet_v2", 2) }
func BenchmarkSqueezeNet(b *testing.B)    { benchModel(b, "squeezenet1_1", 1) }
func BenchmarkSqueezeNetx2(b *testing.B)  { benchModel(b, "squeezenet1_1", 2) }
func BenchmarkMNISTCNN(b *testing.B)      { benchModel(b, "mnist_cnn", 1) }
