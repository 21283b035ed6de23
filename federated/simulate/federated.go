package simulate

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/flnet"
	"github.com/edgedl/edgedl/federated/flnet/flpb"
	"google.golang.org/grpc/status"
)

func numCPU() int { return runtime.GOMAXPROCS(0) }

// perRound is how many updates a synchronous round would collect, ⌈C·N⌉.
func (r *runner) perRound() int {
	return min(max(int(math.Ceil(r.cfg.Fraction*float64(r.cfg.Clients)-1e-9)), r.cfg.MinClients, 1), r.cfg.Clients)
}

// runFederated runs the coordinator (flnet.Coordinator behind a Service)
// and materialises clients (flnet.Client over a LocalConn) as they are
// selected, in simulated time.
func (r *runner) runFederated(ctx context.Context) error {
	cfg := r.cfg
	fcfg := flnet.Config{
		Model: cfg.Model, Strategy: r.strategy, Rounds: cfg.Rounds, Fraction: cfg.Fraction, MinClients: cfg.MinClients,
		WaitClients: cfg.Clients, RoundTimeout: r.deadline(), MaxNorm: cfg.MaxNorm, NormFactor: cfg.NormFactor,
		Train: flnet.TrainConfig{LocalEpochs: cfg.LocalEpochs, Batch: cfg.Batch, LR: cfg.LR, LRDecay: cfg.LRDecay, Optimizer: cfg.Optimizer,
			Momentum: cfg.Momentum, Compression: cfg.Compress},
		DP:     flnet.DPConfig{NoiseMultiplier: cfg.DPNoise, Clip: cfg.DPClip, Delta: cfg.DPDelta},
		SecAgg: cfg.SecAgg, SecAggBound: cfg.SecAggBound,
		Seed: cfg.Seed, Session: "simulation",
	}
	k := r.perRound()
	if r.strategy.Async() {
		fcfg.ReportEvery = k
		if r.strategy.Name == "fedbuff" {
			fcfg.ReportEvery = max(1, k/r.strategy.K)
		}
		fcfg.Rounds = cfg.Rounds * fcfg.ReportEvery
		fcfg.MaxStaleness = uint64(max(20, 4*k))
	}
	coord, err := flnet.NewCoordinator(fcfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errConfig, err)
	}
	if cfg.Resume {
		st, err := r.loadCheckpoint()
		if err != nil {
			return err
		}
		if err := r.restore(st, coord); err != nil {
			return err
		}
		r.cfg.Log.Info("resumed", "checkpoint", cfg.Checkpoint, "rounds_done", len(r.records))
	}
	svc := flnet.NewService(coord, flnet.ServiceConfig{Now: func() time.Time { return r.now }, OnRound: r.record,
		Meter: r.meter, Log: r.cfg.Log})
	// Registration is set-up, not traffic of a round: not metered.
	setup := &flnet.LocalConn{Service: svc}
	for _, id := range r.pop {
		resp, err := setup.Register(ctx, &flpb.RegisterRequest{Name: clientName(id), NumSamples: int64(len(r.parts[id]))})
		if err != nil {
			return err
		}
		if federated.ClientID(resp.GetClientId()) != id {
			return fmt.Errorf("simulate: client %d registered as %d", id, resp.GetClientId())
		}
	}
	conn := &flnet.LocalConn{Service: svc, Meter: r.meter}
	if r.strategy.Async() {
		return r.runAsync(ctx, svc, conn, k)
	}
	return r.runSync(ctx, svc, conn)
}

func firstErr(ts []trained) error {
	for _, t := range ts {
		if t.err != nil {
			return t.err
		}
	}
	return nil
}

func (r *runner) runSync(ctx context.Context, svc *flnet.Service, conn *flnet.LocalConn) error {
	for !svc.Done() && r.cbErr == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		before := len(r.records)
		if err := svc.Tick(); err != nil {
			return err
		}
		var round uint64
		var sel []federated.ClientID
		var deadline time.Time
		var open bool
		svc.Do(func(c *flnet.Coordinator) { round, sel, deadline, open = c.Open() })
		if !open {
			if svc.Done() || len(r.records) > before {
				continue // over, or a round that selected nobody (Poisson sampling) closed at once
			}
			return fmt.Errorf("simulate: the coordinator did not start round %d", len(r.records)+1)
		}
		ts := r.runTasks(ctx, conn, sel, round, deadline, r.cfg.SecAgg)
		if err := firstErr(ts); err != nil {
			return err
		}
		sortByArrival(ts)
		end := r.now
		for _, t := range ts {
			switch {
			case t.dropped:
				r.dropped++
			case t.late:
				r.late++
			default:
				end = t.arrive
			}
		}
		if r.late+r.dropped > 0 && r.cfg.Deadline > 0 {
			end = deadline
		}
		if r.cfg.SecAgg {
			if err := r.secureRound(ctx, svc, round, ts, end); err != nil {
				return err
			}
			if err := r.saveCheckpoint(svc); err != nil {
				return err
			}
			continue
		}
		for _, t := range ts {
			if t.dropped || t.late {
				continue
			}
			r.now = t.arrive
			if _, err := conn.SubmitUpdate(ctx, t.req); err != nil {
				r.cfg.Log.Debug("update refused", "client", t.id, "err", status.Convert(err).Message())
			}
		}
		r.now = end
		svc.Do(func(c *flnet.Coordinator) { c.CloseRound(r.now) })
		if err := r.saveCheckpoint(svc); err != nil {
			return err
		}
	}
	return nil
}

// secureRound runs the round's secure aggregation through the
// coordinator (flnet.SecureTask over the in-process transport): every
// selected client advertises keys and shares them at the round's start;
// the in-time ones send their masked updates at their arrival times; the
// dropped and late ones never do, and the survivors unmask the sum, which
// is all the coordinator sees.
func (r *runner) secureRound(ctx context.Context, svc *flnet.Service, round uint64, ts []trained, end time.Time) error {
	sts := make([]*flnet.SecureTask, len(ts))
	for k, t := range ts {
		if t.client == nil {
			continue // no task: the coordinator gave up the round's secure aggregation (too few clients)
		}
		seed := [32]byte{0x5a, byte(round), byte(round >> 8), byte(round >> 16), byte(t.id), byte(t.id >> 8), byte(t.id >> 16)}
		for i := range 8 {
			seed[8+i] = byte(r.cfg.Seed >> (8 * i))
		}
		st, err := t.client.StartSecure(ctx, t.task, rand.NewChaCha8(seed))
		if err != nil {
			return err
		}
		sts[k] = st
	}
	step := func(k int) error {
		if sts[k] == nil {
			return nil
		}
		_, err := sts[k].Step(ctx)
		return err
	}
	for k := range ts { // share keys
		if err := step(k); err != nil {
			return err
		}
	}
	for k, t := range ts { // masked updates, in order of arrival
		if t.dropped || t.late || sts[k] == nil {
			continue
		}
		r.now = t.arrive
		sts[k].Delta, sts[k].Samples = t.delta, t.samples
		if err := step(k); err != nil {
			return err
		}
	}
	r.now = end
	svc.Do(func(c *flnet.Coordinator) { c.CloseRound(r.now) }) // stop waiting for masked updates
	for k := range ts {                                        // unmask
		if err := step(k); err != nil {
			return err
		}
	}
	var open bool
	svc.Do(func(c *flnet.Coordinator) { _, _, _, open = c.Open() })
	if open {
		return fmt.Errorf("simulate: round %d's secure aggregation did not finish", round)
	}
	return nil
}

// jobQueue orders asynchronous tasks by simulated completion time.
type jobQueue []trained

func (q jobQueue) Len() int { return len(q) }
func (q jobQueue) Less(i, j int) bool {
	if c := q[i].arrive.Compare(q[j].arrive); c != 0 {
		return c < 0
	}
	return q[i].id < q[j].id
}
func (q jobQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *jobQueue) Push(x any)   { *q = append(*q, x.(trained)) }
func (q *jobQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	*q = old[:len(old)-1]
	return j
}

// runAsync is a discrete-event simulation of asynchronous FL: k clients
// train at once; each fetches the current model when its task starts, and
// its update reaches the coordinator after its (heterogeneous) training
// time, by which the model may have moved on (staleness). A finished or
// dropped task frees its slot for a random idle client.
func (r *runner) runAsync(ctx context.Context, svc *flnet.Service, conn *flnet.LocalConn, k int) error {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xa5))
	idle := slices.Clone(r.pop)
	var q jobQueue
	var seq uint64
	// start starts tasks for up to n random idle clients at once; a client
	// the coordinator makes wait (FedBuff: it already contributed to this
	// model version) goes back to the idle set.
	start := func(n int) (int, error) {
		ids := make([]federated.ClientID, 0, n)
		for range min(n, len(idle)) {
			i := rng.IntN(len(idle))
			ids = append(ids, idle[i])
			idle = slices.Delete(idle, i, i+1)
		}
		seq++
		started := 0
		for _, t := range r.runTasks(ctx, conn, ids, seq, r.now.Add(r.deadline()), false) {
			switch {
			case t.err != nil:
				return started, t.err
			case t.wait:
				idle = append(idle, t.id)
			default:
				heap.Push(&q, t)
				started++
			}
		}
		return started, nil
	}
	// fill tops the running tasks up to k, trying each idle client once.
	fill := func() error {
		for tries := len(idle); q.Len() < k && tries > 0; tries-- {
			if _, err := start(1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := svc.Tick(); err != nil {
		return err
	}
	if _, err := start(k); err != nil {
		return err
	}
	for !svc.Done() && r.cbErr == nil && q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := heap.Pop(&q).(trained)
		r.now = t.arrive
		if err := svc.Tick(); err != nil {
			return err
		}
		switch {
		case t.dropped:
			r.dropped++
		case t.late:
			r.late++
		default:
			if _, err := conn.SubmitUpdate(ctx, t.req); err != nil {
				r.cfg.Log.Debug("update refused", "client", t.id, "err", status.Convert(err).Message())
			}
		}
		idle = append(idle, t.id)
		if svc.Done() {
			break
		}
		if err := fill(); err != nil {
			return err
		}
	}
	if !svc.Done() && r.cbErr == nil && ctx.Err() == nil {
		return fmt.Errorf("%w: the asynchronous run stalled after %d rounds: no client may train on the current model "+
			"(FedBuff's K must not exceed the clients)", errConfig, len(r.records))
	}
	return ctx.Err()
}
