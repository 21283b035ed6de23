package onnx_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/onnx/onnxpb"
	"github.com/edgedl/edgedl/tensor"
)

func TestTensorRoundTrip(t *testing.T) {
	cases := []*tensor.Tensor{
		tensor.Float32s([]int{2, 3}, []float32{1, -2, 3.5, 0, 1e-30, 7}),
		tensor.Int64s([]int{3}, []int64{-1, 0, 1 << 40}),
		tensor.Scalar[int8](-5),
		tensor.Scalar(true),
		{DType: tensor.Float16, Shape: []int{2}, Data: []uint16{tensor.FloatToHalf(1.5), tensor.FloatToHalf(-2)}},
		{DType: tensor.String, Shape: []int{2}, Data: []string{"a", "héllo"}},
		{DType: tensor.Float64, Shape: []int{0, 4}, Data: []float64{}},
	}
	for _, want := range cases {
		b, err := onnx.EncodeTensor("x", want)
		if err != nil {
			t.Fatal(err)
		}
		got, name, err := onnx.DecodeTensor(b)
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if name != "x" || got.DType != want.DType || !tensor.EqualShapes(got.Shape, want.Shape) || got.String() != want.String() {
			t.Errorf("round trip: got %v %q, want %v", got, name, want)
		}
	}
}

func TestTypedFieldsDecode(t *testing.T) {
	// Producers may use float_data/int32_data instead of raw_data.
	tp := &onnxpb.TensorProto{Dims: []int64{2}, DataType: int32(tensor.Float32), FloatData: []float32{1, 2}}
	got, err := onnx.TensorFromProto(tp, "")
	if err != nil || got.F32()[1] != 2 {
		t.Fatalf("float_data: %v %v", got, err)
	}
	tp = &onnxpb.TensorProto{Dims: []int64{3}, DataType: int32(tensor.Uint8), Int32Data: []int32{1, 255, 7}}
	got, err = onnx.TensorFromProto(tp, "")
	if err != nil || got.Data.([]uint8)[1] != 255 {
		t.Fatalf("int32_data as uint8: %v %v", got, err)
	}
}

func TestHostileTensors(t *testing.T) {
	cases := map[string]*onnxpb.TensorProto{
		"huge dims":        {Name: "w", Dims: []int64{1 << 40, 1 << 40}, DataType: 1},
		"negative dim":     {Name: "w", Dims: []int64{-3}, DataType: 1},
		"short raw data":   {Name: "w", Dims: []int64{1000}, DataType: 1, RawData: make([]byte, 12)},
		"count mismatch":   {Name: "w", Dims: []int64{1 << 27}, DataType: 1, FloatData: []float32{1}},
		"unknown dtype":    {Name: "w", Dims: []int64{1}, DataType: 99},
		"external no dir":  {Name: "w", Dims: []int64{1}, DataType: 1, DataLocation: onnxpb.TensorProto_EXTERNAL},
		"bad string count": {Name: "w", Dims: []int64{2}, DataType: 8, StringData: [][]byte{[]byte("a")}},
	}
	for name, tp := range cases {
		if _, err := onnx.TensorFromProto(tp, ""); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), `"w"`) && name != "bad string count" {
			t.Errorf("%s: error does not name the tensor: %v", name, err)
		}
	}
}

func TestExternalData(t *testing.T) {
	dir := t.TempDir()
	vals := tensor.Float32s([]int{4}, []float32{1, 2, 3, 4})
	raw := onnx.TensorToProto("w", vals).RawData
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), append(make([]byte, 8), raw...), 0o644); err != nil {
		t.Fatal(err)
	}
	tp := &onnxpb.TensorProto{Name: "w", Dims: []int64{4}, DataType: 1, DataLocation: onnxpb.TensorProto_EXTERNAL,
		ExternalData: []*onnxpb.StringStringEntryProto{{Key: "location", Value: "weights.bin"}, {Key: "offset", Value: "8"}, {Key: "length", Value: "16"}}}
	got, err := onnx.TensorFromProto(tp, dir)
	if err != nil || got.F32()[3] != 4 {
		t.Fatalf("external: %v %v", got, err)
	}
	tp.ExternalData[0].Value = "../../etc/passwd"
	if _, err := onnx.TensorFromProto(tp, dir); err == nil || !strings.Contains(err.Error(), "leaves the model directory") {
		t.Fatalf("path traversal not refused: %v", err)
	}
	tp.ExternalData[0].Value = "weights.bin"
	tp.ExternalData[1].Value = "100"
	if _, err := onnx.TensorFromProto(tp, dir); err == nil {
		t.Fatal("read past end not refused")
	}
}

func tinyModel() *graph.Model {
	g := &graph.Graph{
		Name:   "tiny",
		Inputs: []graph.ValueInfo{{Name: "x", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true, Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: 4}}}},
		Outputs: []graph.ValueInfo{{Name: "y", Kind: graph.KindTensor, DType: tensor.Float32, HasShape: true,
			Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: 4}}}},
		Nodes: []*graph.Node{
			{Name: "add", OpType: "Add", Inputs: []string{"x", "b"}, Outputs: []string{"t"}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"t"}, Outputs: []string{"y"},
				Attrs: map[string]*graph.Attr{"note": {Name: "note", Type: graph.AttrString, String: "hi"}}},
		},
	}
	g.AddInitializer("b", tensor.Float32s([]int{4}, []float32{1, 2, 3, 4}))
	return &graph.Model{Graph: g, Opsets: map[string]int64{"": 17}}
}

func TestModelRoundTrip(t *testing.T) {
	m := tinyModel()
	b, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := onnx.Decode(b, "")
	if err != nil {
		t.Fatal(err)
	}
	if m2.Opset() != 17 || len(m2.Graph.Nodes) != 2 || m2.Graph.Nodes[1].Attrs["note"].String != "hi" ||
		m2.Graph.Inputs[0].ShapeString() != "[batch,4]" || m2.Graph.Initializers["b"].F32()[2] != 3 {
		t.Fatalf("round trip lost data: %+v", m2.Graph)
	}
	b2, _ := onnx.Encode(m2)
	if string(b) != string(b2) {
		t.Error("encoding is not stable across a round trip")
	}
}

func TestHostileGraphs(t *testing.T) {
	mk := func(edit func(g *onnxpb.GraphProto)) []byte {
		mp, _ := onnx.ToProto(tinyModel())
		edit(mp.Graph)
		b, _ := proto.Marshal(mp)
		return b
	}
	cases := map[string][]byte{
		"cycle": mk(func(g *onnxpb.GraphProto) {
			g.Node[0].Input[0] = "y"
		}),
		"missing initializer": mk(func(g *onnxpb.GraphProto) { g.Initializer = nil }),
		"undefined output":    mk(func(g *onnxpb.GraphProto) { g.Output[0].Name = "nothing" }),
		"double producer": mk(func(g *onnxpb.GraphProto) {
			g.Node[1].Output[0] = "t"
			g.Output[0].Name = "t"
		}),
		"truncated":   mk(func(g *onnxpb.GraphProto) {})[:40],
		"garbage":     []byte("this is not a protobuf at all, just text\xff\xff\xff"),
		"wrong wire":  {0x3a, 0x05, 0x08, 0x01, 0x12, 0x01, 0xff},
		"empty graph": {},
	}
	for name, b := range cases {
		if _, err := onnx.Decode(b, ""); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestSharedModelsRoundTrip(t *testing.T) {
	shared := testenv.Shared(t)
	for _, name := range []string{"mnist_cnn", "mobilenet_v2", "squeezenet1_1"} {
		m, err := onnx.Load(filepath.Join(shared, "models", name, "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := onnx.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := onnx.Decode(b, "")
		if err != nil {
			t.Fatalf("%s: re-decoding our encoding: %v", name, err)
		}
		if len(m2.Graph.Nodes) != len(m.Graph.Nodes) || len(m2.Graph.Initializers) != len(m.Graph.Initializers) {
			t.Errorf("%s: round trip changed the graph", name)
		}
	}
}
