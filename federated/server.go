package federated

import (
	"errors"
	"fmt"

	"github.com/edgedl/edgedl/federated/internal/vec"
)

// Server is a synchronous FL strategy: validate a round's updates, aggregate
// their deltas, and move the global model with a server optimizer. It holds
// only algorithm state (the round number, the optimizer's moments, the
// validator's replay table); the caller ships models and updates.
//
// Common configurations:
//
//	FedAvg:      Server{Aggregator: FedAvg{}}
//	FedProx:     the same server; clients add Prox.AddGradient to their gradients
//	FedAdam:     Server{Aggregator: FedAvg{}, Optimizer: NewFedAdam(0.01)}
//	robust:      Server{Aggregator: Median{}} / TrimmedMean{Beta: 0.1} / Krum{F: 2, M: 5}
type Server struct {
	Aggregator Aggregator      // nil: FedAvg
	Optimizer  ServerOptimizer // nil: ServerSGD{LR: 1}
	Validator  *Validator      // nil: updates are only converted to deltas and shape-checked
	Round      uint64          // the round whose updates Step expects
}

// RoundReport says what Step did with a round.
type RoundReport struct {
	Round     uint64             // the round that was aggregated
	Accepted  []ClientID         // contributors, in update order
	Rejected  []error            // *RejectError for each refused update
	Samples   int                // total samples of the accepted updates
	DeltaNorm float64            // L2 norm of the aggregated delta
	Metrics   map[string]float64 // sample-weighted means of the accepted updates' metrics
}

// Step aggregates the updates for s.Round into global (in place) and
// advances s.Round. If no update survives validation it returns the report
// and an error wrapping ErrNoUpdates, leaving global and s.Round unchanged.
// The validator records accepted clients before aggregation, so if the
// aggregator then fails (ErrTooFewUpdates) those clients cannot resubmit for
// this round: move on to the next round (sim.Sync does).
func (s *Server) Step(global []float32, updates []Update) (RoundReport, error) {
	rep := RoundReport{Round: s.Round}
	var accepted []Update
	if s.Validator != nil {
		accepted, rep.Rejected = s.Validator.Filter(s.Round, global, updates)
	} else {
		for _, u := range updates {
			d, err := u.Delta(global)
			if err != nil {
				rep.Rejected = append(rep.Rejected, err)
				continue
			}
			accepted = append(accepted, d)
		}
	}
	if len(accepted) == 0 {
		return rep, fmt.Errorf("federated: round %d: %w (%d refused)", s.Round, ErrNoUpdates, len(rep.Rejected))
	}
	agg := s.Aggregator
	if agg == nil {
		agg = FedAvg{}
	}
	delta := make([]float32, len(global))
	if err := agg.Aggregate(delta, accepted); err != nil {
		if errors.Is(err, ErrNoUpdates) || errors.Is(err, ErrTooFewUpdates) {
			return rep, fmt.Errorf("federated: round %d: %w", s.Round, err)
		}
		return rep, err
	}
	opt := s.Optimizer
	if opt == nil {
		opt = ServerSGD{LR: 1}
	}
	if err := opt.Apply(global, delta); err != nil {
		return rep, err
	}
	rep.Accepted = clientsOf(accepted)
	for _, u := range accepted {
		rep.Samples += u.Samples
	}
	rep.DeltaNorm = vec.Norm2(delta)
	rep.Metrics = weightedMetrics(accepted)
	s.Round++
	return rep, nil
}
