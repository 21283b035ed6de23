package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx/onnxpb"
	"github.com/edgedl/edgedl/tensor"
)

// MaxModelBytes bounds the size of a model file Load will read (2 GiB, the
// protobuf limit; larger models must use external data).
const MaxModelBytes = 2<<30 - 1

// ErrNotONNX is wrapped by errors for files that are not ONNX models.
var ErrNotONNX = errors.New("onnx: not an ONNX model")

// Load reads and decodes an ONNX model file. External-data tensors are read
// from files beside it.
func Load(path string) (*graph.Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not an ONNX model", path)
	}
	if st.Size() > MaxModelBytes {
		return nil, fmt.Errorf("%s: %d bytes is larger than protobuf's 2 GiB limit", path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNotONNX, err)
	}
	if mp.Graph == nil {
		return nil, fmt.Errorf("%s: %w: the model has no graph", path, ErrNotONNX)
	}
	// The file bytes and each initializer's raw data are dropped as soon as
	// they are decoded, so loading a model needs about twice its size in
	// memory rather than three times (edge devices are small).
	if len(b) > 4<<20 {
		b = nil
		goruntime.GC() // return the file bytes before the tensors are made
	}
	b = nil
	m, err := fromProto(&mp, filepath.Dir(path), true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Decode parses a serialized ModelProto. baseDir resolves external data ("" forbids it).
func Decode(b []byte, baseDir string) (*graph.Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotONNX, err)
	}
	if mp.Graph == nil {
		return nil, fmt.Errorf("%w: the model has no graph", ErrNotONNX)
	}
	return FromProto(&mp, baseDir)
}

// FromProto converts a decoded ModelProto to the IR and validates the graph.
func FromProto(mp *onnxpb.ModelProto, baseDir string) (*graph.Model, error) {
	return fromProto(mp, baseDir, false)
}

// fromProto converts; consume lets it release initializer bytes of mp as
// it goes (mp is then unusable).
func fromProto(mp *onnxpb.ModelProto, baseDir string, consume bool) (*graph.Model, error) {
	m := &graph.Model{
		Opsets:          map[string]int64{},
		IRVersion:       mp.IrVersion,
		ProducerName:    mp.ProducerName,
		ProducerVersion: mp.ProducerVersion,
		Doc:             mp.DocString,
	}
	for _, o := range mp.OpsetImport {
		m.Opsets[graph.NormalizeDomain(o.Domain)] = o.Version
	}
	if len(mp.OpsetImport) == 0 {
		// IR version 2 and older had no opset_import; assume opset 1.
		m.Opsets[""] = 1
	}
	if len(mp.MetadataProps) > 0 {
		m.Metadata = map[string]string{}
		for _, kv := range mp.MetadataProps {
			m.Metadata[kv.Key] = kv.Value
		}
	}
	if len(mp.Functions) > 0 {
		return nil, fmt.Errorf("onnx: model-local functions are not supported (%d defined, first %q)", len(mp.Functions), mp.Functions[0].Name)
	}
	g, err := graphFromProto(mp.Graph, baseDir, 0, consume)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// maxGraphDepth bounds nesting of subgraphs (If inside Loop inside ...).
const maxGraphDepth = 64

func graphFromProto(gp *onnxpb.GraphProto, baseDir string, depth int, consume bool) (*graph.Graph, error) {
	if depth > maxGraphDepth {
		return nil, fmt.Errorf("onnx: subgraphs nested deeper than %d", maxGraphDepth)
	}
	g := &graph.Graph{
		Name:         gp.Name,
		Doc:          gp.DocString,
		ValueInfo:    map[string]graph.ValueInfo{},
		Initializers: map[string]*tensor.Tensor{},
	}
	for _, tp := range gp.Initializer {
		if tp.Name == "" {
			return nil, fmt.Errorf("onnx: graph %q: an initializer has no name", gp.Name)
		}
		t, err := TensorFromProto(tp, baseDir)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		g.AddInitializer(tp.Name, t)
		if consume {
			tp.RawData, tp.FloatData, tp.Int64Data, tp.Int32Data = nil, nil, nil, nil
		}
	}
	for _, sp := range gp.SparseInitializer {
		t, name, err := sparseToDense(sp, baseDir)
		if err != nil {
			return nil, fmt.Errorf("sparse initializer: %w", err)
		}
		g.AddInitializer(name, t)
	}
	for _, vi := range gp.Input {
		if _, isInit := g.Initializers[vi.Name]; isInit {
			continue // an initializer listed as input: a constant with a default
		}
		v, err := valueInfoFromProto(vi)
		if err != nil {
			return nil, err
		}
		g.Inputs = append(g.Inputs, v)
	}
	for _, vi := range gp.Output {
		v, err := valueInfoFromProto(vi)
		if err != nil {
			return nil, err
		}
		g.Outputs = append(g.Outputs, v)
	}
	for _, vi := range gp.ValueInfo {
		v, err := valueInfoFromProto(vi)
		if err != nil {
			return nil, err
		}
		g.ValueInfo[v.Name] = v
	}
	g.Nodes = make([]*graph.Node, 0, len(gp.Node))
	for i, np := range gp.Node {
		n := &graph.Node{
			Name:    np.Name,
			OpType:  np.OpType,
			Domain:  graph.NormalizeDomain(np.Domain),
			Inputs:  np.Input,
			Outputs: np.Output,
		}
		if len(np.Attribute) > 0 {
			n.Attrs = make(map[string]*graph.Attr, len(np.Attribute))
		}
		for _, ap := range np.Attribute {
			a, err := attrFromProto(ap, baseDir, depth)
			if err != nil {
				return nil, fmt.Errorf("onnx: node %d (%s): attribute %q: %w", i, n.Label(), ap.Name, err)
			}
			n.Attrs[a.Name] = a
		}
		g.Nodes = append(g.Nodes, n)
	}
	return g, nil
}

func sparseToDense(sp *onnxpb.SparseTensorProto, baseDir string) (*tensor.Tensor, string, error) {
	if sp.Values == nil || sp.Indices == nil {
		return nil, "", fmt.Errorf("onnx: sparse tensor without values or indices")
	}
	vals, err := TensorFromProto(sp.Values, baseDir)
	if err != nil {
		return nil, "", err
	}
	idx, err := TensorFromProto(sp.Indices, baseDir)
	if err != nil {
		return nil, "", err
	}
	shape := make([]int, len(sp.Dims))
	for i, d := range sp.Dims {
		if d < 0 || d > int64(tensor.MaxElements) {
			return nil, "", fmt.Errorf("onnx: sparse tensor %q: bad dim %d", sp.Values.Name, d)
		}
		shape[i] = int(d)
	}
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, "", err
	}
	if n > 1<<28 {
		return nil, "", fmt.Errorf("onnx: sparse tensor %q: dense size %d too large", sp.Values.Name, n)
	}
	out, err := tensor.Make(vals.DType, shape)
	if err != nil {
		return nil, "", err
	}
	nnz := vals.Len()
	strides := tensor.Strides(shape)
	for k := 0; k < nnz; k++ {
		var flat int64
		switch {
		case idx.Rank() == 1 && idx.Len() == nnz: // linearised indices
			flat = idx.Int64At(k)
		case idx.Rank() == 2 && idx.Shape[0] == nnz && idx.Shape[1] == len(shape):
			for d := range shape {
				flat += idx.Int64At(k*len(shape)+d) * int64(strides[d])
			}
		default:
			return nil, "", fmt.Errorf("onnx: sparse tensor %q: indices shape %v does not fit %d values", sp.Values.Name, idx.Shape, nnz)
		}
		if flat < 0 || flat >= int64(n) {
			return nil, "", fmt.Errorf("onnx: sparse tensor %q: index %d out of range", sp.Values.Name, flat)
		}
		setFrom(out, int(flat), vals, k)
	}
	return out, sp.Values.Name, nil
}

func setFrom(dst *tensor.Tensor, i int, src *tensor.Tensor, j int) {
	switch d := dst.Data.(type) {
	case []float32:
		d[i] = src.F32()[j]
	case []float64:
		d[i] = src.Data.([]float64)[j]
	case []int64:
		d[i] = src.I64()[j]
	case []int32:
		d[i] = src.Data.([]int32)[j]
	case []int8:
		d[i] = src.Data.([]int8)[j]
	case []uint8:
		d[i] = src.Data.([]uint8)[j]
	case []uint16:
		d[i] = src.Data.([]uint16)[j]
	case []int16:
		d[i] = src.Data.([]int16)[j]
	case []bool:
		d[i] = src.Data.([]bool)[j]
	}
}

func attrFromProto(ap *onnxpb.AttributeProto, baseDir string, depth int) (*graph.Attr, error) {
	a := &graph.Attr{Name: ap.Name, Type: graph.AttrType(ap.Type)}
	if ap.RefAttrName != "" {
		return nil, fmt.Errorf("attribute references (ref_attr_name) only exist inside functions")
	}
	t := a.Type
	if t == graph.AttrUndefined {
		// Very old files leave type unset; infer it from the populated field.
		switch {
		case len(ap.Floats) > 0:
			t = graph.AttrFloats
		case len(ap.Ints) > 0:
			t = graph.AttrInts
		case len(ap.Strings) > 0:
			t = graph.AttrStrings
		case ap.T != nil:
			t = graph.AttrTensor
		case ap.G != nil:
			t = graph.AttrGraph
		case ap.S != nil:
			t = graph.AttrString
		case ap.I != 0:
			t = graph.AttrInt
		default:
			t = graph.AttrFloat
		}
		a.Type = t
	}
	switch t {
	case graph.AttrFloat:
		a.Float = ap.F
	case graph.AttrInt:
		a.Int = ap.I
	case graph.AttrString:
		a.String = string(ap.S)
	case graph.AttrFloats:
		a.Floats = ap.Floats
	case graph.AttrInts:
		a.Ints = ap.Ints
	case graph.AttrStrings:
		for _, s := range ap.Strings {
			a.Strings = append(a.Strings, string(s))
		}
	case graph.AttrTensor:
		if ap.T == nil {
			return nil, fmt.Errorf("TENSOR attribute without a tensor")
		}
		v, err := TensorFromProto(ap.T, baseDir)
		if err != nil {
			return nil, err
		}
		a.Tensor = v
	case graph.AttrSparse:
		if ap.SparseTensor == nil {
			return nil, fmt.Errorf("SPARSE_TENSOR attribute without a tensor")
		}
		v, _, err := sparseToDense(ap.SparseTensor, baseDir)
		if err != nil {
			return nil, err
		}
		a.Tensor = v
	case graph.AttrTensors:
		for _, tp := range ap.Tensors {
			v, err := TensorFromProto(tp, baseDir)
			if err != nil {
				return nil, err
			}
			a.Tensors = append(a.Tensors, v)
		}
	case graph.AttrGraph:
		if ap.G == nil {
			return nil, fmt.Errorf("GRAPH attribute without a graph")
		}
		g, err := graphFromProto(ap.G, baseDir, depth+1, false)
		if err != nil {
			return nil, err
		}
		a.Graph = g
	case graph.AttrGraphs:
		for _, gp := range ap.Graphs {
			g, err := graphFromProto(gp, baseDir, depth+1, false)
			if err != nil {
				return nil, err
			}
			a.Graphs = append(a.Graphs, g)
		}
	case graph.AttrTypeProto:
		if ap.Tp != nil && ap.Tp.GetTensorType() != nil {
			a.TypeElem = tensor.DType(ap.Tp.GetTensorType().ElemType)
		}
	default:
		return nil, fmt.Errorf("unsupported attribute type %d", t)
	}
	return a, nil
}

func valueInfoFromProto(vi *onnxpb.ValueInfoProto) (graph.ValueInfo, error) {
	v, err := typeFromProto(vi.Type)
	if err != nil {
		return v, fmt.Errorf("onnx: value %q: %w", vi.Name, err)
	}
	v.Name = vi.Name
	return v, nil
}

func typeFromProto(tp *onnxpb.TypeProto) (graph.ValueInfo, error) {
	var v graph.ValueInfo
	if tp == nil {
		v.Kind = graph.KindUnknown
		return v, nil
	}
	switch x := tp.Value.(type) {
	case *onnxpb.TypeProto_TensorType:
		v.Kind = graph.KindTensor
		v.DType = tensor.DType(x.TensorType.ElemType)
		if s := x.TensorType.Shape; s != nil {
			v.HasShape = true
			v.Shape = make([]graph.Dim, len(s.Dim))
			for i, d := range s.Dim {
				switch dv := d.Value.(type) {
				case *onnxpb.TensorShapeProto_Dimension_DimValue:
					if dv.DimValue < 0 {
						return v, fmt.Errorf("negative dimension %d", dv.DimValue)
					}
					v.Shape[i] = graph.Dim{Value: dv.DimValue}
				case *onnxpb.TensorShapeProto_Dimension_DimParam:
					v.Shape[i] = graph.Dim{Value: -1, Param: dv.DimParam}
				default:
					v.Shape[i] = graph.Dim{Value: -1}
				}
			}
		}
	case *onnxpb.TypeProto_SequenceType:
		v.Kind = graph.KindSequence
		e, err := typeFromProto(x.SequenceType.ElemType)
		if err != nil {
			return v, err
		}
		v.Elem = &e
	case *onnxpb.TypeProto_OptionalType:
		v.Kind = graph.KindOptional
		e, err := typeFromProto(x.OptionalType.ElemType)
		if err != nil {
			return v, err
		}
		v.Elem = &e
	case *onnxpb.TypeProto_MapType:
		v.Kind = graph.KindMap
	case *onnxpb.TypeProto_SparseTensorType:
		v.Kind = graph.KindSparse
		v.DType = tensor.DType(x.SparseTensorType.ElemType)
	default:
		v.Kind = graph.KindUnknown
	}
	return v, nil
}
