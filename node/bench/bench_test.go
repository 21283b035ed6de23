package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/models/embedded"
)

// TestRunMNIST benchmarks the embedded model at two bandwidths with one
// request per placement: every row must be filled, the oracle no slower
// than any measured placement, and the plot written.
func TestRunMNIST(t *testing.T) {
	m, err := embedded.MNISTModel()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), "mnist_small", m, Options{Bandwidths: []float64{1, 1000},
		RTT: time.Millisecond, EdgeCloudRTT: time.Millisecond, Requests: 1, Candidates: 2, ProfileRuns: 3})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	WriteTable(&buf, rep)
	t.Log("\n" + buf.String())
	if len(rep.Rows) != 2 {
		t.Fatalf("%d rows", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if r.PlannerMs <= 0 || r.OracleMs <= 0 || r.AllDeviceMs <= 0 || r.AllEdgeMs <= 0 || r.AllCloudMs <= 0 ||
			r.PlannerCut == "" || r.OracleCut == "" {
			t.Errorf("incomplete row %+v", r)
		}
		best := min(r.AllDeviceMs, r.AllEdgeMs, r.AllCloudMs)
		if r.BestSingleMs != best || r.Speedup != best/r.PlannerMs {
			t.Errorf("%g Mbit/s: best single tier %s %.2f ms, speedup %.3f; want %.2f ms, %.3f", r.Mbps, r.BestSingle,
				r.BestSingleMs, r.Speedup, best, best/r.PlannerMs)
		}
		for _, mm := range r.Measured {
			if mm.MeasuredMs < r.OracleMs {
				t.Errorf("%g Mbit/s: %s measured %.2f ms, below the oracle's %.2f", r.Mbps, mm.Split, mm.MeasuredMs, r.OracleMs)
			}
		}
	}
	b, _ := json.Marshal(rep)
	for _, key := range []string{"planner_ms", "oracle_ms", "all_device_ms", "all_edge_ms", "all_cloud_ms", "planner_cut", "oracle_cut",
		"best_single_tier", "speedup_over_best_single_tier"} {
		if !strings.Contains(string(b), `"`+key+`"`) {
			t.Errorf("JSON lacks %q", key)
		}
	}
	png := filepath.Join(t.TempDir(), "plot.png")
	if err := PlotFile(png, rep); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 1000 {
		t.Errorf("plot: %v", err)
	}
}
