package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestRunEngine(t *testing.T) {
	var buf bytes.Buffer
	res, err := RunEngine(&buf, Options{Threads: 1, Samples: 50})
	if err != nil {
		t.Fatal(err)
	}
	// The embedded model gets 97.9% on the full test set; on the first 50
	// digits it must get nearly all right.
	if res.Correct < 47 {
		t.Errorf("only %d of 50 digits correct", res.Correct)
	}
	if !strings.Contains(buf.String(), "latency median") {
		t.Errorf("report lacks the latency table:\n%s", buf.String())
	}
}

// TestRun runs a short split demo: 100 then 2 Mbit/s.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s demo")
	}
	var buf bytes.Buffer
	res, err := Run(&buf, Options{Duration: 3 * time.Second, Interval: 500 * time.Millisecond, Bandwidths: []float64{100, 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + buf.String())
	if res.Requests == 0 || res.Failed > 0 {
		t.Fatalf("%d requests, %d failed", res.Requests, res.Failed)
	}
	if acc := float64(res.Correct) / float64(res.Digits); acc < 0.9 {
		t.Errorf("accuracy %.3f", acc)
	}
	for _, want := range []string{"summary:", "plan switches:", "uplink now 2 Mbit/s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
