package federated

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func upd(c ClientID, round uint64, samples int, params ...float32) Update {
	return Update{Client: c, Round: round, Samples: samples, Params: params}
}

func TestValidatorChecks(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name   string
		u      Update
		reason Reason
		target error
	}{
		{"ok", upd(1, 5, 10, 1, 2, 3), 0, nil},
		{"short", upd(1, 5, 10, 1, 2), ReasonLength, ErrLength},
		{"long", upd(1, 5, 10, 1, 2, 3, 4), ReasonLength, ErrLength},
		{"NaN", upd(1, 5, 10, 1, nan, 3), ReasonNonFinite, ErrNonFinite},
		{"Inf", upd(1, 5, 10, 1, 2, inf), ReasonNonFinite, ErrNonFinite},
		{"norm", upd(1, 5, 10, 100, 0, 0), ReasonNorm, ErrNorm},
		{"unknown", upd(99, 5, 10, 1, 2, 3), ReasonUnknownClient, ErrUnknownClient},
		{"future", upd(1, 6, 10, 1, 2, 3), ReasonFuture, ErrFuture},
		{"stale", upd(1, 2, 10, 1, 2, 3), ReasonStale, ErrStale},
		{"within staleness", upd(1, 3, 10, 1, 2, 3), 0, nil},
		{"negative samples", upd(1, 5, -1, 1, 2, 3), ReasonSamples, ErrSamples},
		{"bad kind", Update{Client: 1, Round: 5, Kind: 7, Params: []float32{1, 2, 3}}, ReasonKind, ErrKind},
		{"weights ok", Update{Client: 1, Round: 5, Kind: KindWeights, Params: []float32{11, 10, 10}}, 0, nil},
		{"weights norm", Update{Client: 1, Round: 5, Kind: KindWeights, Params: []float32{60, 10, 10}}, ReasonNorm, ErrNorm},
	}
	global := []float32{10, 10, 10}
	for _, c := range cases {
		v := NewValidator(3, []ClientID{1, 2, 3})
		v.MaxStaleness = 2
		v.MaxNorm = 10
		err := v.Check(c.u, 5, global)
		if c.target == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var re *RejectError
		if !errors.As(err, &re) || re.Reason != c.reason || !errors.Is(err, c.target) {
			t.Errorf("%s: %v, want reason %v", c.name, err, c.reason)
			continue
		}
		if re.Client != c.u.Client || re.Round != c.u.Round {
			t.Errorf("%s: error names client %d round %d", c.name, re.Client, re.Round)
		}
	}
}

func TestValidatorReplayAndCounts(t *testing.T) {
	v := NewValidator(2, nil)
	v.MaxStaleness = 10
	if err := v.Admit(upd(1, 3, 1, 0, 0), 5, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []uint64{3, 2} {
		if err := v.Admit(upd(1, r, 1, 0, 0), 5, nil); !errors.Is(err, ErrReplay) {
			t.Fatalf("round %d replay: %v", r, err)
		}
	}
	if err := v.Admit(upd(1, 4, 1, 0, 0), 5, nil); err != nil {
		t.Fatalf("newer round: %v", err)
	}
	_ = v.Admit(upd(2, 4, 1, 0), 5, nil)
	st := v.Stats()
	if st.Accepted != 2 || st.Rejected(ReasonReplay) != 2 || st.Rejected(ReasonLength) != 1 || st.TotalRejected() != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestValidatorFilterRelativeNorm(t *testing.T) {
	v := NewValidator(2, nil)
	v.NormFactor = 3
	ups := []Update{
		upd(1, 0, 1, 1, 0), upd(2, 0, 1, 0, 1.2), upd(3, 0, 1, 0.8, 0),
		upd(4, 0, 1, 50, 0), // outlier
		upd(1, 0, 1, 1, 1),  // duplicate client in the round
		upd(5, 0, 1, 1, float32(math.NaN())),
	}
	acc, rej := v.Filter(0, nil, ups)
	if ids := clientsOf(acc); !slices.Equal(ids, []ClientID{1, 2, 3}) {
		t.Fatalf("accepted %v", ids)
	}
	if len(rej) != 3 || !errors.Is(rej[0], ErrReplay) || !errors.Is(rej[1], ErrNonFinite) || !errors.Is(rej[2], ErrNorm) {
		t.Fatalf("rejected %v", rej)
	}
	// The accepted clients cannot resubmit for round 0.
	acc, _ = v.Filter(0, nil, []Update{upd(1, 0, 1, 1, 0)})
	if len(acc) != 0 {
		t.Fatal("replay accepted by a later Filter")
	}
}

func TestAggregators(t *testing.T) {
	ups := []Update{
		upd(1, 0, 1, 1, 10),
		upd(2, 0, 3, 2, 20),
		upd(3, 0, 0, 3, 30),
		upd(4, 0, 4, 100, -5),
	}
	cases := []struct {
		name string
		agg  Aggregator
		want []float32
	}{
		{"fedavg", FedAvg{}, []float32{(1 + 6 + 400) / 8.0, (10 + 60 - 20) / 8.0}},
		{"mean", Mean{}, []float32{106 / 4.0, 55 / 4.0}},
		{"median", Median{}, []float32{2.5, 15}},
		{"trimmed 0.25", TrimmedMean{Beta: 0.25}, []float32{2.5, 15}},
		{"trimmed 0", TrimmedMean{}, []float32{106 / 4.0, 55 / 4.0}},
	}
	for _, c := range cases {
		dst := make([]float32, 2)
		if err := c.agg.Aggregate(dst, ups); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range dst {
			if math.Abs(float64(dst[i]-c.want[i])) > 1e-5 {
				t.Errorf("%s: %v, want %v", c.name, dst, c.want)
				break
			}
		}
	}
	odd := ups[:3]
	dst := make([]float32, 2)
	_ = Median{}.Aggregate(dst, odd)
	if dst[0] != 2 || dst[1] != 20 {
		t.Errorf("odd median %v", dst)
	}
	if err := (FedAvg{}).Aggregate(dst, []Update{upd(1, 0, 0, 1, 1)}); !errors.Is(err, ErrNoUpdates) {
		t.Errorf("zero weight: %v", err)
	}
	if err := (Mean{}).Aggregate(dst, nil); !errors.Is(err, ErrNoUpdates) {
		t.Errorf("empty: %v", err)
	}
	if err := (TrimmedMean{Beta: 0.6}).Aggregate(dst, ups); err == nil {
		t.Error("beta 0.6 accepted")
	}
	if err := (Mean{}).Aggregate(dst, []Update{{Kind: KindWeights, Params: []float32{1, 1}}}); err == nil {
		t.Error("weights update accepted by an aggregator")
	}
}

// Krum and Multi-Krum with f Byzantine updates far from the honest cluster
// select only honest ones (Blanchard et al., Prop. 1's setting).
func TestKrumByzantine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const honest, byz, dim = 9, 3, 5
	var ups []Update
	for i := 0; i < honest; i++ {
		p := make([]float32, dim)
		for k := range p {
			p[k] = float32(1 + 0.1*r.NormFloat64())
		}
		ups = append(ups, Update{Client: ClientID(i), Params: p})
	}
	for i := 0; i < byz; i++ {
		p := make([]float32, dim)
		for k := range p {
			p[k] = -50 + float32(i) // colluding, close to each other
		}
		ups = append(ups, Update{Client: ClientID(100 + i), Params: p})
	}
	for _, m := range []int{1, 4, honest} {
		sel, err := Krum{F: byz, M: m}.Select(ups)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sel {
			if ups[s].Client >= 100 {
				t.Fatalf("M=%d selected Byzantine update %d", m, ups[s].Client)
			}
		}
		dst := make([]float32, dim)
		if err := (Krum{F: byz, M: m}).Aggregate(dst, ups); err != nil {
			t.Fatal(err)
		}
		for _, x := range dst {
			if math.Abs(float64(x)-1) > 0.3 {
				t.Fatalf("M=%d aggregate %v", m, dst)
			}
		}
	}
	// Median and trimmed mean resist them too; the mean does not.
	dst := make([]float32, dim)
	_ = Median{}.Aggregate(dst, ups)
	if math.Abs(float64(dst[0])-1) > 0.3 {
		t.Fatalf("median %v", dst)
	}
	_ = TrimmedMean{Beta: 0.25}.Aggregate(dst, ups)
	if math.Abs(float64(dst[0])-1) > 0.3 {
		t.Fatalf("trimmed mean %v", dst)
	}
	_ = Mean{}.Aggregate(dst, ups)
	if math.Abs(float64(dst[0])-1) < 5 {
		t.Fatalf("mean unexpectedly robust: %v", dst)
	}
	if _, err := (Krum{F: 5}).Select(ups); !errors.Is(err, ErrTooFewUpdates) {
		t.Fatalf("n <= 2f+2: %v", err)
	}
}

// Reddi et al. Algorithm 2, one step by hand: m1 = (1-β1)Δ, and v1 from
// v0 = τ².
func TestAdaptiveServerOptimizers(t *testing.T) {
	delta := []float32{0.5, -0.2}
	for _, tc := range []struct {
		opt *Adaptive
		v1  func(d float64) float64
	}{
		{NewFedAdam(0.1), func(d float64) float64 { return 0.99*1e-6 + 0.01*d*d }},
		{NewFedAdagrad(0.1), func(d float64) float64 { return 1e-6 + d*d }},
		{NewFedYogi(0.1), func(d float64) float64 { return 1e-6 + 0.01*d*d }}, // v0 < Δ²: sign -1
	} {
		global := []float32{1, 1}
		if err := tc.opt.Apply(global, delta); err != nil {
			t.Fatal(err)
		}
		for i, d32 := range delta {
			d := float64(d32)
			m := 0.1 * d
			v := tc.v1(d)
			want := 1 + 0.1*m/(math.Sqrt(v)+1e-3)
			if math.Abs(float64(global[i])-want) > 1e-5 {
				t.Errorf("%s coord %d: %v, want %v", tc.opt.Rule, i, global[i], want)
			}
		}
	}
	// Over many rounds with a constant delta, FedAdam's step approaches
	// lr*sign(Δ) (m → Δ, √v → |Δ|).
	a := NewFedAdam(0.01)
	g := []float32{0}
	for i := 0; i < 2000; i++ {
		prev := g[0]
		_ = a.Apply(g, []float32{0.3})
		if i == 1999 && math.Abs(float64(g[0]-prev)-0.01) > 2e-4 {
			t.Errorf("steady step %v", g[0]-prev)
		}
	}
}

func TestServerStep(t *testing.T) {
	v := NewValidator(2, nil)
	srv := &Server{Validator: v}
	global := []float32{1, 1}
	ups := []Update{
		{Client: 1, Samples: 1, Params: []float32{1, 0}, Metrics: map[string]float64{"loss": 1}},
		{Client: 2, Samples: 3, Kind: KindWeights, Params: []float32{2, 1}, Metrics: map[string]float64{"loss": 3}},
		{Client: 3, Samples: 1, Params: []float32{1}},
	}
	rep, err := srv.Step(global, ups)
	if err != nil {
		t.Fatal(err)
	}
	// deltas (1,0) w1 and (1,0) w3 → (1, 0)
	if global[0] != 2 || global[1] != 1 || srv.Round != 1 || rep.Samples != 4 || len(rep.Rejected) != 1 {
		t.Fatalf("global %v, round %d, report %+v", global, srv.Round, rep)
	}
	if rep.Metrics["loss"] != 2.5 {
		t.Fatalf("metrics %v", rep.Metrics)
	}
	// A round whose updates are all refused leaves everything as it was.
	_, err = srv.Step(global, []Update{{Client: 1, Round: 0, Params: []float32{1, 1}}})
	if !errors.Is(err, ErrNoUpdates) || srv.Round != 1 || global[0] != 2 {
		t.Fatalf("all refused: %v, round %d", err, srv.Round)
	}
}

func TestFedAsync(t *testing.T) {
	f := &FedAsync{Alpha: 0.5, Staleness: PolynomialStaleness{A: 1}}
	g := []float32{0}
	a, err := f.Apply(g, Update{Kind: KindWeights, Params: []float32{1}})
	if err != nil || a != 0.5 || g[0] != 0.5 || f.Version != 1 {
		t.Fatalf("fresh: alpha %v, global %v, %v", a, g, err)
	}
	// staleness 1 (started from version 0, server at 1): alpha = 0.5/2
	a, _ = f.Apply(g, Update{Round: 0, Params: []float32{1}})
	if a != 0.25 || g[0] != 0.75 {
		t.Fatalf("stale delta: alpha %v global %v", a, g)
	}
	if _, err := f.Apply(g, Update{Round: 9, Params: []float32{1}}); !errors.Is(err, ErrFuture) {
		t.Fatalf("future: %v", err)
	}
	h := HingeStaleness{A: 10, B: 4}
	if h.Weight(4) != 1 || h.Weight(6) != 1.0/21 {
		t.Fatalf("hinge %v %v", h.Weight(4), h.Weight(6))
	}
	if (ExponentialStaleness{A: 1}).Weight(0) != 1 || (ConstantStaleness{}).Weight(100) != 1 {
		t.Fatal("staleness functions")
	}
}

func TestFedBuff(t *testing.T) {
	b := &FedBuff{K: 3}
	g := []float32{0, 0}
	for i := 0; i < 2; i++ {
		applied, err := b.Add(g, Update{Client: ClientID(i), Params: []float32{3, 6}})
		if err != nil || applied || b.Pending() != i+1 {
			t.Fatalf("add %d: %v %v", i, applied, err)
		}
	}
	applied, _ := b.Add(g, Update{Client: 2, Params: []float32{3, 6}})
	if !applied || g[0] != 3 || g[1] != 6 || b.Version != 1 || b.Pending() != 0 {
		t.Fatalf("flush: %v %v v%d", applied, g, b.Version)
	}
	// staleness weight 1/sqrt(1+3) = 0.5 for an update 3 versions old
	b.Version = 3
	b.K = 1
	_, _ = b.Add(g, Update{Round: 0, Params: []float32{2, 2}})
	if g[0] != 4 || g[1] != 7 {
		t.Fatalf("stale flush %v", g)
	}
	if _, err := b.Add(g, Update{Kind: KindWeights, Params: []float32{1, 1}}); !errors.Is(err, ErrKind) {
		t.Fatalf("weights: %v", err)
	}
}

// A FedBuff restored from Buffered mid-buffer flushes to the same model as
// one that never stopped.
func TestFedBuffRestore(t *testing.T) {
	ups := []Update{{Client: 0, Params: []float32{0.1, -3}}, {Client: 1, Params: []float32{2.5, 1e-3}},
		{Client: 2, Params: []float32{-1, 7}}}
	a, g1 := &FedBuff{K: 3}, []float32{1, 1}
	for _, u := range ups {
		if _, err := a.Add(g1, u); err != nil {
			t.Fatal(err)
		}
	}
	b, g2 := &FedBuff{K: 3}, []float32{1, 1}
	for _, u := range ups[:2] {
		b.Add(g2, u)
	}
	sum, n := b.Buffered()
	c := &FedBuff{K: 3}
	if err := c.Restore(sum, n); err != nil || c.Pending() != 2 {
		t.Fatalf("restore: %v, %d pending", err, c.Pending())
	}
	if applied, err := c.Add(g2, ups[2]); err != nil || !applied || !slices.Equal(g1, g2) {
		t.Fatalf("restored flush: %v %v: %v, uninterrupted %v", applied, err, g2, g1)
	}
	if err := c.Restore(sum, 3); err == nil {
		t.Error("restored a full buffer (K updates) without flushing")
	}
	if s, n := c.Buffered(); s != nil || n != 0 {
		t.Errorf("empty buffer: %v %d", s, n)
	}
}

func TestSelectClients(t *testing.T) {
	pop := make([]ClientID, 100)
	for i := range pop {
		pop[i] = ClientID(i * 2)
	}
	a := SelectClients(pop, 0.1, 0, 42, 7)
	b := SelectClients(pop, 0.1, 0, 42, 7)
	c := SelectClients(pop, 0.1, 0, 42, 8)
	if len(a) != 10 || !slices.Equal(a, b) || slices.Equal(a, c) || !slices.IsSorted(a) {
		t.Fatalf("selection %v / %v / %v", a, b, c)
	}
	if n := len(SelectClients(pop, 0.001, 0, 1, 1)); n != 1 {
		t.Fatalf("tiny fraction selects %d", n)
	}
	if n := len(SelectClients(pop, 0.05, 20, 1, 1)); n != 20 {
		t.Fatalf("min clients: %d", n)
	}
	if n := len(SelectClients(pop, 1, 0, 1, 1)); n != 100 {
		t.Fatalf("all: %d", n)
	}
	// Uniform: over many rounds every client is picked about C of the time.
	count := map[ClientID]int{}
	for r := uint64(0); r < 2000; r++ {
		for _, id := range SelectClients(pop, 0.1, 0, 3, r) {
			count[id]++
		}
	}
	for _, id := range pop {
		if count[id] < 130 || count[id] > 270 { // mean 200, sd ~13
			t.Fatalf("client %d picked %d times in 2000 rounds", id, count[id])
		}
	}
	ps := PoissonSample(pop, 0.3, 1, 1)
	if len(ps) < 15 || len(ps) > 45 {
		t.Fatalf("Poisson sample of %d", len(ps))
	}
}

func TestProx(t *testing.T) {
	p := Prox{Mu: 0.1}
	grad := []float32{1, 1}
	if err := p.AddGradient(grad, []float32{3, 1}, []float32{1, 1}); err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(grad[0])-1.2) > 1e-6 || grad[1] != 1 {
		t.Fatalf("grad %v", grad)
	}
	if pen := p.Penalty([]float32{3, 1}, []float32{1, 1}); math.Abs(pen-0.2) > 1e-12 {
		t.Fatalf("penalty %v", pen)
	}
	if err := p.AddGradient(grad, []float32{1}, []float32{1, 1}); err == nil {
		t.Fatal("length mismatch accepted")
	}
}
