package flnet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/dp"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/data"
)

// TrainConfig is the local training a task asks for (the Go form of
// flpb.TrainConfig).
type TrainConfig struct {
	LocalEpochs int     // E (default 1)
	Batch       int     // B (default 10)
	LR          float64 // client learning rate (default 0.05)
	// LRDecay in (0, 1] multiplies the learning rate by LRDecay each
	// round (async: each model version): round r trains at
	// LR·LRDecay^(r-1). 0 means 1 (no decay).
	LRDecay   float64
	Optimizer string  // "sgd" (default) or "adam"; fresh state every task
	Momentum  float64 // SGD momentum
	ProxMu    float64 // FedProx μ (0: plain local SGD)
	MaxSteps  int64   // > 0 caps the local optimiser steps
	// Compression is the uplink codec (see ParseCompression).
	Compression string
	Seed        uint64
	// Clip > 0 makes clients clip their delta to this L2 norm.
	Clip float64
	// Heartbeat is how often clients report while training (0: never).
	Heartbeat time.Duration
}

func (c TrainConfig) withDefaults() TrainConfig {
	if c.LocalEpochs <= 0 {
		c.LocalEpochs = 1
	}
	if c.Batch <= 0 {
		c.Batch = 10
	}
	if c.LR == 0 {
		c.LR = 0.05
	}
	if c.Optimizer == "" {
		c.Optimizer = "sgd"
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	return c
}

func (c TrainConfig) check() error {
	if c.Optimizer != "sgd" && c.Optimizer != "adam" {
		return fmt.Errorf("flnet: optimizer %q: want sgd or adam", c.Optimizer)
	}
	if c.LRDecay < 0 || c.LRDecay > 1 {
		return fmt.Errorf("flnet: bad training config: learning-rate decay %v outside (0, 1]", c.LRDecay)
	}
	if !(c.LR > 0) || c.ProxMu < 0 || c.Momentum < 0 || c.Momentum >= 1 || c.Clip < 0 {
		return fmt.Errorf("flnet: bad training config: lr %v, prox mu %v, momentum %v, clip %v", c.LR, c.ProxMu, c.Momentum, c.Clip)
	}
	_, err := ParseCompression(c.Compression)
	return err
}

// ErrDiverged is returned by TrainLocal when the loss becomes NaN or
// infinite: the client cannot contribute to this task.
var ErrDiverged = errors.New("flnet: local training diverged")

// LocalResult is the outcome of one task's local training.
type LocalResult struct {
	Delta    []float32 // w_local - w_global
	Samples  int       // local data set size (FedAvg's weight)
	Steps    int64
	Loss     float64 // mean training loss over the steps
	Accuracy float64 // running training accuracy
}

// TrainLocal runs one task's local training: it loads global into p, runs
// cfg.LocalEpochs epochs of minibatch training on ds (shuffled by seed), and
// returns the change to the parameters. FedProx's proximal gradient is added
// when cfg.ProxMu > 0, and the delta is clipped to cfg.Clip when it is set.
// progress, if not nil, is called after every step with the share done.
// p is left holding the local model; only its trainable parameters are
// federated (BatchNormalization statistics stay local).
func TrainLocal(ctx context.Context, p *train.Program, ds data.Dataset, global []float32, cfg TrainConfig, seed uint64,
	progress func(done float64)) (LocalResult, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return LocalResult{}, err
	}
	if ds.Len() == 0 {
		return LocalResult{}, fmt.Errorf("flnet: the client has no data")
	}
	if err := p.SetParams(global); err != nil {
		return LocalResult{}, fmt.Errorf("flnet: global model: %w", err)
	}
	var opt train.Optimizer = &train.SGD{Momentum: cfg.Momentum}
	if cfg.Optimizer == "adam" {
		opt = &train.Adam{}
	}
	prox := federated.Prox{Mu: cfg.ProxMu}
	loader := &data.Loader{Data: ds, Batch: cfg.Batch, Shuffle: true, Seed: seed}
	total := int64(cfg.LocalEpochs * loader.NumBatches())
	if cfg.MaxSteps > 0 {
		total = min(total, cfg.MaxSteps)
	}
	var res LocalResult
	var lossSum float64
	correct, seen := 0, 0
	vars := p.Vars()
	for epoch := 0; epoch < cfg.LocalEpochs && res.Steps < total; epoch++ {
		for b := range loader.Epoch(epoch) {
			if err := ctx.Err(); err != nil {
				return LocalResult{}, err
			}
			p.ZeroGrad()
			r, err := p.Step(b, train.CrossEntropy{})
			if err != nil {
				return LocalResult{}, fmt.Errorf("flnet: local step %d: %w", res.Steps, err)
			}
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				return LocalResult{}, fmt.Errorf("%w at step %d (loss %v); lower the learning rate", ErrDiverged, res.Steps, r.Loss)
			}
			if prox.Mu > 0 {
				off := 0
				for _, v := range vars {
					if err := prox.AddGradient(v.Grad, v.Data, global[off:off+len(v.Data)]); err != nil {
						return LocalResult{}, err
					}
					off += len(v.Data)
				}
			}
			opt.Step(vars, cfg.LR)
			res.Steps++
			lossSum += r.Loss * float64(r.N)
			correct += r.Correct
			seen += r.N
			if progress != nil {
				progress(float64(res.Steps) / float64(total))
			}
			if res.Steps >= total {
				break
			}
		}
	}
	res.Samples = ds.Len()
	if seen > 0 {
		res.Loss, res.Accuracy = lossSum/float64(seen), float64(correct)/float64(seen)
	}
	res.Delta = p.Params()
	for i, g := range global {
		res.Delta[i] -= g
	}
	if cfg.Clip > 0 {
		dp.ClipL2(res.Delta, cfg.Clip)
	}
	return res, nil
}
