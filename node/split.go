package node

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
)

// Pieces are the parts of one model for the three tiers: the device runs
// Device on the model's inputs, the edge runs Edge on the device's outputs,
// the cloud runs Cloud on the edge's outputs. A nil piece is empty: that
// tier does nothing and the activation goes past it. Each non-nil piece is
// a standalone model whose inputs are the previous non-nil piece's outputs
// (or the model's inputs) and whose outputs are the next one's inputs (or
// the model's outputs).
//
// SplitModel makes Pieces from a split specification; a planner can make
// them itself (partition.SplitN) and hand them to DeviceConfig.Pieces.
type Pieces struct {
	Device, Edge, Cloud *graph.Model
	// Spec is the split they came from ("3,8", "edge", ...); devices
	// report it to the nodes, which count it in their metrics.
	Spec string
}

// HashBytes returns the name a tier node gives a model: the lowercase hex
// SHA-256 of its ONNX bytes.
func HashBytes(onnxBytes []byte) string {
	sum := sha256.Sum256(onnxBytes)
	return hex.EncodeToString(sum[:])
}

// validHash reports whether s looks like a HashBytes name.
func validHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// SplitModel cuts m into pieces for the device, edge and cloud tiers.
// spec is one of
//
//	device       everything on the device (no network)
//	edge         everything on the edge
//	cloud        everything in the cloud
//	K            cut K of the model's prefix cuts (partition.DAG.Cuts): the
//	             device runs the first K runtime nodes, the edge the rest
//	K1,K2        three tiers: device [0,K1), edge [K1,K2), cloud the rest;
//	             K1 = K2 leaves the edge empty (device -> cloud)
//	A+B,C        cuts named by the tensors that cross them ('+' joins the
//	             tensors of one cut, ',' separates the two cuts); prefix a
//	             name that looks like a number with "t:"
//
// Cut 0 sends the model's inputs (the head is empty); the last cut, the
// number of runtime nodes, sends its outputs. `edgedl plan MODEL --cuts`
// lists the cuts.
//
// Crossing tensors are typed from two traced runs of m at batch 1 and 2
// (symbolic batch dims stay symbolic, so pieces accept any batch when the
// model does); threads sets the tracing sessions' thread count.
func SplitModel(m *graph.Model, spec string, threads int) (*Pieces, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("node: split: nil model")
	}
	spec = strings.TrimSpace(spec)
	switch spec {
	case "", "device":
		return &Pieces{Device: m, Spec: "device"}, nil
	case "edge":
		return &Pieces{Edge: m, Spec: "edge"}, nil
	case "cloud":
		return &Pieces{Cloud: m, Spec: "cloud"}, nil
	}
	parts := strings.Split(spec, ",")
	if len(parts) > 2 {
		return nil, fmt.Errorf("node: split %q: at most two cuts (device|edge|cloud)", spec)
	}
	types, err := crossingTypes(m, threads)
	if err != nil {
		return nil, fmt.Errorf("node: split %q: %w", spec, err)
	}
	d := partition.NewDAG(m.Graph)
	all := d.Cuts()
	var cuts []partition.Cut
	var names [][]string
	byIndex := true
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if k, err := strconv.Atoi(p); err == nil {
			if k < 0 || k >= len(all) {
				return nil, fmt.Errorf("node: split %q: cut %d out of range [0,%d]", spec, k, len(all)-1)
			}
			cuts = append(cuts, all[k])
			names = append(names, all[k].Crossing)
			continue
		}
		byIndex = false
		p = strings.TrimPrefix(p, "t:")
		var ts []string
		for _, t := range strings.Split(p, "+") {
			if t = strings.TrimSpace(t); t != "" {
				ts = append(ts, t)
			}
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("node: split %q: empty cut", spec)
		}
		names = append(names, ts)
	}
	var models []*graph.Model
	if byIndex {
		if len(cuts) == 2 && cuts[1].Index < cuts[0].Index {
			return nil, fmt.Errorf("node: split %q: the edge cut must not come before the device cut", spec)
		}
		if models, err = partition.SplitN(m, cuts, types); err != nil {
			return nil, fmt.Errorf("node: split %q: %w", spec, err)
		}
	} else if models, err = extractPieces(m, names, types); err != nil {
		return nil, fmt.Errorf("node: split %q: %w", spec, err)
	}
	p := &Pieces{Spec: spec}
	if len(models) == 2 {
		p.Device, p.Edge = nonEmpty(models[0]), nonEmpty(models[1])
	} else {
		p.Device, p.Edge, p.Cloud = nonEmpty(models[0]), nonEmpty(models[1]), nonEmpty(models[2])
	}
	if byIndex {
		// Decide emptiness by the cut numbers: a piece between equal cuts
		// (or before cut 0, or after the last) runs nothing.
		ks := []int{0}
		for _, c := range cuts {
			ks = append(ks, c.Index)
		}
		ks = append(ks, len(all)-1)
		ps := []**graph.Model{&p.Device, &p.Edge, &p.Cloud}
		for i := 0; i+1 < len(ks); i++ {
			if ks[i+1] == ks[i] {
				*ps[i] = nil
			} else if *ps[i] == nil {
				*ps[i] = models[i]
			}
		}
	}
	return p, nil
}

// nonEmpty returns m, or nil when m runs no node.
func nonEmpty(m *graph.Model) *graph.Model {
	if m == nil || len(m.Graph.Nodes) == 0 {
		return nil
	}
	return m
}

// extractPieces cuts m at crossing-tensor lists with graph.Extract.
func extractPieces(m *graph.Model, cuts [][]string, types map[string]graph.ValueInfo) ([]*graph.Model, error) {
	g := m.Graph
	var in, out []string
	for _, v := range g.Inputs {
		in = append(in, v.Name)
	}
	for _, v := range g.Outputs {
		out = append(out, v.Name)
	}
	bounds := append(append([][]string{in}, cuts...), out)
	var pieces []*graph.Model
	for i := 0; i+1 < len(bounds); i++ {
		sub, err := g.Extract(fmt.Sprintf("%s_part%d", g.Name, i), bounds[i], bounds[i+1], types)
		if err != nil {
			return nil, fmt.Errorf("piece %d: %w", i, err)
		}
		pm := *m
		pm.Graph = sub
		pieces = append(pieces, &pm)
	}
	return pieces, nil
}

// crossingTypes traces m at batch 1 and 2 and types every value it saw;
// dims that differ between the runs become symbolic ("N").
func crossingTypes(m *graph.Model, threads int) (map[string]graph.ValueInfo, error) {
	if threads <= 0 {
		threads = 1
	}
	s, err := runtime.Compile(m, runtime.Options{NoOptimize: true, Threads: threads})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	trace := func(batch int) (map[string]runtime.TensorInfo, error) {
		in, err := s.SyntheticInputs(runtime.SyntheticOptions{Batch: batch})
		if err != nil {
			return nil, err
		}
		si, err := s.InferShapes(in)
		if err != nil {
			return nil, err
		}
		seen := map[string]runtime.TensorInfo{}
		add := func(ts []runtime.TensorInfo) {
			for _, t := range ts {
				if t.Name != "" && t.Shape != nil {
					seen[t.Name] = t
				}
			}
		}
		add(si.Inputs)
		add(si.Outputs)
		for _, n := range si.Nodes {
			add(n.Inputs)
			add(n.Outputs)
		}
		return seen, nil
	}
	one, err := trace(1)
	if err != nil {
		return nil, err
	}
	two, err := trace(2)
	if err != nil {
		two = nil // a fixed-batch model: batch-1 shapes only
	}
	types := make(map[string]graph.ValueInfo, len(one))
	for name, t := range one {
		vi := graph.ValueInfo{Name: name, Kind: graph.KindTensor, DType: t.DType, HasShape: true,
			Shape: make([]graph.Dim, len(t.Shape))}
		t2, ok := two[name]
		for i, d := range t.Shape {
			vi.Shape[i] = graph.Dim{Value: int64(d)}
			if ok && len(t2.Shape) == len(t.Shape) && t2.Shape[i] != d {
				vi.Shape[i] = graph.Dim{Value: -1, Param: "N"}
			}
		}
		types[name] = vi
	}
	return types, nil
}

// encodedPiece is a piece ready to upload.
type encodedPiece struct {
	model *graph.Model
	bytes []byte
	hash  string
}

func encodePiece(m *graph.Model) (*encodedPiece, error) {
	if m == nil {
		return nil, nil
	}
	b, err := onnx.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("node: encode piece %q: %w", m.Graph.Name, err)
	}
	return &encodedPiece{model: m, bytes: b, hash: HashBytes(b)}, nil
}
