package demo

import (
	"bytes"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	var buf bytes.Buffer
	res, err := Run(&buf, Options{Threads: 1, Samples: 50})
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
