package dp

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/edgedl/edgedl/federated"
	"github.com/edgedl/edgedl/federated/internal/vec"
)

// ClipFactor returns min(1, c/‖v‖₂), the factor that clips v to L2 norm c,
// and v's norm.
func ClipFactor(v []float32, c float64) (factor, norm float64) {
	norm = vec.Norm2(v)
	if norm > c {
		return c / norm, norm
	}
	return 1, norm
}

// ClipL2 scales v in place so that ‖v‖₂ ≤ c and returns v's original norm.
func ClipL2(v []float32, c float64) float64 {
	f, n := ClipFactor(v, c)
	if f < 1 {
		vec.Scale(v, f)
	}
	return n
}

// AddGaussian adds independent N(0, std²) noise to every coordinate of v.
func AddGaussian(v []float32, std float64, rng *rand.Rand) {
	for i := range v {
		v[i] = float32(float64(v[i]) + std*rng.NormFloat64())
	}
}

// GaussianSum is the building block of DP-SGD (Abadi et al., CCS 2016) and of
// DP-FedAvg: clip each contribution to L2 norm Clip, sum, and add Gaussian
// noise of standard deviation NoiseMultiplier*Clip to the sum. The sum has L2
// sensitivity Clip under adding or removing one contribution, so one
// application with Poisson sampling rate q is the sampled Gaussian mechanism
// that Accountant.Compose(q, NoiseMultiplier, 1) accounts for.
//
// Rand must be set. It should be a cryptographically seeded generator
// (rand.NewChaCha8 with a seed from crypto/rand) in deployment; simulations
// seed it for reproducibility. Floating-point noise is subject to the
// least-significant-bit attacks of Mironov (CCS 2012); this implementation
// does not defend against them.
type GaussianSum struct {
	Clip            float64
	NoiseMultiplier float64
	Rand            *rand.Rand
}

// NoisySum writes clip(x_1) + … + clip(x_n) + N(0, (σC)² I) into dst and
// returns how many contributions were clipped. The inputs are not modified.
func (g GaussianSum) NoisySum(dst []float32, xs [][]float32) (clipped int, err error) {
	if !(g.Clip > 0) || !(g.NoiseMultiplier >= 0) {
		return 0, fmt.Errorf("dp: clip %v and noise multiplier %v", g.Clip, g.NoiseMultiplier)
	}
	if g.Rand == nil {
		return 0, fmt.Errorf("dp: GaussianSum needs a random source")
	}
	acc := make([]float64, len(dst))
	for k, x := range xs {
		if len(x) != len(dst) {
			return 0, fmt.Errorf("dp: contribution %d has %d coordinates, want %d", k, len(x), len(dst))
		}
		if i := vec.FirstNonFinite(x); i >= 0 {
			return 0, fmt.Errorf("dp: contribution %d has a non-finite value at %d", k, i)
		}
		f, _ := ClipFactor(x, g.Clip)
		if f < 1 {
			clipped++
		}
		for i, v := range x {
			acc[i] += f * float64(v)
		}
	}
	std := g.NoiseMultiplier * g.Clip
	for i, a := range acc {
		dst[i] = float32(a + std*g.Rand.NormFloat64())
	}
	return clipped, nil
}

// NoisyMean is DP-SGD's noisy gradient: NoisySum divided by lotSize, the
// expected batch size qN for Poisson-sampled batches as in Abadi et al.
// (lotSize <= 0 divides by len(grads) instead). grads are per-example
// gradients.
func (g GaussianSum) NoisyMean(dst []float32, grads [][]float32, lotSize float64) (clipped int, err error) {
	clipped, err = g.NoisySum(dst, grads)
	if err != nil {
		return clipped, err
	}
	d := lotSize
	if d <= 0 {
		d = float64(max(len(grads), 1))
	}
	vec.Scale(dst, 1/d)
	return clipped, nil
}

// FedAvg is client-level differentially private federated averaging
// (McMahan et al., "Learning Differentially Private Recurrent Language
// Models", ICLR 2018; Geyer et al. 2017): each client's delta is clipped to
// L2 norm Clip, the clipped deltas are summed, Gaussian noise of standard
// deviation NoiseMultiplier*Clip is added, and the sum is divided by
// ExpectedClients (McMahan et al.'s fixed-denominator estimator; with Poisson
// client sampling at rate q from W clients, ExpectedClients = qW) or, when
// ExpectedClients is 0, by the number of updates (Geyer et al.; the
// denominator then depends on the sample, which the accountant ignores).
// Deltas are unweighted: weighting by sample counts would make the
// sensitivity unbounded.
//
// Account for it with Accountant.Compose(q, NoiseMultiplier, rounds), q the
// client sampling rate (federated.PoissonSample). It implements
// federated.Aggregator; Clipped reports how many deltas the last call clipped,
// a signal for tuning Clip (Andrew et al. 2021 adapt it to a quantile).
type FedAvg struct {
	Clip            float64
	NoiseMultiplier float64
	ExpectedClients float64
	Rand            *rand.Rand
	Clipped         int
}

var _ federated.Aggregator = (*FedAvg)(nil)

func (a *FedAvg) Aggregate(dst []float32, updates []federated.Update) error {
	if len(updates) == 0 && a.ExpectedClients <= 0 {
		return federated.ErrNoUpdates
	}
	xs := make([][]float32, len(updates))
	for i, u := range updates {
		if u.Kind != federated.KindDelta {
			return fmt.Errorf("dp: FedAvg given a %s update from client %d", u.Kind, u.Client)
		}
		xs[i] = u.Params
	}
	g := GaussianSum{Clip: a.Clip, NoiseMultiplier: a.NoiseMultiplier, Rand: a.Rand}
	n, err := g.NoisySum(dst, xs)
	if err != nil {
		return err
	}
	a.Clipped = n
	d := a.ExpectedClients
	if d <= 0 {
		d = float64(len(updates))
	}
	vec.Scale(dst, 1/d)
	return nil
}

// EpsilonAfter answers the common question in one call: the ε after steps
// applications of the sampled Gaussian mechanism (q, sigma) at delta, over
// DefaultOrders.
func EpsilonAfter(q, sigma float64, steps int, delta float64, conv Conversion) (float64, error) {
	a := NewAccountant(nil)
	if err := a.Compose(q, sigma, steps); err != nil {
		return 0, err
	}
	e, _, err := a.Epsilon(delta, conv)
	if math.IsNaN(e) {
		return math.Inf(1), err
	}
	return e, err
}
