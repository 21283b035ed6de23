package federated

import (
	"slices"
	"fmt"
	"math"

	"github.com/edgedl/edgedl/federated/internal/vec"
)

// Staleness maps an update's staleness (how many model versions the server
// advanced while the client trained) to a weight in (0, 1].
type Staleness interface {
	Weight(staleness uint64) float64
}

// ConstantStaleness weighs every update 1.
type ConstantStaleness struct{}

// PolynomialStaleness is Xie et al.'s s_a(t-τ) = (t-τ+1)^(-A). With A = 0.5
// it is FedBuff's 1/sqrt(1+staleness).
type PolynomialStaleness struct{ A float64 }

// HingeStaleness is Xie et al.'s s_{a,b}(t-τ) = 1 if t-τ <= B, else
// 1/(A(t-τ-B)+1).
type HingeStaleness struct{ A, B float64 }

// ExponentialStaleness is s_a(t-τ) = exp(-A(t-τ)).
type ExponentialStaleness struct{ A float64 }

func (ConstantStaleness) Weight(uint64) float64 { return 1 }

func (p PolynomialStaleness) Weight(s uint64) float64 { return math.Pow(float64(s)+1, -p.A) }

func (h HingeStaleness) Weight(s uint64) float64 {
	if float64(s) <= h.B {
		return 1
	}
	return 1 / (h.A*(float64(s)-h.B) + 1)
}

func (e ExponentialStaleness) Weight(s uint64) float64 { return math.Exp(-e.A * float64(s)) }

// FedAsync is Xie, Koyejo and Gupta's asynchronous federated optimisation
// (2019): every arriving update is mixed into the global model at once,
//
//	x_t = (1 - α_t) x_{t-1} + α_t x_new,   α_t = Alpha * s(t - τ),
//
// where τ is the version the client started from (Update.Round) and t the
// server's version. For a KindWeights update x_new is the client's model, as
// in the paper; a KindDelta update is read relative to the current model,
// x_t = x_{t-1} + α_t Δ. Each applied update advances Version. A Validator,
// if set, checks each update with Admit; its MaxStaleness then bounds the
// staleness accepted (set it: the zero value accepts only fresh updates).
type FedAsync struct {
	Alpha     float64   // mixing hyperparameter in (0, 1]
	Staleness Staleness // nil: constant
	Validator *Validator
	Version   uint64
}

// Apply mixes u into global in place and returns the α_t it used.
func (f *FedAsync) Apply(global []float32, u Update) (float64, error) {
	if err := admitAsync(f.Validator, u, f.Version, global); err != nil {
		return 0, err
	}
	s := f.Staleness
	if s == nil {
		s = ConstantStaleness{}
	}
	a := f.Alpha * s.Weight(f.Version-u.Round)
	switch u.Kind {
	case KindWeights:
		for i, x := range u.Params {
			global[i] = float32((1-a)*float64(global[i]) + a*float64(x))
		}
	default:
		vec.Axpy(global, a, u.Params)
	}
	f.Version++
	return a, nil
}

// FedBuff is Nguyen et al.'s buffered asynchronous aggregation (AISTATS
// 2022): arriving deltas are weighted by s(staleness) and summed into a
// buffer; when K have arrived the server applies their mean with its
// optimizer, advances Version and empties the buffer. Only KindDelta updates
// are accepted (the server does not keep the old models that a KindWeights
// update would be relative to).
type FedBuff struct {
	K         int
	Staleness Staleness       // nil: PolynomialStaleness{A: 0.5}, the paper's 1/sqrt(1+s)
	Optimizer ServerOptimizer // nil: ServerSGD{LR: 1}
	Validator *Validator
	Version   uint64

	buf   []float64
	count int
}

// Pending returns how many updates are buffered.
func (b *FedBuff) Pending() int { return b.count }

// Buffered returns a copy of the staleness-weighted sum of the buffered
// updates and their count (nil, 0 when the buffer is empty): what a
// coordinator's checkpoint keeps so that a restart loses no update.
func (b *FedBuff) Buffered() ([]float64, int) {
	if b.count == 0 {
		return nil, 0
	}
	return slices.Clone(b.buf), b.count
}

// Restore refills the buffer with a sum and count saved by Buffered.
func (b *FedBuff) Restore(sum []float64, count int) error {
	if count < 0 || count >= max(b.K, 1) || (count > 0) != (sum != nil) {
		return fmt.Errorf("federated: FedBuff: cannot restore %d buffered updates (K = %d)", count, b.K)
	}
	b.buf, b.count = slices.Clone(sum), count
	return nil
}

// Add buffers u and, when the buffer holds K updates, applies their weighted
// mean to global (in place) and reports applied = true.
func (b *FedBuff) Add(global []float32, u Update) (applied bool, err error) {
	if b.K < 1 {
		return false, fmt.Errorf("federated: FedBuff: K = %d, want >= 1", b.K)
	}
	if u.Kind != KindDelta {
		return false, reject(u, ReasonKind, "FedBuff aggregates deltas only")
	}
	if err := admitAsync(b.Validator, u, b.Version, global); err != nil {
		return false, err
	}
	s := b.Staleness
	if s == nil {
		s = PolynomialStaleness{A: 0.5}
	}
	w := s.Weight(b.Version - u.Round)
	if len(b.buf) != len(global) {
		b.buf = make([]float64, len(global))
	}
	for i, x := range u.Params {
		b.buf[i] += w * float64(x)
	}
	b.count++
	if b.count < b.K {
		return false, nil
	}
	delta := make([]float32, len(global))
	inv := 1 / float64(b.count)
	for i, x := range b.buf {
		delta[i] = float32(x * inv)
		b.buf[i] = 0
	}
	b.count = 0
	opt := b.Optimizer
	if opt == nil {
		opt = ServerSGD{LR: 1}
	}
	if err := opt.Apply(global, delta); err != nil {
		return false, err
	}
	b.Version++
	return true, nil
}

func admitAsync(v *Validator, u Update, version uint64, global []float32) error {
	if v != nil {
		return v.Admit(u, version, global)
	}
	if u.Round > version {
		return reject(u, ReasonFuture, fmt.Sprintf("the server is at version %d", version))
	}
	if len(u.Params) != len(global) {
		return reject(u, ReasonLength, fmt.Sprintf("%d parameters, want %d", len(u.Params), len(global)))
	}
	if i := vec.FirstNonFinite(u.Params); i >= 0 {
		return reject(u, ReasonNonFinite, fmt.Sprintf("parameter %d is %v", i, u.Params[i]))
	}
	return nil
}

// AsyncStrategy is what an asynchronous driver needs from FedAsync and
// FedBuff: the current model version (clients start from it) and a way to
// hand over one arriving update.
type AsyncStrategy interface {
	ModelVersion() uint64
	// Receive folds u into global (in place, or into a buffer) and reports
	// whether the model version advanced.
	Receive(global []float32, u Update) (advanced bool, err error)
}

var (
	_ AsyncStrategy = (*FedAsync)(nil)
	_ AsyncStrategy = (*FedBuff)(nil)
)

func (f *FedAsync) ModelVersion() uint64 { return f.Version }

func (f *FedAsync) Receive(global []float32, u Update) (bool, error) {
	_, err := f.Apply(global, u)
	return err == nil, err
}

func (b *FedBuff) ModelVersion() uint64 { return b.Version }

func (b *FedBuff) Receive(global []float32, u Update) (bool, error) { return b.Add(global, u) }
