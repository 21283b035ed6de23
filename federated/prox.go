package federated

import "fmt"

// Prox holds FedProx's proximal coefficient (Li et al., MLSys 2020). The
// server side of FedProx is FedAvg; the client minimises
//
//	F_k(w) + (Mu/2) ||w - w_global||²
//
// so its trainer adds Mu (w - w_global) to every gradient (AddGradient) and,
// if it reports the loss, Penalty to the loss.
type Prox struct{ Mu float64 }

// AddGradient adds Mu*(w - global) to grad in place. All three have the same
// length.
func (p Prox) AddGradient(grad, w, global []float32) error {
	if len(grad) != len(w) || len(w) != len(global) {
		return fmt.Errorf("federated: prox: lengths %d, %d, %d differ", len(grad), len(w), len(global))
	}
	if p.Mu == 0 {
		return nil
	}
	for i := range grad {
		grad[i] = float32(float64(grad[i]) + p.Mu*(float64(w[i])-float64(global[i])))
	}
	return nil
}

// Penalty returns (Mu/2) ||w - global||².
func (p Prox) Penalty(w, global []float32) float64 {
	var s float64
	for i := range w {
		d := float64(w[i]) - float64(global[i])
		s += d * d
	}
	return p.Mu / 2 * s
}
