package train

import (
	"iter"
	"math"

	"github.com/edgedl/edgedl/train/data"
)

// DP-SGD (Abadi et al. 2016) in Fit is Config.PerExampleClip (clip each
// example's gradient), Config.NoiseMultiplier (add N(0, (σ·clip)²) to the
// sum) and Config.PoissonSampling (how lots are drawn). The privacy
// accounting itself (RDP of the sampled Gaussian mechanism) lives in
// federated/dp; it assumes Poisson sampling: every step includes each
// example independently with probability q = Batch/N, which is what
// PoissonSampling does. Shuffled fixed-size batches (the default loader)
// are sampling without replacement, for which the same accountant is only a
// heuristic.

// PoissonSteps is the number of steps in one epoch of Poisson sampling with
// expected lot size batch over n examples: round(n/batch), at least 1.
func PoissonSteps(n, batch int) int {
	if n <= 0 || batch <= 0 {
		return 0
	}
	return max(1, int(math.Round(float64(n)/float64(batch))))
}

// PoissonEpoch yields PoissonSteps(ds.Len(), batch) lots, each holding
// every example of ds independently with probability batch/ds.Len() (so a
// lot may be empty), drawn from a generator seeded by (seed, epoch). The
// yielded *Batch is reused: it is valid until the next iteration.
func PoissonEpoch(ds data.Dataset, batch int, seed uint64, epoch int) iter.Seq[*data.Batch] {
	return func(yield func(*data.Batch) bool) {
		n := ds.Len()
		steps := PoissonSteps(n, batch)
		if steps == 0 {
			return
		}
		q := min(1, float64(batch)/float64(n))
		r := newRand(seed^0x9015, uint64(epoch))
		b := &data.Batch{}
		var idx []int
		for range steps {
			idx = idx[:0]
			if q == 1 {
				for i := range n {
					idx = append(idx, i)
				}
			} else {
				// Skip ahead by geometric gaps: the next included example
				// is Geometric(q) positions on.
				lq := math.Log1p(-q)
				for i := -1; ; {
					u := r.Float64()
					i += 1 + int(math.Floor(math.Log1p(-u)/lq))
					if i >= n || i < 0 {
						break
					}
					idx = append(idx, i)
				}
			}
			b.Fill(ds, idx)
			if !yield(b) {
				return
			}
		}
	}
}
