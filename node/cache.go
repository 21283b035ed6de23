package node

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport"
)

// piece is one compiled model held by a node.
type piece struct {
	hash     string
	sess     *runtime.Session
	info     transport.ModelInfo
	inputs   []string // session input names, in order
	outputs  []string
	onnxSize int64
	size     int64    // footprint estimate charged to the cache
	batch    *batcher // nil: every request runs alone

	// guarded by cache.mu
	refs    int
	evicted bool
	elem    *list.Element
}

// compilePiece validates and compiles ONNX bytes: decode, compile, one
// trial run on synthetic inputs (which also measures the activations). It
// recovers from panics in untrusted models.
func compilePiece(hash string, b []byte, threads int) (p *piece, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("model panicked while loading: %v", r)
		}
	}()
	m, err := onnx.Decode(b, "")
	if err != nil {
		return nil, err
	}
	if err := m.Graph.Validate(); err != nil {
		return nil, err
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	in, err := s.SyntheticInputs(runtime.SyntheticOptions{})
	if err != nil {
		return nil, err
	}
	si, err := s.InferShapes(in)
	if err != nil {
		return nil, fmt.Errorf("trial run: %w", err)
	}
	var act int64
	for _, n := range si.Nodes {
		for _, t := range n.Outputs {
			if !t.Const {
				act += t.Bytes
			}
		}
	}
	p = &piece{hash: hash, sess: s, onnxSize: int64(len(b)),
		// Weights once as decoded and once as packed by the kernels, plus
		// every activation of one run (an upper bound of the arena).
		size: 2*int64(len(b)) + act,
		info: transport.ModelInfo{Platform: "edgedl_onnx"}}
	for _, v := range s.Inputs() {
		p.inputs = append(p.inputs, v.Name)
		p.info.Inputs = append(p.info.Inputs, spec(v))
	}
	for _, v := range s.Outputs() {
		p.outputs = append(p.outputs, v.Name)
		p.info.Outputs = append(p.info.Outputs, spec(v))
	}
	s.Model = nil // let the decoded weights go
	ok = true
	return p, nil
}

// spec turns a declared value into a transport spec; unknown dims are -1.
func spec(v graph.ValueInfo) transport.TensorSpec {
	ts := transport.TensorSpec{Name: v.Name, DType: v.DType}
	if !v.HasShape {
		return transport.TensorSpec{Name: v.Name, DType: v.DType, Shape: nil}
	}
	ts.Shape = make([]int, len(v.Shape))
	for i, d := range v.Shape {
		ts.Shape[i] = -1
		if d.Known() {
			ts.Shape[i] = int(d.Value)
		}
	}
	return ts
}

// run executes the piece on named inputs (validated by transport).
func (p *piece) run(inputs []transport.NamedTensor) ([]transport.NamedTensor, error) {
	byName := make(map[string]*tensor.Tensor, len(inputs))
	for _, in := range inputs {
		byName[in.Name] = in.Tensor
	}
	ordered := make([]*tensor.Tensor, len(p.inputs))
	for i, n := range p.inputs {
		t, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("missing input %q", n)
		}
		ordered[i] = t
	}
	var outs []*tensor.Tensor
	var err error
	if p.batch != nil {
		outs, err = p.batch.run(ordered)
	} else {
		outs, err = p.sess.RunOrdered(ordered, nil)
	}
	if err != nil {
		return nil, err
	}
	named := make([]transport.NamedTensor, len(outs))
	for i, t := range outs {
		named[i] = transport.NamedTensor{Name: p.outputs[i], Tensor: t}
	}
	return named, nil
}

// cache holds compiled pieces under a memory limit, evicting the least
// recently used. A piece evicted while requests use it is closed when the
// last of them releases it.
type cache struct {
	limit int64

	mu     sync.Mutex
	used   int64
	lru    *list.List // front: most recently used
	byHash map[string]*piece
	// onInsert and onEvict run under mu (they keep the transport server's
	// model table in step with the cache).
	onInsert, onEvict func(*piece)
}

func newCache(limit int64) *cache {
	return &cache{limit: limit, lru: list.New(), byHash: map[string]*piece{}}
}

// acquire returns the piece for hash (nil if absent) and marks it used.
func (c *cache) acquire(hash string) *piece {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byHash[hash]
	if p == nil {
		return nil
	}
	p.refs++
	c.lru.MoveToFront(p.elem)
	return p
}

// release drops a reference taken by acquire.
func (c *cache) release(p *piece) {
	c.mu.Lock()
	p.refs--
	closeNow := p.evicted && p.refs == 0
	c.mu.Unlock()
	if closeNow {
		p.sess.Close()
	}
}

// has reports whether hash is cached (without touching its recency).
func (c *cache) has(hash string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byHash[hash] != nil
}

// insert adds p, evicting least recently used pieces to make room. It
// returns the evicted pieces' count, and false (closing p) when hash was
// already present. The caller has checked p.size <= limit.
func (c *cache) insert(p *piece) (added bool, evicted int) {
	c.mu.Lock()
	if c.byHash[p.hash] != nil {
		c.lru.MoveToFront(c.byHash[p.hash].elem)
		c.mu.Unlock()
		p.sess.Close()
		return false, 0
	}
	var toClose []*piece
	for c.used+p.size > c.limit && c.lru.Len() > 0 {
		old := c.lru.Back().Value.(*piece)
		if c.removeLocked(old) {
			toClose = append(toClose, old)
		}
		evicted++
	}
	p.elem = c.lru.PushFront(p)
	c.byHash[p.hash] = p
	c.used += p.size
	if c.onInsert != nil {
		c.onInsert(p)
	}
	c.mu.Unlock()
	for _, old := range toClose {
		old.sess.Close()
	}
	return true, evicted
}

// remove drops hash; it reports whether it was present.
func (c *cache) remove(hash string) bool {
	c.mu.Lock()
	p := c.byHash[hash]
	closeNow := false
	if p != nil {
		closeNow = c.removeLocked(p)
	}
	c.mu.Unlock()
	if closeNow {
		p.sess.Close()
	}
	return p != nil
}

// removeLocked unlinks p and reports whether it can be closed now.
func (c *cache) removeLocked(p *piece) bool {
	c.lru.Remove(p.elem)
	delete(c.byHash, p.hash)
	c.used -= p.size
	p.evicted = true
	if c.onEvict != nil {
		c.onEvict(p)
	}
	return p.refs == 0
}

// snapshot lists the cached pieces, most recently used first, with the
// bytes in use.
func (c *cache) snapshot() ([]*piece, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*piece, 0, c.lru.Len())
	for e := c.lru.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*piece))
	}
	return out, c.used
}

// closeAll closes every idle piece (at shutdown).
func (c *cache) closeAll() {
	c.mu.Lock()
	var idle []*piece
	for _, p := range c.byHash {
		if c.removeLocked(p) {
			idle = append(idle, p)
		}
	}
	c.mu.Unlock()
	for _, p := range idle {
		p.sess.Close()
	}
}
