package partition

import (
	"math"
)

// MinCut finds, for two tiers, the closed head set (any set of nodes
// containing its predecessors, not only a topological prefix) minimising
//
//	sum over head nodes of headCost + sum over tail nodes of tailCost
//	+ sum over crossing values of crossCost
//
// where a value crosses if it is made in the head (or is a graph input)
// and read in the tail (or is a graph output). This is the construction of
// DADS (Hu et al., "Dynamic Adaptive DNN Surgery for Inference
// Acceleration on the Edge", INFOCOM 2019) as a minimum s-t cut: the
// source side is the head. Each node v gets an edge s->v of capacity
// tailCost[v] (cut when v is in the tail) and v->t of capacity headCost[v]
// (cut when v is in the head); each dependency gets an infinite edge from
// consumer to producer, so that no cut leaves a producer in the tail and a
// consumer in the head; and each value w gets an auxiliary vertex x_w with
// an edge producer->x_w (the source for a graph input) of capacity
// crossCost[w] and infinite edges x_w->consumer (and x_w->t for a graph
// output): x_w must lie in the tail as soon as one reader does, so a value
// read by several tail nodes is paid once. (A value with a single reader
// needs no auxiliary vertex: an edge producer->reader does.)
//
// Costs must be non-negative; they are scaled to integers (a relative
// resolution of about 1e-15 of their sum) so that the max-flow is exact.
// It returns the head set (indexed by DAG node ID) and the cut's value.
func (d *DAG) MinCut(headCost, tailCost, crossCost []float64) (head []bool, value float64) {
	n, nv := len(d.Nodes), len(d.Values)
	var total float64
	for _, xs := range [][]float64{headCost, tailCost, crossCost} {
		for _, x := range xs {
			total += max(x, 0)
		}
	}
	scale := 1.0
	if total > 0 {
		scale = 1e15 / total
	}
	q := func(x float64) int64 { return int64(math.Round(max(x, 0) * scale)) }
	const inf = int64(1) << 60
	src, sink := n+nv, n+nv+1
	f := newFlow(n + nv + 2)
	for v := 0; v < n; v++ {
		f.add(src, v, q(tailCost[v]))
		f.add(v, sink, q(headCost[v]))
		for _, p := range d.Nodes[v].Preds {
			f.add(v, p, inf)
		}
	}
	for i := range d.Values {
		val := &d.Values[i]
		if len(val.Consumers) == 0 && !val.Output {
			continue
		}
		from := src
		if val.Producer >= 0 {
			from = val.Producer
		}
		if len(val.Consumers) == 1 && !val.Output {
			// One reader: the edge itself carries the cost (cut iff the
			// producer is in the head and the reader in the tail).
			f.add(from, val.Consumers[0], q(crossCost[i]))
			continue
		}
		x := n + i
		f.add(from, x, q(crossCost[i]))
		for _, c := range val.Consumers {
			f.add(x, c, inf)
		}
		if val.Output {
			f.add(x, sink, inf)
		}
	}
	flow := f.maxflow(src, sink)
	reach := f.reachable(src)
	head = make([]bool, n)
	copy(head, reach[:n])
	return head, float64(flow) / scale
}

// flow is Dinic's max-flow on an adjacency list of paired edges.
type flow struct {
	head  []int
	next  []int
	to    []int
	cap   []int64
	level []int
	iter  []int
}

func newFlow(n int) *flow {
	f := &flow{head: make([]int, n), level: make([]int, n), iter: make([]int, n)}
	for i := range f.head {
		f.head[i] = -1
	}
	return f
}

func (f *flow) add(u, v int, c int64) {
	f.to = append(f.to, v, u)
	f.cap = append(f.cap, c, 0)
	f.next = append(f.next, f.head[u], f.head[v])
	e := len(f.to) - 2
	f.head[u], f.head[v] = e, e+1
}

func (f *flow) bfs(s, t int) bool {
	for i := range f.level {
		f.level[i] = -1
	}
	f.level[s] = 0
	queue := []int{s}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for e := f.head[u]; e >= 0; e = f.next[e] {
			if f.cap[e] > 0 && f.level[f.to[e]] < 0 {
				f.level[f.to[e]] = f.level[u] + 1
				queue = append(queue, f.to[e])
			}
		}
	}
	return f.level[t] >= 0
}

func (f *flow) dfs(u, t int, pushed int64) int64 {
	if u == t {
		return pushed
	}
	for ; f.iter[u] >= 0; f.iter[u] = f.next[f.iter[u]] {
		e := f.iter[u]
		v := f.to[e]
		if f.cap[e] <= 0 || f.level[v] != f.level[u]+1 {
			continue
		}
		if got := f.dfs(v, t, min(pushed, f.cap[e])); got > 0 {
			f.cap[e] -= got
			f.cap[e^1] += got
			return got
		}
	}
	return 0
}

func (f *flow) maxflow(s, t int) int64 {
	var total int64
	for f.bfs(s, t) {
		copy(f.iter, f.head)
		for {
			got := f.dfs(s, t, math.MaxInt64)
			if got == 0 {
				break
			}
			total += got
		}
	}
	return total
}

// reachable marks the vertices reachable from s in the residual graph:
// the source side of a minimum cut.
func (f *flow) reachable(s int) []bool {
	seen := make([]bool, len(f.head))
	seen[s] = true
	stack := []int{s}
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for e := f.head[u]; e >= 0; e = f.next[e] {
			if f.cap[e] > 0 && !seen[f.to[e]] {
				seen[f.to[e]] = true
				stack = append(stack, f.to[e])
			}
		}
	}
	return seen
}

// minCutPlan is the DADS plan for two tiers: the minimum cut under the
// problem's objective, compared with running everything on the device (the
// one placement that uses no hop and so pays no RTT).
func (p *Problem) minCutPlan() (Plan, error) {
	d := p.DAG
	n := len(d.Nodes)
	dev, rem := p.Tiers[0], p.Tiers[1]
	hop := p.Hops[0]
	en := p.energy()
	headCost := make([]float64, n)
	tailCost := make([]float64, n)
	crossCost := make([]float64, len(d.Values))
	wHead, wTail, wTx, wEnc, wDec := 1.0, 1.0, 1.0, 1.0, 1.0
	if p.Objective == MinEnergy {
		wHead, wTail, wTx, wEnc, wDec = en.ComputeW, en.IdleW, en.Radio.Power(hop.Link.Mbps), en.ComputeW, en.IdleW
	}
	for v := 0; v < n; v++ {
		headCost[v] = wHead * dev.Times[v]
		tailCost[v] = wTail * rem.Times[v]
	}
	allDevice := make([]int, n)
	if !hop.Link.Up() {
		return p.Evaluate(allDevice)
	}
	for i := range d.Values {
		s := d.Values[i].Size
		crossCost[i] = wTx*hop.Link.Seconds(hop.Codec.encoded(s)) +
			wEnc*float64(s.Bytes)*hop.Codec.EncodeSecPerByte*dev.codecScale() +
			wDec*float64(s.Bytes)*hop.Codec.DecodeSecPerByte*rem.codecScale()
	}
	head, _ := d.MinCut(headCost, tailCost, crossCost)
	tier := make([]int, n)
	for v := range tier {
		if !head[v] {
			tier[v] = 1
		}
	}
	cut, err := p.Evaluate(tier)
	if err != nil {
		return Plan{}, err
	}
	cut.Method = "mincut"
	local, err := p.Evaluate(allDevice)
	if err != nil {
		return Plan{}, err
	}
	// If the cut keeps everything on the device it already is the
	// all-device placement (and Evaluate charged no hop); otherwise the
	// all-device placement may still be cheaper, since the cut pays an RTT
	// that the all-device placement does not.
	if local.Cost() <= cut.Cost() {
		local.Method = "mincut"
		return local, nil
	}
	return cut, nil
}
