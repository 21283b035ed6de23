package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgedl/edgedl/internal/testenv"
)

// `edgedl bench cascade` on the 200 embedded digits: JSON with a row per
// threshold, and a plot.
func TestBenchCascade(t *testing.T) {
	_, stderr, code := runCLI(t, "bench", "cascade")
	wantError(t, code, stderr, 2, "edgedl bench-cascade: --big MODEL.onnx is required")
	_, stderr, code = runCLI(t, "bench", "cascade", "--big", "m.onnx", "--thresholds", "0.5,high")
	wantError(t, code, stderr, 2, `--thresholds: "high" is not a number`)
	_, stderr, code = runCLI(t, "bench", "cascade", "--big", "missing.onnx", "--dataset", "embedded")
	wantError(t, code, stderr, 1, "--big:", "missing.onnx")

	big := filepath.Join(testenv.Shared(t), "models", "mnist_cnn", "model.onnx")
	png := filepath.Join(t.TempDir(), "cascade.png")
	stdout, stderr, code := runCLI(t, "bench", "cascade", "--big", big, "--dataset", "embedded", "--timed", "5",
		"--thresholds", "0.9,0.5", "--rtt", "1ms", "--bandwidth", "100", "--json", "--plot", png)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Inputs int `json:"inputs"`
		Timed  int `json:"timed_inputs"`
		Rows   []struct {
			Threshold float64 `json:"threshold"`
			Fraction  float64 `json:"fraction_offloaded"`
			Accuracy  float64 `json:"accuracy"`
			MeanMs    float64 `json:"mean_latency_ms"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Inputs != 200 || rep.Timed != 5 || len(rep.Rows) != 2 || rep.Rows[0].Threshold != 0.5 ||
		rep.Rows[1].Fraction < rep.Rows[0].Fraction || rep.Rows[0].Accuracy < 0.9 || rep.Rows[0].MeanMs <= 0 {
		t.Errorf("report %+v", rep)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Errorf("plot: %v", err)
	}
}
