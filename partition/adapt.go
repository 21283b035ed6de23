package partition

import (
	"errors"
	"fmt"
	"math"
)

// EstimatorConfig tunes a link Estimator. Zero fields take the defaults.
type EstimatorConfig struct {
	// Alpha is the weight of a new bandwidth sample in the EWMA
	// (default 0.25).
	Alpha float64
	// RTTAlpha is the weight of a new RTT sample (default 0.125, the
	// smoothing gain of TCP's SRTT in RFC 6298).
	RTTAlpha float64
	// MinBytes: transfers smaller than this say little about bandwidth
	// and only feed the RTT (default 16 KiB).
	MinBytes int64
}

func (c EstimatorConfig) withDefaults() EstimatorConfig {
	if c.Alpha <= 0 || c.Alpha > 1 {
		c.Alpha = 0.25
	}
	if c.RTTAlpha <= 0 || c.RTTAlpha > 1 {
		c.RTTAlpha = 0.125
	}
	if c.MinBytes <= 0 {
		c.MinBytes = 16 << 10
	}
	return c
}

// Estimator tracks one hop's bandwidth and RTT from what the transport
// observes, as exponentially weighted moving averages. It never reads a
// clock: every observation carries its own timestamp (seconds on any
// monotonic scale the caller likes).
type Estimator struct {
	cfg     EstimatorConfig
	link    Link
	bwAt    float64 // time of the last bandwidth sample (or the start)
	rttAt   float64
	samples int
}

// NewEstimator starts from a prior estimate (the link the first plan was
// made with) at time at.
func NewEstimator(cfg EstimatorConfig, prior Link, at float64) *Estimator {
	return &Estimator{cfg: cfg.withDefaults(), link: prior, bwAt: at, rttAt: at}
}

// Transfer records that bytes took duration seconds to send, measured from
// the first byte sent to the receiver's acknowledgement (so one RTT is
// included), finishing at time at. The bandwidth sample is bytes over the
// duration minus the current RTT estimate. A transfer below MinBytes is an
// RTT sample instead (its duration minus the estimated payload time); a
// larger one whose duration is mostly RTT is ignored.
func (e *Estimator) Transfer(at float64, bytes int64, duration float64) {
	if duration <= 0 || bytes < 0 {
		return
	}
	if bytes < e.cfg.MinBytes {
		// Mostly latency: what the payload did not take was the round trip.
		if e.link.Mbps > 0 {
			if r := duration - e.link.Seconds(float64(bytes)); r > 0 {
				e.rtt(at, r)
			}
		}
		return
	}
	payload := duration - e.link.RTT
	if payload < 0.2*duration {
		return // RTT-dominated: the RTT estimate's error would swamp the sample
	}
	mbps := float64(bytes) * 8 / payload / 1e6
	e.bandwidth(at, mbps)
}

// Probe records a bandwidth probe (bytes sent back to back in duration
// seconds, RTT excluded by the prober), or, with bytes = 0, an RTT probe
// (a ping that took duration seconds).
func (e *Estimator) Probe(at float64, bytes int64, duration float64) {
	if duration <= 0 {
		return
	}
	if bytes == 0 {
		e.rtt(at, duration)
		return
	}
	e.bandwidth(at, float64(bytes)*8/duration/1e6)
}

func (e *Estimator) bandwidth(at, mbps float64) {
	if e.link.Mbps <= 0 || math.IsNaN(e.link.Mbps) {
		e.link.Mbps = mbps // a link coming up: take the sample as is
	} else {
		e.link.Mbps += e.cfg.Alpha * (mbps - e.link.Mbps)
	}
	e.bwAt = at
	e.samples++
}

func (e *Estimator) rtt(at, s float64) {
	e.link.RTT += e.cfg.RTTAlpha * (s - e.link.RTT)
	e.rttAt = at
}

// Down records that the link failed (a transfer timed out, the peer is
// unreachable): the estimate drops to zero bandwidth until a sample says
// otherwise.
func (e *Estimator) Down(at float64) {
	e.link.Mbps = 0
	e.bwAt = at
}

// Link is the current estimate.
func (e *Estimator) Link() Link { return e.link }

// LastSample is the time of the last bandwidth sample (or the start).
func (e *Estimator) LastSample() float64 { return e.bwAt }

// ObservationKind says what an Observation reports.
type ObservationKind int

const (
	// Tick only advances time (to trigger probes and expire holds).
	Tick ObservationKind = iota
	// Transfer reports a transfer (Bytes, Duration including one RTT).
	Transfer
	// Probe reports a bandwidth probe (Bytes > 0, Duration excluding the
	// RTT) or an RTT probe (Bytes = 0, Duration is the round trip).
	Probe
	// LinkDown reports a failed transfer or unreachable peer.
	LinkDown
)

// Observation is one input to the Adapter. At is the caller's timestamp
// in seconds; it must not go backwards.
type Observation struct {
	At   float64
	Kind ObservationKind
	// Hop is the index into Problem.Hops, or len(Problem.Hops) for the
	// direct hop.
	Hop      int
	Bytes    int64
	Duration float64
}

// AdaptConfig tunes an Adapter. Zero fields take the defaults.
type AdaptConfig struct {
	Estimator EstimatorConfig
	// Drift is the relative change of a hop's bandwidth or RTT estimate,
	// from the value the current plan was made with, that triggers a
	// re-plan (default 0.25).
	Drift float64
	// Gain is the relative improvement of the predicted cost that makes a
	// new plan worth switching to even without such drift (default 0.10).
	Gain float64
	// Hold is the minimum time in seconds between two switches, unless
	// the current plan became impossible (default 5).
	Hold float64
	// ProbeAfter asks for a probe of a hop with no bandwidth sample for
	// this many seconds (default 10; negative disables).
	ProbeAfter float64
	// RTTFloor is the RTT below which relative RTT changes are measured
	// against it instead (default 1 ms): 0.1 -> 0.3 ms is no drift.
	RTTFloor float64
}

func (c AdaptConfig) withDefaults() AdaptConfig {
	if c.Drift <= 0 {
		c.Drift = 0.25
	}
	if c.Gain <= 0 {
		c.Gain = 0.10
	}
	if c.Hold == 0 {
		c.Hold = 5
	}
	if c.ProbeAfter == 0 {
		c.ProbeAfter = 10
	}
	if c.RTTFloor <= 0 {
		c.RTTFloor = 1e-3
	}
	return c
}

// Decision is the Adapter's answer to one observation.
type Decision struct {
	// Switch is true when the caller should move to Plan (re-split the
	// model and redeploy the pieces).
	Switch bool
	// Plan is the plan to run: the new one when Switch, else the current.
	Plan Plan
	// Probe lists hops (as Observation.Hop) whose estimates are stale.
	Probe []int
	// Links are the current estimates, per hop (then the direct hop).
	Links []Link
	// Drift is the largest relative change of an estimate since the plan.
	Drift float64
	// Gain is the best plan's predicted relative improvement over the
	// current plan under the current estimates.
	Gain float64
	// Reason explains the decision in a few words.
	Reason string
}

// Adapter decides when to re-plan as link conditions change: a pure state
// machine in the manner of raft's RawNode. The caller feeds it
// observations (transfers it made, probe results, ticks), each with its
// timestamp, and carries out the decisions; the Adapter does no I/O and
// reads no clock, so a scenario replays identically in a test.
//
// Rule, on each observation, with the estimates e and the links p the
// current plan was made with:
//
//   - drift = max over hops of |e.Mbps-p.Mbps|/p.Mbps and
//     |e.RTT-p.RTT|/max(p.RTT, RTTFloor);
//   - the best plan under e is computed (Problem.Plan: microseconds) and
//     gain = 1 - cost(best)/cost(current plan under e);
//   - if the current plan uses a hop that is now down, switch at once;
//   - within Hold seconds of the last switch, keep;
//   - if drift > Drift: switch if the best plan differs and gain > 0,
//     else keep and take e as the new reference (no drift next time);
//   - else if gain > Gain, switch;
//   - else keep.
//
// Hysteresis comes from the two thresholds and the hold time: estimates
// wobbling around a decision boundary do not make plans flap.
type Adapter struct {
	cfg        AdaptConfig
	prob       Problem
	est        []*Estimator
	planned    []Link
	cur        Plan
	now        float64
	lastSwitch float64
}

// NewAdapter plans prob with its links at time at and starts adapting. The
// problem is copied (its hop links are replaced by the estimates as they
// change); its DAG and tiers are shared and must not change.
func NewAdapter(prob Problem, cfg AdaptConfig, at float64) (*Adapter, error) {
	a := &Adapter{cfg: cfg.withDefaults(), prob: prob, now: at, lastSwitch: math.Inf(-1)}
	a.prob.Hops = append([]Hop{}, prob.Hops...)
	if prob.Direct != nil {
		d := *prob.Direct
		a.prob.Direct = &d
	}
	for _, l := range a.links() {
		a.est = append(a.est, NewEstimator(a.cfg.Estimator, l, at))
	}
	plan, err := a.prob.Plan()
	if err != nil {
		return nil, err
	}
	a.cur, a.planned = plan, a.links()
	return a, nil
}

func (a *Adapter) links() []Link {
	var ls []Link
	for _, h := range a.prob.Hops {
		ls = append(ls, h.Link)
	}
	if a.prob.Direct != nil {
		ls = append(ls, a.prob.Direct.Link)
	}
	return ls
}

func (a *Adapter) setLinks(ls []Link) {
	for i := range a.prob.Hops {
		a.prob.Hops[i].Link = ls[i]
	}
	if a.prob.Direct != nil {
		a.prob.Direct.Link = ls[len(a.prob.Hops)]
	}
}

// Plan is the current plan.
func (a *Adapter) Plan() Plan { return a.cur }

// Step takes one observation and returns the decision.
func (a *Adapter) Step(o Observation) (Decision, error) {
	if o.At < a.now {
		return Decision{}, fmt.Errorf("partition: observation at %g before %g: time went backwards", o.At, a.now)
	}
	a.now = o.At
	if o.Kind != Tick {
		if o.Hop < 0 || o.Hop >= len(a.est) {
			return Decision{}, fmt.Errorf("partition: observation of hop %d; there are %d", o.Hop, len(a.est))
		}
		e := a.est[o.Hop]
		switch o.Kind {
		case Transfer:
			e.Transfer(o.At, o.Bytes, o.Duration)
		case Probe:
			e.Probe(o.At, o.Bytes, o.Duration)
		case LinkDown:
			e.Down(o.At)
		default:
			return Decision{}, errors.New("partition: unknown observation kind")
		}
	}
	est := make([]Link, len(a.est))
	for i, e := range a.est {
		est[i] = e.Link()
	}
	dec := Decision{Links: est}
	for i, e := range a.est {
		if a.cfg.ProbeAfter > 0 && a.now-e.LastSample() >= a.cfg.ProbeAfter {
			dec.Probe = append(dec.Probe, i)
		}
		p := a.planned[i]
		var dr float64
		switch {
		case p.Mbps > 0:
			dr = math.Abs(est[i].Mbps-p.Mbps) / p.Mbps
		case est[i].Mbps > 0:
			dr = math.Inf(1) // a link came up
		}
		dr = max(dr, math.Abs(est[i].RTT-p.RTT)/max(p.RTT, a.cfg.RTTFloor))
		dec.Drift = max(dec.Drift, dr)
	}
	a.setLinks(est)
	best, err := a.prob.Plan()
	if err != nil {
		return Decision{}, err
	}
	cur, err := a.prob.Evaluate(a.cur.Tier)
	if err != nil {
		return Decision{}, err
	}
	cur.Method = a.cur.Method
	if c := cur.Cost(); c > 0 && !math.IsInf(c, 1) {
		dec.Gain = 1 - best.Cost()/c
	} else if math.IsInf(c, 1) && !math.IsInf(best.Cost(), 1) {
		dec.Gain = 1
	}
	different := !best.Same(cur)
	switch {
	case math.IsInf(cur.Cost(), 1) && different:
		dec.Switch, dec.Reason = true, "current plan uses a link that is down"
	case a.now-a.lastSwitch < a.cfg.Hold:
		dec.Reason = "hold after the last switch"
	case dec.Drift > a.cfg.Drift && different && dec.Gain > 0:
		dec.Switch, dec.Reason = true, fmt.Sprintf("link estimate drifted %.0f%%", 100*dec.Drift)
		if math.IsInf(dec.Drift, 1) {
			dec.Reason = "a link came up"
		}
	case dec.Drift > a.cfg.Drift:
		a.planned = est
		dec.Reason = fmt.Sprintf("link estimate drifted %.0f%%; plan unchanged", 100*dec.Drift)
	case dec.Gain > a.cfg.Gain && different:
		dec.Switch, dec.Reason = true, fmt.Sprintf("predicted gain %.0f%%", 100*dec.Gain)
	default:
		dec.Reason = "keep"
	}
	if dec.Switch {
		a.cur, a.planned, a.lastSwitch = best, est, a.now
	} else {
		a.cur = cur
	}
	dec.Plan = a.cur
	return dec, nil
}
