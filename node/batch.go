package node

import (
	"encoding/binary"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

// batcher runs a piece's concurrent requests together (dynamic batching,
// as Triton and TF Serving do): requests whose inputs differ only in their
// first dimension queue up, and each free runner takes the oldest request
// and every queued one of the same shape, up to max rows in all,
// concatenates their inputs along the first dimension, runs the session
// once and hands each request its rows of the outputs.
//
// Batches form only from requests that queue while the runners are busy
// (plus the optional wait), so an idle node adds no latency. Results are
// those of a batch-N run of the same model: they may differ from a batch-1
// run in the last bits (kernels block differently), not more. A batch
// whose run fails, or whose outputs do not have the batch's rows, is
// retried request by request, so one request cannot fail another.
type batcher struct {
	sess    *runtime.Session
	max     int
	wait    time.Duration
	runners int // at most this many batches run at once

	mu      sync.Mutex
	queue   []*batchReq
	running int

	// statistics, guarded by mu
	batches, rows, requests int64
}

type batchReq struct {
	in   []*tensor.Tensor
	n    int    // rows (first dimension)
	key  string // dtypes and trailing dims of every input
	out  []*tensor.Tensor
	err  error
	done chan struct{}
}

// batchable reports whether a session can batch: every input and output
// is a fixed-size tensor whose first dimension is symbolic.
func batchable(s *runtime.Session) bool {
	ok := func(vs []graph.ValueInfo) bool {
		for _, v := range vs {
			if v.Kind != graph.KindTensor || !v.HasShape || len(v.Shape) == 0 || v.Shape[0].Known() ||
				v.DType == tensor.String || v.DType.Size() <= 0 {
				return false
			}
		}
		return len(vs) > 0
	}
	return ok(s.Inputs()) && ok(s.Outputs())
}

// newBatcher returns a batcher for s, or nil when s cannot batch or max
// is below 2. threads is the session's intra-op thread count (0: one per
// CPU): the runners are as many as the CPUs divided by it.
func newBatcher(s *runtime.Session, max int, wait time.Duration, threads int) *batcher {
	if max < 2 || !batchable(s) {
		return nil
	}
	runners := 1
	if threads > 0 {
		runners = goruntime.GOMAXPROCS(0) / threads
	}
	return &batcher{sess: s, max: max, wait: wait, runners: runners}
}

// run runs one request's ordered inputs, batched with others when it can.
func (b *batcher) run(in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	n, key, ok := batchKey(in)
	if !ok || n >= b.max {
		b.count(1, n, 1)
		return b.sess.RunOrdered(in, nil)
	}
	r := &batchReq{in: in, n: n, key: key, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, r)
	start := b.running < b.runners
	if start {
		b.running++
	}
	b.mu.Unlock()
	if start {
		go b.loop()
	}
	<-r.done
	return r.out, r.err
}

func (b *batcher) count(batches, rows, requests int) {
	b.mu.Lock()
	b.batches += int64(batches)
	b.rows += int64(rows)
	b.requests += int64(requests)
	b.mu.Unlock()
}

// Stats returns the number of session runs, rows and requests so far.
func (b *batcher) stats() (batches, rows, requests int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.batches, b.rows, b.requests
}

// loop is one runner: it takes batches off the queue until it is empty.
func (b *batcher) loop() {
	if b.wait > 0 {
		time.Sleep(b.wait)
	}
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		first := b.queue[0]
		group, rows := []*batchReq{first}, first.n
		var rest []*batchReq
		for _, r := range b.queue[1:] {
			if r.key == first.key && rows+r.n <= b.max {
				group, rows = append(group, r), rows+r.n
			} else {
				rest = append(rest, r)
			}
		}
		b.queue = rest
		b.mu.Unlock()
		b.exec(group, rows)
	}
}

// exec runs a group and answers its requests.
func (b *batcher) exec(group []*batchReq, rows int) {
	defer func() {
		for _, r := range group {
			close(r.done)
		}
	}()
	if len(group) > 1 {
		if outs, err := b.runBatch(group, rows); err == nil {
			for i, r := range group {
				r.out = outs[i]
			}
			b.count(1, rows, len(group))
			return
		}
	}
	for _, r := range group {
		r.out, r.err = b.sess.RunOrdered(r.in, nil)
		b.count(1, r.n, 1)
	}
}

// runBatch concatenates the group's inputs, runs them once, and splits the
// outputs into per-request tensors.
func (b *batcher) runBatch(group []*batchReq, rows int) ([][]*tensor.Tensor, error) {
	le := binary.LittleEndian
	in := make([]*tensor.Tensor, len(group[0].in))
	for j, x := range group[0].in {
		var raw []byte
		for _, r := range group {
			var err error
			if raw, err = tensor.AppendBytes(raw, r.in[j], le); err != nil {
				return nil, err
			}
		}
		shape := append([]int{rows}, x.Shape[1:]...)
		t, err := tensor.FromBytes(x.DType, shape, raw, le)
		if err != nil {
			return nil, err
		}
		in[j] = t
	}
	outs, err := b.sess.RunOrdered(in, nil)
	if err != nil {
		return nil, err
	}
	res := make([][]*tensor.Tensor, len(group))
	for i := range res {
		res[i] = make([]*tensor.Tensor, len(outs))
	}
	for j, o := range outs {
		if len(o.Shape) == 0 || o.Shape[0] != rows {
			return nil, fmt.Errorf("node: batched output %d has shape %v, not %d rows", j, o.Shape, rows)
		}
		raw, err := tensor.AppendBytes(nil, o, le)
		if err != nil {
			return nil, err
		}
		per := len(raw) / rows
		at := 0
		for i, r := range group {
			shape := append([]int{r.n}, o.Shape[1:]...)
			t, err := tensor.FromBytes(o.DType, shape, raw[at*per:(at+r.n)*per], le)
			if err != nil {
				return nil, err
			}
			res[i][j] = t
			at += r.n
		}
	}
	return res, nil
}

// batchKey returns the rows of a request (the common first dimension of
// its inputs) and a key that equal-shaped requests share; ok is false if
// the inputs cannot be concatenated.
func batchKey(in []*tensor.Tensor) (n int, key string, ok bool) {
	var sb strings.Builder
	for i, x := range in {
		if x == nil || len(x.Shape) == 0 || x.DType == tensor.String || x.DType.Size() <= 0 {
			return 0, "", false
		}
		if i == 0 {
			n = x.Shape[0]
		} else if x.Shape[0] != n {
			return 0, "", false
		}
		fmt.Fprintf(&sb, "%d%v;", x.DType, x.Shape[1:])
	}
	return n, sb.String(), n > 0
}
