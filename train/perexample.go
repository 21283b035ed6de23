package train

import (
	cryptorand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train/data"
)

// Per-example gradients (for DP-SGD) are computed by running microbatches
// of one example: each worker is a Clone of the program with one thread,
// sharing the parameters, and takes a share of the batch's examples. This
// works for every differentiable op without per-op rules, at the cost of
// GEMMs with one row (roughly batch-size times the work of the fused
// per-layer tricks for Gemm/Conv). BatchNormalization mixes the examples of
// a batch, so models with it are refused, as in Opacus.

// perExample holds the worker clones.
type perExample struct {
	workers []*Program
	acc     [][]float32
}

func (p *Program) perExampleWorkers() ([]*Program, error) {
	if p.pe != nil {
		return p.pe.workers, nil
	}
	for _, nd := range p.e.nodes {
		if nd.n.OpType == "BatchNormalization" && nd.needGrad {
			return nil, fmt.Errorf("train: per-example gradients: %s mixes the examples of a batch", nd.n.Label())
		}
	}
	pe := &perExample{}
	for k := 0; k < p.e.threads; k++ {
		opt := p.opt
		opt.Seed = p.opt.Seed + uint64(k+1)*0x9e37
		opt.Threads = 1
		w, err := p.cloneWith(opt)
		if err != nil {
			return nil, err
		}
		pe.workers = append(pe.workers, w)
	}
	p.pe = pe
	return pe.workers, nil
}

func (p *Program) cloneWith(opt Options) (*Program, error) {
	opt.Trainable = p.trainableNames()
	e, err := compileEngine[float32](p.e.model, opt, p.e)
	if err != nil {
		return nil, err
	}
	e.noStats = true
	return newProgram(e, opt), nil
}

// PerExampleStep computes the gradient of each example of the batch on its
// own, scales it to L2 norm at most clip (clip <= 0: no clipping), and adds
// the sum of the clipped gradients into Var.Grad (a sum, not a mean: DP-SGD
// adds noise to the sum before dividing by the batch size). norms, if not
// nil, receives each example's gradient norm before clipping.
func (p *Program) PerExampleStep(b *data.Batch, loss Loss, clip float64, norms []float64) (StepResult, error) {
	workers, err := p.perExampleWorkers()
	if err != nil {
		return StepResult{}, err
	}
	n := b.Len()
	if norms != nil && len(norms) < n {
		return StepResult{}, fmt.Errorf("train: norms has room for %d examples, batch has %d", len(norms), n)
	}
	per := b.X.Len() / max(n, 1)
	total := p.NumParams()
	p.pe.acc = resize(p.pe.acc, len(workers))
	type res struct {
		loss    float64
		correct int
		err     error
	}
	results := make([]res, len(workers))
	var wg sync.WaitGroup
	step := (n + len(workers) - 1) / len(workers)
	for k, w := range workers {
		lo, hi := k*step, min(n, (k+1)*step)
		if lo >= hi {
			continue
		}
		acc := resize(p.pe.acc[k], total)
		clear(acc)
		p.pe.acc[k] = acc
		wg.Add(1)
		go func() {
			defer wg.Done()
			one := &data.Batch{Labels: make([]int, 1), Index: make([]int, 1)}
			for i := lo; i < hi; i++ {
				shape := append([]int{1}, b.X.Shape[1:]...)
				one.X = tensor.Float32s(shape, b.X.F32()[i*per:(i+1)*per])
				one.Labels[0], one.Index[0] = b.Labels[i], b.Index[i]
				one.Y = nil
				if b.Y != nil {
					tp := b.Y.Len() / n
					one.Y = tensor.Float32s(append([]int{1}, b.Y.Shape[1:]...), b.Y.F32()[i*tp:(i+1)*tp])
				}
				w.ZeroGrad()
				r, err := w.Step(one, loss)
				if err != nil {
					results[k].err = err
					return
				}
				results[k].loss += r.Loss
				results[k].correct += r.Correct
				norm := GradNorm(w.vars)
				if norms != nil {
					norms[i] = norm
				}
				s := float32(1)
				if clip > 0 && norm > clip {
					s = float32(clip / norm)
				}
				off := 0
				for _, v := range w.vars {
					a := acc[off : off+len(v.Grad)]
					for j, g := range v.Grad {
						a[j] += s * g
					}
					off += len(v.Grad)
				}
			}
		}()
	}
	wg.Wait()
	r := StepResult{N: n}
	for k, x := range results {
		if x.err != nil {
			return StepResult{}, x.err
		}
		r.Loss += x.loss
		r.Correct += x.correct
		if k < len(p.pe.acc) && p.pe.acc[k] != nil && k*step < n {
			off := 0
			for _, v := range p.vars {
				for j, a := range p.pe.acc[k][off : off+len(v.Grad)] {
					v.Grad[j] += a
				}
				off += len(v.Grad)
			}
		}
	}
	r.Loss /= float64(max(n, 1))
	return r, nil
}

// AddGaussianNoise adds N(0, std²) noise to every gradient, drawn from a
// ChaCha8 stream (a cryptographically strong generator) keyed by key and
// the step, so that a run keyed the same way is reproducible and steps
// are independent of how a run was split by checkpoints. DP-SGD's
// guarantee holds only while the key stays secret: whoever can regenerate
// the noise can subtract it. See NoiseKey.
func AddGaussianNoise(vars []*Var, std float64, key [32]byte, step int64) {
	if std <= 0 {
		return
	}
	var buf [40]byte
	copy(buf[:], key[:])
	binary.LittleEndian.PutUint64(buf[32:], uint64(step))
	r := rand.New(rand.NewChaCha8(sha256.Sum256(buf[:])))
	for _, v := range vars {
		for i := range v.Grad {
			v.Grad[i] += float32(r.NormFloat64() * std)
		}
	}
}

// NoiseKey is the key of DP-SGD's noise: derived from seed when seed is
// not zero (reproducible experiments; the noise is then as public as the
// seed), else 32 fresh bytes from crypto/rand (deployment).
func NoiseKey(seed uint64) ([32]byte, error) {
	var k [32]byte
	if seed != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		return sha256.Sum256(append([]byte("edgedl dp-sgd noise"), b[:]...)), nil
	}
	if _, err := cryptorand.Read(k[:]); err != nil {
		return k, fmt.Errorf("train: DP noise key: %w", err)
	}
	return k, nil
}

// ScaleGrads multiplies every gradient by s.
func ScaleGrads(vars []*Var, s float64) {
	if s == 1 {
		return
	}
	f := float32(s)
	for _, v := range vars {
		for i := range v.Grad {
			v.Grad[i] *= f
		}
	}
}

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }
