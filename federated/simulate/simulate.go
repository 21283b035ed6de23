package simulate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/flnet"
	"github.com/edgedl/edgedl/federated/flnet/flpb"
	"github.com/edgedl/edgedl/federated/sim"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// Config describes a simulation. Zero fields take the defaults noted.
type Config struct {
	// Model is the architecture trained (its initial weights are the
	// starting global model).
	Model *graph.Model
	// Train is split over the clients; Test evaluates the global model.
	Train, Test data.Dataset
	// Clients is the population size N (default 10).
	Clients int
	// Fraction is C, the share of clients selected per round (default
	// 0.1); at least MinClients (default 1).
	Fraction   float64
	MinClients int
	// Rounds to run (default 10). Async: one round is as many updates as a
	// synchronous round would have (⌈C·N⌉); gossip: one D-PSGD iteration.
	Rounds int
	// Local training: epochs E (default 1), batch B (default 10), learning
	// rate (default 0.05), optimiser ("sgd" or "adam"), momentum.
	LocalEpochs int
	Batch       int
	LR          float64
	Optimizer   string
	Momentum    float64
	// LRDecay in (0, 1] multiplies the client learning rate by LRDecay
	// each round (flnet.TrainConfig.LRDecay; 0: no decay).
	LRDecay float64
	// Partition is "iid" (default), "noniid" (FedAvg's pathological split:
	// two label-sorted shards per client), "dirichlet:ALPHA" or
	// "unbalanced:SIGMA" (IID labels, lognormal client sizes).
	Partition string
	// Algorithm is a flnet strategy ("fedavg", "fedprox:MU", "fedadam:LR",
	// "median", "trimmed-mean:BETA", "krum:F", "fedasync:ALPHA" or
	// "async", "fedbuff:K"), or "gossip" (D-PSGD, no coordinator).
	Algorithm string
	// Topology of gossip: "ring" (default) or "torus".
	Topology string
	// GossipSteps > 0 switches gossip to the local-update form of
	// decentralised SGD (Koloskova et al., ICML 2020): each round every peer
	// trains, x_i + Δ_i, then the peers mix GossipSteps times,
	// x ← W^GossipSteps (x + Δ), sending their model to their neighbours at
	// each mixing step. 0 (default): D-PSGD, x_i ← Σ_j W_ij x_j + Δ_i.
	GossipSteps int
	// Compress is the uplink codec (flnet.ParseCompression).
	Compress string
	// DP: client-level DP-FedAvg with noise multiplier DPNoise and clip
	// norm DPClip (default 1 when DPNoise > 0); ε is reported at DPDelta
	// (default 1e-5).
	DPNoise, DPClip, DPDelta float64
	// SecAgg sums the updates with Bonawitz et al.'s secure aggregation:
	// the coordinator sees only the sum. SecAggBound bounds a coordinate of
	// an update (default 1; DPClip with DP).
	SecAgg      bool
	SecAggBound float64
	// Deadline is a round's deadline in simulated seconds (0: wait for
	// every client that does not drop out). Async: a task's deadline.
	Deadline float64
	// Dropout is the probability that a selected client drops out.
	Dropout float64
	// SpeedSpread is the log-standard-deviation of the clients' lasting
	// speeds (0: all equal; 1: the 95th percentile ~5x slower than the
	// median). A client's training takes E·n_k/SamplesPerSecond simulated
	// seconds divided by its speed, with 10% per-task jitter.
	SpeedSpread      float64
	SamplesPerSecond float64 // default 1000
	// SlowFraction of the clients (round(F·N), chosen at random from Seed,
	// see sim.Stragglers) are SlowFactor times slower on every task, on
	// top of SpeedSpread (SlowFactor default 10 when SlowFraction > 0).
	SlowFraction, SlowFactor float64
	// MaxNorm and NormFactor configure update validation (flnet.Config).
	MaxNorm, NormFactor float64
	// Attackers clients (chosen at random) poison their updates with
	// Attack: "signflip:S" (send -S·Δ) or "scale:S" (send S·Δ).
	Attackers int
	Attack    string
	// Workers is how many clients train at once (default 1), each with
	// Threads/Workers threads (Threads default: all CPUs).
	Workers, Threads int
	// EvalEvery evaluates every that many rounds (default 1; the last round
	// is always evaluated); EvalBatch is the evaluation batch (default 500).
	EvalEvery, EvalBatch int
	// ResidualClients caps how many clients' error-feedback residuals are
	// kept (top-k and sign codecs; least recently used forgotten first;
	// default 1024).
	ResidualClients int
	Seed            uint64
	Log             *slog.Logger
	// Checkpoint, if set, is written after every completed round
	// (synchronous algorithms); with Resume the run continues from it:
	// the same configuration (Rounds may grow), the rounds already done
	// are not rerun, and their records are returned again but not passed
	// to onRound.
	Checkpoint string
	Resume     bool
}

// Record is one round's measurements, the JSON line of `edgedl fl
// simulate --json`.
type Record struct {
	Round     int      `json:"round"`
	Accuracy  *float64 `json:"accuracy"` // test accuracy of the global model (null when not evaluated)
	Loss      *float64 `json:"loss"`     // test loss
	TrainLoss float64  `json:"train_loss"`
	// Bytes this round and since the start; up is client to server (gossip:
	// sent between peers, counted once as up and once as down).
	BytesUp        int64    `json:"bytes_up"`
	BytesDown      int64    `json:"bytes_down"`
	BytesUpTotal   int64    `json:"bytes_up_total"`
	BytesDownTotal int64    `json:"bytes_down_total"`
	WallS          float64  `json:"wall_s"`
	SimTime        float64  `json:"sim_time"`
	Epsilon        *float64 `json:"epsilon"` // DP ε at DPDelta; null without DP
	Selected       int      `json:"selected"`
	Arrived        int      `json:"arrived"`
	Late           int      `json:"late"`
	Dropped        int      `json:"dropped"`
	Refused        int      `json:"refused"`
	Aggregated     bool     `json:"aggregated"`
	Version        uint64   `json:"version,omitempty"`   // async: model version
	Staleness      float64  `json:"staleness,omitempty"` // async: mean staleness
	Consensus      float64  `json:"consensus,omitempty"` // gossip: RMS distance of the peers to their mean
	Note           string   `json:"note,omitempty"`      // why the round did not aggregate
}

var errConfig = errors.New("simulate: bad configuration")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errConfig, fmt.Sprintf(format, args...))
}

func (cfg *Config) defaults() error {
	if cfg.Model == nil || cfg.Train == nil || cfg.Test == nil {
		return configErr("a model, a training set and a test set are needed")
	}
	if cfg.Clients == 0 {
		cfg.Clients = 10
	}
	if cfg.Fraction == 0 {
		cfg.Fraction = 0.1
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 10
	}
	if cfg.LocalEpochs == 0 {
		cfg.LocalEpochs = 1
	}
	if cfg.Batch == 0 {
		cfg.Batch = 10
	}
	if cfg.LR == 0 {
		cfg.LR = 0.05
	}
	if cfg.SamplesPerSecond == 0 {
		cfg.SamplesPerSecond = 1000
	}
	if cfg.SlowFraction > 0 && cfg.SlowFactor == 0 {
		cfg.SlowFactor = 10
	}
	cfg.Workers = max(cfg.Workers, 1)
	cfg.EvalEvery = max(cfg.EvalEvery, 1)
	if cfg.EvalBatch <= 0 {
		cfg.EvalBatch = 500
	}
	if cfg.ResidualClients <= 0 {
		cfg.ResidualClients = 1024
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Clients < 1 || cfg.Clients > cfg.Train.Len():
		return configErr("%d clients for %d training samples", cfg.Clients, cfg.Train.Len())
	case !(cfg.Fraction > 0 && cfg.Fraction <= 1):
		return configErr("fraction %v outside (0, 1]", cfg.Fraction)
	case cfg.Rounds < 0 || cfg.LocalEpochs < 0 || cfg.Batch < 0 || cfg.Deadline < 0:
		return configErr("rounds, local epochs, batch and deadline must not be negative")
	case cfg.Dropout < 0 || cfg.Dropout >= 1:
		return configErr("dropout %v outside [0, 1)", cfg.Dropout)
	case cfg.SpeedSpread < 0 || !(cfg.SamplesPerSecond > 0):
		return configErr("speed spread %v, samples per second %v", cfg.SpeedSpread, cfg.SamplesPerSecond)
	case !(cfg.SlowFraction >= 0 && cfg.SlowFraction <= 1) || (cfg.SlowFraction > 0 && !(cfg.SlowFactor >= 1)) || cfg.SlowFactor < 0 || math.IsInf(cfg.SlowFactor, 1):
		return configErr("slow fraction %v outside [0, 1] or slow factor %v below 1", cfg.SlowFraction, cfg.SlowFactor)
	case cfg.Attackers < 0 || cfg.Attackers > cfg.Clients:
		return configErr("%d attackers among %d clients", cfg.Attackers, cfg.Clients)
	case cfg.LRDecay < 0 || cfg.LRDecay > 1:
		return configErr("learning-rate decay %v outside (0, 1]", cfg.LRDecay)
	case cfg.GossipSteps < 0 || cfg.GossipSteps > 1000:
		return configErr("gossip steps %d outside [0, 1000]", cfg.GossipSteps)
	case cfg.DPNoise < 0 || cfg.DPClip < 0:
		return configErr("DP noise %v and clip %v must not be negative", cfg.DPNoise, cfg.DPClip)
	}
	return nil
}

// Partition splits a data set's indices over clients by a specification:
// "iid", "noniid" (two label-sorted shards per client, FedAvg's
// pathological split), "dirichlet:ALPHA" (default 0.5) or
// "unbalanced:SIGMA" (default 1). It depends only on its arguments, so
// networked clients that agree on them agree on their shards.
func Partition(ds data.Dataset, spec string, clients int, seed uint64) ([][]int, error) {
	name, arg, _ := strings.Cut(strings.ToLower(strings.TrimSpace(spec)), ":")
	num := func(def float64) (float64, error) {
		if arg == "" {
			return def, nil
		}
		return strconv.ParseFloat(arg, 64)
	}
	switch name {
	case "", "iid":
		return data.IID(ds.Len(), clients, seed)
	case "noniid", "shards":
		return data.Shards(data.Labels(ds), clients, 2, seed)
	case "dirichlet":
		a, err := num(0.5)
		if err != nil || !(a > 0) {
			return nil, configErr("partition %q: ALPHA must be positive", spec)
		}
		return data.Dirichlet(data.Labels(ds), clients, a, seed)
	case "unbalanced":
		s, err := num(1)
		if err != nil || !(s >= 0) {
			return nil, configErr("partition %q: SIGMA must not be negative", spec)
		}
		return data.Unbalanced(ds.Len(), clients, s, seed)
	}
	return nil, configErr("partition %q: want iid, noniid, dirichlet:ALPHA or unbalanced:SIGMA", spec)
}

// poison parses an attack specification.
func poison(spec string) (func([]float32), error) {
	name, arg, _ := strings.Cut(strings.ToLower(strings.TrimSpace(spec)), ":")
	s := 1.0
	if arg != "" {
		var err error
		if s, err = strconv.ParseFloat(arg, 64); err != nil {
			return nil, configErr("attack %q: S must be a number", spec)
		}
	}
	switch name {
	case "signflip", "", "sign-flip":
		if arg == "" {
			s = 1
		}
		s = -s
	case "scale":
	default:
		return nil, configErr("attack %q: want signflip:S or scale:S", spec)
	}
	return func(d []float32) {
		for i := range d {
			d[i] = float32(float64(d[i]) * s)
		}
	}, nil
}

// pool holds the few Programs clients borrow while they train: clients are
// materialised only when selected, never N programs at once.
type pool struct {
	ch  chan *train.Program
	all []*train.Program
}

func newPool(m *graph.Model, n, threads int) (*pool, error) {
	p := &pool{ch: make(chan *train.Program, n)}
	for range n {
		prog, err := train.Compile(m, train.Options{Threads: threads})
		if err != nil {
			p.close()
			return nil, err
		}
		p.all = append(p.all, prog)
		p.ch <- prog
	}
	return p, nil
}

func (p *pool) get() *train.Program  { return <-p.ch }
func (p *pool) put(x *train.Program) { p.ch <- x }
func (p *pool) close() {
	for _, x := range p.all {
		x.Close()
	}
}

// residuals keeps error-feedback state for at most cap clients, forgetting
// the least recently used.
type residuals struct {
	mu   sync.Mutex
	cap  int
	m    map[federated.ClientID][]float32
	used map[federated.ClientID]uint64
	tick uint64
}

func (r *residuals) take(id federated.ClientID) []float32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.m[id]
	delete(r.m, id)
	delete(r.used, id)
	return v
}

func (r *residuals) put(id federated.ClientID, v []float32) {
	if v == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.cap {
		var oldest federated.ClientID
		first := true
		for k, t := range r.used {
			if first || t < r.used[oldest] {
				oldest, first = k, false
			}
		}
		delete(r.m, oldest)
		delete(r.used, oldest)
	}
	r.tick++
	r.m[id], r.used[id] = v, r.tick
}

// runner carries one simulation.
type runner struct {
	cfg      Config
	strategy flnet.Strategy
	parts    [][]int
	pop      []federated.ClientID
	pool     *pool
	resid    *residuals
	attack   func([]float32)
	bad      map[federated.ClientID]bool
	speed    sim.LatencyFunc
	t0, now  time.Time
	wall     time.Time
	onRound  func(Record) error
	records  []Record
	upTot    int64
	downTot  int64
	cbErr    error
	// per-round counts the driver knows and the coordinator does not
	late, dropped int
	meter         *flnet.Meter
}

// Run runs the simulation, calling onRound (if not nil) with each round's
// record as it completes; an error from onRound stops the run. It returns
// all records.
func Run(ctx context.Context, cfg Config, onRound func(Record) error) ([]Record, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, onRound: onRound, wall: time.Now(), meter: &flnet.Meter{}}
	gossip := strings.ToLower(strings.TrimSpace(cfg.Algorithm)) == "gossip"
	if !gossip {
		st, err := flnet.ParseStrategy(cfg.Algorithm)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
		r.strategy = st
	}
	comp, err := flnet.ParseCompression(cfg.Compress)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	switch {
	case cfg.SecAgg && (gossip || r.strategy.Async() || r.strategy.Robust()):
		return nil, configErr("secure aggregation needs a synchronous averaging algorithm (fedavg, fedprox, fedadam), not %s", cfg.Algorithm)
	case cfg.SecAgg && comp.Scheme != "none":
		return nil, configErr("secure aggregation sums fixed-point vectors; it does not combine with --compress %s", comp)
	case (cfg.DPNoise > 0 || cfg.DPClip > 0) && (gossip || r.strategy.Async() || r.strategy.Robust()):
		return nil, configErr("client-level DP needs a synchronous averaging algorithm, not %s", cfg.Algorithm)
	case gossip && comp.Scheme != "none":
		return nil, configErr("gossip peers exchange dense models; --compress is not supported with it")
	case cfg.Checkpoint != "" && (gossip || r.strategy.Async()):
		return nil, configErr("checkpoints are written by synchronous algorithms, not %s", cfg.Algorithm)
	case cfg.Resume && cfg.Checkpoint == "":
		return nil, configErr("resume needs a checkpoint file")
	}
	if r.parts, err = Partition(cfg.Train, cfg.Partition, cfg.Clients, cfg.Seed); err != nil {
		return nil, err
	}
	for i := range cfg.Clients {
		r.pop = append(r.pop, federated.ClientID(i))
	}
	if cfg.Attackers > 0 {
		if r.attack, err = poison(cfg.Attack); err != nil {
			return nil, err
		}
		r.bad = map[federated.ClientID]bool{}
		for _, i := range data.Permutation(cfg.Clients, cfg.Seed, 0xbad)[:cfg.Attackers] {
			r.bad[federated.ClientID(i)] = true
		}
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = defaultThreads()
	}
	if r.pool, err = newPool(cfg.Model, cfg.Workers, max(1, threads/cfg.Workers)); err != nil {
		return nil, fmt.Errorf("simulate: model: %w", err)
	}
	defer r.pool.close()
	r.resid = &residuals{cap: cfg.ResidualClients, m: map[federated.ClientID][]float32{}, used: map[federated.ClientID]uint64{}}
	r.speed = sim.Heterogeneous(r.pop, 1, cfg.SpeedSpread, 0.1, cfg.Dropout, cfg.Seed)
	if cfg.SlowFraction > 0 {
		if r.speed, err = sim.Stragglers(r.speed, r.pop, cfg.SlowFraction, cfg.SlowFactor, cfg.Seed); err != nil {
			return nil, fmt.Errorf("%w: %v", errConfig, err)
		}
	}
	r.t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	r.now = r.t0
	if gossip {
		err = r.runGossip(ctx)
	} else {
		err = r.runFederated(ctx)
	}
	if err == nil {
		err = r.cbErr
	}
	if testHookRunDone != nil {
		testHookRunDone(r)
	}
	return r.records, err
}

// testHookRunDone, set only by tests, sees the runner's final state.
var testHookRunDone func(*runner)

// latency returns how long client c takes on a task (simulated), or that
// it drops out.
func (r *runner) latency(c federated.ClientID, task uint64) (time.Duration, bool) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed^0x1a7e, task<<32^uint64(c)))
	f, dropped := r.speed(c, rng)
	work := float64(r.cfg.LocalEpochs*len(r.parts[c])) / r.cfg.SamplesPerSecond
	return time.Duration(f * work * float64(time.Second)), dropped
}

func (r *runner) deadline() time.Duration {
	if r.cfg.Deadline > 0 {
		return time.Duration(r.cfg.Deadline * float64(time.Second))
	}
	return 100 * 365 * 24 * time.Hour
}

// client materialises client id: its shard and a borrowed program.
func (r *runner) client(conn flpb.FederationClient, id federated.ClientID, p *train.Program) *flnet.Client {
	c := &flnet.Client{Conn: conn, Name: clientName(id), Data: &data.Subset{Data: r.cfg.Train, Indices: r.parts[id]}, Program: p}
	if r.bad[id] {
		c.Poison = r.attack
	}
	return c
}

func clientName(id federated.ClientID) string { return fmt.Sprintf("client-%d", id) }

func (r *runner) evaluate(global []float32) (loss, acc float64, err error) {
	p := r.pool.get()
	defer r.pool.put(p)
	if err := p.SetParams(global); err != nil {
		return 0, 0, err
	}
	return p.Evaluate(r.cfg.Test, r.cfg.EvalBatch, nil)
}

// record turns a RoundResult into a Record, evaluates and reports it.
func (r *runner) record(res flnet.RoundResult) {
	if r.cbErr != nil {
		return
	}
	n := len(r.records) + 1
	rec := Record{Round: n, TrainLoss: res.ClientLoss, BytesUp: res.BytesUp, BytesDown: res.BytesDown,
		WallS: time.Since(r.wall).Seconds(), SimTime: r.now.Sub(r.t0).Seconds(), Selected: res.Selected,
		Arrived: res.Arrived, Late: r.late, Dropped: r.dropped, Refused: res.Refused, Aggregated: res.Aggregated,
		Staleness: res.Staleness}
	if !res.Aggregated {
		rec.Note = res.Note
	}
	if res.Async {
		rec.Version = res.Round
	}
	r.late, r.dropped = 0, 0
	r.finish(&rec, res.Global, res.Epsilon, res.Done)
}

func (r *runner) finish(rec *Record, global []float32, eps float64, last bool) {
	r.upTot += rec.BytesUp
	r.downTot += rec.BytesDown
	rec.BytesUpTotal, rec.BytesDownTotal = r.upTot, r.downTot
	if !math.IsNaN(eps) {
		e := eps
		rec.Epsilon = &e
	}
	if rec.Round%r.cfg.EvalEvery == 0 || last || rec.Round == r.cfg.Rounds {
		loss, acc, err := r.evaluate(global)
		if err != nil {
			r.cbErr = err
			return
		}
		rec.Loss, rec.Accuracy = &loss, &acc
	}
	r.records = append(r.records, *rec)
	if r.onRound != nil {
		if err := r.onRound(*rec); err != nil {
			r.cbErr = err
		}
	}
}

// trained is one client's finished task, waiting for its simulated arrival.
type trained struct {
	id      federated.ClientID
	arrive  time.Time
	dropped bool
	late    bool
	req     *flpb.UpdateRequest
	delta   []float32 // secure aggregation: the clipped delta
	samples int
	wait    bool // the coordinator had no task for the client (async: it must wait for a new model)
	err     error
	// secure aggregation: the client and its task, for the protocol's steps
	client *flnet.Client
	task   *flpb.Task
}

// runTasks materialises the given clients, has each fetch its task (the
// model download) and, unless it drops out or would miss the deadline,
// train; up to Workers at once. Results come back in the order of ids.
func (r *runner) runTasks(ctx context.Context, conn flpb.FederationClient, ids []federated.ClientID, task uint64,
	deadline time.Time, keepDelta bool) []trained {
	out := make([]trained, len(ids))
	sem := make(chan struct{}, r.cfg.Workers)
	var wg sync.WaitGroup
	for k, id := range ids {
		lat, dropped := r.latency(id, task)
		out[k] = trained{id: id, arrive: r.now.Add(lat), dropped: dropped}
		out[k].late = !dropped && out[k].arrive.After(deadline)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t := &out[k]
			p := r.pool.get()
			defer r.pool.put(p)
			c := r.client(conn, id, p)
			if t.err = c.Register(ctx); t.err != nil {
				return
			}
			task, err := c.Next(ctx)
			if err == nil && task.GetAction() == flpb.Task_WAIT {
				t.wait = true
				return
			}
			if err != nil || task.GetAction() != flpb.Task_TRAIN {
				t.err = cmp.Or(err, fmt.Errorf("simulate: client %d got %s, not a training task", id, task.GetAction()))
				return
			}
			if keepDelta {
				t.client, t.task = c, task
			}
			if t.dropped || t.late {
				return
			}
			c.Residual = r.resid.take(id)
			req, res, err := c.Train(ctx, task)
			r.resid.put(id, c.Residual)
			if errors.Is(err, flnet.ErrDiverged) {
				// The client cannot contribute: to the coordinator it is a dropout.
				r.cfg.Log.Warn("client training diverged", "client", id, "task", task.GetRound(), "err", err)
				t.dropped = true
				return
			}
			if err != nil {
				t.err = fmt.Errorf("simulate: client %d: %w", id, err)
				return
			}
			t.req, t.samples = req, res.Samples
			if keepDelta {
				t.delta = res.Delta
			}
		}()
	}
	wg.Wait()
	return out
}

func defaultThreads() int { return max(1, numCPU()) }

func sortByArrival(ts []trained) {
	slices.SortStableFunc(ts, func(a, b trained) int { return a.arrive.Compare(b.arrive) })
}
