package transport

import (
	"errors"
	"fmt"
	"math"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Errors that conversions wrap; test with errors.Is. The server maps
// ErrTooLarge to codes.ResourceExhausted and the others to
// codes.InvalidArgument.
var (
	ErrDatatype = errors.New("transport: unknown datatype")
	ErrTensor   = errors.New("transport: invalid tensor")
	ErrTooLarge = errors.New("transport: tensor exceeds limits")
)

var datatypes = []struct {
	name string
	dt   tensor.DType
}{
	{"BOOL", tensor.Bool}, {"UINT8", tensor.Uint8}, {"UINT16", tensor.Uint16},
	{"UINT32", tensor.Uint32}, {"UINT64", tensor.Uint64}, {"INT8", tensor.Int8},
	{"INT16", tensor.Int16}, {"INT32", tensor.Int32}, {"INT64", tensor.Int64},
	{"FP16", tensor.Float16}, {"FP32", tensor.Float32}, {"FP64", tensor.Float64},
	{"BF16", tensor.BFloat16}, {"BYTES", tensor.String},
}

// Datatype returns the KServe v2 datatype name of dt ("FP32", "INT64", ...;
// strings are "BYTES", bfloat16 is Triton's "BF16").
func Datatype(dt tensor.DType) (string, error) {
	for _, d := range datatypes {
		if d.dt == dt {
			return d.name, nil
		}
	}
	return "", fmt.Errorf("%w: no KServe datatype for %v", ErrDatatype, dt)
}

// ParseDatatype maps a KServe v2 datatype name to a dtype. Names are exact
// (upper case), as the protocol specifies.
func ParseDatatype(s string) (tensor.DType, error) {
	for _, d := range datatypes {
		if d.name == s {
			return d.dt, nil
		}
	}
	return tensor.Undefined, fmt.Errorf("%w %q (want one of BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BF16, BYTES)", ErrDatatype, s)
}

// Limits bound what a decoder accepts from the wire. Zero fields take the
// defaults below.
type Limits struct {
	// MaxTensorBytes bounds one decoded tensor (elements × element size).
	MaxTensorBytes int
	// MaxTensors bounds the tensors in one request or response.
	MaxTensors int
	// MaxRank bounds the number of dimensions.
	MaxRank int
}

// Default limits.
const (
	DefaultMaxTensorBytes = 256 << 20
	DefaultMaxTensors     = 256
	DefaultMaxRank        = 16
)

func (l Limits) withDefaults() Limits {
	if l.MaxTensorBytes <= 0 {
		l.MaxTensorBytes = DefaultMaxTensorBytes
	}
	if l.MaxTensors <= 0 {
		l.MaxTensors = DefaultMaxTensors
	}
	if l.MaxRank <= 0 {
		l.MaxRank = DefaultMaxRank
	}
	return l
}

// NamedTensor is a tensor with its input or output name.
type NamedTensor struct {
	Name   string
	Tensor *tensor.Tensor
}

// Shape64 converts a shape to the protocol's int64 dims.
func Shape64(shape []int) []int64 {
	out := make([]int64, len(shape))
	for i, d := range shape {
		out[i] = int64(d)
	}
	return out
}

// checkShape converts wire dims to a shape and checks it against lim: no
// negative dims, rank and byte size within bounds. It allocates nothing
// proportional to the shape's size.
func checkShape(what string, dt tensor.DType, dims []int64, lim Limits) ([]int, error) {
	if len(dims) > lim.MaxRank {
		return nil, fmt.Errorf("%w: %s: rank %d exceeds %d", ErrTooLarge, what, len(dims), lim.MaxRank)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("%w: %s: negative dimension %d in shape %v", ErrTensor, what, d, dims)
		}
		if d > math.MaxInt32 {
			return nil, fmt.Errorf("%w: %s: dimension %d in shape %v", ErrTooLarge, what, d, dims)
		}
		shape[i] = int(d)
	}
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTooLarge, what, err)
	}
	sz := max(dt.Size(), 1) // BYTES: at least the 4-byte length each
	if dt == tensor.String {
		sz = 4
	}
	if n > lim.MaxTensorBytes/sz {
		return nil, fmt.Errorf("%w: %s: %v %v is %d elements, over the %d-byte limit", ErrTooLarge, what, dt, dims, n, lim.MaxTensorBytes)
	}
	return shape, nil
}

// wireTensor is the part of InferInputTensor and InferOutputTensor that
// decoding needs.
type wireTensor struct {
	name     string
	datatype string
	shape    []int64
	params   codec.Params
	contents *pb.InferTensorContents
}

// EncodeInput encodes t with codec c (nil: codec.Default) as a request input
// and its raw contents.
func EncodeInput(name string, t *tensor.Tensor, c codec.Codec) (*pb.ModelInferRequest_InferInputTensor, []byte, error) {
	dtName, shape, params, raw, err := encodeTensor(name, t, c)
	if err != nil {
		return nil, nil, err
	}
	return &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: dtName, Shape: shape, Parameters: params}, raw, nil
}

// EncodeOutput encodes t with codec c (nil: codec.Default) as a response
// output and its raw contents.
func EncodeOutput(name string, t *tensor.Tensor, c codec.Codec) (*pb.ModelInferResponse_InferOutputTensor, []byte, error) {
	dtName, shape, params, raw, err := encodeTensor(name, t, c)
	if err != nil {
		return nil, nil, err
	}
	return &pb.ModelInferResponse_InferOutputTensor{Name: name, Datatype: dtName, Shape: shape, Parameters: params}, raw, nil
}

func encodeTensor(name string, t *tensor.Tensor, c codec.Codec) (string, []int64, codec.Params, []byte, error) {
	if t == nil {
		return "", nil, nil, nil, fmt.Errorf("%w: %q: nil tensor", ErrTensor, name)
	}
	dtName, err := Datatype(t.DType)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("%q: %w", name, err)
	}
	if c == nil {
		c = codec.Default
	}
	raw, params, err := c.Encode(t)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("%w: %q: %w", ErrTensor, name, err)
	}
	// Plain raw content needs no parameter: any KServe server reads it.
	if params[codec.ParamCodec].GetStringParam() == codec.Default.Name() {
		delete(params, codec.ParamCodec)
	}
	if len(params) == 0 {
		params = nil
	}
	return dtName, Shape64(t.Shape), params, raw, nil
}

// NewInferRequest builds a request for model with every input encoded by c
// (nil: codec.Default) into raw_input_contents.
func NewInferRequest(model string, inputs []NamedTensor, c codec.Codec) (*pb.ModelInferRequest, error) {
	req := &pb.ModelInferRequest{ModelName: model}
	for _, in := range inputs {
		it, raw, err := EncodeInput(in.Name, in.Tensor, c)
		if err != nil {
			return nil, err
		}
		req.Inputs = append(req.Inputs, it)
		req.RawInputContents = append(req.RawInputContents, raw)
	}
	return req, nil
}

// DecodeInputs validates and decodes every input of a request, from raw
// contents (with any edgedl codec) or from typed contents.
func DecodeInputs(req *pb.ModelInferRequest, lim Limits) ([]NamedTensor, error) {
	ws := make([]wireTensor, len(req.GetInputs()))
	for i, in := range req.GetInputs() {
		ws[i] = wireTensor{in.GetName(), in.GetDatatype(), in.GetShape(), in.GetParameters(), in.GetContents()}
	}
	return decodeAll("input", ws, req.GetRawInputContents(), lim)
}

// DecodeOutputs validates and decodes every output of a response.
func DecodeOutputs(resp *pb.ModelInferResponse, lim Limits) ([]NamedTensor, error) {
	ws := make([]wireTensor, len(resp.GetOutputs()))
	for i, out := range resp.GetOutputs() {
		ws[i] = wireTensor{out.GetName(), out.GetDatatype(), out.GetShape(), out.GetParameters(), out.GetContents()}
	}
	return decodeAll("output", ws, resp.GetRawOutputContents(), lim)
}

func decodeAll(kind string, ws []wireTensor, raw [][]byte, lim Limits) ([]NamedTensor, error) {
	lim = lim.withDefaults()
	if len(ws) > lim.MaxTensors {
		return nil, fmt.Errorf("%w: %d %ss, limit %d", ErrTooLarge, len(ws), kind, lim.MaxTensors)
	}
	if len(raw) > 0 && len(raw) != len(ws) {
		return nil, fmt.Errorf("%w: %d raw contents for %d %ss", ErrTensor, len(raw), len(ws), kind)
	}
	seen := make(map[string]bool, len(ws))
	out := make([]NamedTensor, len(ws))
	for i, w := range ws {
		what := fmt.Sprintf("%s %q", kind, w.name)
		if seen[w.name] {
			return nil, fmt.Errorf("%w: %s appears twice", ErrTensor, what)
		}
		seen[w.name] = true
		var r []byte
		if len(raw) > 0 {
			r = raw[i]
		}
		t, err := decodeTensor(what, w, r, len(raw) > 0, lim)
		if err != nil {
			return nil, err
		}
		out[i] = NamedTensor{Name: w.name, Tensor: t}
	}
	return out, nil
}

func decodeTensor(what string, w wireTensor, raw []byte, hasRaw bool, lim Limits) (*tensor.Tensor, error) {
	dt, err := ParseDatatype(w.datatype)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	shape, err := checkShape(what, dt, w.shape, lim)
	if err != nil {
		return nil, err
	}
	if hasRaw {
		if w.contents != nil {
			return nil, fmt.Errorf("%w: %s has both contents and raw contents", ErrTensor, what)
		}
		t, err := codec.Decode(raw, dt, shape, w.params)
		if err != nil {
			if errors.Is(err, tensor.ErrTooLarge) {
				return nil, fmt.Errorf("%w: %s: %w", ErrTooLarge, what, err)
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrTensor, what, err)
		}
		return t, nil
	}
	if _, ok := w.params[codec.ParamCodec]; ok {
		return nil, fmt.Errorf("%w: %s names a codec but has no raw contents", ErrTensor, what)
	}
	if w.contents == nil {
		return nil, fmt.Errorf("%w: %s has no contents", ErrTensor, what)
	}
	return fromContents(what, dt, shape, w.contents)
}

// contentsLen is the element count of the typed field that carries dt.
func contentsLen(dt tensor.DType, c *pb.InferTensorContents) (int, bool) {
	switch dt {
	case tensor.Float32:
		return len(c.Fp32Contents), true
	case tensor.Float64:
		return len(c.Fp64Contents), true
	case tensor.Int64:
		return len(c.Int64Contents), true
	case tensor.Uint64:
		return len(c.Uint64Contents), true
	case tensor.Bool:
		return len(c.BoolContents), true
	case tensor.Int8, tensor.Int16, tensor.Int32:
		return len(c.IntContents), true
	case tensor.Uint8, tensor.Uint16, tensor.Uint32:
		return len(c.UintContents), true
	case tensor.String:
		return len(c.BytesContents), true
	}
	return 0, false
}

// fromContents decodes typed contents; the count must match the shape
// (checked before allocating) and narrow integers must be in range.
func fromContents(what string, dt tensor.DType, shape []int, c *pb.InferTensorContents) (*tensor.Tensor, error) {
	n, _ := tensor.NumElements(shape) // checked by checkShape
	got, ok := contentsLen(dt, c)
	if !ok {
		return nil, fmt.Errorf("%w: %s: %v travels only as raw contents", ErrTensor, what, dt)
	}
	if got != n {
		return nil, fmt.Errorf("%w: %s: shape %v needs %d elements, contents have %d", ErrTensor, what, shape, n, got)
	}
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTensor, what, err)
	}
	bad := func(v int64) error {
		return fmt.Errorf("%w: %s: value %d outside %v", ErrTensor, what, v, dt)
	}
	switch d := t.Data.(type) {
	case []float32:
		copy(d, c.Fp32Contents)
	case []float64:
		copy(d, c.Fp64Contents)
	case []int64:
		copy(d, c.Int64Contents)
	case []uint64:
		copy(d, c.Uint64Contents)
	case []bool:
		copy(d, c.BoolContents)
	case []int32:
		copy(d, c.IntContents)
	case []int16:
		for i, v := range c.IntContents {
			if v < math.MinInt16 || v > math.MaxInt16 {
				return nil, bad(int64(v))
			}
			d[i] = int16(v)
		}
	case []int8:
		for i, v := range c.IntContents {
			if v < math.MinInt8 || v > math.MaxInt8 {
				return nil, bad(int64(v))
			}
			d[i] = int8(v)
		}
	case []uint32:
		copy(d, c.UintContents)
	case []uint16:
		for i, v := range c.UintContents {
			if v > math.MaxUint16 {
				return nil, bad(int64(v))
			}
			d[i] = uint16(v)
		}
	case []uint8:
		for i, v := range c.UintContents {
			if v > math.MaxUint8 {
				return nil, bad(int64(v))
			}
			d[i] = uint8(v)
		}
	case []string:
		for i, b := range c.BytesContents {
			d[i] = string(b)
		}
	}
	return t, nil
}

// ToContents converts t to typed contents (for clients that cannot send raw
// bytes, and for the JSON form). FP16 and BF16 have no typed form.
func ToContents(t *tensor.Tensor) (*pb.InferTensorContents, error) {
	c := &pb.InferTensorContents{}
	switch d := t.Data.(type) {
	case []float32:
		c.Fp32Contents = append([]float32(nil), d...)
	case []float64:
		c.Fp64Contents = append([]float64(nil), d...)
	case []int64:
		c.Int64Contents = append([]int64(nil), d...)
	case []uint64:
		c.Uint64Contents = append([]uint64(nil), d...)
	case []bool:
		c.BoolContents = append([]bool(nil), d...)
	case []int8:
		c.IntContents = widen[int8, int32](d)
	case []int16:
		c.IntContents = widen[int16, int32](d)
	case []int32:
		c.IntContents = append([]int32(nil), d...)
	case []uint8:
		c.UintContents = widen[uint8, uint32](d)
	case []uint16:
		if t.DType != tensor.Uint16 {
			return nil, fmt.Errorf("%w: %v travels only as raw contents", ErrTensor, t.DType)
		}
		c.UintContents = widen[uint16, uint32](d)
	case []uint32:
		c.UintContents = append([]uint32(nil), d...)
	case []string:
		c.BytesContents = make([][]byte, len(d))
		for i, s := range d {
			c.BytesContents[i] = []byte(s)
		}
	default:
		return nil, fmt.Errorf("%w: %v stored as %T", ErrTensor, t.DType, t.Data)
	}
	return c, nil
}

func widen[S int8 | int16 | uint8 | uint16, D int32 | uint32](s []S) []D {
	out := make([]D, len(s))
	for i, v := range s {
		out[i] = D(v)
	}
	return out
}
