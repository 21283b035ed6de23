package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/edgedl/edgedl/federated"
)

// TrainFunc is local training: given the model the client was sent (read
// only: copy it to keep it) and the round or model version it belongs to, it
// returns the client's update (Update.Round should be round). rng is derived
// from the simulation seed, the round and the client alone, so a client's
// result does not depend on scheduling order.
type TrainFunc func(client federated.ClientID, round uint64, global []float32, rng *rand.Rand) (federated.Update, error)

// LatencyFunc says how long, in logical time, a client takes from receiving
// the model to delivering its update, or that it drops out instead.
type LatencyFunc func(client federated.ClientID, rng *rand.Rand) (duration float64, dropped bool)

// Heterogeneous returns a LatencyFunc for a population of devices of lasting
// speeds: each client's speed is drawn once from a log-normal distribution
// with median 1 and log-standard-deviation spread (spread 1 makes the 95th
// percentile client about 5x slower than the median); a job takes work /
// speed, times a log-normal per-job jitter; and a job is lost with
// probability dropProb. The speeds depend only on (population, spread, seed).
func Heterogeneous(population []federated.ClientID, work, spread, jitter, dropProb float64, seed uint64) LatencyFunc {
	speed := make(map[federated.ClientID]float64, len(population))
	r := rand.New(rand.NewPCG(seed, 0x5beed))
	for _, c := range slices.Sorted(slices.Values(population)) {
		speed[c] = math.Exp(spread * r.NormFloat64())
	}
	return func(c federated.ClientID, rng *rand.Rand) (float64, bool) {
		if rng.Float64() < dropProb {
			return 0, true
		}
		s, ok := speed[c]
		if !ok {
			s = 1
		}
		return work / s * math.Exp(jitter*rng.NormFloat64()), false
	}
}

// Stragglers returns base with a fixed share of the population slowed down:
// round(fraction·N) clients, chosen at random from seed, take factor times
// as long on every job (drop-outs are base's). It models "20% of the
// devices are 10x slower" (Stragglers(pop, 0.2, 10, ...)). The chosen
// clients depend only on (population, fraction, seed); Slow lists them.
func Stragglers(base LatencyFunc, population []federated.ClientID, fraction, factor float64, seed uint64) (LatencyFunc, error) {
	switch {
	case !(fraction >= 0 && fraction <= 1):
		return nil, fmt.Errorf("sim: straggler fraction %v outside [0, 1]", fraction)
	case !(factor >= 1) || math.IsInf(factor, 1):
		return nil, fmt.Errorf("sim: straggler slow-down %v: want a finite factor >= 1", factor)
	case base == nil:
		return nil, fmt.Errorf("sim: Stragglers needs a base latency")
	}
	slow := make(map[federated.ClientID]bool)
	for _, c := range Slow(population, fraction, seed) {
		slow[c] = true
	}
	return func(c federated.ClientID, rng *rand.Rand) (float64, bool) {
		d, dropped := base(c, rng)
		if slow[c] {
			d *= factor
		}
		return d, dropped
	}, nil
}

// Slow is the set of clients Stragglers slows down: round(fraction·N)
// clients of population drawn without replacement from seed, sorted.
func Slow(population []federated.ClientID, fraction float64, seed uint64) []federated.ClientID {
	pop := slices.Sorted(slices.Values(population))
	n := int(math.Round(fraction * float64(len(pop))))
	n = min(max(n, 0), len(pop))
	r := rand.New(rand.NewPCG(seed, 0x5107))
	r.Shuffle(len(pop), func(i, j int) { pop[i], pop[j] = pop[j], pop[i] })
	out := pop[:n]
	slices.Sort(out)
	return out
}

func jobRand(seed, round uint64, c federated.ClientID) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x6a09e667f3bcc908, round<<32^uint64(c)^0xbb67ae8584caa73b))
}

// Errors of the round drivers.
var (
	ErrNoRound     = errors.New("sim: no round in progress")
	ErrRoundOpen   = errors.New("sim: a round is already in progress")
	ErrNotSelected = errors.New("sim: client was not selected for this round")
	ErrLate        = errors.New("sim: update arrived after the round closed")
)

// SyncConfig configures synchronous rounds.
type SyncConfig struct {
	Population []federated.ClientID
	Fraction   float64 // C: the share of the population selected per round
	MinClients int     // at least this many selected
	// Deadline is how long (logical time) a round waits for updates.
	Deadline float64
	// Target, if positive, closes a round as soon as this many updates have
	// arrived (over-selection: select more than needed, keep the first).
	Target int
	// MinUpdates: a round with fewer updates is abandoned (model unchanged).
	MinUpdates int
	Seed       uint64
}

// Dispatch is the intent Start returns: send the global model of Round to
// Clients; updates count until Deadline.
type Dispatch struct {
	Round    uint64
	Clients  []federated.ClientID
	Start    float64
	Deadline float64
}

// SyncReport summarises one synchronous round.
type SyncReport struct {
	Round      uint64
	Selected   int
	Arrived    int // in time (and within Target)
	Late       int // after the deadline, or after Target was reached
	Missing    int // selected, never heard from (dropped out)
	Aggregated bool
	Start, End float64
	Server     federated.RoundReport
	Eval       map[string]float64
}

// Sync is the synchronous FedAvg round driver as a state machine: Start
// selects clients; Deliver takes updates as they arrive (with their logical
// arrival time); Ready says whether the round may close early; Close
// aggregates through the federated.Server. It performs no I/O and reads no
// clock: the caller's transport carries out the Dispatch and reports
// arrivals, or RunSync simulates both.
type Sync struct {
	cfg    SyncConfig
	Server *federated.Server

	open     bool
	d        Dispatch
	selected map[federated.ClientID]bool
	seen     map[federated.ClientID]bool
	arrived  []federated.Update
	late     int
}

// NewSync returns a driver for srv (whose Round it follows).
func NewSync(cfg SyncConfig, srv *federated.Server) (*Sync, error) {
	if len(cfg.Population) == 0 || !(cfg.Fraction > 0 && cfg.Fraction <= 1) || !(cfg.Deadline > 0) {
		return nil, fmt.Errorf("sim: sync config needs a population, a fraction in (0, 1] and a positive deadline")
	}
	if srv == nil {
		return nil, fmt.Errorf("sim: nil server")
	}
	return &Sync{cfg: cfg, Server: srv}, nil
}

// Start opens a round at logical time now.
func (s *Sync) Start(now float64) (Dispatch, error) {
	if s.open {
		return Dispatch{}, ErrRoundOpen
	}
	r := s.Server.Round
	sel := federated.SelectClients(s.cfg.Population, s.cfg.Fraction, s.cfg.MinClients, s.cfg.Seed, r)
	s.d = Dispatch{Round: r, Clients: sel, Start: now, Deadline: now + s.cfg.Deadline}
	s.selected = make(map[federated.ClientID]bool, len(sel))
	for _, c := range sel {
		s.selected[c] = true
	}
	s.seen = map[federated.ClientID]bool{}
	s.arrived, s.late = nil, 0
	s.open = true
	return s.d, nil
}

// Deliver records u arriving at logical time at. Updates from unselected
// clients are refused; duplicates, updates after the deadline, and updates
// after Target was reached are counted as late and refused with ErrLate.
// Validation proper happens at Close, in the server's validator.
func (s *Sync) Deliver(u federated.Update, at float64) error {
	if !s.open {
		return ErrNoRound
	}
	if !s.selected[u.Client] {
		return fmt.Errorf("%w: client %d, round %d", ErrNotSelected, u.Client, s.d.Round)
	}
	if s.seen[u.Client] || at > s.d.Deadline || (s.cfg.Target > 0 && len(s.arrived) >= s.cfg.Target) {
		s.late++
		s.seen[u.Client] = true
		return fmt.Errorf("%w: client %d at %.4g (deadline %.4g)", ErrLate, u.Client, at, s.d.Deadline)
	}
	s.seen[u.Client] = true
	s.arrived = append(s.arrived, u)
	return nil
}

// Ready reports whether the round can close before its deadline: Target
// updates arrived, or every selected client was heard from.
func (s *Sync) Ready() bool {
	if !s.open {
		return false
	}
	if s.cfg.Target > 0 && len(s.arrived) >= s.cfg.Target {
		return true
	}
	return len(s.seen) == len(s.selected)
}

// Close ends the round: it aggregates the arrived updates into global (in
// place) through the server, or abandons the round if fewer than MinUpdates
// arrived or none survived validation. Either way the round number is used
// up, so a later round never reuses it.
func (s *Sync) Close(global []float32) (SyncReport, error) {
	if !s.open {
		return SyncReport{}, ErrNoRound
	}
	s.open = false
	rep := SyncReport{
		Round: s.d.Round, Selected: len(s.d.Clients), Arrived: len(s.arrived), Late: s.late,
		Missing: len(s.selected) - len(s.seen), Start: s.d.Start,
	}
	if len(s.arrived) == 0 || len(s.arrived) < s.cfg.MinUpdates {
		s.Server.Round++
		return rep, nil
	}
	sr, err := s.Server.Step(global, s.arrived)
	rep.Server = sr
	if err != nil {
		if errors.Is(err, federated.ErrNoUpdates) || errors.Is(err, federated.ErrTooFewUpdates) {
			s.Server.Round++
			return rep, nil
		}
		return rep, err
	}
	rep.Aggregated = true
	return rep, nil
}

// RunSync simulates rounds of synchronous FL with s: each round it selects
// clients, asks latency how long each takes (or whether it drops out), trains
// the ones that arrive before the deadline (train is not called for late or
// dropped clients), delivers updates in arrival order, closes the round when
// Ready or at the deadline, and calls eval (if not nil) on the new model.
// global is updated in place. Deterministic in the configuration's seed.
func RunSync(s *Sync, global []float32, rounds int, train TrainFunc, latency LatencyFunc,
	eval func(round uint64, global []float32) map[string]float64) ([]SyncReport, error) {
	now := 0.0
	var reports []SyncReport
	for range rounds {
		d, err := s.Start(now)
		if err != nil {
			return reports, err
		}
		type arrival struct {
			t float64
			c federated.ClientID
		}
		var arr []arrival
		for _, c := range d.Clients {
			rng := jobRand(s.cfg.Seed, d.Round, c)
			dur, dropped := latency(c, rng)
			if !dropped {
				arr = append(arr, arrival{d.Start + dur, c})
			}
		}
		slices.SortStableFunc(arr, func(a, b arrival) int {
			switch {
			case a.t < b.t:
				return -1
			case a.t > b.t:
				return 1
			}
			return 0
		})
		end := d.Deadline
		for _, a := range arr {
			if s.Ready() {
				// closed early: the rest arrive after the round ended
				_ = s.Deliver(federated.Update{Client: a.c, Round: d.Round}, math.Inf(1))
				continue
			}
			if a.t > d.Deadline {
				_ = s.Deliver(federated.Update{Client: a.c, Round: d.Round}, a.t)
				continue
			}
			u, err := train(a.c, d.Round, global, jobRand(s.cfg.Seed, d.Round, a.c^0x80000000))
			if err != nil {
				return reports, fmt.Errorf("sim: training client %d in round %d: %w", a.c, d.Round, err)
			}
			_ = s.Deliver(u, a.t)
			if s.Ready() {
				end = a.t
			}
		}
		rep, err := s.Close(global)
		rep.End = end
		if err != nil {
			return append(reports, rep), err
		}
		if eval != nil {
			rep.Eval = eval(rep.Round, global)
		}
		reports = append(reports, rep)
		now = end
	}
	return reports, nil
}
