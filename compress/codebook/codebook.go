package codebook

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"slices"

	"github.com/edgedl/edgedl/compress/entropy"
	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
)

// Options configure Encode and Share.
type Options struct {
	// Bits is the index width of each coded tensor: its codebook has at
	// most 2^Bits shared values (1..8; default 5).
	Bits int
	// LayerBits overrides Bits per tensor, keyed by initializer name or by
	// the name of the Conv/Gemm/MatMul node that reads it as its weight.
	LayerBits map[string]int
	// Coder codes the indices and mask gaps (default entropy.Huffman).
	Coder entropy.Coder
	// MinElements: smaller float tensors (biases, ...) stay raw in the
	// ONNX skeleton (default 1024).
	MinElements int
	// MaskSparsity: tensors with at least this fraction of exact zeros
	// (pruned) store a mask and cluster only the non-zeros; others cluster
	// every value (default 0.1).
	MaskSparsity float64
	// Iterations of k-means (default 30).
	Iterations int
}

func (o *Options) fill() error {
	if o.Bits == 0 {
		o.Bits = 5
	}
	if o.Coder == 0 {
		o.Coder = entropy.Huffman
	}
	if o.MinElements == 0 {
		o.MinElements = 1024
	}
	if o.MaskSparsity == 0 {
		o.MaskSparsity = 0.1
	}
	if o.Iterations == 0 {
		o.Iterations = 30
	}
	if o.Bits < 1 || o.Bits > 8 {
		return fmt.Errorf("codebook: %d index bits is out of range [1, 8]", o.Bits)
	}
	for k, b := range o.LayerBits {
		if b < 1 || b > 8 {
			return fmt.Errorf("codebook: %d index bits for %q is out of range [1, 8]", b, k)
		}
	}
	if o.Coder != entropy.Huffman && o.Coder != entropy.RANS {
		return fmt.Errorf("codebook: unknown coder %v", o.Coder)
	}
	if o.MaskSparsity < 0 || o.MaskSparsity > 1 || o.MinElements < 1 || o.Iterations < 1 {
		return fmt.Errorf("codebook: MaskSparsity %v, MinElements %d, Iterations %d out of range", o.MaskSparsity, o.MinElements, o.Iterations)
	}
	return nil
}

// TensorReport describes how one tensor was coded.
type TensorReport struct {
	Name              string
	Elements, NonZero int
	Bits, Codebook    int // index bits; shared values actually used
	// Bytes of the coded section by part, and of the float32 original.
	IndexBytes, MaskBytes, CodebookBytes, Bytes, RawBytes int
	// RelL2 is the relative L2 error of the shared weights.
	RelL2 float64
}

// Report tells what Encode produced.
type Report struct {
	Tensors []TensorReport
	// SkeletonBytes is the ONNX model without the coded tensors (graph
	// and small tensors); Bytes is the whole container.
	SkeletonBytes, Bytes int
}

// layerBits resolves the index bits of an initializer.
func layerBits(g *graph.Graph, o Options, init string) int {
	if b, ok := o.LayerBits[init]; ok {
		return b
	}
	for _, l := range gx.WeightLayers(g) {
		if l.Weight == init {
			if b, ok := o.LayerBits[l.Node.Name]; ok {
				return b
			}
		}
	}
	return o.Bits
}

// coded is one tensor after weight sharing.
type coded struct {
	name      string
	shape     []int
	mask      []byte // gap symbols, nil without a mask
	centroids []float32
	idx       []byte
	shared    *tensor.Tensor
	rep       TensorReport
}

func shareTensor(name string, t *tensor.Tensor, bits int, o Options) *coded {
	v := t.F32()
	c := &coded{name: name, shape: append([]int{}, t.Shape...)}
	zeros := 0
	for _, x := range v {
		if x == 0 {
			zeros++
		}
	}
	values := v
	var pos []int
	if zeros > 0 && float64(zeros) >= o.MaskSparsity*float64(len(v)) {
		values = make([]float32, 0, len(v)-zeros)
		gap := 0
		for i, x := range v {
			if x == 0 {
				gap++
				if gap == 255 {
					c.mask = append(c.mask, 255)
					gap = 0
				}
				continue
			}
			c.mask = append(c.mask, byte(gap))
			gap = 0
			values = append(values, x)
			pos = append(pos, i)
		}
		if c.mask == nil {
			c.mask = []byte{}
		}
	}
	if cents, idx, ok := exactCodebook(values, 1<<bits); ok {
		c.centroids, c.idx = cents, idx
	} else {
		c.centroids, c.idx = KMeans(values, 1<<bits, o.Iterations)
	}
	sh := make([]float32, len(v))
	if c.mask == nil {
		for i := range sh {
			sh[i] = c.centroids[c.idx[i]]
		}
	} else {
		for k, i := range pos {
			sh[i] = c.centroids[c.idx[k]]
		}
	}
	c.shared = tensor.Float32s(c.shape, sh)
	var d, w float64
	for i := range v {
		e := float64(sh[i]) - float64(v[i])
		d += e * e
		w += float64(v[i]) * float64(v[i])
	}
	if w > 0 {
		c.rep.RelL2 = math.Sqrt(d / w)
	}
	c.rep = TensorReport{Name: name, Elements: len(v), NonZero: len(values), Bits: bits, Codebook: len(c.centroids), RawBytes: 4 * len(v), RelL2: c.rep.RelL2}
	return c
}

// exactCodebook returns the distinct values, ascending, as the codebook
// and each value's index, when there are at most k of them: a tensor that
// is already shared (after centroid fine-tuning, package
// compress/deepcomp) is then coded without loss instead of re-clustered.
func exactCodebook(values []float32, k int) ([]float32, []byte, bool) {
	if len(values) == 0 || k > 256 {
		return nil, nil, false
	}
	distinct := map[uint32]struct{}{}
	for _, v := range values {
		if math.IsNaN(float64(v)) {
			return nil, nil, false
		}
		distinct[math.Float32bits(v)] = struct{}{}
		if len(distinct) > k {
			return nil, nil, false
		}
	}
	cents := make([]float32, 0, len(distinct))
	for b := range distinct {
		cents = append(cents, math.Float32frombits(b))
	}
	slices.Sort(cents)
	// -0 and +0 compare equal: keep one of them.
	cents = slices.CompactFunc(cents, func(a, b float32) bool { return a == b })
	pos := make(map[float32]byte, len(cents))
	for i, v := range cents {
		pos[v] = byte(i)
	}
	idx := make([]byte, len(values))
	for i, v := range values {
		idx[i] = pos[v]
	}
	return cents, idx, true
}

// selected lists the initializers Encode codes, in initializer order.
func selected(g *graph.Graph, o Options) []string {
	var out []string
	for _, k := range g.InitOrder {
		t := g.Initializers[k]
		if t != nil && t.DType == tensor.Float32 && t.Len() >= o.MinElements && !gx.IsOutput(g, k) {
			out = append(out, k)
		}
	}
	return out
}

// Share returns a copy of m whose large float tensors hold only their
// codebook values (what Decode(Encode(m)) gives back), with the report of
// each tensor's error, without writing a container.
func Share(m *graph.Model, o Options) (*graph.Model, []TensorReport, error) {
	if err := o.fill(); err != nil {
		return nil, nil, err
	}
	c, err := prepare(m)
	if err != nil {
		return nil, nil, err
	}
	var reps []TensorReport
	for _, name := range selected(c.Graph, o) {
		ct := shareTensor(name, c.Graph.Initializers[name], layerBits(c.Graph, o, name), o)
		c.Graph.Initializers[name] = ct.shared
		reps = append(reps, ct.rep)
	}
	return c, reps, nil
}

func prepare(m *graph.Model) (*graph.Model, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("codebook: nil model")
	}
	c := gx.Clone(m)
	if err := c.Graph.Validate(); err != nil {
		return nil, fmt.Errorf("codebook: %w", err)
	}
	gx.ConstantsToInitializers(c.Graph)
	return c, nil
}

// ---- container ----

// Magic opens every container; Version is the format version written.
const (
	Magic   = "\x89EDLDC\r\n"
	Version = 1
)

// Section kinds.
const (
	sectionSkeleton = 1
	sectionTensor   = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode compresses m into a container (see the package documentation for
// the format): float32 initializers of at least MinElements elements are
// replaced by per-tensor codebooks and entropy-coded indices (and, when
// pruned, a run-length mask), the rest of the model is kept as ONNX.
func Encode(m *graph.Model, o Options) ([]byte, *Report, error) {
	if err := o.fill(); err != nil {
		return nil, nil, err
	}
	c, err := prepare(m)
	if err != nil {
		return nil, nil, err
	}
	g := c.Graph
	rep := &Report{}
	var sections [][]byte
	for _, name := range selected(g, o) {
		ct := shareTensor(name, g.Initializers[name], layerBits(g, o, name), o)
		p, err := ct.encode(o.Coder)
		if err != nil {
			return nil, nil, fmt.Errorf("codebook: tensor %q: %w", name, err)
		}
		ct.rep.Bytes = len(p) + 9
		rep.Tensors = append(rep.Tensors, ct.rep)
		sections = append(sections, section(sectionTensor, p))
		// A zero-size placeholder keeps the skeleton a valid graph.
		g.Initializers[name] = &tensor.Tensor{DType: tensor.Float32, Shape: []int{0}, Data: []float32{}}
	}
	skel, err := onnx.Encode(c)
	if err != nil {
		return nil, nil, fmt.Errorf("codebook: %w", err)
	}
	rep.SkeletonBytes = len(skel)
	sections = append([][]byte{section(sectionSkeleton, skel)}, sections...)
	out := make([]byte, 0, 20)
	out = append(out, Magic...)
	out = binary.LittleEndian.AppendUint16(out, Version)
	out = binary.LittleEndian.AppendUint16(out, 0)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(sections)))
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	for _, s := range sections {
		out = append(out, s...)
	}
	rep.Bytes = len(out)
	return out, rep, nil
}

func section(kind byte, p []byte) []byte {
	s := make([]byte, 0, len(p)+9)
	s = append(s, kind)
	s = binary.LittleEndian.AppendUint32(s, uint32(len(p)))
	s = append(s, p...)
	return binary.LittleEndian.AppendUint32(s, crc32.Checksum(s, castagnoli))
}

func (c *coded) encode(coder entropy.Coder) ([]byte, error) {
	p := binary.AppendUvarint(nil, uint64(len(c.name)))
	p = append(p, c.name...)
	p = append(p, byte(tensor.Float32))
	p = binary.AppendUvarint(p, uint64(len(c.shape)))
	for _, d := range c.shape {
		p = binary.AppendUvarint(p, uint64(d))
	}
	p = append(p, byte(c.rep.Bits))
	cb := len(p)
	p = binary.AppendUvarint(p, uint64(len(c.centroids)))
	for _, v := range c.centroids {
		p = binary.LittleEndian.AppendUint32(p, math.Float32bits(v))
	}
	c.rep.CodebookBytes = len(p) - cb
	mb := len(p)
	if c.mask == nil {
		p = append(p, 0)
	} else {
		p = append(p, 1)
		ms, err := entropy.Encode(coder, c.mask, 256)
		if err != nil {
			return nil, err
		}
		p = binary.AppendUvarint(p, uint64(len(ms)))
		p = append(p, ms...)
	}
	c.rep.MaskBytes = len(p) - mb
	alpha := max(len(c.centroids), 1)
	is, err := entropy.Encode(coder, c.idx, alpha)
	if err != nil {
		return nil, err
	}
	ib := len(p)
	p = binary.AppendUvarint(p, uint64(len(is)))
	p = append(p, is...)
	c.rep.IndexBytes = len(p) - ib
	return p, nil
}

// Save encodes m to a container file.
func Save(path string, m *graph.Model, o Options) (*Report, error) {
	b, rep, err := Encode(m, o)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("codebook: %w", err)
	}
	return rep, nil
}

// DecodeOptions bound what Decode accepts.
type DecodeOptions struct {
	// MaxElements bounds the elements of all decoded tensors together
	// (default 1<<27: 512 MiB of float32).
	MaxElements int
}

// ErrFormat is wrapped by every error about a malformed container.
var ErrFormat = errors.New("codebook: not a valid container")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Decode reads a container back into a model that the runtime can run.
// It verifies the magic, version and checksums, bounds every count by the
// bytes that carry it and by opts, and never panics on malformed input.
func Decode(b []byte, opts DecodeOptions) (*graph.Model, error) {
	if opts.MaxElements <= 0 {
		opts.MaxElements = 1 << 27
	}
	if len(b) < 20 || string(b[:8]) != Magic {
		return nil, bad("missing magic header")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != Version {
		return nil, fmt.Errorf("%w: version %d (this reader knows %d)", ErrFormat, v, Version)
	}
	if binary.LittleEndian.Uint32(b[16:]) != crc32.Checksum(b[:16], castagnoli) {
		return nil, bad("header checksum mismatch")
	}
	if f := binary.LittleEndian.Uint16(b[10:]); f != 0 {
		return nil, bad("unknown flags %#x", f)
	}
	n := binary.LittleEndian.Uint32(b[12:])
	if uint64(n)*9 > uint64(len(b)-20) {
		return nil, bad("%d sections cannot fit in %d bytes", n, len(b))
	}
	pos := 20
	var m *graph.Model
	budget := opts.MaxElements
	seen := map[string]bool{}
	for i := uint32(0); i < n; i++ {
		if len(b)-pos < 9 {
			return nil, bad("section %d is truncated", i)
		}
		kind := b[pos]
		l := binary.LittleEndian.Uint32(b[pos+1:])
		if uint64(l) > uint64(len(b)-pos-9) {
			return nil, bad("section %d claims %d bytes, %d left", i, l, len(b)-pos-9)
		}
		end := pos + 5 + int(l)
		if binary.LittleEndian.Uint32(b[end:]) != crc32.Checksum(b[pos:end], castagnoli) {
			return nil, bad("section %d checksum mismatch", i)
		}
		p := b[pos+5 : end]
		pos = end + 4
		switch {
		case kind == sectionSkeleton && i == 0:
			var err error
			if m, err = onnx.Decode(p, ""); err != nil {
				return nil, fmt.Errorf("%w: skeleton: %v", ErrFormat, err)
			}
		case kind == sectionTensor && m != nil:
			name, t, err := decodeTensor(p, &budget)
			if err != nil {
				return nil, fmt.Errorf("%w: section %d: %v", ErrFormat, i, err)
			}
			ph := m.Graph.Initializers[name]
			if seen[name] || ph == nil || ph.DType != tensor.Float32 || ph.Len() != 0 {
				return nil, bad("tensor %q has no placeholder in the skeleton, or comes twice", name)
			}
			seen[name] = true
			m.Graph.Initializers[name] = t
		default:
			return nil, bad("section %d has unexpected kind %d", i, kind)
		}
	}
	if pos != len(b) {
		return nil, bad("%d bytes after the last section", len(b)-pos)
	}
	if m == nil {
		return nil, bad("no model skeleton")
	}
	return m, nil
}

// Load reads a container file.
func Load(path string) (*graph.Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("codebook: %w", err)
	}
	m, err := Decode(b, DecodeOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, k := binary.Uvarint(r.b[r.pos:])
	if k <= 0 {
		r.err = fmt.Errorf("bad varint at byte %d", r.pos)
		return 0
	}
	r.pos += k
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.err = fmt.Errorf("%d bytes wanted at byte %d, %d left", n, r.pos, len(r.b)-r.pos)
		return nil
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s
}

func (r *reader) byte() byte {
	s := r.bytes(1)
	if s == nil {
		return 0
	}
	return s[0]
}

func decodeTensor(p []byte, budget *int) (string, *tensor.Tensor, error) {
	r := &reader{b: p}
	name := string(r.bytes(r.uvarint()))
	dt := tensor.DType(r.byte())
	rank := r.uvarint()
	if r.err == nil && (dt != tensor.Float32 || rank > 8) {
		return "", nil, fmt.Errorf("tensor %q: dtype %v rank %d", name, dt, rank)
	}
	shape := make([]int, 0, rank)
	numel := uint64(1)
	for j := uint64(0); j < rank && r.err == nil; j++ {
		d := r.uvarint()
		numel *= max(d, 1)
		if d > uint64(*budget) || numel > uint64(*budget) {
			return "", nil, fmt.Errorf("tensor %q: more elements than allowed (%d)", name, *budget)
		}
		shape = append(shape, int(d))
	}
	bits := r.byte()
	k := r.uvarint()
	if r.err != nil {
		return "", nil, r.err
	}
	if bits < 1 || bits > 8 || k > 1<<bits {
		return "", nil, fmt.Errorf("tensor %q: %d bits, codebook of %d", name, bits, k)
	}
	cb := r.bytes(4 * k)
	centroids := make([]float32, k)
	for j := range centroids {
		if r.err == nil {
			centroids[j] = math.Float32frombits(binary.LittleEndian.Uint32(cb[4*j:]))
		}
	}
	maskKind := r.byte()
	if r.err != nil {
		return "", nil, r.err
	}
	n, err := tensor.NumElements(shape)
	if err != nil || n > *budget {
		return "", nil, fmt.Errorf("tensor %q: shape %v: more elements than allowed (%d)", name, shape, *budget)
	}
	*budget -= n
	var pos []int
	coded := n
	switch maskKind {
	case 0:
	case 1:
		ms := r.bytes(r.uvarint())
		if r.err != nil {
			return "", nil, r.err
		}
		gaps, used, err := entropy.Decode(ms, n+n/255+1)
		if err != nil {
			return "", nil, fmt.Errorf("tensor %q: mask: %v", name, err)
		}
		if used != len(ms) {
			return "", nil, fmt.Errorf("tensor %q: mask stream has %d trailing bytes", name, len(ms)-used)
		}
		at := 0
		for _, g := range gaps {
			at += int(g)
			if g == 255 {
				continue
			}
			if at >= n {
				return "", nil, fmt.Errorf("tensor %q: mask position %d beyond %d elements", name, at, n)
			}
			pos = append(pos, at)
			at++
		}
		coded = len(pos)
	default:
		return "", nil, fmt.Errorf("tensor %q: mask kind %d", name, maskKind)
	}
	is := r.bytes(r.uvarint())
	if r.err != nil {
		return "", nil, r.err
	}
	idx, used, err := entropy.Decode(is, coded)
	if err != nil {
		return "", nil, fmt.Errorf("tensor %q: indices: %v", name, err)
	}
	if used != len(is) || len(idx) != coded {
		return "", nil, fmt.Errorf("tensor %q: %d indices for %d coded values", name, len(idx), coded)
	}
	if r.pos != len(p) {
		return "", nil, fmt.Errorf("tensor %q: %d trailing bytes", name, len(p)-r.pos)
	}
	v := make([]float32, n)
	for j, s := range idx {
		if int(s) >= len(centroids) {
			return "", nil, fmt.Errorf("tensor %q: index %d outside the codebook of %d", name, s, len(centroids))
		}
		if pos == nil {
			v[j] = centroids[s]
		} else {
			v[pos[j]] = centroids[s]
		}
	}
	t, err := tensor.FromSlice(tensor.Float32, shape, v)
	if err != nil {
		return "", nil, err
	}
	return name, t, nil
}
