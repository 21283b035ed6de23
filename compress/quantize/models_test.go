package quantize

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
)

// outDir is where the shared-model tests leave their files when
// EDGEDL_COMPRESS_OUT names a folder (for benchmarks and ONNX Runtime).
func outDir(t *testing.T) string {
	d := os.Getenv("EDGEDL_COMPRESS_OUT")
	if d == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func loadShared(t *testing.T, name string) (*graph.Model, string) {
	t.Helper()
	path := filepath.Join(testenv.Shared(t), "models", name, "model.onnx")
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m, path
}

// mnistSets returns 1,000 training images for calibration and the 10,000
// test images for evaluation.
func mnistSets(t *testing.T) (calib, test []compress.Batch) {
	t.Helper()
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
	if calib, err = compress.MNIST(train, 0, 1000, 250); err != nil {
		t.Fatal(err)
	}
	if test, err = compress.MNIST(ts, 0, ts.Len(), 1000); err != nil {
		t.Fatal(err)
	}
	return calib, test
}

// mnist_cnn, statically quantised with 1,000 calibration images, keeps its
// accuracy on the 10,000 test images within 0.1 point, runs as integer
// kernels and is about 4x smaller.
func TestMNISTCNNStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000-image accuracy run")
	}
	m, path := loadShared(t, "mnist_cnn")
	calib, test := mnistSets(t)
	q, err := Static(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir(t), "mnist_cnn_int8_qdq.onnx")
	if err := onnx.Save(out, q); err != nil {
		t.Fatal(err)
	}
	f32, err := compress.FileSize(path)
	if err != nil {
		t.Fatal(err)
	}
	i8, _ := compress.FileSize(out)
	var acc [2]float64
	for i, mm := range []*graph.Model{m, q} {
		r, err := compress.Measure("", mm, test, compress.MeasureOptions{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		acc[i] = r.Accuracy
	}
	t.Logf("mnist_cnn: fp32 %.2f%% %d bytes; static int8 %.2f%% %d bytes (%.2fx smaller)", 100*acc[0], f32, 100*acc[1], i8, float64(f32)/float64(i8))
	if acc[1] < acc[0]-0.001 {
		t.Errorf("int8 accuracy %.4f is more than 0.1 point below fp32's %.4f", acc[1], acc[0])
	}
	if r := float64(f32) / float64(i8); r < 3.9 {
		t.Errorf("only %.2fx smaller", r)
	}
	ops := executedOps(t, q, test[0].Inputs)
	if ops["QConv"] != 2 || ops["QGemm"] != 2 {
		t.Errorf("executed %v: want the integer path (2 QConv, 2 QGemm)", ops)
	}
}

// A QDQ mobilenet_v2, calibrated on random-normal inputs (its weights are
// random too), runs its 52 convolutions and the classifier as integer
// kernels and stays close to the float model.
func TestMobileNetV2Static(t *testing.T) {
	if testing.Short() {
		t.Skip("mobilenet_v2")
	}
	m, _ := loadShared(t, "mobilenet_v2")
	calib, err := compress.RandomNormal(m, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Static(m, calib, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir(t), "mobilenet_v2_int8_qdq.onnx")
	if err := onnx.Save(out, q); err != nil {
		t.Fatal(err)
	}
	test, _ := compress.RandomNormal(m, 4, 2)
	e := outputError(t, m, q, test)
	ops := executedOps(t, q, test[0].Inputs)
	size, _ := compress.FileSize(out)
	t.Logf("%s: %d bytes, output rel L2 vs float %.3g, executed %v", out, size, e, ops)
	if ops["QConv"] != 52 || ops["QGemm"] != 1 || ops["Conv"] != 0 {
		t.Errorf("executed %v: want 52 QConv and 1 QGemm", ops)
	}
	if e > 0.05 {
		t.Errorf("output rel L2 %.3g", e)
	}
}
