package federated

import (
	"fmt"
	"math"
	"slices"

	"github.com/edgedl/edgedl/federated/internal/vec"
)

// Validator refuses malformed or suspicious updates before they reach an
// aggregator and counts what it refused. It is a plain state machine: it
// remembers, per client, the last round it accepted (to refuse replays) and
// nothing else; it never blocks, sleeps or reads a clock.
//
// Checks, in order: known client, known kind, non-negative sample count,
// round not in the future, round within MaxStaleness of the current round,
// round newer than the client's last accepted one (replay), length, finite
// values, absolute norm bound (MaxNorm), and — in Filter only — the norm
// relative to the median norm of the round (NormFactor). Norms are those of
// the delta: KindWeights updates are compared after subtracting the global
// model.
type Validator struct {
	// Dim is the expected number of parameters.
	Dim int
	// MaxStaleness is how many rounds behind the current one an update may
	// be (0: synchronous, current round only).
	MaxStaleness uint64
	// MaxNorm, when positive, bounds the L2 norm of an update's delta.
	MaxNorm float64
	// NormFactor, when positive, makes Filter refuse updates whose delta norm
	// exceeds NormFactor times the median delta norm of the round's other
	// checks-passing updates.
	NormFactor float64

	clients map[ClientID]struct{}
	next    map[ClientID]uint64 // the lowest round each client may contribute to next
	stats   Stats
}

// Stats counts a validator's decisions.
type Stats struct {
	Accepted int
	rejected [numReasons]int
}

// Rejected returns how many updates were refused for reason r.
func (s Stats) Rejected(r Reason) int {
	if r >= numReasons {
		return 0
	}
	return s.rejected[r]
}

// TotalRejected returns how many updates were refused for any reason.
func (s Stats) TotalRejected() int {
	n := 0
	for _, c := range s.rejected {
		n += c
	}
	return n
}

// NewValidator returns a validator for dim-parameter updates from the given
// population; a nil population accepts any client id.
func NewValidator(dim int, population []ClientID) *Validator {
	v := &Validator{Dim: dim, next: map[ClientID]uint64{}}
	if population != nil {
		v.clients = make(map[ClientID]struct{}, len(population))
		for _, c := range population {
			v.clients[c] = struct{}{}
		}
	}
	return v
}

// Stats returns the counts so far.
func (v *Validator) Stats() Stats { return v.stats }

// Check validates u against the current round without recording anything.
// global is needed only for KindWeights updates (for the norm bound) and may
// be nil otherwise. The error, if any, is a *RejectError.
func (v *Validator) Check(u Update, current uint64, global []float32) error {
	_, err := v.check(u, current, global)
	if err != nil {
		return err
	}
	return nil
}

// Admit checks u like Check and, if it passes, records the client's round so
// a replay is refused later, and counts it. Refusals are counted too.
// Asynchronous strategies use Admit one update at a time.
func (v *Validator) Admit(u Update, current uint64, global []float32) error {
	if _, err := v.check(u, current, global); err != nil {
		v.stats.rejected[err.Reason]++
		return err
	}
	v.accept(u)
	return nil
}

// Filter validates one synchronous round's updates as a batch. Updates that
// pass are returned as KindDelta updates (KindWeights ones converted against
// global) in their original order, recorded and counted; the others are
// returned as *RejectError values. A client appearing twice keeps its first
// update; later ones are replays.
func (v *Validator) Filter(current uint64, global []float32, updates []Update) (accepted []Update, rejected []error) {
	type cand struct {
		u    Update
		norm float64
	}
	cands := make([]cand, 0, len(updates))
	seen := map[ClientID]bool{}
	for _, u := range updates {
		if seen[u.Client] {
			e := reject(u, ReasonReplay, "second update from this client in the round")
			v.stats.rejected[e.Reason]++
			rejected = append(rejected, e)
			continue
		}
		d, err := v.check(u, current, global)
		if err != nil {
			v.stats.rejected[err.Reason]++
			rejected = append(rejected, err)
			continue
		}
		seen[u.Client] = true
		cands = append(cands, cand{d, vec.Norm2(d.Params)})
	}
	if v.NormFactor > 0 && len(cands) >= 3 {
		norms := make([]float64, len(cands))
		for i, c := range cands {
			norms[i] = c.norm
		}
		med := median(norms)
		bound := v.NormFactor * med
		kept := cands[:0]
		for _, c := range cands {
			if c.norm > bound {
				e := reject(c.u, ReasonNorm, fmt.Sprintf("norm %.4g > %g x round median %.4g", c.norm, v.NormFactor, med))
				v.stats.rejected[e.Reason]++
				rejected = append(rejected, e)
				continue
			}
			kept = append(kept, c)
		}
		cands = kept
	}
	for _, c := range cands {
		v.accept(c.u)
		accepted = append(accepted, c.u)
	}
	return accepted, rejected
}

func (v *Validator) accept(u Update) {
	if v.next == nil {
		v.next = map[ClientID]uint64{}
	}
	v.next[u.Client] = u.Round + 1
	v.stats.Accepted++
}

// check returns u as a delta, or why it is refused.
func (v *Validator) check(u Update, current uint64, global []float32) (Update, *RejectError) {
	if v.clients != nil {
		if _, ok := v.clients[u.Client]; !ok {
			return u, reject(u, ReasonUnknownClient, "not in the population")
		}
	}
	if u.Kind != KindDelta && u.Kind != KindWeights {
		return u, reject(u, ReasonKind, fmt.Sprintf("kind %d", u.Kind))
	}
	if u.Samples < 0 {
		return u, reject(u, ReasonSamples, fmt.Sprintf("%d samples", u.Samples))
	}
	if u.Round > current {
		return u, reject(u, ReasonFuture, fmt.Sprintf("the server is at round %d", current))
	}
	if current-u.Round > v.MaxStaleness {
		return u, reject(u, ReasonStale, fmt.Sprintf("%d rounds old, at most %d allowed", current-u.Round, v.MaxStaleness))
	}
	if next, ok := v.next[u.Client]; ok && u.Round < next {
		return u, reject(u, ReasonReplay, fmt.Sprintf("client already contributed to round %d", next-1))
	}
	if len(u.Params) != v.Dim {
		return u, reject(u, ReasonLength, fmt.Sprintf("%d parameters, want %d", len(u.Params), v.Dim))
	}
	if i := vec.FirstNonFinite(u.Params); i >= 0 {
		return u, reject(u, ReasonNonFinite, fmt.Sprintf("parameter %d is %v", i, u.Params[i]))
	}
	if u.Kind == KindWeights {
		if global == nil {
			// Without the global model only the finite check applies.
			return u, nil
		}
		d, err := u.Delta(global)
		if err != nil {
			return u, err.(*RejectError)
		}
		u = d
	}
	if v.MaxNorm > 0 {
		if n := vec.Norm2(u.Params); n > v.MaxNorm || math.IsInf(n, 0) {
			return u, reject(u, ReasonNorm, fmt.Sprintf("norm %.4g > bound %g", n, v.MaxNorm))
		}
	}
	return u, nil
}

// median returns the median of xs (the mean of the two middle values for an
// even count); xs is reordered.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
