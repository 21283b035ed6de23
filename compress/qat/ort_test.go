//go:build ort

package qat

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train/data"
)

// TestLongORTAccuracy scores the QDQ files that TestLongQATMNISTCNN and
// TestLongIoTQuantize left in EDGEDL_COMPRESS_OUT with ONNX Runtime, next
// to edgedl's own accuracy (needs scripts/setup-ort.sh and -tags ort):
//
//	EDGEDL_LONG=1 EDGEDL_COMPRESS_OUT=/tmp/qat go test -tags ort ./compress/qat -run 'TestLong' -v
func TestLongORTAccuracy(t *testing.T) {
	out := os.Getenv("EDGEDL_COMPRESS_OUT")
	if os.Getenv("EDGEDL_LONG") != "1" || out == "" {
		t.Skip("set EDGEDL_LONG=1 and EDGEDL_COMPRESS_OUT to the folder of the long tests' models")
	}
	var sets []struct {
		files []string
		test  []compress.Batch
	}
	if dir, err := data.MNISTDir(); err == nil {
		if te, err := data.MNIST(dir, "test"); err == nil {
			sets = append(sets, struct {
				files []string
				test  []compress.Batch
			}{[]string{"mnist_cnn_fp32.onnx", "mnist_cnn_ptq_int8.onnx", "mnist_cnn_qat_int8.onnx"}, batches(te, 1000)})
		}
	}
	if tr, te, err := data.LoadTS(filepath.Join(testenv.Shared(t), "datasets", "iot", "BasicMotions")); err == nil {
		mean, std := data.ChannelStats(tr)
		data.Normalize(te, mean, std)
		sets = append(sets, struct {
			files []string
			test  []compress.Batch
		}{[]string{"BasicMotions_tscnn_fp32.onnx", "BasicMotions_tscnn_int8_PTQ.onnx", "BasicMotions_tscnn_int8_QAT.onnx"}, batches(te, 64)})
	}
	found := 0
	for _, s := range sets {
		for _, f := range s.files {
			path := filepath.Join(out, f)
			if _, err := os.Stat(path); err != nil {
				continue
			}
			found++
			ort, err := compress.ORTAccuracy(path, s.test, 2)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := compress.Measure(f, m, s.test, compress.MeasureOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Accuracy
			t.Logf("%s: ONNX Runtime %.2f%%, edgedl %.2f%%", f, 100*ort, 100*r)
			if ort < r-0.002 || ort > r+0.002 {
				t.Errorf("%s: ONNX Runtime %.4f and edgedl %.4f disagree by more than 0.2 points", f, ort, r)
			}
		}
	}
	if found == 0 {
		t.Skipf("no long-test models in %s", out)
	}
}
