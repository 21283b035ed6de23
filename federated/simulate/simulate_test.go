package simulate_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edgedl/edgedl/federated/simulate"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

var (
	mnistOnce sync.Once
	trainSet  data.Dataset
	testSet   data.Dataset
	mnistErr  error
)

// mnist returns 2,000 training and 1,000 test images (skipping without
// MNIST).
func mnist(t *testing.T) (data.Dataset, data.Dataset) {
	t.Helper()
	mnistOnce.Do(func() {
		dir, err := data.MNISTDir()
		if err != nil {
			mnistErr = err
			return
		}
		tr, err := data.MNIST(dir, "train")
		if err != nil {
			mnistErr = err
			return
		}
		te, err := data.MNIST(dir, "test")
		if err != nil {
			mnistErr = err
			return
		}
		trainSet = &data.Subset{Data: tr, Indices: data.Permutation(tr.Len(), 3, 0)[:2000]}
		testSet = &data.Subset{Data: te, Indices: data.Permutation(te.Len(), 3, 1)[:1000]}
	})
	if mnistErr != nil {
		t.Skipf("MNIST not available: %v", mnistErr)
	}
	return trainSet, testSet
}

func base(t *testing.T) simulate.Config {
	tr, te := mnist(t)
	return simulate.Config{Model: arch.MNIST2NN(1), Train: tr, Test: te, Clients: 8, Fraction: 0.5, Rounds: 3,
		LocalEpochs: 2, Batch: 10, LR: 0.1, Seed: 1}
}

func run(t *testing.T, cfg simulate.Config) []simulate.Record {
	t.Helper()
	recs, err := simulate.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != cfg.Rounds {
		t.Fatalf("%d records for %d rounds", len(recs), cfg.Rounds)
	}
	return recs
}

func acc(r simulate.Record) float64 {
	if r.Accuracy == nil {
		return math.NaN()
	}
	return *r.Accuracy
}

func TestFedAvg(t *testing.T) {
	recs := run(t, base(t))
	for _, r := range recs {
		t.Logf("%+v acc %.3f", r, acc(r))
	}
	if a := acc(recs[2]); a < 0.8 {
		t.Errorf("accuracy %.3f after 3 rounds", a)
	}
	png := filepath.Join(t.TempDir(), "fedavg.png")
	if err := simulate.PlotFile(png, "FedAvg", []simulate.Series{{Name: "fedavg", Records: recs}}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(png); err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Errorf("plot: %d bytes, %v", len(b), err)
	}
}

// Compressed uplinks are smaller by the factor the codec promises and
// still learn.
func TestCompressionShrinksUplink(t *testing.T) {
	cfg := base(t)
	dense := run(t, cfg)
	up := dense[len(dense)-1].BytesUpTotal
	for _, c := range []struct {
		spec   string
		factor float64 // at least this much smaller
		acc    float64
	}{
		{"qsgd:8", 3.9, 0.75},
		{"qsgd:4", 7.5, 0.7},
		{"topk:0.01", 15, 0.3},
		{"sign", 25, 0.5},
	} {
		cfg.Compress = c.spec
		recs := run(t, cfg)
		last := recs[len(recs)-1]
		ratio := float64(up) / float64(last.BytesUpTotal)
		t.Logf("%-10s uplink %9d bytes (%.1fx smaller), accuracy %.3f", c.spec, last.BytesUpTotal, ratio, acc(last))
		if ratio < c.factor {
			t.Errorf("%s: uplink only %.1fx smaller than dense", c.spec, ratio)
		}
		if acc(last) < c.acc {
			t.Errorf("%s: accuracy %.3f", c.spec, acc(last))
		}
		if d := dense[len(dense)-1].BytesDownTotal; math.Abs(float64(last.BytesDownTotal-d)) > 1e-3*float64(d) {
			t.Errorf("%s: downlink %d bytes, dense run %d", c.spec, last.BytesDownTotal, dense[len(dense)-1].BytesDownTotal)
		}
	}
}

// Two of eight clients send sign-flipped, scaled updates. FedAvg is
// dragged off; the median and Krum ignore them.
func TestPoisoningRobustAggregation(t *testing.T) {
	cfg := base(t)
	cfg.Fraction = 1
	cfg.Attackers, cfg.Attack = 2, "signflip:4"
	res := map[string]float64{}
	for _, alg := range []string{"fedavg", "median", "krum:2", "trimmed-mean:0.25"} {
		cfg.Algorithm = alg
		recs := run(t, cfg)
		res[alg] = acc(recs[len(recs)-1])
		t.Logf("%-18s accuracy %.3f under attack", alg, res[alg])
	}
	clean := base(t)
	clean.Fraction = 1
	honest := acc(run(t, clean)[2])
	t.Logf("%-18s accuracy %.3f without attackers", "fedavg", honest)
	if res["fedavg"] > 0.5 {
		t.Errorf("FedAvg kept %.3f accuracy under a sign-flip attack", res["fedavg"])
	}
	for _, alg := range []string{"median", "krum:2", "trimmed-mean:0.25"} {
		if res[alg] < honest-0.1 {
			t.Errorf("%s: %.3f under attack, FedAvg without attackers %.3f", alg, res[alg], honest)
		}
	}
}

// Heterogeneous speeds and dropouts with a deadline: slow clients miss
// rounds, dropped ones never answer, and training still progresses.
func TestDeadlineDropoutsAsyncGossip(t *testing.T) {
	t.Run("sync", func(t *testing.T) {
		cfg := base(t)
		cfg.Rounds, cfg.Dropout, cfg.SpeedSpread, cfg.Deadline = 4, 0.2, 1, 0.6
		recs := run(t, cfg)
		var late, dropped, arrived int
		for _, r := range recs {
			late, dropped, arrived = late+r.Late, dropped+r.Dropped, arrived+r.Arrived
			if r.Selected != r.Arrived+r.Late+r.Dropped {
				t.Errorf("round %d: %d selected, %d arrived, %d late, %d dropped", r.Round, r.Selected, r.Arrived, r.Late, r.Dropped)
			}
			if r.SimTime > float64(r.Round)*cfg.Deadline+1e-9 {
				t.Errorf("round %d ends at %.3fs, after its deadline", r.Round, r.SimTime)
			}
		}
		t.Logf("%d arrived, %d late, %d dropped; accuracy %.3f", arrived, late, dropped, acc(recs[3]))
		if late == 0 || dropped == 0 || acc(recs[3]) < 0.6 {
			t.Errorf("late %d, dropped %d, accuracy %.3f", late, dropped, acc(recs[3]))
		}
	})
	t.Run("async", func(t *testing.T) {
		cfg := base(t)
		cfg.Algorithm, cfg.SpeedSpread, cfg.Rounds = "fedasync:0.6", 1, 4
		recs := run(t, cfg)
		last := recs[len(recs)-1]
		t.Logf("version %d, mean staleness %.2f, accuracy %.3f", last.Version, last.Staleness, acc(last))
		if last.Version != 16 || last.Staleness <= 0 || acc(last) < 0.6 {
			t.Errorf("last record %+v, accuracy %.3f", last, acc(last))
		}
	})
	t.Run("fedbuff", func(t *testing.T) {
		cfg := base(t)
		cfg.Algorithm, cfg.SpeedSpread = "fedbuff:2", 1
		last := run(t, cfg)[2]
		if last.Version != 6 || acc(last) < 0.6 {
			t.Errorf("last record %+v, accuracy %.3f", last, acc(last))
		}
	})
	t.Run("gossip", func(t *testing.T) {
		cfg := base(t)
		cfg.Algorithm, cfg.Topology = "gossip", "ring"
		recs := run(t, cfg)
		last := recs[2]
		t.Logf("gossip: accuracy %.3f, consensus distance %.4f, %d bytes per round", acc(last), last.Consensus, last.BytesUp)
		// A ring of 8: each peer sends its dense model (4 bytes a parameter
		// and a 5-byte header) to its two neighbours.
		if acc(last) < 0.7 || last.Consensus <= 0 || last.BytesUp != 16*int64(4*199210+5) {
			t.Errorf("last record %+v, accuracy %.3f", last, acc(last))
		}
	})
}

// Secure aggregation gives the coordinator only the sum, yet the model is
// the one plain FedAvg computes (to fixed-point rounding), also when a
// client drops out; DP noise costs accuracy and reports epsilon.
func TestSecAggAndDP(t *testing.T) {
	cfg := base(t)
	plain := run(t, cfg)
	cfg.SecAgg = true
	sec := run(t, cfg)
	for i := range plain {
		if math.Abs(acc(plain[i])-acc(sec[i])) > 0.01 || plain[i].Epsilon != nil {
			t.Errorf("round %d: FedAvg %.3f, with secure aggregation %.3f", i+1, acc(plain[i]), acc(sec[i]))
		}
	}
	t.Logf("secure aggregation: uplink %d bytes vs %d plain", sec[2].BytesUpTotal, plain[2].BytesUpTotal)
	cfg.Dropout, cfg.Rounds = 0.3, 4
	dropped, aggregated := 0, 0
	for _, r := range run(t, cfg) {
		dropped += r.Dropped
		if r.Aggregated {
			aggregated++
		}
		t.Logf("secure aggregation with dropouts, round %d: %d selected, %d dropped, aggregated %v, accuracy %.3f",
			r.Round, r.Selected, r.Dropped, r.Aggregated, acc(r))
	}
	if dropped == 0 || aggregated < 3 {
		t.Errorf("%d dropouts, %d rounds aggregated", dropped, aggregated)
	}

	cfg = base(t)
	cfg.DPNoise, cfg.DPClip, cfg.Rounds = 0.5, 1, 3
	priv := run(t, cfg)
	for _, r := range priv {
		if r.Epsilon == nil || !(*r.Epsilon > 0) {
			t.Fatalf("round %d: epsilon %v", r.Round, r.Epsilon)
		}
		t.Logf("DP round %d: epsilon %.2f, accuracy %.3f", r.Round, *r.Epsilon, acc(r))
	}
	if *priv[2].Epsilon <= *priv[0].Epsilon {
		t.Errorf("epsilon does not grow: %v", *priv[2].Epsilon)
	}
	cfg.SecAgg = true
	both := run(t, cfg)
	t.Logf("DP + secure aggregation: epsilon %.2f, accuracy %.3f", *both[2].Epsilon, acc(both[2]))
}

// With every client selected and a fifth of them 10x slower, a synchronous
// round lasts as long as its slowest client: 10x the time of a round of
// equal clients (the per-task jitter is 10%); bad straggler settings are
// refused.
func TestSlowClients(t *testing.T) {
	cfg := base(t)
	cfg.Fraction, cfg.Rounds, cfg.LocalEpochs = 1, 1, 1
	even := run(t, cfg)
	cfg.SlowFraction = 0.25 // 2 of 8
	slow := run(t, cfg)
	ratio := slow[0].SimTime / even[0].SimTime
	t.Logf("round time %.3fs with equal clients, %.3fs with 2 of 8 10x slower", even[0].SimTime, slow[0].SimTime)
	if ratio < 7 || ratio > 13 {
		t.Errorf("slow clients made rounds %.2fx longer, want about 10x", ratio)
	}
	for _, bad := range []struct{ f, s float64 }{{-0.5, 10}, {1.5, 10}, {0.2, 0.5}} {
		cfg.SlowFraction, cfg.SlowFactor = bad.f, bad.s
		if _, err := simulate.Run(context.Background(), cfg, nil); err == nil {
			t.Errorf("slow fraction %v, factor %v accepted", bad.f, bad.s)
		}
	}
}

// Gossip in the local-update form (train, then mix K times) sends K times
// the bytes of D-PSGD a round and leaves the peers closer together, since
// the fresh local progress is mixed at once; a negative K is refused.
func TestGossipSteps(t *testing.T) {
	cfg := base(t)
	cfg.Algorithm, cfg.Topology = "gossip", "ring"
	dpsgd := run(t, cfg)
	cfg.GossipSteps = 3
	atc := run(t, cfg)
	for i := range atc {
		t.Logf("round %d: D-PSGD accuracy %.3f consensus %.4f; 3 mixing steps: %.3f, %.4f", i+1,
			acc(dpsgd[i]), dpsgd[i].Consensus, acc(atc[i]), atc[i].Consensus)
		if atc[i].BytesUp != 3*dpsgd[i].BytesUp || atc[i].BytesUp != 3*16*int64(4*199210+5) {
			t.Errorf("round %d: %d bytes with 3 mixing steps, %d with one", i+1, atc[i].BytesUp, dpsgd[i].BytesUp)
		}
		if !(atc[i].Consensus < dpsgd[i].Consensus) || acc(atc[i]) < 0.6 {
			t.Errorf("round %d: consensus distance %.4f with 3 mixing steps, %.4f with D-PSGD; accuracy %.3f",
				i+1, atc[i].Consensus, dpsgd[i].Consensus, acc(atc[i]))
		}
	}
	cfg.GossipSteps = -1
	if _, err := simulate.Run(context.Background(), cfg, nil); err == nil {
		t.Error("negative gossip steps accepted")
	}
}
