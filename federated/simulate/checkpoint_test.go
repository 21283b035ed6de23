package simulate_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/federated/simulate"
)

// A run stopped after 2 rounds and resumed to 4 ends exactly where an
// uninterrupted 4-round run ends: the same accuracies, losses, bytes and
// simulated times, round by round; only rounds 3-4 are reported again.
func TestCheckpointResume(t *testing.T) {
	for _, compress := range []string{"none", "topk:0.05"} {
		t.Run(compress, func(t *testing.T) {
			ckpt := filepath.Join(t.TempDir(), "sim.ckpt")
			cfg := base(t)
			cfg.Rounds, cfg.Compress = 4, compress
			full := run(t, cfg)

			cfg.Rounds, cfg.Checkpoint = 2, ckpt
			first := run(t, cfg)
			if len(first) != 2 {
				t.Fatalf("%d records before the stop", len(first))
			}
			cfg.Rounds, cfg.Resume = 4, true
			var reported []int
			resumed, err := simulate.Run(context.Background(), cfg, func(r simulate.Record) error {
				reported = append(reported, r.Round)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(reported) != 2 || reported[0] != 3 || reported[1] != 4 {
				t.Errorf("resumed run reported rounds %v, want [3 4]", reported)
			}
			if len(resumed) != len(full) {
				t.Fatalf("%d records after resuming, want %d", len(resumed), len(full))
			}
			for i := range full {
				a, b := full[i], resumed[i]
				if *a.Accuracy != *b.Accuracy || *a.Loss != *b.Loss || a.BytesUpTotal != b.BytesUpTotal || a.SimTime != b.SimTime {
					t.Errorf("round %d: uninterrupted acc %v loss %v up %d t %v; resumed acc %v loss %v up %d t %v", a.Round,
						*a.Accuracy, *a.Loss, a.BytesUpTotal, a.SimTime, *b.Accuracy, *b.Loss, b.BytesUpTotal, b.SimTime)
				}
			}
		})
	}
}

func TestCheckpointRefusals(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "sim.ckpt")
	cfg := base(t)
	cfg.Rounds, cfg.Checkpoint = 1, ckpt
	run(t, cfg)
	cfg.Rounds, cfg.Resume, cfg.LR = 2, true, 0.5 // another learning rate
	if _, err := simulate.Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("resume with another lr: %v", err)
	}
	cfg.LR, cfg.Algorithm = 0.1, "fedasync"
	if _, err := simulate.Run(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "synchronous") {
		t.Errorf("checkpoint with async: %v", err)
	}
	cfg.Algorithm, cfg.Checkpoint = "fedavg", filepath.Join(t.TempDir(), "missing")
	if _, err := simulate.Run(context.Background(), cfg, nil); err == nil {
		t.Error("resume from a missing file succeeded")
	}
}
