package simulate

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/codec"
	"github.com/edgedl/edgedl/federated/flnet"
	"github.com/edgedl/edgedl/federated/gossip"
	"github.com/edgedl/edgedl/train/data"
)

// peerGraph builds the gossip topology: a ring, or the squarest torus
// rows x cols = n.
func peerGraph(topology string, n int) (gossip.Graph, error) {
	switch strings.ToLower(strings.TrimSpace(topology)) {
	case "", "ring":
		return gossip.Ring(n), nil
	case "torus":
		rows := int(math.Sqrt(float64(n)))
		for n%rows != 0 {
			rows--
		}
		return gossip.Torus(rows, n/rows), nil
	case "complete":
		return gossip.Complete(n), nil
	}
	return gossip.Graph{}, configErr("topology %q: want ring, torus or complete", topology)
}

// runGossip is decentralised training without a coordinator (D-PSGD, Lian
// et al. 2017, with local epochs): every round each peer trains on its own
// shard from its own model, x_i + Δ_i, and then
//
//	x_i ← Σ_j W_ij x_j + Δ_i
//
// with Metropolis–Hastings weights over the peer graph; with one local step
// Δ_i = -lr·g_i(x_i) this is exactly D-PSGD. With Config.GossipSteps = K > 0
// the round is instead the local-update form of Koloskova et al. (2020),
//
//	x ← W^K (x + Δ)
//
// (train, then mix K times), which mixes the fresh local progress at once.
// Each peer sends its dense model to each neighbour at every mixing step.
// The peers' models (N of them) are the state; programs
// are borrowed from the pool. The record's accuracy is the peers' average
// model's, and Consensus their RMS distance to it.
func (r *runner) runGossip(ctx context.Context) error {
	n := r.cfg.Clients
	g, err := peerGraph(r.cfg.Topology, n)
	if err != nil {
		return err
	}
	mix := gossip.MetropolisHastings(g)
	p := r.pool.get()
	init := p.Params()
	r.pool.put(p)
	xs := make([][]float32, n)
	for i := range xs {
		xs[i] = append([]float32(nil), init...)
	}
	msg, err := codec.Dense{}.Encode(init)
	if err != nil {
		return err
	}
	var links int64
	for i := range n {
		links += int64(g.Degree(i))
	}
	tcfg := flnet.TrainConfig{LocalEpochs: r.cfg.LocalEpochs, Batch: r.cfg.Batch, LR: r.cfg.LR, Optimizer: r.cfg.Optimizer,
		Momentum: r.cfg.Momentum}
	dim := len(init)
	for round := 1; round <= r.cfg.Rounds && r.cbErr == nil; round++ {
		if d := r.cfg.LRDecay; d > 0 && d != 1 {
			tcfg.LR = r.cfg.LR * math.Pow(d, float64(round-1))
		}
		grads := make([][]float32, n)
		losses := make([]float64, n)
		errs := make([]error, n)
		var slowest time.Duration
		sem := make(chan struct{}, r.cfg.Workers)
		var wg sync.WaitGroup
		for i := range n {
			lat, _ := r.latency(federated.ClientID(i), uint64(round))
			slowest = max(slowest, lat)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				p := r.pool.get()
				defer r.pool.put(p)
				ds := &data.Subset{Data: r.cfg.Train, Indices: r.parts[i]}
				seed := r.cfg.Seed ^ uint64(round)<<32 ^ uint64(i)*0x9e3779b97f4a7c15
				res, err := flnet.TrainLocal(ctx, p, ds, xs[i], tcfg, seed, nil)
				if err != nil {
					errs[i] = fmt.Errorf("simulate: peer %d: %w", i, err)
					return
				}
				for k := range res.Delta {
					res.Delta[k] = -res.Delta[k] // D-PSGD subtracts lr·g; the delta is -lr·g
				}
				grads[i], losses[i] = res.Delta, res.Loss
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		mixes := 1
		if k := r.cfg.GossipSteps; k > 0 {
			// Local-update form: mix the freshly trained models k times.
			mixes = k
			for i, g := range grads {
				for j, v := range g {
					xs[i][j] -= v
				}
			}
			next := make([][]float32, n)
			for i := range next {
				next[i] = make([]float32, dim)
			}
			for range k {
				if err := mix.Mix(next, xs); err != nil {
					return err
				}
				xs, next = next, xs
			}
		} else if xs, err = gossip.DPSGDStep(mix, xs, grads, 1); err != nil {
			return err
		}
		mean := make([]float32, dim)
		acc := make([]float64, dim)
		for _, x := range xs {
			for k, v := range x {
				acc[k] += float64(v)
			}
		}
		for k := range acc {
			acc[k] /= float64(n)
			mean[k] = float32(acc[k])
		}
		var spread, loss float64
		for i, x := range xs {
			for k, v := range x {
				d := float64(v) - acc[k]
				spread += d * d
			}
			loss += losses[i]
		}
		r.now = r.now.Add(slowest)
		sent := int64(mixes) * links * int64(len(msg))
		rec := Record{Round: round, TrainLoss: loss / float64(n), BytesUp: sent, BytesDown: sent,
			WallS: time.Since(r.wall).Seconds(), SimTime: r.now.Sub(r.t0).Seconds(), Selected: n, Arrived: n,
			Aggregated: true, Consensus: math.Sqrt(spread / float64(n))}
		r.finish(&rec, mean, math.NaN(), round == r.cfg.Rounds)
	}
	return nil
}
