package flnet

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/codec"
	"github.com/edgedl/edgedl/federated/dp"
	"github.com/edgedl/edgedl/federated/flnet/flpb"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train"
)

// Config configures a Coordinator. Zero fields take the defaults noted.
type Config struct {
	// Model is the architecture whose trainable parameters (train.Program
	// order) are federated; Init, if set, replaces its initial values.
	Model *graph.Model
	Init  []float32
	// Strategy chooses aggregation (see ParseStrategy); an asynchronous one
	// puts the coordinator in async mode.
	Strategy Strategy
	// Rounds is how many rounds to run (async: model versions); 0: no end.
	Rounds int
	// Fraction is C, the share of live clients selected per round (default
	// 0.1); at least MinClients are selected (default 1).
	Fraction   float64
	MinClients int
	// MinUpdates is how many accepted updates a round needs to aggregate; a
	// round that closes with fewer is abandoned, the model unchanged
	// (default 1).
	MinUpdates int
	// WaitClients is how many registered (live) clients the first round
	// waits for (default MinClients).
	WaitClients int
	// RoundTimeout is a round's deadline (async: a task's) after it starts
	// (default 60s).
	RoundTimeout time.Duration
	// HeartbeatTimeout > 0 treats clients silent for that long as gone: they
	// are not selected, and a round whose remaining clients are all gone
	// closes before its deadline.
	HeartbeatTimeout time.Duration
	// PollInterval caps how long a waiting client sleeps (default 250ms).
	PollInterval time.Duration
	// Train is the local training clients are asked to do.
	Train TrainConfig
	// MaxNorm > 0 refuses updates whose delta norm exceeds it; NormFactor >
	// 0 refuses, at aggregation, updates above that multiple of the round's
	// median norm (see federated.Validator).
	MaxNorm, NormFactor float64
	// Concurrency bounds the tasks out at once in async mode (0: no bound).
	Concurrency int
	// MaxStaleness bounds how many versions old an async update may be
	// (default 20).
	MaxStaleness uint64
	// ReportEvery is how many model versions an async RoundResult covers
	// (default 1).
	ReportEvery int
	// DP, when NoiseMultiplier or Clip is set, makes rounds client-level
	// DP-FedAvg: Poisson client sampling at rate Fraction, deltas clipped to
	// Clip, Gaussian noise σ·Clip on their sum, and an RDP accountant.
	DP DPConfig
	// Seed fixes client selection and the clients' randomness; Rand (DP
	// noise) defaults to a ChaCha8 generator seeded from Seed.
	Seed uint64
	Rand *rand.Rand
	// SecAgg sums each round's updates with secure aggregation (see
	// SecAgg): the coordinator learns only their sum. SecAggBound bounds a
	// coordinate of a client's weighted delta (default 1, or DP.Clip);
	// SecAggKeyTimeout is how long each key step may take (default a tenth
	// of RoundTimeout, at least 1s).
	SecAgg           bool
	SecAggBound      float64
	SecAggKeyTimeout time.Duration
	// Session names the run (default derived from Seed).
	Session string
	// MaxClients caps registrations (0: no cap).
	MaxClients int
}

// DPConfig configures client-level differential privacy.
type DPConfig struct {
	NoiseMultiplier float64 // σ
	Clip            float64 // C, the L2 bound of one client's delta (default 1)
	Delta           float64 // δ at which ε is reported (default 1e-5)
}

// Enabled reports whether DP is on.
func (d DPConfig) Enabled() bool { return d.NoiseMultiplier > 0 || d.Clip > 0 }

// RoundResult reports one closed round (async: ReportEvery model versions).
type RoundResult struct {
	Round uint64 // the closed round (0-based); async: the model version reached
	Async bool
	// Selected clients; Arrived updates accepted; Late ones after the
	// deadline; Missing selected clients never heard from; Refused updates
	// refused (at submission or by the aggregator's validator).
	Selected, Arrived, Late, Missing, Refused int
	Aggregated                                bool // the model changed
	Samples                                   int
	Contributors                              []federated.ClientID
	DeltaNorm                                 float64
	// ClientLoss and ClientAccuracy are the sample-weighted means of the
	// contributors' own training metrics.
	ClientLoss, ClientAccuracy float64
	Staleness                  float64 // async: mean staleness of the applied updates
	Epsilon                    float64 // DP: ε spent so far at DPConfig.Delta; NaN without DP
	Start, End                 time.Time
	// BytesUp and BytesDown are the bytes that crossed the transport since
	// the previous result (filled in by Service).
	BytesUp, BytesDown int64
	Global             []float32 // the model after the round (a copy)
	Done               bool      // the last round
	// Note says why a round did not aggregate (too few updates, or the
	// aggregator's refusal), empty otherwise.
	Note string
}

// Refusal is an update (or request) the coordinator refused, and why. It
// is the error the client receives, as a gRPC status with Code.
type Refusal struct {
	What   string // "update" (default), "registration" or "request"
	Client federated.ClientID
	Round  uint64
	Reason string // a federated.Reason's name, or "not selected", "late", "corrupt message", "bad token"
	Detail string
	Code   codes.Code
}

func (r *Refusal) Error() string {
	switch r.What {
	case "registration":
		return fmt.Sprintf("flnet: registration refused: %s: %s", r.Reason, r.Detail)
	case "request":
		return fmt.Sprintf("flnet: request from client %d refused: %s: %s", r.Client, r.Reason, r.Detail)
	}
	return fmt.Sprintf("flnet: update from client %d for round %d refused: %s: %s", r.Client, r.Round, r.Reason, r.Detail)
}

// Events are what happened since the last TakeEvents.
type Events struct {
	Rounds    []RoundResult
	Refusals  []*Refusal
	Joined    []federated.ClientID // newly registered clients
	Versioned bool                 // async: the model version advanced (checkpoint time)
}

type clientState struct {
	id      federated.ClientID
	name    string
	token   [32]byte
	samples int64
	seen    time.Time
	next    uint64 // the lowest round (version) the client may still contribute to
}

type roundState struct {
	num             uint64
	start, deadline time.Time
	selected        map[federated.ClientID]bool
	got             map[federated.ClientID]bool
	arrived         []federated.Update
	late, refused   int
	sa              *secaggRound // secure aggregation, when on
	// the securely aggregated sum
	sum          []float32
	sumWeight    float64
	sumClients   []federated.ClientID
	sumSamples   int
	sumSubmitted bool
}

type asyncJob struct {
	version  uint64
	deadline time.Time
}

// Coordinator is the federated-learning coordinator as a state machine: it
// registers clients, opens and closes rounds, hands out tasks, validates
// and aggregates updates, and accounts for privacy. It does no I/O and
// reads no clock: every method takes the current time, and what happened
// comes out of TakeEvents. Service serves it over gRPC (or in process);
// simulations drive it with a simulated clock. Not safe for concurrent use.
type Coordinator struct {
	cfg        Config
	modelBytes []byte
	dim        int
	global     []float32

	clients map[federated.ClientID]*clientState
	byName  map[string]federated.ClientID
	nextID  federated.ClientID

	// sync
	srv   *federated.Server
	opt   *federated.Adaptive
	agg   federated.Aggregator
	round *roundState

	// async
	async     federated.AsyncStrategy
	asyncVal  *federated.Validator
	inflight  map[federated.ClientID]asyncJob
	sinceRep  []federated.Update // updates applied since the last report (Params dropped)
	staleSum  float64
	repStart  time.Time
	repFailed int

	cacheKey uint64 // round/version the cached model message belongs to, +1
	cache    []byte

	acct     *dp.Accountant
	dpRounds int
	rng      *rand.Rand

	refusals map[string]int
	events   Events
	done     bool
}

// NewCoordinator checks cfg and returns a coordinator at round 0.
func NewCoordinator(cfg Config) (*Coordinator, error) {
	if cfg.Model == nil {
		return nil, fmt.Errorf("flnet: no model")
	}
	if cfg.Fraction == 0 {
		cfg.Fraction = 0.1
	}
	if !(cfg.Fraction > 0 && cfg.Fraction <= 1) {
		return nil, fmt.Errorf("flnet: fraction %v outside (0, 1]", cfg.Fraction)
	}
	cfg.MinClients = max(cfg.MinClients, 1)
	cfg.MinUpdates = max(cfg.MinUpdates, 1)
	if cfg.WaitClients <= 0 {
		cfg.WaitClients = cfg.MinClients
	}
	if cfg.RoundTimeout <= 0 {
		cfg.RoundTimeout = time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = 20
	}
	cfg.ReportEvery = max(cfg.ReportEvery, 1)
	st := &cfg.Strategy
	switch st.Name {
	case "":
		st.Name = "fedavg"
	case "fedadam", "fedyogi", "fedadagrad":
		if st.ServerLR == 0 {
			st.ServerLR = 0.01
		}
	case "krum":
		st.M = max(st.M, 1)
	case "fedasync", "async":
		st.Name = "fedasync"
		if st.Alpha == 0 {
			st.Alpha = 0.6
		}
	case "fedbuff":
		if st.K == 0 {
			st.K = 10
		}
	}
	if _, err := ParseStrategy(st.String()); err != nil {
		return nil, err
	}
	cfg.Train = cfg.Train.withDefaults()
	if cfg.Strategy.Name == "fedprox" && cfg.Train.ProxMu == 0 {
		cfg.Train.ProxMu = cfg.Strategy.Mu
	}
	if err := cfg.Train.check(); err != nil {
		return nil, err
	}
	if cfg.DP.Enabled() {
		if cfg.DP.Clip <= 0 {
			cfg.DP.Clip = 1
		}
		if cfg.DP.Delta <= 0 {
			cfg.DP.Delta = 1e-5
		}
		if cfg.Strategy.Robust() || cfg.Strategy.Async() {
			return nil, fmt.Errorf("flnet: differential privacy needs a synchronous averaging strategy, not %s", cfg.Strategy)
		}
		cfg.Train.Clip = cfg.DP.Clip
	}
	if cfg.SecAgg {
		if cfg.Strategy.Robust() || cfg.Strategy.Async() {
			return nil, fmt.Errorf("flnet: secure aggregation needs a synchronous averaging strategy, not %s", cfg.Strategy)
		}
		if c, _ := ParseCompression(cfg.Train.Compression); c.Scheme != "none" || c.Zstd {
			return nil, fmt.Errorf("flnet: secure aggregation sums fixed-point vectors; it does not combine with compression %s", c)
		}
	}
	if cfg.Session == "" {
		cfg.Session = fmt.Sprintf("fl-%016x", cfg.Seed)
	}
	p, err := train.Compile(cfg.Model, train.Options{Threads: 1})
	if err != nil {
		return nil, fmt.Errorf("flnet: model: %w", err)
	}
	global := p.Params()
	p.Close()
	if cfg.Init != nil {
		if len(cfg.Init) != len(global) {
			return nil, fmt.Errorf("flnet: initial parameters: %d values, the model has %d", len(cfg.Init), len(global))
		}
		copy(global, cfg.Init)
	}
	mb, err := onnx.Encode(cfg.Model)
	if err != nil {
		return nil, fmt.Errorf("flnet: model: %w", err)
	}
	c := &Coordinator{
		cfg: cfg, modelBytes: mb, dim: len(global), global: global,
		clients: map[federated.ClientID]*clientState{}, byName: map[string]federated.ClientID{},
		refusals: map[string]int{}, inflight: map[federated.ClientID]asyncJob{},
		rng: cfg.Rand,
	}
	if c.rng == nil {
		var seed [32]byte
		for i := range 4 {
			v := cfg.Seed*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9
			for j := range 8 {
				seed[8*i+j] = byte(v >> (8 * j))
			}
		}
		c.rng = rand.New(rand.NewChaCha8(seed))
	}
	if cfg.DP.Enabled() {
		c.acct = dp.NewAccountant(nil)
	}
	c.setupStrategy()
	return c, nil
}

func (c *Coordinator) setupStrategy() {
	st := c.cfg.Strategy
	if st.Async() {
		c.asyncVal = federated.NewValidator(c.dim, nil)
		c.asyncVal.MaxStaleness = c.cfg.MaxStaleness
		c.asyncVal.MaxNorm = c.cfg.MaxNorm
		if st.Name == "fedbuff" {
			c.async = &federated.FedBuff{K: st.K, Validator: c.asyncVal}
		} else {
			c.async = &federated.FedAsync{Alpha: st.Alpha, Staleness: federated.PolynomialStaleness{A: 0.5}, Validator: c.asyncVal}
		}
		return
	}
	c.agg = st.aggregator()
	if c.cfg.DP.Enabled() {
		c.agg = &dp.FedAvg{Clip: c.cfg.DP.Clip, NoiseMultiplier: c.cfg.DP.NoiseMultiplier, Rand: c.rng}
	}
	c.opt = st.serverOptimizer()
	c.srv = &federated.Server{Aggregator: c.agg}
	if c.opt != nil {
		c.srv.Optimizer = c.opt
	}
}

// Dim is the number of federated parameters.
func (c *Coordinator) Dim() int { return c.dim }

// Global returns a copy of the global model.
func (c *Coordinator) Global() []float32 { return slices.Clone(c.global) }

// Round returns the current round (async: the model version).
func (c *Coordinator) Round() uint64 {
	if c.async != nil {
		return c.async.ModelVersion()
	}
	return c.srv.Round
}

// Done reports whether the configured rounds are over.
func (c *Coordinator) Done() bool { return c.done }

// Config returns the configuration with defaults filled in.
func (c *Coordinator) Config() Config { return c.cfg }

// Refusals returns how many requests were refused, by reason.
func (c *Coordinator) Refusals() map[string]int {
	out := make(map[string]int, len(c.refusals))
	for k, v := range c.refusals {
		out[k] = v
	}
	return out
}

// Open describes the open synchronous round: its number, the selected
// clients (ascending) and its deadline; ok is false between rounds.
func (c *Coordinator) Open() (round uint64, selected []federated.ClientID, deadline time.Time, ok bool) {
	if c.round == nil {
		return 0, nil, time.Time{}, false
	}
	for id := range c.round.selected {
		selected = append(selected, id)
	}
	slices.Sort(selected)
	return c.round.num, selected, c.round.deadline, true
}

// TakeEvents returns and clears what happened since the last call.
func (c *Coordinator) TakeEvents() Events {
	e := c.events
	c.events = Events{}
	return e
}

func tokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

func (c *Coordinator) refuse(id federated.ClientID, round uint64, code codes.Code, reason, format string, args ...any) *Refusal {
	r := &Refusal{Client: id, Round: round, Reason: reason, Detail: fmt.Sprintf(format, args...), Code: code}
	c.refusals[reason]++
	c.events.Refusals = append(c.events.Refusals, r)
	if c.round != nil && round == c.round.num && c.async == nil {
		c.round.refused++
	}
	if c.async != nil {
		c.repFailed++
	}
	return r
}

// client authenticates a request's client id against the token it came
// with.
func (c *Coordinator) client(now time.Time, token string, id uint32, round uint64, update bool) (*clientState, error) {
	cs, ok := c.clients[federated.ClientID(id)]
	if !ok || cs.token != tokenHash(token) {
		r := c.refuse(federated.ClientID(id), round, codes.PermissionDenied, federated.ReasonUnknownClient.String(),
			"client %d is not registered with this token (register first)", id)
		if !update {
			r.What = "request"
		}
		return nil, r
	}
	cs.seen = now
	return cs, nil
}

// Register admits a client. The same name with the same token gets the
// same id back (a client reconnecting after a restart); a name taken under
// another token is refused.
func (c *Coordinator) Register(now time.Time, token string, req *flpb.RegisterRequest) (*flpb.RegisterResponse, error) {
	name := strings.TrimSpace(req.GetName())
	if name == "" || len(name) > 256 {
		return nil, &Refusal{What: "registration", Reason: "bad name", Detail: "a client needs a name of 1 to 256 bytes", Code: codes.InvalidArgument}
	}
	if req.GetNumSamples() < 0 {
		return nil, &Refusal{What: "registration", Reason: "bad sample count", Detail: fmt.Sprintf("%d samples", req.GetNumSamples()), Code: codes.InvalidArgument}
	}
	th := tokenHash(token)
	id, ok := c.byName[name]
	if ok {
		cs := c.clients[id]
		if cs.token != th {
			r := c.refuse(id, c.Round(), codes.PermissionDenied, "name taken", "client name %q is registered under another token", name)
			r.What = "registration"
			return nil, r
		}
		cs.seen, cs.samples = now, req.GetNumSamples()
	} else {
		if c.cfg.MaxClients > 0 && len(c.clients) >= c.cfg.MaxClients {
			return nil, &Refusal{What: "registration", Reason: "full", Detail: fmt.Sprintf("the federation already has %d clients", len(c.clients)), Code: codes.ResourceExhausted}
		}
		id = c.nextID
		c.nextID++
		c.clients[id] = &clientState{id: id, name: name, token: th, samples: req.GetNumSamples(), seen: now}
		c.byName[name] = id
		c.events.Joined = append(c.events.Joined, id)
	}
	resp := &flpb.RegisterResponse{ClientId: uint32(id), NumParams: uint64(c.dim), Mode: "sync", Session: c.cfg.Session}
	if c.async != nil {
		resp.Mode = "async"
	}
	if req.GetWantModel() {
		resp.Model = c.modelBytes
	}
	return resp, nil
}

// live returns the clients eligible for selection, ascending.
func (c *Coordinator) live(now time.Time) []federated.ClientID {
	var ids []federated.ClientID
	for id, cs := range c.clients {
		if c.cfg.HeartbeatTimeout > 0 && now.Sub(cs.seen) > c.cfg.HeartbeatTimeout {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c *Coordinator) modelMessage() []byte {
	key := c.Round() + 1
	if c.cacheKey != key {
		msg, err := codec.Dense{}.Encode(c.global)
		if err != nil {
			panic(fmt.Sprintf("flnet: encoding the global model: %v", err)) // the global model is always finite
		}
		c.cache, c.cacheKey = msg, key
	}
	return c.cache
}

// trainConfig is the training a task of the given round (async: model
// version) asks for; LRDecay scales the learning rate by LRDecay^(round-1).
func (c *Coordinator) trainConfig(round uint64) *flpb.TrainConfig {
	t := c.cfg.Train
	lr := t.LR
	if t.LRDecay > 0 && t.LRDecay != 1 && round > 1 {
		lr *= math.Pow(t.LRDecay, float64(round-1))
	}
	return &flpb.TrainConfig{
		LocalEpochs: int32(t.LocalEpochs), Batch: int32(t.Batch), Lr: lr, Optimizer: t.Optimizer, Momentum: t.Momentum,
		ProxMu: t.ProxMu, MaxSteps: t.MaxSteps, Compression: t.Compression, Seed: c.cfg.Seed, Clip: t.Clip,
		HeartbeatMs: t.Heartbeat.Milliseconds(),
	}
}

func (c *Coordinator) wait(now time.Time, until time.Time, reason string) *flpb.Task {
	d := c.cfg.PollInterval
	if !until.IsZero() {
		d = min(max(until.Sub(now), 10*time.Millisecond), d)
	}
	return &flpb.Task{Action: flpb.Task_WAIT, Round: c.Round(), RetryAfterMs: max(d.Milliseconds(), 1), Reason: reason}
}

// Task answers a client's request for work.
func (c *Coordinator) Task(now time.Time, token string, req *flpb.TaskRequest) (*flpb.Task, error) {
	cs, err := c.client(now, token, req.GetClientId(), c.Round(), false)
	if err != nil {
		return nil, err
	}
	if c.done {
		return &flpb.Task{Action: flpb.Task_DONE, Round: c.Round(), Reason: "training is over"}, nil
	}
	if c.async != nil {
		job, busy := c.inflight[cs.id]
		v := c.async.ModelVersion()
		if cs.next > v {
			// FedBuff moves the model every K updates: a client that already
			// contributed from this version waits for the next one.
			return c.wait(now, time.Time{}, fmt.Sprintf("already contributed from model version %d", v)), nil
		}
		if !busy && c.cfg.Concurrency > 0 && len(c.inflight) >= c.cfg.Concurrency {
			return c.wait(now, time.Time{}, fmt.Sprintf("%d clients are training", len(c.inflight))), nil
		}
		if !busy || job.version != v {
			job = asyncJob{version: v, deadline: now.Add(c.cfg.RoundTimeout)}
			c.inflight[cs.id] = job
		}
		return &flpb.Task{Action: flpb.Task_TRAIN, Round: v, Global: c.modelMessage(), Config: c.trainConfig(v),
			DeadlineUnixMs: job.deadline.UnixMilli()}, nil
	}
	r := c.round
	if r == nil {
		live := len(c.live(now))
		if live < c.cfg.WaitClients {
			return c.wait(now, time.Time{}, fmt.Sprintf("waiting for clients: %d of %d", live, c.cfg.WaitClients)), nil
		}
		return c.wait(now, time.Time{}, "the next round is starting"), nil
	}
	if !r.selected[cs.id] {
		return c.wait(now, r.deadline, fmt.Sprintf("not selected for round %d", r.num)), nil
	}
	if r.got[cs.id] {
		return c.wait(now, r.deadline, fmt.Sprintf("update for round %d received", r.num)), nil
	}
	t := &flpb.Task{Action: flpb.Task_TRAIN, Round: r.num, Global: c.modelMessage(), Config: c.trainConfig(r.num),
		DeadlineUnixMs: r.deadline.UnixMilli()}
	if r.sa != nil {
		if r.sa.task == nil || r.sa.step != flpb.SecAggResponse_ADVERTISE {
			return c.wait(now, r.deadline, fmt.Sprintf("round %d's secure aggregation is past its first step", r.num)), nil
		}
		t.Secagg = r.sa.task
	}
	return t, nil
}

// Heartbeat records that a client is alive; the reply says whether its
// task is still wanted.
func (c *Coordinator) Heartbeat(now time.Time, token string, req *flpb.HeartbeatRequest) (*flpb.HeartbeatResponse, error) {
	cs, err := c.client(now, token, req.GetClientId(), req.GetRound(), false)
	if err != nil {
		return nil, err
	}
	resp := &flpb.HeartbeatResponse{Round: c.Round()}
	switch {
	case c.done:
		resp.Abort = true
	case c.async != nil:
		job, ok := c.inflight[cs.id]
		resp.Abort = !ok || job.version != req.GetRound()
	default:
		r := c.round
		resp.Abort = r == nil || r.num != req.GetRound() || !r.selected[cs.id] || r.got[cs.id]
	}
	return resp, nil
}

// decode turns a submitted message into an update, or refuses it.
func (c *Coordinator) decode(cs *clientState, req *flpb.UpdateRequest) (federated.Update, error) {
	round := req.GetRound()
	u := federated.Update{Client: cs.id, Round: round, Samples: int(req.GetSamples()), Kind: federated.KindDelta, Metrics: req.GetMetrics()}
	if req.GetSamples() < 0 || (cs.samples > 0 && req.GetSamples() > cs.samples) || req.GetSamples() > math.MaxInt32 {
		return u, c.refuse(cs.id, round, codes.InvalidArgument, federated.ReasonSamples.String(),
			"%d samples claimed, %d registered", req.GetSamples(), cs.samples)
	}
	info, err := codec.Inspect(req.GetDelta())
	if err != nil {
		return u, c.refuse(cs.id, round, codes.InvalidArgument, "corrupt message", "%v", err)
	}
	if info.Dim != c.dim {
		return u, c.refuse(cs.id, round, codes.InvalidArgument, federated.ReasonLength.String(),
			"update has %d parameters, the model %d", info.Dim, c.dim)
	}
	u.Params, err = codec.Decode(req.GetDelta(), c.dim)
	if err != nil {
		reason := "corrupt message"
		if strings.Contains(err.Error(), "non-finite") {
			reason = federated.ReasonNonFinite.String()
		}
		return u, c.refuse(cs.id, round, codes.InvalidArgument, reason, "%v", err)
	}
	for k, v := range u.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(u.Metrics, k)
		}
	}
	return u, nil
}

func (c *Coordinator) refuseReject(err error, round uint64) error {
	var re *federated.RejectError
	if !errors.As(err, &re) {
		return err
	}
	code := codes.InvalidArgument
	switch re.Reason {
	case federated.ReasonReplay, federated.ReasonStale, federated.ReasonFuture:
		code = codes.FailedPrecondition
	case federated.ReasonUnknownClient:
		code = codes.PermissionDenied
	}
	return c.refuse(re.Client, round, code, re.Reason.String(), "%s", re.Detail)
}

// Submit receives an update.
func (c *Coordinator) Submit(now time.Time, token string, req *flpb.UpdateRequest) (*flpb.UpdateResponse, error) {
	round := req.GetRound()
	cs, err := c.client(now, token, req.GetClientId(), round, true)
	if err != nil {
		return nil, err
	}
	if c.async != nil {
		return c.submitAsync(now, cs, req)
	}
	r := c.round
	switch {
	case round < cs.next:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, federated.ReasonReplay.String(),
			"client already contributed to round %d", cs.next-1)
	case round < c.srv.Round:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, "late", "round %d is over; the coordinator is at round %d", round, c.srv.Round)
	case r == nil || round > r.num:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, federated.ReasonFuture.String(),
			"round %d is not open (current round %d)", round, c.srv.Round)
	case !r.selected[cs.id]:
		return nil, c.refuse(cs.id, round, codes.PermissionDenied, "not selected", "client %d was not selected for round %d", cs.id, round)
	case r.got[cs.id]:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, federated.ReasonReplay.String(), "second update for round %d", round)
	case r.sa != nil:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, "secure aggregation", "round %d is securely aggregated: send the update through SecAgg", round)
	case now.After(r.deadline):
		r.late++
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, "late", "round %d's deadline passed %v ago", round, now.Sub(r.deadline).Round(time.Millisecond))
	}
	u, err := c.decode(cs, req)
	if err != nil {
		return nil, err
	}
	if err := c.srv.Validator.Check(u, r.num, c.global); err != nil {
		return nil, c.refuseReject(err, round)
	}
	r.got[cs.id] = true
	r.arrived = append(r.arrived, u)
	if len(r.got) == len(r.selected) {
		c.closeRound(now)
	}
	return &flpb.UpdateResponse{Accepted: true, Round: c.Round()}, nil
}

func (c *Coordinator) submitAsync(now time.Time, cs *clientState, req *flpb.UpdateRequest) (*flpb.UpdateResponse, error) {
	round := req.GetRound()
	v := c.async.ModelVersion()
	job, ok := c.inflight[cs.id]
	switch {
	case c.done:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, "late", "training is over (model version %d)", v)
	case round < cs.next:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, federated.ReasonReplay.String(),
			"client already contributed from version %d", cs.next-1)
	case round > v:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, federated.ReasonFuture.String(), "the model is at version %d", v)
	case !ok || job.version != round:
		return nil, c.refuse(cs.id, round, codes.FailedPrecondition, "late", "no task out for client %d at version %d (expired or never sent)", cs.id, round)
	}
	u, err := c.decode(cs, req)
	if err != nil {
		delete(c.inflight, cs.id)
		return nil, err
	}
	staleness := float64(v - round)
	advanced, err := c.async.Receive(c.global, u)
	delete(c.inflight, cs.id)
	if err != nil {
		return nil, c.refuseReject(err, round)
	}
	cs.next = round + 1
	c.staleSum += staleness
	u.Params = nil
	c.sinceRep = append(c.sinceRep, u)
	if advanced {
		c.events.Versioned = true
		nv := c.async.ModelVersion()
		if c.cfg.Rounds > 0 && nv >= uint64(c.cfg.Rounds) {
			c.done = true
		}
		if nv%uint64(c.cfg.ReportEvery) == 0 || c.done {
			c.reportAsync(now)
		}
	}
	return &flpb.UpdateResponse{Accepted: true, Round: c.Round()}, nil
}

func (c *Coordinator) reportAsync(now time.Time) {
	res := RoundResult{Round: c.async.ModelVersion(), Async: true, Arrived: len(c.sinceRep), Refused: c.repFailed,
		Aggregated: len(c.sinceRep) > 0, Start: c.repStart, End: now, Epsilon: math.NaN(), Global: c.Global(), Done: c.done}
	var lw, lsum, asum float64
	for _, u := range c.sinceRep {
		res.Samples += u.Samples
		res.Contributors = append(res.Contributors, u.Client)
		w := float64(max(u.Samples, 1))
		if l, ok := u.Metrics["loss"]; ok {
			lsum += w * l
			asum += w * u.Metrics["accuracy"]
			lw += w
		}
	}
	if lw > 0 {
		res.ClientLoss, res.ClientAccuracy = lsum/lw, asum/lw
	}
	if len(c.sinceRep) > 0 {
		res.Staleness = c.staleSum / float64(len(c.sinceRep))
	}
	c.events.Rounds = append(c.events.Rounds, res)
	c.sinceRep, c.staleSum, c.repStart, c.repFailed = nil, 0, now, 0
}

// Tick advances time: it starts a round when none is open and enough
// clients are live, and closes the open one at its deadline (or when every
// client still missing has gone silent). It never closes and starts a
// round in the same call, so the caller can checkpoint in between.
func (c *Coordinator) Tick(now time.Time) {
	if c.done {
		return
	}
	if c.async != nil {
		if c.repStart.IsZero() {
			c.repStart = now
		}
		for id, job := range c.inflight {
			if now.After(job.deadline) {
				delete(c.inflight, id)
			}
		}
		return
	}
	r := c.round
	if r == nil {
		c.startRound(now)
		return
	}
	if r.sa != nil {
		c.tickSecAgg(now)
		return
	}
	if !now.Before(r.deadline) {
		c.closeRound(now)
		return
	}
	if c.cfg.HeartbeatTimeout > 0 && len(r.arrived) >= c.cfg.MinUpdates {
		for id := range r.selected {
			if !r.got[id] && now.Sub(c.clients[id].seen) <= c.cfg.HeartbeatTimeout {
				return
			}
		}
		c.closeRound(now)
	}
}

// CloseRound closes the open synchronous round now, as its deadline would
// (a simulation without deadlines calls it once every client that will
// answer has answered); in a securely aggregated round it closes the
// masked-input step instead, and the round closes when the survivors
// have unmasked the sum. It does nothing between rounds.
func (c *Coordinator) CloseRound(now time.Time) {
	switch {
	case c.round == nil:
	case c.round.sa != nil && c.round.sa.step == flpb.SecAggResponse_MASKED_INPUT:
		c.advanceSecAgg(now)
	case c.round.sa != nil && c.round.sa.step != flpb.SecAggResponse_ABORTED:
		// other steps close on their own timeouts
	default:
		c.closeRound(now)
	}
}

func (c *Coordinator) startRound(now time.Time) {
	if c.cfg.Rounds > 0 && c.srv.Round >= uint64(c.cfg.Rounds) {
		c.done = true
		return
	}
	pop := c.live(now)
	if len(pop) < c.cfg.WaitClients {
		return
	}
	var sel []federated.ClientID
	if c.cfg.DP.Enabled() {
		sel = federated.PoissonSample(pop, c.cfg.Fraction, c.cfg.Seed, c.srv.Round)
		if d, ok := c.agg.(*dp.FedAvg); ok {
			d.ExpectedClients = c.cfg.Fraction * float64(len(pop))
		}
	} else {
		sel = federated.SelectClients(pop, c.cfg.Fraction, c.cfg.MinClients, c.cfg.Seed, c.srv.Round)
	}
	v := federated.NewValidator(c.dim, pop)
	v.MaxNorm, v.NormFactor = c.cfg.MaxNorm, c.cfg.NormFactor
	c.srv.Validator = v
	r := &roundState{num: c.srv.Round, start: now, deadline: now.Add(c.cfg.RoundTimeout),
		selected: make(map[federated.ClientID]bool, len(sel)), got: map[federated.ClientID]bool{}}
	for _, id := range sel {
		r.selected[id] = true
	}
	c.round = r
	if len(sel) == 0 { // Poisson sampling chose nobody: the round ends at once
		c.closeRound(now)
		return
	}
	if c.cfg.SecAgg {
		c.startSecAgg(now, r)
	}
}

func (c *Coordinator) closeRound(now time.Time) {
	r := c.round
	c.round = nil
	res := RoundResult{Round: r.num, Selected: len(r.selected), Arrived: len(r.arrived), Late: r.late, Refused: r.refused,
		Start: r.start, End: now, Epsilon: math.NaN()}
	heard := 0
	for id := range r.selected {
		if r.got[id] {
			heard++
		}
	}
	res.Missing = len(r.selected) - heard - r.late
	if r.sumSubmitted {
		res.Arrived = len(r.sumClients)
		res.Missing = len(r.selected) - res.Arrived - r.late
		if len(r.sumClients) >= c.cfg.MinUpdates {
			if err := c.applySum(r); err != nil {
				res.Note = err.Error()
			} else {
				res.Aggregated = true
				res.Samples, res.Contributors = r.sumSamples, r.sumClients
				c.srv.Round++
				for _, id := range r.sumClients {
					if cs := c.clients[id]; cs != nil {
						cs.next = max(cs.next, r.num+1)
					}
				}
			}
		}
	} else if len(r.arrived) >= c.cfg.MinUpdates {
		rep, err := c.srv.Step(c.global, r.arrived)
		for _, e := range rep.Rejected {
			res.Refused++
			if re, ok := e.(*federated.RejectError); ok {
				c.refuse(re.Client, r.num, codes.InvalidArgument, re.Reason.String(), "%s", re.Detail)
			}
		}
		if err != nil {
			res.Note = err.Error()
		} else {
			res.Aggregated = true
			res.Samples, res.Contributors, res.DeltaNorm = rep.Samples, rep.Accepted, rep.DeltaNorm
			res.ClientLoss, res.ClientAccuracy = rep.Metrics["loss"], rep.Metrics["accuracy"]
		}
	}
	for _, u := range r.arrived {
		if cs := c.clients[u.Client]; cs != nil {
			cs.next = max(cs.next, r.num+1)
		}
	}
	if !res.Aggregated {
		c.srv.Round = r.num + 1 // the round number is used up either way
		if r.sa != nil && r.sa.reason != "" {
			res.Note = "secure aggregation: " + r.sa.reason
		}
		if res.Note == "" {
			res.Note = fmt.Sprintf("%d updates arrived, %d needed", res.Arrived, c.cfg.MinUpdates)
		}
	}
	if c.acct != nil {
		// The mechanism ran (or would have) whether or not anyone answered.
		if err := c.acct.Compose(c.cfg.Fraction, c.cfg.DP.NoiseMultiplier, 1); err == nil {
			c.dpRounds++
		}
		res.Epsilon = c.epsilon()
	}
	if c.cfg.Rounds > 0 && c.srv.Round >= uint64(c.cfg.Rounds) {
		c.done = true
	}
	res.Done = c.done
	res.Global = c.Global()
	c.events.Rounds = append(c.events.Rounds, res)
}

func (c *Coordinator) epsilon() float64 {
	if c.acct == nil || c.cfg.DP.NoiseMultiplier <= 0 {
		return math.NaN()
	}
	e, _, err := c.acct.Epsilon(c.cfg.DP.Delta, dp.ConversionImproved)
	if err != nil {
		return math.Inf(1)
	}
	return e
}

func (c *Coordinator) applySum(r *roundState) error {
	delta := slices.Clone(r.sum)
	if d, ok := c.agg.(*dp.FedAvg); ok {
		dp.AddGaussian(delta, d.NoiseMultiplier*d.Clip, c.rng)
		w := d.ExpectedClients
		if w <= 0 {
			w = float64(len(r.sumClients))
		}
		for i := range delta {
			delta[i] = float32(float64(delta[i]) / w)
		}
	} else {
		for i := range delta {
			delta[i] = float32(float64(delta[i]) / r.sumWeight)
		}
	}
	if c.opt != nil {
		return c.opt.Apply(c.global, delta)
	}
	return federated.ServerSGD{LR: 1}.Apply(c.global, delta)
}
