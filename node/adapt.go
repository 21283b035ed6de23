package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport"
)

// AdaptiveConfig configures an AdaptiveDevice.
type AdaptiveConfig struct {
	// Device is the template of the devices that run each plan: Model
	// (required), Edge, Cloud, dialers, Token, Codec, Timeout, Slowdown,
	// Threads, Logger. Split and Pieces are ignored (the plans decide);
	// Observer and CloudObserver are set by the AdaptiveDevice.
	Device DeviceConfig
	// Problem is the planning problem for Device.Model: its sized DAG, its
	// tiers named "device" then "edge" and/or "cloud" (two or three
	// tiers), and the hops with the links the first plan assumes. With
	// three tiers, set Problem.Direct when Device.Cloud is set: a plan
	// that leaves the edge idle sends straight to the cloud.
	Problem partition.Problem
	// Types types the crossing tensors for partition.SplitN (nil: traced
	// from the model at batch 1 and 2, as SplitModel does).
	Types map[string]graph.ValueInfo
	// Adapt tunes the partition.Adapter (estimators, drift, gain, hold,
	// probe interval).
	Adapt partition.AdaptConfig
	// Clock is the adapter's time source (default time.Now).
	Clock func() time.Time
	// ProbeBytes is the payload of a bandwidth probe, sent to a tier whose
	// hop the adapter calls stale (default 64 KiB; negative: no probes).
	// Each probe also sends a tiny request, for the RTT.
	ProbeBytes int
	// Tick is the interval of the adapter's idle ticks (default 100 ms).
	Tick time.Duration
	// DeployTimeout bounds the upload of a new plan's pieces (default 30 s);
	// the old plan serves requests until the new one is ready.
	DeployTimeout time.Duration
	// OnSwitch, when set, is called (on the deploying goroutine) after a
	// new plan took over, or failed to.
	OnSwitch func(Switch)
}

// Switch records one plan change.
type Switch struct {
	// Decided is when the adapter chose the plan, Deployed when its
	// pieces took over; both since the AdaptiveDevice started.
	Decided, Deployed time.Duration
	From, To          partition.Plan
	// Spec is the new split (as SplitModel writes it).
	Spec   string
	Reason string
	// Links are the hop estimates that led to the switch.
	Links []partition.Link
	// Err is set when the new plan could not be deployed (the old one
	// stays).
	Err string
}

// AdaptiveStatus is a snapshot of an AdaptiveDevice.
type AdaptiveStatus struct {
	// Spec and Plan are the split running now and its prediction when it
	// was chosen.
	Spec string
	Plan partition.Plan
	// Links are the current estimates per hop (Problem.Hops, then
	// Direct); Reason the last decision's.
	Links  []partition.Link
	Reason string
	// Switches lists the plan changes so far.
	Switches []Switch
}

// AdaptiveResult is one request's result and the plan that ran it.
type AdaptiveResult struct {
	*Result
	Spec string
	Plan partition.Plan
}

// AdaptiveDevice is a Device that re-plans as its links change: the
// driver of a partition.Adapter, as the Adapter is the pure state machine.
// Every inference RPC's bytes and network time (the RPC's duration less
// the time the server reported) go to the adapter as a Transfer on the hop
// it crossed, with a timestamp from the device's own clock; the edge's
// forwarding times feed the edge-cloud hop. When the adapter switches, the
// model is re-split at the new plan's cuts (partition.SplitN), a new
// Device is built for the pieces and prepared (missing pieces uploaded)
// in the background, and then takes over; requests in flight finish on the
// old one. When a hop carries no traffic (the plan keeps everything on the
// device) the adapter asks for probes: a request of ProbeBytes through a
// tiny probe model, and a small one for the RTT.
//
// It is safe for concurrent use. Close it when done.
type AdaptiveDevice struct {
	cfg   AdaptiveConfig
	log   *slog.Logger
	dag   *partition.DAG
	types map[string]graph.ValueInfo
	start time.Time
	// Hops of the adapter that the edge connection, the cloud connection
	// and the edge's forwards cross (-1: none).
	hEdge, hCloud, hEdgeCloud int

	amu       sync.Mutex
	adapter   *partition.Adapter
	last      float64
	reason    string
	links     []partition.Link
	switches  []Switch
	probing   map[int]bool
	lastProbe map[int]float64
	closed    bool

	gmu sync.RWMutex
	cur *generation

	pending chan int // index into switches of the plan to deploy
	probes  map[int]*Device
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// generation is one deployed plan.
type generation struct {
	dev  *Device
	spec string
	plan partition.Plan
	refs sync.WaitGroup
}

// NewAdaptiveDevice plans the problem, deploys the first plan (without
// uploading: see Prepare) and starts adapting.
func NewAdaptiveDevice(cfg AdaptiveConfig) (*AdaptiveDevice, error) {
	m := cfg.Device.Model
	if m == nil || m.Graph == nil {
		return nil, errors.New("node: adaptive device: no model")
	}
	prob := cfg.Problem
	if prob.DAG == nil {
		return nil, errors.New("node: adaptive device: the problem has no DAG")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ProbeBytes == 0 {
		cfg.ProbeBytes = 64 << 10
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.DeployTimeout <= 0 {
		cfg.DeployTimeout = 30 * time.Second
	}
	if cfg.Device.Logger == nil {
		cfg.Device.Logger = slog.Default()
	}
	a := &AdaptiveDevice{cfg: cfg, log: cfg.Device.Logger.With("role", "adaptive-device"), dag: prob.DAG,
		types: cfg.Types, start: cfg.Clock(), hEdge: -1, hCloud: -1, hEdgeCloud: -1,
		probing: map[int]bool{}, lastProbe: map[int]float64{}, pending: make(chan int, 1),
		probes: map[int]*Device{}, done: make(chan struct{})}
	names := make([]string, len(prob.Tiers))
	for i, t := range prob.Tiers {
		names[i] = t.Name
	}
	switch strings.Join(names, ",") {
	case "device,edge":
		a.hEdge = 0
	case "device,cloud":
		a.hCloud = 0
	case "device,edge,cloud":
		a.hEdge, a.hEdgeCloud = 0, 1
		if prob.Direct != nil {
			a.hCloud = 2
		}
	default:
		return nil, fmt.Errorf("node: adaptive device: tiers %q; want device,edge or device,cloud or device,edge,cloud", names)
	}
	if a.types == nil {
		var err error
		if a.types, err = crossingTypes(m, cfg.Device.Threads); err != nil {
			return nil, fmt.Errorf("node: adaptive device: %w", err)
		}
	}
	ad, err := partition.NewAdapter(prob, cfg.Adapt, 0)
	if err != nil {
		return nil, err
	}
	a.adapter = ad
	plan := ad.Plan()
	g, err := a.build(plan)
	if err != nil {
		return nil, err
	}
	a.cur = g
	a.reason = "initial plan"
	for _, h := range prob.Hops {
		a.links = append(a.links, h.Link)
	}
	if prob.Direct != nil {
		a.links = append(a.links, prob.Direct.Link)
	}
	if cfg.ProbeBytes > 0 {
		if err := a.makeProbes(); err != nil {
			a.closeDevices()
			return nil, err
		}
	}
	a.wg.Add(2)
	go a.deployLoop()
	go a.tickLoop()
	return a, nil
}

// now is the adapter's time: seconds since the start, never going back.
// Call with amu held.
func (a *AdaptiveDevice) now() float64 {
	at := a.cfg.Clock().Sub(a.start).Seconds()
	if at < a.last {
		at = a.last
	}
	a.last = at
	return at
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// SpecOf is the split specification (SplitModel's syntax) of a plan:
// "device", "edge" or "cloud" when one tier runs everything, else the cut
// indices ("7" for device/edge, "3,9" for three tiers, "5,5" for a
// device/cloud split). Plans with non-prefix cuts give "mincut".
func SpecOf(p partition.Plan) string {
	busy := -1
	for t, n := range p.Nodes {
		if n > 0 {
			if busy >= 0 {
				busy = -2
				break
			}
			busy = t
		}
	}
	if busy >= 0 {
		return p.Tiers[busy]
	}
	var ks []string
	for _, k := range p.Cuts {
		if k < 0 {
			return "mincut"
		}
		ks = append(ks, strconv.Itoa(k))
	}
	if len(p.Tiers) == 2 && p.Tiers[1] == "cloud" {
		ks = append(ks, ks[0])
	}
	return strings.Join(ks, ",")
}

// PlanPieces cuts m into the pieces of plan p (over the DAG d of m, with
// the crossing types of ModelProfile.Types or partition.TypesFromShapes):
// partition.SplitN at the plan's cuts, each piece on the tier the plan
// names ("device", "edge", "cloud"); tiers that run nothing get no piece.
// Pieces.Spec is SpecOf(p).
func PlanPieces(m *graph.Model, d *partition.DAG, p partition.Plan, types map[string]graph.ValueInfo) (*Pieces, error) {
	ps := &Pieces{Spec: SpecOf(p)}
	slot := map[string]**graph.Model{"device": &ps.Device, "edge": &ps.Edge, "cloud": &ps.Cloud}
	busy := 0
	for t, n := range p.Nodes {
		if slot[p.Tiers[t]] == nil {
			return nil, fmt.Errorf("node: plan tier %q: want device, edge or cloud", p.Tiers[t])
		}
		if n > 0 {
			busy++
		}
	}
	if busy <= 1 {
		for t, n := range p.Nodes {
			if n > 0 {
				*slot[p.Tiers[t]] = m
			}
		}
		return ps, nil
	}
	cuts, err := p.CutsOf(d)
	if err != nil {
		return nil, err
	}
	models, err := partition.SplitN(m, cuts, types)
	if err != nil {
		return nil, err
	}
	for t, name := range p.Tiers {
		if p.Nodes[t] > 0 {
			*slot[name] = models[t]
		}
	}
	return ps, nil
}

// build makes the Device of a plan.
func (a *AdaptiveDevice) build(p partition.Plan) (*generation, error) {
	ps, err := PlanPieces(a.cfg.Device.Model, a.dag, p, a.types)
	if err != nil {
		return nil, fmt.Errorf("node: adaptive device: split for %s: %w", SpecOf(p), err)
	}
	dc := a.cfg.Device
	dc.Split, dc.Pieces = "", ps
	dc.Observer = a.observer(a.hEdge)
	dc.CloudObserver = a.observer(a.hCloud)
	d, err := NewDevice(dc)
	if err != nil {
		return nil, err
	}
	return &generation{dev: d, spec: ps.Spec, plan: p}, nil
}

// observer feeds one connection's inference RPCs to the adapter as
// transfers on hop h.
func (a *AdaptiveDevice) observer(h int) transport.Observer {
	if h < 0 {
		return nil
	}
	return transport.ObserverFunc(func(s transport.Sample) {
		if s.Err != nil || !strings.HasSuffix(s.Method, "/ModelInfer") {
			return
		}
		if d := s.Duration - s.ServerTime; d > 0 {
			a.step(partition.Observation{Kind: partition.Transfer, Hop: h, Bytes: s.Sent, Duration: d.Seconds()})
		}
	})
}

// step gives the adapter one observation (stamped now) and acts on its
// decision.
func (a *AdaptiveDevice) step(o partition.Observation) {
	a.amu.Lock()
	defer a.amu.Unlock()
	if a.closed {
		return
	}
	o.At = a.now()
	from := a.adapter.Plan()
	dec, err := a.adapter.Step(o)
	if err != nil {
		a.log.Warn("adapter step failed", "err", err)
		return
	}
	a.links, a.reason = dec.Links, dec.Reason
	if dec.Switch {
		a.switches = append(a.switches, Switch{Decided: secs(o.At), From: from, To: dec.Plan,
			Spec: SpecOf(dec.Plan), Reason: dec.Reason, Links: dec.Links})
		select { // only the newest pending plan matters
		case <-a.pending:
		default:
		}
		a.pending <- len(a.switches) - 1
	}
	for _, h := range dec.Probe {
		a.probe(h, o.At)
	}
}

func (a *AdaptiveDevice) tickLoop() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
			a.step(partition.Observation{Kind: partition.Tick})
		}
	}
}

func (a *AdaptiveDevice) deployLoop() {
	defer a.wg.Done()
	for {
		select {
		case <-a.done:
			return
		case i := <-a.pending:
			a.deploy(i)
		}
	}
}

// deploy builds and prepares switch i's plan, then swaps it in.
func (a *AdaptiveDevice) deploy(i int) {
	a.amu.Lock()
	sw := a.switches[i]
	a.amu.Unlock()
	g, err := a.build(sw.To)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.DeployTimeout)
		go func() { // Close cancels a slow upload
			select {
			case <-a.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		err = g.dev.Prepare(ctx)
		cancel()
		if err != nil {
			g.dev.Close()
		}
	}
	a.amu.Lock()
	sw = a.switches[i]
	sw.Deployed = secs(a.now())
	if err != nil {
		sw.Err = err.Error()
		a.log.Warn("new plan not deployed", "split", sw.Spec, "err", err)
	}
	a.switches[i] = sw
	a.amu.Unlock()
	if err == nil {
		a.gmu.Lock()
		old := a.cur
		a.cur = g
		a.gmu.Unlock()
		go func() {
			old.refs.Wait()
			old.dev.Close()
		}()
		a.log.Info("plan switched", "split", sw.Spec, "reason", sw.Reason)
	}
	if a.cfg.OnSwitch != nil {
		a.cfg.OnSwitch(sw)
	}
}

func (a *AdaptiveDevice) acquire() *generation {
	a.gmu.RLock()
	g := a.cur
	g.refs.Add(1)
	a.gmu.RUnlock()
	return g
}

// Infer runs one request on the current plan (see Device.Infer).
func (a *AdaptiveDevice) Infer(ctx context.Context, inputs []*tensor.Tensor) (*AdaptiveResult, error) {
	g := a.acquire()
	r, err := g.dev.Infer(ctx, inputs)
	g.refs.Done()
	if err != nil {
		return nil, err
	}
	if a.hEdgeCloud >= 0 && r.EdgeCloudBytes > 0 && strings.Contains(r.Path, "edge>cloud") {
		if d := r.EdgeCloud - r.Cloud; d > 0 {
			a.step(partition.Observation{Kind: partition.Transfer, Hop: a.hEdgeCloud, Bytes: r.EdgeCloudBytes, Duration: d.Seconds()})
		}
	}
	return &AdaptiveResult{Result: r, Spec: g.spec, Plan: g.plan}, nil
}

// Prepare uploads the current plan's pieces, and the probe model, where
// they are missing.
func (a *AdaptiveDevice) Prepare(ctx context.Context) error {
	g := a.acquire()
	err := g.dev.Prepare(ctx)
	g.refs.Done()
	if err != nil {
		return err
	}
	for _, p := range a.probes {
		if err := p.Prepare(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Status returns the running plan, the estimates and the switches so far.
func (a *AdaptiveDevice) Status() AdaptiveStatus {
	a.gmu.RLock()
	st := AdaptiveStatus{Spec: a.cur.spec, Plan: a.cur.plan}
	a.gmu.RUnlock()
	a.amu.Lock()
	st.Links = append([]partition.Link(nil), a.links...)
	st.Reason = a.reason
	st.Switches = append([]Switch(nil), a.switches...)
	a.amu.Unlock()
	return st
}

// Close stops adapting, waits for the deployer, and closes the devices.
func (a *AdaptiveDevice) Close() error {
	a.once.Do(func() {
		a.amu.Lock()
		a.closed = true
		a.amu.Unlock()
		close(a.done)
		a.wg.Wait()
		a.closeDevices()
	})
	return nil
}

func (a *AdaptiveDevice) closeDevices() {
	a.gmu.Lock()
	g := a.cur
	a.gmu.Unlock()
	if g != nil {
		g.refs.Wait()
		g.dev.Close()
	}
	for _, p := range a.probes {
		p.Close()
	}
}

// Probes.

const probeInput = "probe"

// probeModel is a model that sums a float vector of any length to one
// number: the payload crosses the link, the answer is tiny.
func probeModel() *graph.Model {
	g := &graph.Graph{
		Name: "edgedl_probe",
		Nodes: []*graph.Node{{Name: "sum", OpType: "ReduceSum", Inputs: []string{probeInput}, Outputs: []string{"sum"},
			Attrs: map[string]*graph.Attr{"keepdims": {Name: "keepdims", Type: graph.AttrInt, Int: 0}}}},
		Inputs: []graph.ValueInfo{{Name: probeInput, Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true,
			Shape: []graph.Dim{{Value: -1, Param: "N"}}}},
		Outputs: []graph.ValueInfo{{Name: "sum", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true,
			Shape: []graph.Dim{}}},
	}
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 17}, IRVersion: 8, ProducerName: "edgedl"}
}

// makeProbes builds a probe device per probe-able hop: the device-edge
// hop (through the edge) and the direct hop to the cloud.
func (a *AdaptiveDevice) makeProbes() error {
	pm := probeModel()
	dc := a.cfg.Device
	dc.Model, dc.Split, dc.NoFallback, dc.Retries = nil, "", true, -1
	dc.Codec, dc.NextCodec = "fp32", "fp32" // the payload crosses as it is
	dc.Timeout = max(dc.Timeout, 10*time.Second)
	if a.hEdge >= 0 && dc.Edge != "" {
		c := dc
		c.Pieces, c.Cloud = &Pieces{Edge: pm, Spec: "probe"}, ""
		c.Observer = a.observer(a.hEdge)
		d, err := NewDevice(c)
		if err != nil {
			return fmt.Errorf("node: probe device: %w", err)
		}
		a.probes[a.hEdge] = d
	}
	if a.hCloud >= 0 && dc.Cloud != "" {
		c := dc
		c.Pieces, c.Edge = &Pieces{Cloud: pm, Spec: "probe"}, ""
		c.Observer, c.CloudObserver = nil, a.observer(a.hCloud)
		d, err := NewDevice(c)
		if err != nil {
			return fmt.Errorf("node: probe device: %w", err)
		}
		a.probes[a.hCloud] = d
	}
	return nil
}

// probe starts a probe of hop h unless one runs or ran within the
// adapter's probe interval. Call with amu held.
func (a *AdaptiveDevice) probe(h int, at float64) {
	d := a.probes[h]
	every := a.cfg.Adapt.ProbeAfter
	if every == 0 {
		every = 10
	}
	if d == nil || a.probing[h] {
		return
	}
	if last, ok := a.lastProbe[h]; ok && at-last < every {
		return
	}
	a.probing[h], a.lastProbe[h] = true, at
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-a.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		// A tiny request first: its time is mostly the round trip.
		for _, n := range []int{16, a.cfg.ProbeBytes / 4} {
			x := tensor.Float32s([]int{n}, make([]float32, n))
			if _, err := d.Infer(ctx, []*tensor.Tensor{x}); err != nil {
				a.log.Debug("probe failed", "hop", h, "err", err)
				break
			}
		}
		a.amu.Lock()
		a.probing[h] = false
		a.amu.Unlock()
	}()
}

// ModelProfile is what planning a model needs, measured on this machine:
// its DAG sized at a batch, each DAG node's compute time, and the crossing
// types for partition.SplitN.
type ModelProfile struct {
	DAG *partition.DAG
	// Times holds each DAG node's median time here, in seconds, scaled so
	// that they add up to the median time of a whole run; scale it per
	// tier with partition.Scale.
	Times []float64
	// Types types every value, with a symbolic batch where the model has
	// one.
	Types map[string]graph.ValueInfo
	// Inputs are the synthetic inputs the profile ran on.
	Inputs []*tensor.Tensor
	// Total is the sum of Times.
	Total float64
}

// ProfileModel sizes m's DAG at batch (shapes traced on synthetic inputs)
// and profiles it runs times with threads threads: the tier times of a
// partition.Problem, scaled per tier.
func ProfileModel(m *graph.Model, batch, threads, runs int) (*ModelProfile, error) {
	return ProfileModelStat(m, batch, threads, runs, "median")
}

// ProfileModelStat is ProfileModel with the node times scaled to add up to
// the whole run's stat: "median", or "min" (the fastest run, the estimate
// of unloaded latency on a machine shared with other jobs).
func ProfileModelStat(m *graph.Model, batch, threads, runs int, stat string) (*ModelProfile, error) {
	if batch <= 0 {
		batch = 1
	}
	if threads <= 0 {
		threads = 1
	}
	plain, err := runtime.Compile(m, runtime.Options{Threads: threads, NoOptimize: true})
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	in, err := plain.SyntheticInputs(runtime.SyntheticOptions{Batch: batch})
	if err != nil {
		return nil, err
	}
	si, err := plain.InferShapes(in)
	if err != nil {
		return nil, err
	}
	d := partition.NewDAG(m.Graph)
	if err := d.SetSizes(partition.SizesFromShapes(si)); err != nil {
		return nil, err
	}
	opt, err := runtime.Compile(m, runtime.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	defer opt.Close()
	rep, err := runtime.Profile(opt, in, runtime.ProfileOptions{Runs: runs})
	if err != nil {
		return nil, err
	}
	times, err := partition.TimesFromReport(d, rep)
	if err != nil {
		return nil, err
	}
	types, err := crossingTypes(m, threads)
	if err != nil {
		return nil, err
	}
	// The nodes' medians add up to less than a run takes: the runtime's
	// work between nodes, and on a busy machine the preemptions that land
	// in nearly every run but in few runs of any one node, are missing.
	// Scale them so that they add up to the median whole run.
	if n, r := rep.Totals.NodeMedianUS, rep.Totals.RunMedianUS; stat != "min" && n > 0 && r > n {
		times = partition.Scale(times, r/n)
	}
	if n, r := rep.Totals.NodeMedianUS, rep.Totals.RunMinUS; stat == "min" && n > 0 && r > 0 {
		times = partition.Scale(times, r/n)
	}
	p := &ModelProfile{DAG: d, Times: times, Types: types, Inputs: in}
	for _, t := range times {
		p.Total += t
	}
	return p, nil
}
