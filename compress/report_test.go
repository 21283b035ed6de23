package compress_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/codebook"
	"github.com/edgedl/edgedl/compress/pareto"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/compress/quantize"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
)

// Every compression of mnist_cnn side by side: size, accuracy on the
// 10,000 test images, batch-1 latency, the per-layer error of the int8
// model, and the Pareto plot (left in $EDGEDL_COMPRESS_OUT if set).
func TestMNISTCNNReport(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000-image accuracy runs")
	}
	path := filepath.Join(testenv.Shared(t), "models", "mnist_cnn", "model.onnx")
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := mnist.Dir()
	if err != nil {
		t.Skip(err)
	}
	train, err := mnist.Load(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := mnist.Load(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	calib, _ := compress.MNIST(train, 0, 1000, 250)
	eval, _ := compress.MNIST(ts, 0, ts.Len(), 1000)
	one := ts.Batch(0, 1)

	static, err := quantize.Static(m, calib, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dynamic, err := quantize.Dynamic(m, quantize.DynamicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	half, err := quantize.Float16(m, quantize.Float16Options{})
	if err != nil {
		t.Fatal(err)
	}
	filters, _, err := prune.Channels(m, prune.ChannelOptions{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	sparse, _, err := prune.Magnitude(m, prune.MagnitudeOptions{Sparsity: 0.9, Scope: prune.Global})
	if err != nil {
		t.Fatal(err)
	}
	sparseFile, _, err := prune.EncodeSparse(sparse, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	box, _, err := codebook.Encode(sparse, codebook.Options{Bits: 3})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := codebook.Decode(box, codebook.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	variants := []struct {
		name  string
		m     *graph.Model
		bytes int64
	}{
		{"fp32", m, 0},
		{"fp16 weights", half, 0},
		{"int8 static QDQ", static, 0},
		{"int8 dynamic", dynamic, 0},
		{"50% filters", filters, 0},
		{"90% sparse (sparse ONNX)", sparse, int64(len(sparseFile))},
		{"90% sparse + 3-bit codebook", shared, int64(len(box))},
	}
	var rs []compress.Report
	for _, v := range variants {
		r, err := compress.Measure(v.name, v.m, eval, compress.MeasureOptions{Threads: 1, LatencyInputs: []*tensor.Tensor{one}, LatencyRuns: 100, Bytes: v.bytes})
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	var buf bytes.Buffer
	if err := compress.WriteReports(&buf, rs); err != nil {
		t.Fatal(err)
	}
	les, err := compress.LayerErrors(m, static, calib[:1], 2)
	if err != nil {
		t.Fatal(err)
	}
	buf.WriteString("\nint8 static QDQ, per-layer rel L2 vs fp32 (250 calibration images):\n")
	for _, le := range les {
		buf.WriteString(fmt.Sprintf("  %-12s %-8s %.4f\n", le.Node, le.Op, le.RelL2))
	}
	t.Logf("mnist_cnn (latency: batch 1, 1 thread, shared machine)\n%s", buf.String())
	out := os.Getenv("EDGEDL_COMPRESS_OUT")
	if out == "" {
		out = t.TempDir()
	}
	png := filepath.Join(out, "mnist_cnn_pareto.png")
	if err := pareto.PlotFile(png, "mnist_cnn", rs); err != nil {
		t.Fatal(err)
	}
	var front []string
	for _, i := range pareto.Front(rs) {
		front = append(front, rs[i].Name)
	}
	t.Logf("Pareto front: %v; plot %s", front, png)
	if rs[2].Accuracy < rs[0].Accuracy-0.001 {
		t.Errorf("int8 accuracy %.4f vs fp32 %.4f", rs[2].Accuracy, rs[0].Accuracy)
	}
}
