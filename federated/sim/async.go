package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/edgedl/edgedl/federated"
)

// AsyncConfig configures an asynchronous simulation.
type AsyncConfig struct {
	Population []federated.ClientID
	// Concurrency is how many clients train at once; each finished (or
	// dropped) job frees a slot that goes to a random idle client.
	Concurrency int
	MaxUpdates  int     // stop after this many updates reached the server (0: no limit)
	MaxTime     float64 // stop at this logical time (0: no limit)
	Seed        uint64
}

// AsyncEvent records one job's outcome, in completion order.
type AsyncEvent struct {
	Time         float64
	Client       federated.ClientID
	StartVersion uint64 // the model version the client trained from
	Staleness    uint64 // versions the server advanced meanwhile
	Dropped      bool   // the job was lost; no update
	Advanced     bool   // the server's model version advanced on this update
	Version      uint64 // the server's version after the event
	Err          error  // the strategy refused the update
}

type job struct {
	t       float64
	seq     uint64
	client  federated.ClientID
	version uint64
	update  federated.Update
	dropped bool
}

type jobQueue []*job

func (q jobQueue) Len() int { return len(q) }
func (q jobQueue) Less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	return q[i].seq < q[j].seq
}
func (q jobQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *jobQueue) Push(x any)   { *q = append(*q, x.(*job)) }
func (q *jobQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	*q = old[:len(old)-1]
	return j
}

// RunAsync simulates asynchronous FL (FedAsync, FedBuff, or any
// federated.AsyncStrategy) as a discrete-event simulation in logical time.
// Concurrency clients train at once; a client is handed the current model
// when its job starts (train is called then, on that model, so its update is
// as stale as the versions that pass before it completes); jobs complete in
// order of simulated completion time (latency, heterogeneous per client);
// each completion is handed to strat, and the freed slot goes to a random
// idle client. global is updated in place. Deterministic in cfg.Seed.
func RunAsync(cfg AsyncConfig, strat federated.AsyncStrategy, global []float32, train TrainFunc, latency LatencyFunc) ([]AsyncEvent, error) {
	if cfg.MaxUpdates <= 0 && cfg.MaxTime <= 0 {
		return nil, fmt.Errorf("sim: async run needs MaxUpdates or MaxTime")
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > len(cfg.Population) {
		return nil, fmt.Errorf("sim: concurrency %d for %d clients", cfg.Concurrency, len(cfg.Population))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xa5a5))
	idle := slices.Sorted(slices.Values(cfg.Population))
	var q jobQueue
	var seq uint64
	dispatch := func(now float64) error {
		i := rng.IntN(len(idle))
		c := idle[i]
		idle = slices.Delete(idle, i, i+1)
		seq++
		v := strat.ModelVersion()
		j := &job{seq: seq, client: c, version: v}
		dur, dropped := latency(c, jobRand(cfg.Seed, seq, c))
		j.t, j.dropped = now+dur, dropped
		if !dropped {
			u, err := train(c, v, global, jobRand(cfg.Seed, seq, c^0x80000000))
			if err != nil {
				return fmt.Errorf("sim: training client %d on version %d: %w", c, v, err)
			}
			j.update = u
		}
		heap.Push(&q, j)
		return nil
	}
	for range cfg.Concurrency {
		if err := dispatch(0); err != nil {
			return nil, err
		}
	}
	var events []AsyncEvent
	updates := 0
	for q.Len() > 0 {
		j := heap.Pop(&q).(*job)
		if cfg.MaxTime > 0 && j.t > cfg.MaxTime {
			break
		}
		ev := AsyncEvent{Time: j.t, Client: j.client, StartVersion: j.version, Dropped: j.dropped}
		if !j.dropped {
			ev.Staleness = strat.ModelVersion() - j.version
			ev.Advanced, ev.Err = strat.Receive(global, j.update)
			updates++
		}
		ev.Version = strat.ModelVersion()
		events = append(events, ev)
		idle = append(idle, j.client)
		if cfg.MaxUpdates > 0 && updates >= cfg.MaxUpdates {
			break
		}
		if err := dispatch(j.t); err != nil {
			return events, err
		}
	}
	return events, nil
}
