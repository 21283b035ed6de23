package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/models/embedded"
	"github.com/edgedl/edgedl/onnx"
)

// TestRunCascadeMNIST runs the embedded small CNN against the shared
// mnist_cnn on the 200 embedded digits, timing 12 of them over gRPC.
func TestRunCascadeMNIST(t *testing.T) {
	big, err := onnx.Load(filepath.Join(testenv.Shared(t), "models", "mnist_cnn", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	small, err := embedded.MNISTModel()
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := embedded.MNISTSamples()
	if err != nil {
		t.Fatal(err)
	}
	// Thresholds 0 (offload nothing) and 1.5 (offload everything) pin the
	// ends to the two models alone.
	rep, err := RunCascade(context.Background(), small, big, x, y, CascadeOptions{
		Thresholds: []float64{0, 0.9, 0.99, 1.5}, Timed: 12, Mbps: 100, RTT: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	WriteCascadeTable(&buf, rep)
	t.Log("\n" + buf.String())
	if len(rep.Rows) != 4 || rep.Inputs != 200 || rep.Timed != 12 {
		t.Fatalf("%d rows, %d inputs, %d timed", len(rep.Rows), rep.Inputs, rep.Timed)
	}
	none, all := rep.Rows[0], rep.Rows[3]
	if none.Fraction != 0 || none.Accuracy != rep.SmallAccuracy || none.MeanBytesUp != 0 {
		t.Errorf("threshold 0: %+v, want no offloads and the small model's accuracy %.4f", none, rep.SmallAccuracy)
	}
	if all.Fraction != 1 || all.Accuracy != rep.BigAccuracy || all.TimedOffloaded != 12 ||
		math.Abs(all.MeanMs-rep.SmallMs-rep.OffloadMs) > 1e-9 || math.Abs(all.MeanMs-all.TimedMeanMs) > 1e-9 {
		t.Errorf("threshold 1.5: %+v, want everything offloaded and the big model's accuracy %.4f", all, rep.BigAccuracy)
	}
	if rep.SmallAccuracy < 0.9 || rep.BigAccuracy < 0.9 {
		t.Errorf("accuracies %.3f, %.3f: the models should both exceed 90%% on these digits", rep.SmallAccuracy, rep.BigAccuracy)
	}
	for i := 1; i < len(rep.Rows); i++ {
		if rep.Rows[i].Fraction < rep.Rows[i-1].Fraction || rep.Rows[i].MeanBytesUp < rep.Rows[i-1].MeanBytesUp {
			t.Errorf("row %d offloads less than row %d", i, i-1)
		}
	}
	// An offload carries at least the 784 float32 pixels, and costs at
	// least the link's round trip.
	if rep.OffloadBytesUp < 784*4 || rep.OffloadMs < 2 || all.MeanMs <= none.MeanMs {
		t.Errorf("offload %.0f bytes, %.2f ms; mean latency all %.2f vs none %.2f ms", rep.OffloadBytesUp, rep.OffloadMs,
			all.MeanMs, none.MeanMs)
	}
	if rep.Mismatches != 0 {
		t.Errorf("%d answers from the edge differ from the big model run here (fp32 codec)", rep.Mismatches)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("JSON: %v", err)
	}
	png := filepath.Join(t.TempDir(), "cascade.png")
	if err := PlotCascadeFile(png, rep); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Errorf("plot: %v", err)
	}
	if _, err := RunCascade(context.Background(), small, big, x, y[:10], CascadeOptions{}); err == nil {
		t.Error("RunCascade accepted 200 images with 10 labels")
	}
}
