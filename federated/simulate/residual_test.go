package simulate

import (
	"context"
	"testing"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// The residual store keeps one vector per client, hands it out once
// (take) and forgets the least recently stored client beyond its cap.
func TestResidualStore(t *testing.T) {
	r := &residuals{cap: 2, m: map[federated.ClientID][]float32{}, used: map[federated.ClientID]uint64{}}
	r.put(1, []float32{1})
	r.put(2, []float32{2})
	if v := r.take(1); len(v) != 1 || v[0] != 1 {
		t.Fatalf("take(1) = %v", v)
	}
	if v := r.take(1); v != nil {
		t.Fatalf("second take(1) = %v, want nil", v)
	}
	r.put(1, []float32{1.5})
	r.put(3, []float32{3}) // evicts 2, the least recently stored
	if r.take(2) != nil || r.take(1)[0] != 1.5 || r.take(3)[0] != 3 {
		t.Error("eviction did not forget the least recently used client")
	}
	r.put(4, nil) // a stateless codec stores nothing
	if len(r.m) != 0 {
		t.Errorf("%d residuals left", len(r.m))
	}
}

// In a simulation, clients are materialised only while they train, yet
// each one's error-feedback state outlives it: after a top-k run every
// client that trained has a residual of the model's size (top-k) or twice
// it (DGC), carried from its last task, and the uplink is sparse.
func TestResidualsPersistAcrossRounds(t *testing.T) {
	dir, err := data.MNISTDir()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	tr, err := data.MNIST(dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	sub := &data.Subset{Data: tr, Indices: data.Permutation(tr.Len(), 5, 0)[:400]}
	for _, c := range []struct {
		spec  string
		state int
	}{{"topk:0.01", 1}, {"dgc:0.01", 2}} {
		var final *runner
		testHookRunDone = func(r *runner) { final = r }
		cfg := Config{Model: arch.MNIST2NN(1), Train: sub, Test: sub, Clients: 8, Fraction: 0.25, Rounds: 6,
			LocalEpochs: 1, Batch: 20, Compress: c.spec, Seed: 2, EvalEvery: 6}
		recs, err := Run(context.Background(), cfg, nil)
		testHookRunDone = nil
		if err != nil {
			t.Fatal(err)
		}
		trained := 0
		for _, rec := range recs {
			trained += rec.Arrived
			if dense := int64(rec.Arrived) * 4 * 199210; rec.BytesUp*20 > dense {
				t.Errorf("%s round %d: %d bytes up for %d updates", c.spec, rec.Round, rec.BytesUp, rec.Arrived)
			}
		}
		if trained != 12 || len(final.resid.m) < 2 || len(final.resid.m) > 8 {
			t.Fatalf("%s: %d updates, residuals of %d clients", c.spec, trained, len(final.resid.m))
		}
		for id, v := range final.resid.m {
			var ss float64
			for _, x := range v {
				ss += float64(x) * float64(x)
			}
			if len(v) != c.state*199210 || ss == 0 {
				t.Errorf("%s: client %d's residual has %d coordinates, squared norm %g", c.spec, id, len(v), ss)
			}
		}
	}
}
