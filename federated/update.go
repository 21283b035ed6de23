package federated

import (
	"fmt"
	"maps"
	"slices"
)

// ClientID names a client in the population. Identifiers are dense small
// integers in practice (0..K-1); secure aggregation uses ID+1 as the client's
// Shamir evaluation point.
type ClientID uint32

// Kind says how Update.Params is to be read.
type Kind uint8

const (
	// KindDelta: Params is w_local - w_global, the change the client made to
	// the model it was sent. This is what aggregators combine.
	KindDelta Kind = iota
	// KindWeights: Params is w_local, the client's new weights. Strategies
	// convert it to a delta against the global model before aggregating.
	KindWeights
)

func (k Kind) String() string {
	switch k {
	case KindDelta:
		return "delta"
	case KindWeights:
		return "weights"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Update is one client's contribution to one round: the message a client
// sends back after local training. It carries a flat parameter vector in the
// order the model's parameters are flattened by the trainer.
type Update struct {
	Client ClientID
	// Round is the round number (synchronous strategies) or the model
	// version (asynchronous ones) that the client started from.
	Round uint64
	// Samples is the number of local examples the update was computed on;
	// FedAvg weights by it. Zero is allowed for unweighted aggregators.
	Samples int
	Kind    Kind
	Params  []float32
	// Metrics are optional client-side measurements (loss, accuracy, ...).
	// Server.Step reports their sample-weighted means.
	Metrics map[string]float64
}

// Delta returns u as a KindDelta update against global. A KindDelta update is
// returned as is (sharing Params); a KindWeights update gets a new Params
// slice holding Params - global. The lengths must match.
func (u Update) Delta(global []float32) (Update, error) {
	if u.Kind == KindDelta {
		return u, nil
	}
	if u.Kind != KindWeights {
		return u, reject(u, ReasonKind, fmt.Sprintf("unknown update kind %d", u.Kind))
	}
	if len(u.Params) != len(global) {
		return u, reject(u, ReasonLength, fmt.Sprintf("%d parameters, the model has %d", len(u.Params), len(global)))
	}
	d := make([]float32, len(global))
	for i, w := range u.Params {
		d[i] = w - global[i]
	}
	u.Params = d
	u.Kind = KindDelta
	return u, nil
}

// clientsOf lists the clients of updates in order.
func clientsOf(updates []Update) []ClientID {
	ids := make([]ClientID, len(updates))
	for i, u := range updates {
		ids[i] = u.Client
	}
	return ids
}

// weightedMetrics returns the Samples-weighted mean of each metric over the
// updates that report it (unweighted when no update reports samples).
func weightedMetrics(updates []Update) map[string]float64 {
	sum := map[string]float64{}
	wsum := map[string]float64{}
	for _, u := range updates {
		w := float64(u.Samples)
		if w <= 0 {
			w = 1
		}
		for _, k := range slices.Sorted(maps.Keys(u.Metrics)) {
			sum[k] += w * u.Metrics[k]
			wsum[k] += w
		}
	}
	if len(sum) == 0 {
		return nil
	}
	for k := range sum {
		sum[k] /= wsum[k]
	}
	return sum
}
