package transport

import (
	"errors"
	"math"
	"testing"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

func mustT(t *tensor.Tensor, err error) *tensor.Tensor {
	if err != nil {
		panic(err)
	}
	return t
}

func TestDatatypes(t *testing.T) {
	for _, d := range datatypes {
		name, err := Datatype(d.dt)
		if err != nil || name != d.name {
			t.Errorf("Datatype(%v) = %q, %v", d.dt, name, err)
		}
		dt, err := ParseDatatype(d.name)
		if err != nil || dt != d.dt {
			t.Errorf("ParseDatatype(%q) = %v, %v", d.name, dt, err)
		}
	}
	for _, bad := range []string{"fp32", "FLOAT", "", "FP8", "COMPLEX64"} {
		if _, err := ParseDatatype(bad); !errors.Is(err, ErrDatatype) {
			t.Errorf("ParseDatatype(%q) err = %v", bad, err)
		}
	}
	if _, err := Datatype(tensor.Complex64); !errors.Is(err, ErrDatatype) {
		t.Errorf("Datatype(complex64) err = %v", err)
	}
}

// Every dtype survives request encoding and decoding, both as raw and as
// typed contents, under every codec.
func TestRequestRoundTrip(t *testing.T) {
	ins := []NamedTensor{
		{"f32", tensor.Float32s([]int{2, 3}, []float32{1, -2, 3.5, 0, 1e-3, 7})},
		{"i64", tensor.Int64s([]int{2}, []int64{math.MinInt64, math.MaxInt64})},
		{"i8", mustT(tensor.FromSlice(tensor.Int8, []int{3}, []int8{-128, 0, 127}))},
		{"u8", mustT(tensor.FromSlice(tensor.Uint8, []int{2}, []uint8{0, 255}))},
		{"i32", mustT(tensor.FromSlice(tensor.Int32, []int{1}, []int32{-5}))},
		{"b", mustT(tensor.FromSlice(tensor.Bool, []int{2}, []bool{true, false}))},
		{"s", mustT(tensor.FromSlice(tensor.String, []int{2}, []string{"a", "héllo"}))},
		{"f16", mustT(tensor.FromSlice(tensor.Float16, []int{2}, []uint16{0x3c00, 0xc000}))},
		{"f64", mustT(tensor.FromSlice(tensor.Float64, []int{1}, []float64{math.Pi}))},
		{"scalar", tensor.Scalar(float32(2))},
	}
	for _, name := range codec.Names() {
		c, _ := codec.Get(name)
		req, err := NewInferRequest("m", ins, c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "fp32" {
			for _, in := range req.Inputs {
				if in.Parameters != nil {
					t.Errorf("plain fp32 input %q carries parameters %v", in.Name, in.Parameters)
				}
			}
		}
		got, err := DecodeInputs(req, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, g := range got {
			want := ins[i]
			if g.Name != want.Name || g.Tensor.DType != want.Tensor.DType || !tensor.EqualShapes(g.Tensor.Shape, want.Tensor.Shape) {
				t.Fatalf("%s: got %s %v, want %s %v", name, g.Name, g.Tensor, want.Name, want.Tensor)
			}
			if want.Tensor.DType == tensor.Float32 && name != "fp32" && len(want.Tensor.Shape) > 0 {
				continue // lossy; bounds tested in package codec
			}
			a, _ := codec.AppendRaw(nil, g.Tensor)
			b, _ := codec.AppendRaw(nil, want.Tensor)
			if string(a) != string(b) {
				t.Errorf("%s: %s: got %v, want %v", name, g.Name, g.Tensor, want.Tensor)
			}
		}
	}
	// Typed contents, as a Python Triton client sends them.
	req := &pb.ModelInferRequest{ModelName: "m"}
	for _, in := range ins {
		if in.Tensor.DType == tensor.Float16 {
			continue
		}
		contents, err := ToContents(in.Tensor)
		if err != nil {
			t.Fatal(err)
		}
		dt, _ := Datatype(in.Tensor.DType)
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{
			Name: in.Name, Datatype: dt, Shape: Shape64(in.Tensor.Shape), Contents: contents})
	}
	got, err := DecodeInputs(req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		for _, w := range ins {
			if w.Name == g.Name {
				a, _ := codec.AppendRaw(nil, g.Tensor)
				b, _ := codec.AppendRaw(nil, w.Tensor)
				if string(a) != string(b) {
					t.Errorf("typed %s: got %v, want %v", g.Name, g.Tensor, w.Tensor)
				}
			}
		}
	}
}

func TestDecodeInputsRejects(t *testing.T) {
	good := func() *pb.ModelInferRequest {
		req, err := NewInferRequest("m", []NamedTensor{{"x", tensor.Float32s([]int{2, 2}, []float32{1, 2, 3, 4})}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	typed := func(dt string, shape []int64, c *pb.InferTensorContents) *pb.ModelInferRequest {
		return &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: dt, Shape: shape, Contents: c}}}
	}
	cases := []struct {
		name string
		req  func() *pb.ModelInferRequest
		want error
	}{
		{"wrong shape", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Shape = []int64{2, 3}; return r }, ErrTensor},
		{"truncated raw", func() *pb.ModelInferRequest {
			r := good()
			r.RawInputContents[0] = r.RawInputContents[0][:15]
			return r
		}, ErrTensor},
		{"unknown datatype", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Datatype = "FP8"; return r }, ErrDatatype},
		{"lower-case datatype", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Datatype = "fp32"; return r }, ErrDatatype},
		{"negative dim", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Shape = []int64{-1, 4}; return r }, ErrTensor},
		{"huge shape", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Shape = []int64{1 << 30, 1 << 30}; return r }, ErrTooLarge},
		{"huge dim", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Shape = []int64{1 << 40}; return r }, ErrTooLarge},
		{"rank", func() *pb.ModelInferRequest { r := good(); r.Inputs[0].Shape = make([]int64, 40); return r }, ErrTooLarge},
		{"raw count", func() *pb.ModelInferRequest {
			r := good()
			r.RawInputContents = append(r.RawInputContents, nil)
			return r
		}, ErrTensor},
		{"raw and contents", func() *pb.ModelInferRequest {
			r := good()
			r.Inputs[0].Contents = &pb.InferTensorContents{Fp32Contents: []float32{1, 2, 3, 4}}
			return r
		}, ErrTensor},
		{"duplicate name", func() *pb.ModelInferRequest {
			r := good()
			r.Inputs = append(r.Inputs, r.Inputs[0])
			r.RawInputContents = append(r.RawInputContents, r.RawInputContents[0])
			return r
		}, ErrTensor},
		{"unknown codec", func() *pb.ModelInferRequest {
			r := good()
			r.Inputs[0].Parameters = codec.Params{codec.ParamCodec: codec.StringParam("gzip")}
			return r
		}, ErrTensor},
		{"no contents", func() *pb.ModelInferRequest { return typed("FP32", []int64{1}, nil) }, ErrTensor},
		{"typed count", func() *pb.ModelInferRequest {
			return typed("FP32", []int64{3}, &pb.InferTensorContents{Fp32Contents: []float32{1}})
		}, ErrTensor},
		{"typed wrong field", func() *pb.ModelInferRequest {
			return typed("INT64", []int64{1}, &pb.InferTensorContents{Fp32Contents: []float32{1}})
		}, ErrTensor},
		{"int8 out of range", func() *pb.ModelInferRequest {
			return typed("INT8", []int64{1}, &pb.InferTensorContents{IntContents: []int32{300}})
		}, ErrTensor},
		{"uint8 out of range", func() *pb.ModelInferRequest {
			return typed("UINT8", []int64{1}, &pb.InferTensorContents{UintContents: []uint32{256}})
		}, ErrTensor},
		{"typed fp16", func() *pb.ModelInferRequest {
			return typed("FP16", []int64{1}, &pb.InferTensorContents{Fp32Contents: []float32{1}})
		}, ErrTensor},
		{"typed huge", func() *pb.ModelInferRequest {
			return typed("BYTES", []int64{1 << 26}, &pb.InferTensorContents{BytesContents: [][]byte{{1}}})
		}, ErrTensor},
		{"codec without raw", func() *pb.ModelInferRequest {
			r := typed("FP32", []int64{1}, &pb.InferTensorContents{Fp32Contents: []float32{1}})
			r.Inputs[0].Parameters = codec.Params{codec.ParamCodec: codec.StringParam("int8")}
			return r
		}, ErrTensor},
	}
	for _, tc := range cases {
		_, err := DecodeInputs(tc.req(), Limits{})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	if _, err := DecodeInputs(good(), Limits{MaxTensorBytes: 8}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxTensorBytes: %v", err)
	}
	r := good()
	r.Inputs = append(r.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: "y", Datatype: "FP32", Shape: []int64{4}})
	r.RawInputContents = append(r.RawInputContents, r.RawInputContents[0])
	if _, err := DecodeInputs(r, Limits{MaxTensors: 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxTensors: %v", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	if _, _, err := EncodeInput("x", nil, nil); !errors.Is(err, ErrTensor) {
		t.Errorf("nil: %v", err)
	}
	bad := &tensor.Tensor{DType: tensor.Float32, Shape: []int{3}, Data: []float32{1}}
	if _, _, err := EncodeInput("x", bad, nil); !errors.Is(err, ErrTensor) {
		t.Errorf("short data: %v", err)
	}
	c := &tensor.Tensor{DType: tensor.Complex64, Shape: []int{1}}
	if _, _, err := EncodeOutput("x", c, nil); !errors.Is(err, ErrDatatype) {
		t.Errorf("complex: %v", err)
	}
	if _, err := ToContents(mustT(tensor.FromSlice(tensor.Float16, []int{1}, []uint16{1}))); err == nil {
		t.Error("ToContents(fp16) accepted")
	}
}

// FuzzDecodeInputs feeds arbitrary wire fields to the request decoder.
func FuzzDecodeInputs(f *testing.F) {
	req, _ := NewInferRequest("m", []NamedTensor{{"x", tensor.Float32s([]int{1, 2, 2}, []float32{1, 2, 3, 4})}}, nil)
	f.Add("FP32", []byte{1, 0, 2, 0, 2, 0}, req.RawInputContents[0], "")
	f.Add("BYTES", []byte{2, 0}, []byte{1, 0, 0, 0, 'a', 0, 0, 0, 0}, "")
	f.Add("FP32", []byte{1, 0, 2, 0, 2, 0}, req.RawInputContents[0], "int8c+lz4")
	f.Fuzz(func(t *testing.T, dt string, dims []byte, raw []byte, codecName string) {
		var shape []int64
		for i := 0; i+1 < len(dims); i += 2 {
			shape = append(shape, int64(int16(uint16(dims[i])|uint16(dims[i+1])<<8)))
		}
		in := &pb.ModelInferRequest_InferInputTensor{Name: "x", Datatype: dt, Shape: shape}
		if codecName != "" {
			in.Parameters = codec.Params{codec.ParamCodec: codec.StringParam(codecName),
				codec.ParamScale: codec.DoubleParam(0.5), codec.ParamZeroPoint: codec.Int64Param(0), codec.ParamAxis: codec.Int64Param(1)}
		}
		r := &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{in}, RawInputContents: [][]byte{raw}}
		got, err := DecodeInputs(r, Limits{MaxTensorBytes: 1 << 20})
		if err != nil {
			return
		}
		if len(got) != 1 || len(got[0].Tensor.Shape) != len(shape) {
			t.Fatalf("decoded %v for shape %v", got, shape)
		}
	})
}
