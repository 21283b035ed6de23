package partition

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Objective is what a plan minimises.
type Objective int

const (
	// MinLatency minimises end-to-end latency.
	MinLatency Objective = iota
	// MinEnergy minimises the device's energy per inference.
	MinEnergy
)

func (o Objective) String() string {
	if o == MinEnergy {
		return "energy"
	}
	return "latency"
}

// Problem is one planning question: a model's DAG with sizes, the tiers
// with their per-node times, the hops between them, and the goal.
//
// Tiers[0] is the device: it holds the input and wants the result. With
// two tiers (device/edge or device/cloud) one hop joins them; with three
// (device -> edge -> cloud) Hops[0] joins device and edge and Hops[1] edge
// and cloud. A tier may run nothing: with three tiers, data for the last
// tier is relayed through an idle middle tier over both hops, or sent over
// Direct when it is set.
//
// The latency of a placement is the sum of each tier's compute time and,
// for every hop the data travels, the encoded crossing bytes over the
// bandwidth, the hop's RTT and the codec time (the pieces run one after the
// other; nothing overlaps). The result's return is covered by the RTT.
// Running everything on the device uses no hop at all.
type Problem struct {
	DAG   *DAG
	Tiers []Tier
	Hops  []Hop
	// Direct, with three tiers, joins the device to the last tier for
	// placements that leave the middle tier idle. Nil means relay.
	Direct *Hop
	// Objective selects what to minimise.
	Objective Objective
	// MemoryCap bounds the device piece's peak activation memory plus its
	// weights, in bytes (see DAG.PeakBytes, DAG.WeightBytes); 0 means none.
	MemoryCap int64
	// Energy is the device's power model; nil means DefaultEnergy.
	Energy *Energy
	// MinCut also searches every closed head set with a minimum s-t cut
	// (DADS) when there are two tiers; the chosen cut may then not be a
	// prefix (Plan.Cuts holds -1 for it). The exhaustive prefix search
	// always runs: it is the fallback under a memory cap.
	MinCut bool
}

func (p *Problem) energy() Energy {
	if p.Energy != nil {
		return *p.Energy
	}
	return DefaultEnergy
}

// check validates the problem's shape.
func (p *Problem) check() error {
	if p.DAG == nil {
		return errors.New("partition: problem has no DAG")
	}
	if !p.DAG.Sized() {
		return errors.New("partition: problem DAG has no sizes (call DAG.SetSizes)")
	}
	if len(p.Tiers) < 2 || len(p.Tiers) > 3 {
		return fmt.Errorf("partition: %d tiers; want 2 or 3", len(p.Tiers))
	}
	if len(p.Hops) != len(p.Tiers)-1 {
		return fmt.Errorf("partition: %d tiers need %d hops, got %d", len(p.Tiers), len(p.Tiers)-1, len(p.Hops))
	}
	if p.Direct != nil && len(p.Tiers) != 3 {
		return errors.New("partition: a direct hop needs three tiers")
	}
	for _, t := range p.Tiers {
		if len(t.Times) != len(p.DAG.Nodes) {
			return fmt.Errorf("partition: tier %q has %d node times for %d nodes", t.Name, len(t.Times), len(p.DAG.Nodes))
		}
	}
	return nil
}

// HopUse is what a plan sends over one hop.
type HopUse struct {
	Used bool `json:"used"`
	// Bytes is the encoded size sent; RawBytes the size before encoding.
	Bytes    int64 `json:"bytes"`
	RawBytes int64 `json:"raw_bytes"`
	// Transfer is Bytes over the bandwidth plus the RTT, in seconds.
	Transfer float64 `json:"transfer_s"`
	// Codec is the encode plus decode time, in seconds.
	Codec float64 `json:"codec_s"`
}

// Plan is a placement of a model's nodes on the tiers, with its predicted
// costs.
type Plan struct {
	Objective Objective `json:"objective"`
	// Method is "prefix" (exhaustive over DAG.Cuts), "mincut" (DADS) or
	// "evaluate" (a placement given to Problem.Evaluate).
	Method string   `json:"method"`
	Tiers  []string `json:"tiers"`
	// Cuts holds, per hop, the index of the prefix cut (DAG.Cuts) between
	// tier h and the tiers after it, or -1 where the head is not a prefix.
	Cuts []int `json:"cuts"`
	// Tier is the tier of each DAG node.
	Tier []int `json:"tier"`
	// Compute is each tier's compute time in seconds; Nodes each tier's
	// node count.
	Compute []float64 `json:"compute_s"`
	Nodes   []int     `json:"nodes"`
	// Hops describes each of Problem.Hops; Direct the direct hop.
	Hops   []HopUse `json:"hops"`
	Direct HopUse   `json:"direct"`
	// Latency is end-to-end, in seconds (+Inf if a used hop is down).
	Latency float64 `json:"latency_s"`
	// Energy is the device's energy per inference, in joules.
	Energy float64 `json:"energy_j"`
	// DeviceMemory is the device piece's peak activations plus weights.
	DeviceMemory int64 `json:"device_memory"`
	// Fits reports whether DeviceMemory is within the problem's cap.
	Fits        bool `json:"fits"`
	codecs      []string
	directCodec string
}

// Cost is the value of the plan's objective.
func (p Plan) Cost() float64 {
	if p.Objective == MinEnergy {
		return p.Energy
	}
	return p.Latency
}

// Same reports whether two plans place every node on the same tier and
// route data the same way.
func (p Plan) Same(q Plan) bool {
	if len(p.Tier) != len(q.Tier) || p.Direct.Used != q.Direct.Used {
		return false
	}
	for i := range p.Tier {
		if p.Tier[i] != q.Tier[i] {
			return false
		}
	}
	return true
}

// String describes the plan on one line, e.g.
// "device[0:40] 21.3ms -> 147KB fp16 9.1ms -> edge[40:100] 2.1ms: latency 32.5ms, energy 0.061J, device memory 9.8MB".
func (p Plan) String() string {
	var b strings.Builder
	for t, name := range p.Tiers {
		if t > 0 {
			h := p.Hops[t-1]
			if p.Direct.Used && t == 2 {
				h = p.Direct
				b.WriteString(" => ")
			} else {
				b.WriteString(" -> ")
			}
			if h.Used {
				codec := ""
				if p.Direct.Used && t == 2 {
					codec = " " + p.directCodec
				} else if t-1 < len(p.codecs) {
					codec = " " + p.codecs[t-1]
				}
				fmt.Fprintf(&b, "%s%s %s -> ", fmtBytes(h.Bytes), codec, fmtSec(h.Transfer+h.Codec))
			} else {
				b.WriteString("idle -> ")
			}
		}
		span := "-"
		if p.Nodes[t] > 0 {
			lo, hi := 0, len(p.Tier)
			if t > 0 {
				lo = p.Cuts[t-1]
			}
			if t < len(p.Cuts) {
				hi = p.Cuts[t]
			}
			if lo >= 0 && hi >= 0 {
				span = fmt.Sprintf("%d:%d", lo, hi)
			} else {
				span = fmt.Sprintf("%d nodes", p.Nodes[t])
			}
		}
		fmt.Fprintf(&b, "%s[%s] %s", name, span, fmtSec(p.Compute[t]))
	}
	fmt.Fprintf(&b, ": latency %s, energy %.3gJ, device memory %s", fmtSec(p.Latency), p.Energy, fmtBytes(p.DeviceMemory))
	if !p.Fits {
		b.WriteString(" (over the memory cap)")
	}
	return b.String()
}

func fmtSec(s float64) string {
	switch {
	case math.IsInf(s, 1):
		return "inf"
	case s >= 1:
		return fmt.Sprintf("%.3gs", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3gms", s*1e3)
	}
	return fmt.Sprintf("%.3gus", s*1e6)
}

func fmtBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.3gGB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.3gMB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.3gKB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%dB", b)
}

// Plan chooses where each part of the model runs. It searches every
// placement whose tier boundaries are prefix cuts (DAG.Cuts): all cuts for
// two tiers, all ordered pairs for three (so any tier may run nothing),
// including the degenerate placements (all on the device; everything
// uploaded to the edge or the cloud). With MinCut and two tiers it also
// solves the DADS minimum s-t cut over all closed head sets and keeps the
// better plan. Placements over the memory cap, or that use a down link,
// are never chosen; there is always at least the all-device placement
// unless it is over the cap too (then Plan fails).
func (p *Problem) Plan() (Plan, error) {
	if err := p.check(); err != nil {
		return Plan{}, err
	}
	pp := p.prefixPrep()
	best, bestCost := []int(nil), math.Inf(1)
	T := len(p.Tiers)
	n := len(p.DAG.Nodes)
	fits := func(k int) bool { return p.MemoryCap <= 0 || pp.mem[k] <= p.MemoryCap }
	if T == 2 {
		for k := 0; k <= n; k++ {
			if !fits(k) {
				continue
			}
			if c := pp.cost2(p.Objective, k); c < bestCost {
				bestCost, best = c, []int{k}
			}
		}
	} else {
		direct := p.Direct != nil
		for k1 := 0; k1 <= n; k1++ {
			if !fits(k1) {
				continue
			}
			for k2 := k1; k2 <= n; k2++ {
				if c := pp.cost3(p.Objective, k1, k2, direct); c < bestCost {
					bestCost, best = c, []int{k1, k2}
				}
			}
		}
	}
	var plan Plan
	if best != nil {
		tier := make([]int, n)
		for t := 1; t < T; t++ {
			for i := best[t-1]; i < n; i++ {
				tier[i] = t
			}
		}
		var err error
		if plan, err = p.Evaluate(tier); err != nil {
			return Plan{}, err
		}
		plan.Method = "prefix"
	}
	if p.MinCut && T == 2 {
		mc, err := p.minCutPlan()
		if err != nil {
			return Plan{}, err
		}
		if mc.Fits && !math.IsInf(mc.Cost(), 1) && (best == nil || mc.Cost() < plan.Cost()*(1-1e-12)) {
			plan, best = mc, []int{}
		}
	}
	if best == nil {
		return Plan{}, fmt.Errorf("partition: no placement fits the device memory cap of %s", fmtBytes(p.MemoryCap))
	}
	return plan, nil
}

// prefixPrep holds per-cut sums for the exhaustive prefix search.
type prefixPrep struct {
	n   int
	cum [][]float64 // per tier: compute time of nodes [0, k)
	// Per hop (Problem.Hops, then Direct), per cut k: the time to send the
	// crossing tensors (+Inf on a down link), the codec time, and the part
	// of it the sender spends encoding.
	send, codec, enc [][]float64
	rtt, mbps        []float64
	mem              []int64 // device memory of running nodes [0, k) on the device
	en               Energy
}

func (p *Problem) prefixPrep() *prefixPrep {
	d := p.DAG
	n := len(d.Nodes)
	pp := &prefixPrep{n: n, en: p.energy()}
	for _, t := range p.Tiers {
		c := make([]float64, n+1)
		for i, x := range t.Times {
			c[i+1] = c[i] + x
		}
		pp.cum = append(pp.cum, c)
	}
	hops := append([]Hop{}, p.Hops...)
	ends := [][2]int{{0, 1}, {1, 2}, {0, 2}}
	if p.Direct != nil {
		hops = append(hops, *p.Direct)
		ends[len(p.Hops)] = [2]int{0, 2}
	}
	diffEnc := make([][]float64, len(hops))
	for h := range hops {
		diffEnc[h] = make([]float64, n+2)
	}
	diffRaw := make([]float64, n+2)
	diffLive := make([]int64, n+1)
	for i := range d.Values {
		v := &d.Values[i]
		last := d.last(v)
		from := v.Producer + 1 // crosses cuts from..last
		if last >= from {
			for h, hop := range hops {
				e := hop.Codec.encoded(v.Size)
				diffEnc[h][from] += e
				diffEnc[h][last+1] -= e
			}
			diffRaw[from] += float64(v.Size.Bytes)
			diffRaw[last+1] -= float64(v.Size.Bytes)
		}
		// Live on steps s..e of a prefix run.
		s, e := max(v.Producer, 0), last
		if v.Producer < 0 && last < 0 {
			continue // an input nobody reads
		}
		if e < s {
			e = s
		}
		e = min(e, n-1)
		if s <= e {
			diffLive[s] += v.Size.Bytes
			diffLive[e+1] -= v.Size.Bytes
		}
	}
	raw := make([]float64, n+1)
	var run float64
	for k := 0; k <= n; k++ {
		run += diffRaw[k]
		raw[k] = max(run, 0)
	}
	for h, hop := range hops {
		send, codec, enc := make([]float64, n+1), make([]float64, n+1), make([]float64, n+1)
		encPB := hop.Codec.EncodeSecPerByte * p.Tiers[ends[h][0]].codecScale()
		decPB := hop.Codec.DecodeSecPerByte * p.Tiers[ends[h][1]].codecScale()
		up := hop.Link.Up()
		var run float64
		for k := 0; k <= n; k++ {
			run += diffEnc[h][k]
			send[k] = math.Inf(1)
			if up {
				send[k] = hop.Link.Seconds(max(run, 0))
			}
			enc[k] = raw[k] * encPB
			codec[k] = enc[k] + raw[k]*decPB
		}
		pp.send, pp.codec, pp.enc = append(pp.send, send), append(pp.codec, codec), append(pp.enc, enc)
		pp.rtt, pp.mbps = append(pp.rtt, hop.Link.RTT), append(pp.mbps, hop.Link.Mbps)
	}
	// Device memory: peak activations over steps [0, k) plus the weights
	// first read before k.
	wdiff := d.firstWeights
	pp.mem = make([]int64, n+1)
	peak, live, w := d.inputBytes, int64(0), int64(0)
	pp.mem[0] = peak
	for k := 1; k <= n; k++ {
		live += diffLive[k-1]
		peak = max(peak, live)
		w += wdiff[k-1]
		pp.mem[k] = peak + w
	}
	return pp
}

// cost2 evaluates the two-tier prefix placement with cut k, as Evaluate
// would.
func (pp *prefixPrep) cost2(obj Objective, k int) float64 {
	n := pp.n
	dev := pp.cum[0][k]
	if k == n {
		if obj == MinEnergy {
			return pp.en.ComputeW * dev
		}
		return dev
	}
	rem := pp.cum[1][n] - pp.cum[1][k]
	tx := pp.send[0][k]
	lat := dev + rem + tx + pp.rtt[0] + pp.codec[0][k]
	if obj == MinEnergy {
		busy := dev + pp.enc[0][k]
		return pp.en.ComputeW*busy + pp.en.Radio.Power(pp.mbps[0])*tx + pp.en.IdleW*(lat-busy-tx)
	}
	return lat
}

// cost3 evaluates the three-tier prefix placement with cuts k1 <= k2.
func (pp *prefixPrep) cost3(obj Objective, k1, k2 int, direct bool) float64 {
	n := pp.n
	dev := pp.cum[0][k1]
	if k1 == n {
		if obj == MinEnergy {
			return pp.en.ComputeW * dev
		}
		return dev
	}
	lat := dev + pp.cum[1][k2] - pp.cum[1][k1] + pp.cum[2][n] - pp.cum[2][k2]
	first := 0
	switch {
	case k2 == n: // the last tier idle: one hop
		lat += pp.send[0][k1] + pp.rtt[0] + pp.codec[0][k1]
	case k1 == k2 && direct: // the middle tier idle, skipped
		first = 2
		lat += pp.send[2][k1] + pp.rtt[2] + pp.codec[2][k1]
	default: // both hops (relayed if the middle tier is idle)
		lat += pp.send[0][k1] + pp.rtt[0] + pp.codec[0][k1] + pp.send[1][k2] + pp.rtt[1] + pp.codec[1][k2]
	}
	if obj == MinEnergy {
		tx := pp.send[first][k1]
		busy := dev + pp.enc[first][k1]
		return pp.en.ComputeW*busy + pp.en.Radio.Power(pp.mbps[first])*tx + pp.en.IdleW*(lat-busy-tx)
	}
	return lat
}

// Evaluate predicts the costs of an arbitrary placement: tier[i] is the
// tier of DAG node i. A placement must not send data backwards (no node on
// an earlier tier than a node it reads from); Plan only builds such ones.
func (p *Problem) Evaluate(tier []int) (Plan, error) {
	if err := p.check(); err != nil {
		return Plan{}, err
	}
	d := p.DAG
	n := len(d.Nodes)
	T := len(p.Tiers)
	if len(tier) != n {
		return Plan{}, fmt.Errorf("partition: placement has %d entries for %d nodes", len(tier), n)
	}
	for id, t := range tier {
		if t < 0 || t >= T {
			return Plan{}, fmt.Errorf("partition: node %s placed on tier %d of %d", d.Nodes[id].Name, t, T)
		}
		for _, q := range d.Nodes[id].Preds {
			if tier[q] > t {
				return Plan{}, fmt.Errorf("partition: node %s on tier %d reads from %s on tier %d", d.Nodes[id].Name, t, d.Nodes[q].Name, tier[q])
			}
		}
	}
	pl := Plan{Objective: p.Objective, Method: "evaluate", Tier: append([]int{}, tier...),
		Compute: make([]float64, T), Nodes: make([]int, T), Hops: make([]HopUse, len(p.Hops))}
	for _, t := range p.Tiers {
		pl.Tiers = append(pl.Tiers, t.Name)
	}
	for _, h := range p.Hops {
		pl.codecs = append(pl.codecs, h.Codec.String())
	}
	if p.Direct != nil {
		pl.directCodec = p.Direct.Codec.String()
	}
	f := 0
	for id, t := range tier {
		pl.Compute[t] += p.Tiers[t].Times[id]
		pl.Nodes[t]++
		f = max(f, t)
	}
	// Cut indices: prefix index where the head {tier <= h} is a prefix.
	for h := 0; h < T-1; h++ {
		k := 0
		for k < n && tier[k] <= h {
			k++
		}
		idx := k
		for i := k; i < n; i++ {
			if tier[i] <= h {
				idx = -1
			}
		}
		pl.Cuts = append(pl.Cuts, idx)
	}
	head := make([]bool, n)
	for id, t := range tier {
		head[id] = t == 0
	}
	pl.DeviceMemory = d.PeakBytes(head) + d.WeightBytes(head)
	pl.Fits = p.MemoryCap <= 0 || pl.DeviceMemory <= p.MemoryCap
	en := p.energy()
	if f == 0 {
		pl.Latency = pl.Compute[0]
		pl.Energy = en.ComputeW * pl.Compute[0]
		return pl, nil
	}
	direct := T == 3 && f == 2 && pl.Nodes[1] == 0 && p.Direct != nil
	var enc, raw [3]float64
	for i := range d.Values {
		v := &d.Values[i]
		src := 0
		if v.Producer >= 0 {
			src = tier[v.Producer]
		}
		dst := -1
		if v.Output {
			dst = f
		}
		for _, c := range v.Consumers {
			dst = max(dst, tier[c])
		}
		if dst <= src {
			continue
		}
		if direct {
			enc[2] += p.Direct.Codec.encoded(v.Size)
			raw[2] += float64(v.Size.Bytes)
			continue
		}
		for h := src; h < dst; h++ {
			enc[h] += p.Hops[h].Codec.encoded(v.Size)
			raw[h] += float64(v.Size.Bytes)
		}
	}
	pl.Latency = pl.Compute[0] + pl.Compute[1]
	if T == 3 {
		pl.Latency += pl.Compute[2]
	}
	use := func(hop Hop, h, sender, receiver int) HopUse {
		u := HopUse{Used: true, Bytes: int64(math.Round(enc[h])), RawBytes: int64(math.Round(raw[h]))}
		if !hop.Link.Up() {
			u.Transfer = math.Inf(1)
		} else {
			u.Transfer = hop.Link.Seconds(enc[h]) + hop.Link.RTT
		}
		u.Codec = raw[h] * (hop.Codec.EncodeSecPerByte*p.Tiers[sender].codecScale() + hop.Codec.DecodeSecPerByte*p.Tiers[receiver].codecScale())
		pl.Latency += u.Transfer + u.Codec
		return u
	}
	var first HopUse
	var firstHop Hop
	if direct {
		pl.Direct = use(*p.Direct, 2, 0, 2)
		first, firstHop = pl.Direct, *p.Direct
	} else {
		for h := 0; h < f; h++ {
			pl.Hops[h] = use(p.Hops[h], h, h, h+1)
		}
		first, firstHop = pl.Hops[0], p.Hops[0]
	}
	if math.IsInf(pl.Latency, 1) {
		pl.Energy = math.Inf(1)
		return pl, nil
	}
	h0 := 0
	if direct {
		h0 = 2
	}
	encT := raw[h0] * firstHop.Codec.EncodeSecPerByte * p.Tiers[0].codecScale()
	tx := first.Transfer - firstHop.Link.RTT
	busy := pl.Compute[0] + encT
	pl.Energy = en.ComputeW*busy + en.Radio.Power(firstHop.Link.Mbps)*tx + en.IdleW*(pl.Latency-busy-tx)
	return pl, nil
}

// CutsOf converts a plan into the nested cuts SplitN takes: cut h has the
// nodes on tiers 0..h as its head. With three tiers and an idle middle
// tier the two cuts are equal and the middle piece is a pass-through (skip
// it when the plan uses the direct hop).
func (p Plan) CutsOf(d *DAG) ([]Cut, error) {
	var cuts []Cut
	for h := 0; h+1 < len(p.Tiers); h++ {
		head := make([]bool, len(d.Nodes))
		for id, t := range p.Tier {
			head[id] = t <= h
		}
		c, err := d.Cut(head)
		if err != nil {
			return nil, err
		}
		cuts = append(cuts, c)
	}
	return cuts, nil
}
