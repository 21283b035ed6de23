package federated

import (
	"fmt"
	"math"
	"slices"

	"github.com/edgedl/edgedl/federated/internal/vec"
)

// Aggregator combines one round's deltas into one delta. Implementations get
// validated KindDelta updates of len(dst) parameters each; they write dst
// (overwriting it) and do not retain dst or the updates.
type Aggregator interface {
	Aggregate(dst []float32, updates []Update) error
}

var (
	_ Aggregator = FedAvg{}
	_ Aggregator = Mean{}
	_ Aggregator = Median{}
	_ Aggregator = TrimmedMean{}
	_ Aggregator = Krum{}
)

// FedAvg is the sample-weighted mean of the deltas (McMahan et al. 2017):
// sum_k n_k Δ_k / sum_k n_k. Updates with zero samples carry no weight.
type FedAvg struct{}

func (FedAvg) Aggregate(dst []float32, updates []Update) error {
	if err := checkShapes(dst, updates); err != nil {
		return err
	}
	var total float64
	for _, u := range updates {
		total += float64(u.Samples)
	}
	if total <= 0 {
		return fmt.Errorf("%w: total sample count is %v", ErrNoUpdates, total)
	}
	acc := make([]float64, len(dst))
	for _, u := range updates {
		w := float64(u.Samples) / total
		if w == 0 {
			continue
		}
		for i, x := range u.Params {
			acc[i] += w * float64(x)
		}
	}
	for i, a := range acc {
		dst[i] = float32(a)
	}
	return nil
}

// Mean is the unweighted mean of the deltas.
type Mean struct{}

func (Mean) Aggregate(dst []float32, updates []Update) error {
	if err := checkShapes(dst, updates); err != nil {
		return err
	}
	acc := make([]float64, len(dst))
	for _, u := range updates {
		for i, x := range u.Params {
			acc[i] += float64(x)
		}
	}
	inv := 1 / float64(len(updates))
	for i, a := range acc {
		dst[i] = float32(a * inv)
	}
	return nil
}

// Median is the coordinate-wise median (Yin et al. 2018); for an even count
// it is the mean of the two middle values.
type Median struct{}

func (Median) Aggregate(dst []float32, updates []Update) error {
	if err := checkShapes(dst, updates); err != nil {
		return err
	}
	n := len(updates)
	col := make([]float32, n)
	for i := range dst {
		for k, u := range updates {
			col[k] = u.Params[i]
		}
		slices.Sort(col)
		if n%2 == 1 {
			dst[i] = col[n/2]
		} else {
			dst[i] = float32((float64(col[n/2-1]) + float64(col[n/2])) / 2)
		}
	}
	return nil
}

// TrimmedMean is the coordinate-wise beta-trimmed mean (Yin et al. 2018): per
// coordinate, drop the floor(Beta*n) smallest and largest values and average
// the rest. Beta is in [0, 0.5); Beta = 0 is the mean.
type TrimmedMean struct{ Beta float64 }

func (t TrimmedMean) Aggregate(dst []float32, updates []Update) error {
	if err := checkShapes(dst, updates); err != nil {
		return err
	}
	if !(t.Beta >= 0 && t.Beta < 0.5) {
		return fmt.Errorf("federated: trimmed mean: beta %v outside [0, 0.5)", t.Beta)
	}
	n := len(updates)
	k := int(math.Floor(t.Beta * float64(n)))
	if n-2*k < 1 {
		return fmt.Errorf("%w: trimmed mean with beta %v of %d updates keeps none", ErrTooFewUpdates, t.Beta, n)
	}
	col := make([]float32, n)
	inv := 1 / float64(n-2*k)
	for i := range dst {
		for j, u := range updates {
			col[j] = u.Params[i]
		}
		slices.Sort(col)
		var s float64
		for _, x := range col[k : n-k] {
			s += float64(x)
		}
		dst[i] = float32(s * inv)
	}
	return nil
}

// Krum is Blanchard et al.'s (NeurIPS 2017) Byzantine-resilient rule for at
// most F Byzantine updates among n > 2F+2: each update is scored by the sum of
// squared distances to its n-F-2 nearest other updates; Krum (M <= 1) returns
// the best-scored update, Multi-Krum (M > 1) the mean of the M best-scored.
type Krum struct {
	F int // assumed number of Byzantine updates
	M int // number selected; 0 or 1 is Krum
}

func (k Krum) Aggregate(dst []float32, updates []Update) error {
	sel, err := k.Select(updates)
	if err != nil {
		return err
	}
	if err := checkShapes(dst, updates); err != nil {
		return err
	}
	chosen := make([]Update, len(sel))
	for i, s := range sel {
		chosen[i] = updates[s]
	}
	return Mean{}.Aggregate(dst, chosen)
}

// Select returns the indices (into updates) of the updates Krum keeps, best
// score first; ties go to the lower index.
func (k Krum) Select(updates []Update) ([]int, error) {
	n := len(updates)
	if n == 0 {
		return nil, ErrNoUpdates
	}
	if k.F < 0 || n <= 2*k.F+2 {
		return nil, fmt.Errorf("%w: Krum with f=%d needs more than %d updates, got %d", ErrTooFewUpdates, k.F, 2*k.F+2, n)
	}
	m := max(k.M, 1)
	if m > n {
		return nil, fmt.Errorf("%w: Multi-Krum selects %d of %d updates", ErrTooFewUpdates, m, n)
	}
	d := make([][]float64, n)
	for i := range d {
		d[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			s := vec.Dist2Sq(updates[i].Params, updates[j].Params)
			d[i][j], d[j][i] = s, s
		}
	}
	nn := n - k.F - 2
	scores := make([]float64, n)
	row := make([]float64, 0, n-1)
	for i := 0; i < n; i++ {
		row = row[:0]
		for j := 0; j < n; j++ {
			if j != i {
				row = append(row, d[i][j])
			}
		}
		slices.Sort(row)
		for _, x := range row[:nn] {
			scores[i] += x
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	return idx[:m], nil
}

func checkShapes(dst []float32, updates []Update) error {
	if len(updates) == 0 {
		return ErrNoUpdates
	}
	for _, u := range updates {
		if u.Kind != KindDelta {
			return fmt.Errorf("federated: aggregator given a %s update from client %d; convert it with Update.Delta", u.Kind, u.Client)
		}
		if len(u.Params) != len(dst) {
			return reject(u, ReasonLength, fmt.Sprintf("%d parameters, want %d", len(u.Params), len(dst)))
		}
	}
	return nil
}
