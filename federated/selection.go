package federated

import (
	"math"
	"math/rand/v2"
	"slices"
)

// SelectClients returns the clients chosen for a round: m = max(minClients,
// ceil(fraction*K)) of the K clients in population (capped at K), uniformly
// without replacement, in ascending order. The choice depends only on
// (population, fraction, minClients, seed, round), so a simulation replays
// exactly and every server replica agrees on it.
func SelectClients(population []ClientID, fraction float64, minClients int, seed, round uint64) []ClientID {
	k := len(population)
	if k == 0 {
		return nil
	}
	m := int(math.Ceil(fraction*float64(k) - 1e-9))
	m = min(max(m, minClients, 1), k)
	rng := rand.New(rand.NewPCG(seed, round^0x9e3779b97f4a7c15))
	pool := slices.Clone(population)
	// Partial Fisher–Yates: the first m entries become a uniform sample.
	for i := 0; i < m; i++ {
		j := i + rng.IntN(k-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	out := pool[:m:m]
	slices.Sort(out)
	return out
}

// PoissonSample includes each client independently with probability q, the
// sampling that the RDP accountant's sampled Gaussian mechanism assumes
// (DP-FedAvg: q = expected clients per round / population). Deterministic in
// (seed, round); the result is in population order and may be empty.
func PoissonSample(population []ClientID, q float64, seed, round uint64) []ClientID {
	rng := rand.New(rand.NewPCG(seed, round^0xd1b54a32d192ed03))
	var out []ClientID
	for _, c := range population {
		if rng.Float64() < q {
			out = append(out, c)
		}
	}
	return out
}
