package onnx

import (
	"fmt"
	"os"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/onnx/onnxpb"
)

// Encode serialises a model to ONNX protobuf bytes.
func Encode(m *graph.Model) ([]byte, error) {
	mp, err := ToProto(m)
	if err != nil {
		return nil, err
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(mp)
}

// Save writes a model to an ONNX file.
func Save(path string, m *graph.Model) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// ToProto converts the IR to a ModelProto.
func ToProto(m *graph.Model) (*onnxpb.ModelProto, error) {
	mp := &onnxpb.ModelProto{
		IrVersion:       m.IRVersion,
		ProducerName:    m.ProducerName,
		ProducerVersion: m.ProducerVersion,
		DocString:       m.Doc,
	}
	if mp.IrVersion == 0 {
		mp.IrVersion = 8
	}
	if mp.ProducerName == "" {
		mp.ProducerName = "edgedl"
	}
	domains := make([]string, 0, len(m.Opsets))
	for d := range m.Opsets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: d, Version: m.Opsets[d]})
	}
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: k, Value: m.Metadata[k]})
	}
	g, err := graphToProto(m.Graph)
	if err != nil {
		return nil, err
	}
	mp.Graph = g
	return mp, nil
}

func graphToProto(g *graph.Graph) (*onnxpb.GraphProto, error) {
	gp := &onnxpb.GraphProto{Name: g.Name, DocString: g.Doc}
	names := g.InitOrder
	if len(names) != len(g.Initializers) {
		names = names[:0:0]
		for k := range g.Initializers {
			names = append(names, k)
		}
		sort.Strings(names)
	}
	for _, name := range names {
		t, ok := g.Initializers[name]
		if !ok {
			continue
		}
		gp.Initializer = append(gp.Initializer, TensorToProto(name, t))
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, valueInfoToProto(v))
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, valueInfoToProto(v))
	}
	vnames := make([]string, 0, len(g.ValueInfo))
	for k := range g.ValueInfo {
		vnames = append(vnames, k)
	}
	sort.Strings(vnames)
	for _, k := range vnames {
		gp.ValueInfo = append(gp.ValueInfo, valueInfoToProto(g.ValueInfo[k]))
	}
	for _, n := range g.Nodes {
		np := &onnxpb.NodeProto{Name: n.Name, OpType: n.OpType, Domain: n.Domain, Input: n.Inputs, Output: n.Outputs}
		anames := make([]string, 0, len(n.Attrs))
		for k := range n.Attrs {
			anames = append(anames, k)
		}
		sort.Strings(anames)
		for _, k := range anames {
			ap, err := attrToProto(n.Attrs[k])
			if err != nil {
				return nil, fmt.Errorf("onnx: %s attribute %q: %w", n.Label(), k, err)
			}
			np.Attribute = append(np.Attribute, ap)
		}
		gp.Node = append(gp.Node, np)
	}
	return gp, nil
}

func attrToProto(a *graph.Attr) (*onnxpb.AttributeProto, error) {
	ap := &onnxpb.AttributeProto{Name: a.Name, Type: onnxpb.AttributeProto_AttributeType(a.Type)}
	switch a.Type {
	case graph.AttrFloat:
		ap.F = a.Float
	case graph.AttrInt:
		ap.I = a.Int
	case graph.AttrString:
		ap.S = []byte(a.String)
	case graph.AttrFloats:
		ap.Floats = a.Floats
	case graph.AttrInts:
		ap.Ints = a.Ints
	case graph.AttrStrings:
		for _, s := range a.Strings {
			ap.Strings = append(ap.Strings, []byte(s))
		}
	case graph.AttrTensor, graph.AttrSparse:
		ap.Type = onnxpb.AttributeProto_TENSOR
		ap.T = TensorToProto("", a.Tensor)
	case graph.AttrTensors:
		for _, t := range a.Tensors {
			ap.Tensors = append(ap.Tensors, TensorToProto("", t))
		}
	case graph.AttrGraph:
		g, err := graphToProto(a.Graph)
		if err != nil {
			return nil, err
		}
		ap.G = g
	case graph.AttrGraphs:
		for _, sg := range a.Graphs {
			g, err := graphToProto(sg)
			if err != nil {
				return nil, err
			}
			ap.Graphs = append(ap.Graphs, g)
		}
	case graph.AttrTypeProto:
		ap.Tp = &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(a.TypeElem)}}}
	default:
		return nil, fmt.Errorf("cannot encode attribute type %d", a.Type)
	}
	return ap, nil
}

func valueInfoToProto(v graph.ValueInfo) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: v.Name, Type: typeToProto(v)}
}

func typeToProto(v graph.ValueInfo) *onnxpb.TypeProto {
	switch v.Kind {
	case graph.KindSequence:
		tp := &onnxpb.TypeProto_Sequence{}
		if v.Elem != nil {
			tp.ElemType = typeToProto(*v.Elem)
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_SequenceType{SequenceType: tp}}
	case graph.KindOptional:
		tp := &onnxpb.TypeProto_Optional{}
		if v.Elem != nil {
			tp.ElemType = typeToProto(*v.Elem)
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_OptionalType{OptionalType: tp}}
	case graph.KindUnknown:
		return nil
	}
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32(v.DType)}
	if v.HasShape {
		tt.Shape = &onnxpb.TensorShapeProto{}
		for _, d := range v.Shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.Param != "":
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			case d.Value >= 0:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}
}
