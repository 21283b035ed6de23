package flnet

import (
	"math"
	"testing"

	"github.com/edgedl/edgedl/federated/codec"
	"github.com/edgedl/edgedl/train/arch"
)

// DGC over successive updates: the state (momentum, velocity) is 2·dim
// long and carried between calls; a coordinate too small to be sent
// accumulates u ← m·u + g, w ← w + u until it is, and what is sent equals
// the velocity a reference computation gives.
func TestDGCCompressionState(t *testing.T) {
	c, err := ParseCompression("dgc:0.25:0.5")
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != "dgc:0.25:0.5" || c.StateLen(8) != 16 || !c.Stateful() {
		t.Fatalf("parsed %+v: %s, state %d", c, c, c.StateLen(8))
	}
	if d, _ := ParseCompression("dgc:0.01"); d.Momentum != 0.9 || d.String() != "dgc:0.01" {
		t.Errorf("default momentum: %+v", d)
	}
	for _, bad := range []string{"dgc", "dgc:0", "dgc:0.1:1", "dgc:0.1:-0.1", "dgc:0.1:0.5:2"} {
		if _, err := ParseCompression(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// 8 coordinates, k = 2: coordinates 0 and 1 are large every time;
	// coordinate 7 has a small constant gradient and builds up velocity.
	g := []float32{10, -9, 0, 0, 0, 0, 0, 1}
	var state []float32
	var u7, w7 float64
	sent7 := -1
	for step := range 6 {
		msg, next, err := c.Encode(g, nil, state)
		if err != nil {
			t.Fatal(err)
		}
		if len(next) != 16 {
			t.Fatalf("state of %d, want 16", len(next))
		}
		state = next
		u7 = 0.5*u7 + 1
		w7 += u7
		got, err := codec.Decode(msg, 8)
		if err != nil {
			t.Fatal(err)
		}
		if got[7] != 0 {
			if math.Abs(float64(got[7])-w7) > 1e-5 {
				t.Errorf("step %d: sent %v for coordinate 7, want the velocity %v", step, got[7], w7)
			}
			sent7 = step
			break
		}
		if float64(state[8+7]) != w7 || float64(state[7]) != u7 {
			t.Errorf("step %d: state u=%v w=%v, want %v %v", step, state[7], state[8+7], u7, w7)
		}
	}
	// The large coordinates are sent and their momentum masked every time
	// (velocities 10 and 9), so coordinate 7 (velocity 1, 2.5, 4.25, 6.13,
	// 8.06, 10.03) takes coordinate 1's place at the sixth step.
	if sent7 != 5 {
		t.Errorf("coordinate 7 first sent at step %d, want 5", sent7)
	}
	// A state of the wrong length (another model) starts afresh.
	if _, next, err := c.Encode(g, nil, make([]float32, 3)); err != nil || len(next) != 16 {
		t.Errorf("wrong-length state: %d, %v", len(next), err)
	}
}

// LRDecay: the task of round r asks for LR·LRDecay^(r-1); a decay outside
// (0, 1] is refused.
func TestLRDecay(t *testing.T) {
	cfg := Config{Model: arch.MNIST2NN(1), Rounds: 5, Fraction: 1, Seed: 1,
		Train: TrainConfig{LR: 0.1, LRDecay: 0.5}}
	c, err := NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for r, want := range map[uint64]float64{0: 0.1, 1: 0.1, 2: 0.05, 4: 0.0125} {
		if got := c.trainConfig(r).GetLr(); math.Abs(got-want) > 1e-12 {
			t.Errorf("round %d: lr %v, want %v", r, got, want)
		}
	}
	cfg.Train.LRDecay = 0
	if c, err = NewCoordinator(cfg); err != nil || c.trainConfig(9).GetLr() != 0.1 {
		t.Errorf("no decay: %v", err)
	}
	for _, bad := range []float64{-0.5, 1.5} {
		cfg.Train.LRDecay = bad
		if _, err := NewCoordinator(cfg); err == nil {
			t.Errorf("decay %v accepted", bad)
		}
	}
}
