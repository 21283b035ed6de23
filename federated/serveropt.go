package federated

import (
	"fmt"
	"math"
)

// ServerOptimizer applies an aggregated delta to the global model, in place.
// Stateful optimizers keep their moments between calls; their exported state
// fields can be checkpointed and restored.
type ServerOptimizer interface {
	Apply(global, delta []float32) error
}

var (
	_ ServerOptimizer = ServerSGD{}
	_ ServerOptimizer = (*Adaptive)(nil)
)

// ServerSGD is x += LR * Δ. LR = 1 (or 0, meaning 1) is plain FedAvg.
type ServerSGD struct{ LR float64 }

func (s ServerSGD) Apply(global, delta []float32) error {
	if len(global) != len(delta) {
		return fmt.Errorf("federated: server SGD: delta has %d parameters, the model %d", len(delta), len(global))
	}
	lr := s.LR
	if lr == 0 {
		lr = 1
	}
	for i, d := range delta {
		global[i] = float32(float64(global[i]) + lr*float64(d))
	}
	return nil
}

// AdaptiveRule selects the second-moment update of an Adaptive optimizer.
type AdaptiveRule uint8

const (
	RuleAdagrad AdaptiveRule = iota // v += Δ²
	RuleAdam                        // v = β2 v + (1-β2) Δ²
	RuleYogi                        // v -= (1-β2) Δ² sign(v - Δ²)
)

func (r AdaptiveRule) String() string {
	switch r {
	case RuleAdagrad:
		return "FedAdagrad"
	case RuleAdam:
		return "FedAdam"
	case RuleYogi:
		return "FedYogi"
	}
	return fmt.Sprintf("AdaptiveRule(%d)", uint8(r))
}

// Adaptive is the server optimizer family of Reddi et al., "Adaptive
// Federated Optimization" (ICLR 2021), Algorithm 2, with the aggregated delta
// Δ_t as the (negative) pseudo-gradient:
//
//	m_t = β1 m_{t-1} + (1-β1) Δ_t
//	v_t = v_{t-1} + Δ_t²                              (FedAdagrad)
//	v_t = v_{t-1} - (1-β2) Δ_t² sign(v_{t-1} - Δ_t²)  (FedYogi)
//	v_t = β2 v_{t-1} + (1-β2) Δ_t²                    (FedAdam)
//	x_{t+1} = x_t + η m_t / (√v_t + τ)
//
// As in the paper there is no bias correction, and v starts at τ². M and V
// are allocated on the first Apply.
type Adaptive struct {
	Rule             AdaptiveRule
	LR, Beta1, Beta2 float64
	Tau              float64 // adaptivity (ε in Adam); Reddi et al. sweep 1e-7..1e-1, default 1e-3
	M, V             []float32
	Steps            uint64
}

// NewFedAdam returns FedAdam with server learning rate lr and the paper's
// defaults β1 = 0.9, β2 = 0.99, τ = 1e-3.
func NewFedAdam(lr float64) *Adaptive {
	return &Adaptive{Rule: RuleAdam, LR: lr, Beta1: 0.9, Beta2: 0.99, Tau: 1e-3}
}

// NewFedYogi returns FedYogi with server learning rate lr and the paper's
// defaults β1 = 0.9, β2 = 0.99, τ = 1e-3.
func NewFedYogi(lr float64) *Adaptive {
	return &Adaptive{Rule: RuleYogi, LR: lr, Beta1: 0.9, Beta2: 0.99, Tau: 1e-3}
}

// NewFedAdagrad returns FedAdagrad with server learning rate lr, β1 = 0.9 and
// τ = 1e-3 (β2 is unused).
func NewFedAdagrad(lr float64) *Adaptive {
	return &Adaptive{Rule: RuleAdagrad, LR: lr, Beta1: 0.9, Tau: 1e-3}
}

func (a *Adaptive) Apply(global, delta []float32) error {
	if len(global) != len(delta) {
		return fmt.Errorf("federated: %s: delta has %d parameters, the model %d", a.Rule, len(delta), len(global))
	}
	if a.M == nil {
		a.M = make([]float32, len(global))
		a.V = make([]float32, len(global))
		for i := range a.V {
			a.V[i] = float32(a.Tau * a.Tau)
		}
	}
	if len(a.M) != len(global) || len(a.V) != len(global) {
		return fmt.Errorf("federated: %s: state has %d parameters, the model %d", a.Rule, len(a.M), len(global))
	}
	b1, b2 := a.Beta1, a.Beta2
	for i, d64 := range delta {
		d := float64(d64)
		m := b1*float64(a.M[i]) + (1-b1)*d
		v := float64(a.V[i])
		d2 := d * d
		switch a.Rule {
		case RuleAdagrad:
			v += d2
		case RuleAdam:
			v = b2*v + (1-b2)*d2
		case RuleYogi:
			s := 0.0
			switch {
			case v > d2:
				s = 1
			case v < d2:
				s = -1
			}
			v -= (1 - b2) * d2 * s
		default:
			return fmt.Errorf("federated: unknown adaptive rule %d", a.Rule)
		}
		a.M[i], a.V[i] = float32(m), float32(v)
		global[i] = float32(float64(global[i]) + a.LR*m/(math.Sqrt(v)+a.Tau))
	}
	a.Steps++
	return nil
}
