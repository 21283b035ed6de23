package sim

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgedl/edgedl/federated"
)

// A toy federated problem: client k minimises ½‖w - θ_k‖² over its n_k
// examples, so the FedAvg optimum is the n_k-weighted mean of the θ_k.
type toy struct {
	dim     int
	theta   map[federated.ClientID][]float32
	samples map[federated.ClientID]int
	pop     []federated.ClientID
}

func newToy(clients, dim int, seed uint64) *toy {
	r := rand.New(rand.NewPCG(seed, 0))
	t := &toy{dim: dim, theta: map[federated.ClientID][]float32{}, samples: map[federated.ClientID]int{}}
	for k := 0; k < clients; k++ {
		id := federated.ClientID(k)
		th := make([]float32, dim)
		for i := range th {
			th[i] = float32(1 + 0.2*r.NormFloat64()) // non-IID: each client its own optimum
		}
		t.theta[id] = th
		t.samples[id] = 10 + r.IntN(90)
		t.pop = append(t.pop, id)
	}
	return t
}

func (t *toy) optimum() []float64 {
	w := make([]float64, t.dim)
	var n float64
	for _, c := range t.pop {
		for i, x := range t.theta[c] {
			w[i] += float64(t.samples[c]) * float64(x)
		}
		n += float64(t.samples[c])
	}
	for i := range w {
		w[i] /= n
	}
	return w
}

func (t *toy) dist(global []float32) float64 {
	opt := t.optimum()
	var s float64
	for i, x := range global {
		d := float64(x) - opt[i]
		s += d * d
	}
	return math.Sqrt(s)
}

// train: 5 steps of noisy gradient descent from the global model.
func (t *toy) train(c federated.ClientID, round uint64, global []float32, rng *rand.Rand) (federated.Update, error) {
	w := slices.Clone(global)
	for step := 0; step < 5; step++ {
		for i := range w {
			g := float64(w[i]-t.theta[c][i]) + 0.01*rng.NormFloat64()
			w[i] -= float32(0.2 * g)
		}
	}
	for i := range w {
		w[i] -= global[i]
	}
	return federated.Update{Client: c, Round: round, Samples: t.samples[c], Params: w,
		Metrics: map[string]float64{"loss": 0.5 * t.dist(global) * t.dist(global)}}, nil
}

func TestSyncFedAvgConverges(t *testing.T) {
	tp := newToy(50, 8, 1)
	lat := Heterogeneous(tp.pop, 1.0, 0.8, 0.1, 0.1, 7)
	runOnce := func() ([]float32, []SyncReport) {
		srv := &federated.Server{Validator: federated.NewValidator(tp.dim, tp.pop)}
		s, err := NewSync(SyncConfig{Population: tp.pop, Fraction: 0.2, Deadline: 2.0, MinUpdates: 2, Seed: 3}, srv)
		if err != nil {
			t.Fatal(err)
		}
		global := make([]float32, tp.dim)
		reps, err := RunSync(s, global, 40, tp.train, lat, func(uint64, []float32) map[string]float64 {
			return map[string]float64{"dist": tp.dist(global)}
		})
		if err != nil {
			t.Fatal(err)
		}
		return global, reps
	}
	g1, reps := runOnce()
	g2, _ := runOnce()
	if !slices.Equal(g1, g2) {
		t.Fatal("two runs with the same seed differ")
	}
	start := tp.dist(make([]float32, tp.dim))
	final := tp.dist(g1)
	var late, missing, arrived, aggregated int
	for _, r := range reps {
		if r.Selected != 10 || r.Arrived+r.Late+r.Missing != r.Selected {
			t.Fatalf("round %d: %+v", r.Round, r)
		}
		late += r.Late
		missing += r.Missing
		arrived += r.Arrived
		if r.Aggregated {
			aggregated++
		}
		if r.End < r.Start || r.End > r.Start+2.0 {
			t.Fatalf("round %d ends at %v", r.Round, r.End)
		}
	}
	t.Logf("40 rounds: distance to optimum %.3f -> %.4f; %d updates in time, %d late, %d dropped; %d rounds aggregated",
		start, final, arrived, late, missing, aggregated)
	// Partial participation keeps FedAvg near, not at, the full-population
	// optimum; it must get well inside the initial distance.
	if final > 0.15*start {
		t.Fatalf("did not converge: %v -> %v", start, final)
	}
	if late == 0 || missing == 0 {
		t.Fatalf("the scenario should have stragglers and dropouts (late %d, missing %d)", late, missing)
	}
}

func TestSyncOverSelection(t *testing.T) {
	tp := newToy(40, 4, 2)
	srv := &federated.Server{}
	s, _ := NewSync(SyncConfig{Population: tp.pop, Fraction: 0.3, Deadline: 10, Target: 5, Seed: 1}, srv)
	global := make([]float32, tp.dim)
	reps, err := RunSync(s, global, 5, tp.train, Heterogeneous(tp.pop, 1, 0.5, 0.1, 0, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if r.Arrived != 5 || r.Late != r.Selected-5 || r.End >= r.Start+10 || !r.Aggregated {
			t.Fatalf("round %d: %+v", r.Round, r)
		}
	}
}

func TestSyncStateMachine(t *testing.T) {
	pop := []federated.ClientID{1, 2, 3, 4}
	srv := &federated.Server{}
	s, _ := NewSync(SyncConfig{Population: pop, Fraction: 1, Deadline: 5, MinUpdates: 3, Seed: 1}, srv)
	if err := s.Deliver(federated.Update{Client: 1}, 0); !errors.Is(err, ErrNoRound) {
		t.Fatalf("deliver before start: %v", err)
	}
	d, _ := s.Start(10)
	if _, err := s.Start(10); !errors.Is(err, ErrRoundOpen) {
		t.Fatalf("double start: %v", err)
	}
	if d.Deadline != 15 || len(d.Clients) != 4 {
		t.Fatalf("dispatch %+v", d)
	}
	global := []float32{0}
	up := func(c federated.ClientID) federated.Update {
		return federated.Update{Client: c, Round: d.Round, Samples: 1, Params: []float32{1}}
	}
	if err := s.Deliver(federated.Update{Client: 9}, 11); !errors.Is(err, ErrNotSelected) {
		t.Fatalf("unselected: %v", err)
	}
	_ = s.Deliver(up(1), 11)
	if err := s.Deliver(up(1), 12); !errors.Is(err, ErrLate) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := s.Deliver(up(2), 16); !errors.Is(err, ErrLate) {
		t.Fatalf("after deadline: %v", err)
	}
	// Only one update in time: abandoned, model unchanged, round used up.
	rep, err := s.Close(global)
	if err != nil || rep.Aggregated || global[0] != 0 || srv.Round != 1 || rep.Missing != 2 || rep.Late != 2 {
		t.Fatalf("abandoned round: %+v, %v, global %v, server round %d", rep, err, global, srv.Round)
	}
	d, _ = s.Start(20)
	for _, c := range d.Clients {
		_ = s.Deliver(up(c), 21)
	}
	if !s.Ready() {
		t.Fatal("all clients in, not ready")
	}
	rep, err = s.Close(global)
	if err != nil || !rep.Aggregated || global[0] != 1 || srv.Round != 2 {
		t.Fatalf("round: %+v, %v, global %v", rep, err, global)
	}
}

func TestAsyncConverges(t *testing.T) {
	tp := newToy(30, 6, 3)
	lat := Heterogeneous(tp.pop, 1.0, 1.0, 0.2, 0.05, 11)
	for _, tc := range []struct {
		name  string
		strat func() federated.AsyncStrategy
	}{
		{"FedAsync poly", func() federated.AsyncStrategy {
			return &federated.FedAsync{Alpha: 0.3, Staleness: federated.PolynomialStaleness{A: 0.5}}
		}},
		{"FedAsync hinge", func() federated.AsyncStrategy {
			return &federated.FedAsync{Alpha: 0.3, Staleness: federated.HingeStaleness{A: 10, B: 4}}
		}},
		{"FedBuff K=5", func() federated.AsyncStrategy { return &federated.FedBuff{K: 5} }},
	} {
		run := func() ([]float32, []AsyncEvent) {
			global := make([]float32, tp.dim)
			ev, err := RunAsync(AsyncConfig{Population: tp.pop, Concurrency: 8, MaxUpdates: 400, Seed: 5},
				tc.strat(), global, tp.train, lat)
			if err != nil {
				t.Fatal(err)
			}
			return global, ev
		}
		g, ev := run()
		g2, _ := run()
		if !slices.Equal(g, g2) {
			t.Fatalf("%s: not deterministic", tc.name)
		}
		var maxStale uint64
		dropped := 0
		perClient := map[federated.ClientID]int{}
		for i, e := range ev {
			if i > 0 && e.Time < ev[i-1].Time {
				t.Fatalf("%s: events out of order", tc.name)
			}
			if e.Err != nil {
				t.Fatalf("%s: %v", tc.name, e.Err)
			}
			maxStale = max(maxStale, e.Staleness)
			if e.Dropped {
				dropped++
			} else {
				perClient[e.Client]++
			}
		}
		start := tp.dist(make([]float32, tp.dim))
		t.Logf("%s: %d events (%d dropped), max staleness %d, distance %.3f -> %.4f, busiest client %d updates",
			tc.name, len(ev), dropped, maxStale, start, tp.dist(g), slices.Max(mapValues(perClient)))
		if tp.dist(g) > 0.15*start || maxStale == 0 {
			t.Fatalf("%s: distance %v (start %v), max staleness %d", tc.name, tp.dist(g), start, maxStale)
		}
	}
}

func mapValues(m map[federated.ClientID]int) []int {
	var v []int
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

func TestRunAsyncArguments(t *testing.T) {
	pop := []federated.ClientID{1, 2}
	f := &federated.FedAsync{Alpha: 0.5}
	tr := func(c federated.ClientID, r uint64, g []float32, _ *rand.Rand) (federated.Update, error) {
		return federated.Update{Client: c, Round: r, Params: []float32{1}}, nil
	}
	lat := func(federated.ClientID, *rand.Rand) (float64, bool) { return 1, false }
	if _, err := RunAsync(AsyncConfig{Population: pop, Concurrency: 1}, f, []float32{0}, tr, lat); err == nil {
		t.Fatal("no stopping rule accepted")
	}
	if _, err := RunAsync(AsyncConfig{Population: pop, Concurrency: 3, MaxUpdates: 1}, f, []float32{0}, tr, lat); err == nil {
		t.Fatal("concurrency above population accepted")
	}
	ev, err := RunAsync(AsyncConfig{Population: pop, Concurrency: 2, MaxTime: 3.5}, f, []float32{0}, tr, lat)
	if err != nil || len(ev) != 6 || ev[5].Time != 3 {
		t.Fatalf("MaxTime run: %d events, %v", len(ev), err)
	}
}

// Stragglers slows exactly round(F·N) clients, always the same ones for a
// seed, by the factor, and leaves the others and drop-outs alone.
func TestStragglers(t *testing.T) {
	var pop []federated.ClientID
	for i := range 50 {
		pop = append(pop, federated.ClientID(i))
	}
	base := func(c federated.ClientID, rng *rand.Rand) (float64, bool) { return 2, c == 7 }
	lat, err := Stragglers(base, pop, 0.2, 10, 3)
	if err != nil {
		t.Fatal(err)
	}
	slow := Slow(pop, 0.2, 3)
	if len(slow) != 10 {
		t.Fatalf("%d slow clients of 50 at F=0.2, want 10", len(slow))
	}
	isSlow := map[federated.ClientID]bool{}
	for _, c := range slow {
		isSlow[c] = true
	}
	for _, c := range pop {
		d, dropped := lat(c, nil)
		want := 2.0
		if isSlow[c] {
			want = 20
		}
		if d != want || dropped != (c == 7) {
			t.Errorf("client %d: latency %v dropped %v, want %v %v", c, d, dropped, want, c == 7)
		}
	}
	if other := Slow(pop, 0.2, 4); slices.Equal(other, slow) {
		t.Errorf("seeds 3 and 4 slow the same clients %v", slow)
	}
	if !slices.Equal(Slow(pop, 0.2, 3), slow) {
		t.Error("Slow is not deterministic")
	}
	if len(Slow(pop, 0, 3)) != 0 || len(Slow(pop, 1, 3)) != 50 {
		t.Error("F = 0 or 1 should slow none or all")
	}
	for _, bad := range []struct{ f, s float64 }{{-0.1, 10}, {1.5, 10}, {0.2, 0.5}, {0.2, math.Inf(1)}, {math.NaN(), 2}} {
		if _, err := Stragglers(base, pop, bad.f, bad.s, 1); err == nil {
			t.Errorf("Stragglers(F=%v, S=%v) accepted", bad.f, bad.s)
		}
	}
}
