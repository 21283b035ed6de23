package train

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgedl/edgedl/train/data"
)

// Config controls Fit. Zero fields take the defaults noted.
type Config struct {
	// Epochs to run (default 1). With MaxSteps, whichever ends first.
	Epochs int
	// Batch is the minibatch size (default 64).
	Batch int
	// LR is the learning rate when Schedule is nil (default 0.01).
	LR float64
	// Schedule gives the learning rate per optimiser step (overrides LR).
	Schedule Schedule
	// Optimizer defaults to plain SGD. Its state carries across Fit calls
	// made with the same value.
	Optimizer Optimizer
	// Loss defaults to CrossEntropy.
	Loss Loss
	// Seed determines the shuffling (and DP noise).
	Seed uint64
	// NoShuffle keeps the data set's order.
	NoShuffle bool
	// DropLast skips a final partial batch each epoch.
	DropLast bool
	// ClipNorm > 0 clips the global gradient norm before each update.
	ClipNorm float64
	// PerExampleClip > 0 computes per-example gradients (microbatches of
	// one, see PerExampleStep), clips each to this norm and averages them:
	// DP-SGD's gradient. NoiseMultiplier σ then adds N(0, (σ·clip)²) noise
	// to the sum before the average.
	PerExampleClip  float64
	NoiseMultiplier float64
	// NoiseSeed makes DP-SGD's noise reproducible (tests, experiments).
	// Zero, the default, keys the noise with fresh secret bytes from
	// crypto/rand: the privacy guarantee assumes nobody can regenerate the
	// noise, which a seed that also orders the data would allow.
	NoiseSeed uint64
	// PoissonSampling draws each step's lot by including every example
	// independently with probability Batch/N (PoissonEpoch: round(N/Batch)
	// steps per epoch, lots of varying size), the sampling the RDP
	// accountant of DP-SGD assumes; with PerExampleClip the noisy sum is
	// divided by the expected lot size Batch. Default: shuffled batches of
	// exactly Batch examples.
	PoissonSampling bool
	// MaxSteps > 0 stops after that many optimiser steps (federated
	// clients often run a fixed number of local steps).
	MaxSteps int64
	// Eval, if set, is evaluated (inference mode) after every epoch.
	Eval data.Dataset
	// EvalBatch defaults to 256.
	EvalBatch int
	// StartEpoch and StartStep resume a run (from a checkpoint): epochs
	// before StartEpoch are skipped and the schedule continues at StartStep.
	StartEpoch int
	StartStep  int64
	// Checkpoint, if set, is written (SaveCheckpointFile) after every
	// CheckpointEvery epochs (default 1).
	Checkpoint      string
	CheckpointEvery int
}

// Progress reports the state of training after each step.
type Progress struct {
	Epoch, Epochs  int   // current epoch (0-based) and total
	Batch, Batches int   // batch within the epoch (1-based) and per epoch
	Step           int64 // optimiser steps done in total
	Loss, Acc      float64
	LR             float64
	Samples        int // samples seen this epoch
	Elapsed        time.Duration
}

// EpochMetrics summarises one epoch.
type EpochMetrics struct {
	Epoch               int
	TrainLoss, TrainAcc float64 // running averages over the epoch
	EvalLoss, EvalAcc   float64 // on Config.Eval (zero without one)
	Samples             int
	Duration            time.Duration
	SamplesPerSec       float64
	LR                  float64 // at the end of the epoch
	Step                int64
}

// Callbacks observe Fit. Any may be nil.
type Callbacks struct {
	// Progress is called after every optimiser step.
	Progress func(Progress)
	// Epoch is called after every epoch (and its evaluation); returning
	// ErrStop ends training early without error, any other error aborts.
	Epoch func(EpochMetrics) error
}

// ErrStop, returned by Callbacks.Epoch, stops Fit cleanly.
var ErrStop = errors.New("train: stop")

// Fit trains p on ds and returns the metrics of each epoch run.
func Fit(ctx context.Context, p *Program, ds data.Dataset, cfg Config, cb Callbacks) ([]EpochMetrics, error) {
	if cfg.Epochs <= 0 {
		cfg.Epochs = 1
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.LR == 0 {
		cfg.LR = 0.01
	}
	sched := cfg.Schedule
	if sched == nil {
		sched = ConstantLR(cfg.LR)
	}
	if cfg.Optimizer == nil {
		cfg.Optimizer = &SGD{}
	}
	if cfg.Loss == nil {
		cfg.Loss = CrossEntropy{}
	}
	if cfg.EvalBatch <= 0 {
		cfg.EvalBatch = 256
	}
	if ds.Len() == 0 {
		return nil, fmt.Errorf("train: empty data set")
	}
	loader := &data.Loader{Data: ds, Batch: cfg.Batch, Shuffle: !cfg.NoShuffle, Seed: cfg.Seed, DropLast: cfg.DropLast}
	nb := loader.NumBatches()
	if cfg.PoissonSampling {
		nb = PoissonSteps(ds.Len(), cfg.Batch)
	}
	step := cfg.StartStep
	var noiseKey [32]byte
	if cfg.PerExampleClip > 0 && cfg.NoiseMultiplier > 0 {
		k, err := NoiseKey(cfg.NoiseSeed)
		if err != nil {
			return nil, err
		}
		noiseKey = k
	}
	var hist []EpochMetrics
	for epoch := cfg.StartEpoch; epoch < cfg.Epochs; epoch++ {
		start := time.Now()
		var lossSum float64
		correct, seen, k := 0, 0, 0
		lr := sched.LR(step)
		stopped := false
		batches := loader.Epoch(epoch)
		if cfg.PoissonSampling {
			batches = PoissonEpoch(ds, cfg.Batch, cfg.Seed, epoch)
		}
		for b := range batches {
			if err := ctx.Err(); err != nil {
				return hist, err
			}
			if cfg.MaxSteps > 0 && step >= cfg.MaxSteps {
				stopped = true
				break
			}
			if b.Len() == 0 && cfg.PerExampleClip <= 0 {
				continue // an empty Poisson lot without DP: nothing to learn from
			}
			lr = sched.LR(step)
			p.ZeroGrad()
			var r StepResult
			var err error
			if cfg.PerExampleClip > 0 {
				r, err = p.PerExampleStep(b, cfg.Loss, cfg.PerExampleClip, nil)
				if err == nil {
					AddGaussianNoise(p.vars, cfg.NoiseMultiplier*cfg.PerExampleClip, noiseKey, step)
					lot := b.Len()
					if cfg.PoissonSampling {
						lot = cfg.Batch
					}
					ScaleGrads(p.vars, 1/float64(max(lot, 1)))
				}
			} else {
				r, err = p.Step(b, cfg.Loss)
			}
			if err != nil {
				return hist, fmt.Errorf("train: epoch %d batch %d: %w", epoch, k, err)
			}
			if cfg.ClipNorm > 0 {
				ClipGradNorm(p.vars, cfg.ClipNorm)
			}
			cfg.Optimizer.Step(p.vars, lr)
			step++
			k++
			lossSum += r.Loss * float64(r.N)
			correct += r.Correct
			seen += r.N
			if cb.Progress != nil {
				cb.Progress(Progress{Epoch: epoch, Epochs: cfg.Epochs, Batch: k, Batches: nb, Step: step,
					Loss: lossSum / float64(seen), Acc: float64(correct) / float64(seen), LR: lr,
					Samples: seen, Elapsed: time.Since(start)})
			}
		}
		if seen == 0 {
			break
		}
		m := EpochMetrics{Epoch: epoch, TrainLoss: lossSum / float64(seen), TrainAcc: float64(correct) / float64(seen),
			Samples: seen, Duration: time.Since(start), LR: lr, Step: step}
		m.SamplesPerSec = float64(seen) / m.Duration.Seconds()
		if cfg.Eval != nil {
			var err error
			if m.EvalLoss, m.EvalAcc, err = p.Evaluate(cfg.Eval, cfg.EvalBatch, cfg.Loss); err != nil {
				return hist, fmt.Errorf("train: evaluation after epoch %d: %w", epoch, err)
			}
		}
		hist = append(hist, m)
		if cfg.Checkpoint != "" {
			every := max(cfg.CheckpointEvery, 1)
			if (epoch+1)%every == 0 || epoch+1 == cfg.Epochs {
				ck := &Checkpoint{Epoch: epoch + 1, Step: step, Privacy: PrivacySettings(cfg, ds.Len())}
				if err := SaveCheckpointFile(cfg.Checkpoint, p, cfg.Optimizer, ck); err != nil {
					return hist, err
				}
			}
		}
		if cb.Epoch != nil {
			if err := cb.Epoch(m); err != nil {
				if errors.Is(err, ErrStop) {
					return hist, nil
				}
				return hist, err
			}
		}
		if stopped {
			break
		}
	}
	return hist, nil
}
