package flnet

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/train/arch"
)

// FedBuff's buffered updates survive a coordinator checkpoint: the
// restored buffer holds the same sum (to float64 precision) and count.
func TestCheckpointKeepsFedBuffBuffer(t *testing.T) {
	st, err := ParseStrategy("fedbuff:3")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Model: arch.MLP("m", []int{4}, []int{3}, 2, 1), Strategy: st, Rounds: 10, Seed: 1}
	c1, err := NewCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fb := c1.async.(*federated.FedBuff)
	for i := range 2 {
		u := make([]float32, c1.dim)
		for j := range u {
			u[j] = float32(i+1) * (0.1 + float32(j)) / 7
		}
		if _, err := fb.Add(c1.global, federated.Update{Client: federated.ClientID(i), Params: u}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := c1.SaveCheckpoint(&buf); err != nil {
		t.Fatal(err)
	}
	c2, _ := NewCoordinator(cfg)
	if err := c2.LoadCheckpoint(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	want, wn := fb.Buffered()
	got, gn := c2.async.(*federated.FedBuff).Buffered()
	if gn != wn || !slices.Equal(got, want) {
		t.Fatalf("restored buffer: %d updates, sum differs: %v", gn, !slices.Equal(got, want))
	}
	// A checkpoint claiming buffered updates without their sum is refused
	// and leaves the coordinator as it was.
	bad := bytes.Replace(buf.Bytes(), []byte(`"fedbuff_hi","fedbuff_lo"`), []byte(`"fedbuff_hi","fedbuff_xx"`), 1)
	c3, _ := NewCoordinator(cfg)
	before := slices.Clone(c3.global)
	if err := c3.LoadCheckpoint(bytes.NewReader(bad)); !errors.Is(err, ErrCheckpoint) {
		t.Errorf("checkpoint without the buffer sum: %v", err)
	}
	if !slices.Equal(c3.global, before) {
		t.Error("a refused checkpoint changed the global model")
	}
}
