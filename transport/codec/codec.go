package codec

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/edgedl/edgedl/tensor"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// Errors wrapped by every failure of this package; test with errors.Is.
var (
	ErrInvalid  = errors.New("codec: invalid payload")
	ErrSize     = errors.New("codec: payload size does not match the shape")
	ErrShape    = errors.New("codec: bad shape")
	ErrDType    = errors.New("codec: unsupported dtype")
	ErrTooLarge = errors.New("codec: payload too large")
	ErrUnknown  = errors.New("codec: unknown codec")
)

// Parameter keys that encoded tensors carry in their KServe parameters.
const (
	// ParamCodec names the codec that produced the payload ("int8c+zstd").
	// A tensor without it is plain KServe raw content.
	ParamCodec = "edgedl.codec"
	// ParamScale is the int8 per-tensor scale (double_param).
	ParamScale = "edgedl.scale"
	// ParamZeroPoint is the int8 per-tensor zero point (int64_param).
	ParamZeroPoint = "edgedl.zero_point"
	// ParamAxis is the int8c channel axis (int64_param).
	ParamAxis = "edgedl.axis"
)

// Params are KServe tensor parameters; codecs put what their decoder needs
// here, beside the payload.
type Params = map[string]*pb.InferParameter

// A Codec turns a tensor into bytes for the wire and back.
//
// Encode never retains t or its data. The returned Params always hold
// ParamCodec naming the codec actually applied: a lossy stage only applies to
// float32 tensors, so encoding an int64 tensor with "int8+zstd" yields
// "fp32+zstd" (lossless raw bytes, then zstd), and strings are never
// transformed ("fp32").
//
// Decode receives the logical dtype and shape that travel beside the payload
// (the KServe datatype and shape fields) and the Params; it returns an error,
// never panics, on any payload, and allocates no more than the declared shape
// needs (the shape itself is capped by tensor.MaxElements). Decode must be
// called on the codec that Params name; use Decode (the function) to choose it
// from the Params.
//
// Codecs are safe for concurrent use.
type Codec interface {
	Name() string
	Encode(t *tensor.Tensor) (payload []byte, params Params, err error)
	Decode(payload []byte, dt tensor.DType, shape []int, params Params) (*tensor.Tensor, error)
}

// Bases are the first stages: how elements are represented.
var bases = []string{"fp32", "fp16", "int8", "int8c"}

// Stages are the optional lossless second stages.
var stages = []string{"", "zstd", "lz4"}

// Names lists every codec name, fastest-to-decode first within each base.
func Names() []string {
	var out []string
	for _, b := range bases {
		for _, s := range stages {
			if s == "" {
				out = append(out, b)
			} else {
				out = append(out, b+"+"+s)
			}
		}
	}
	return out
}

// Default is the codec used when none is named: plain fp32 raw content,
// which any KServe v2 server understands.
var Default Codec = registry["fp32"]

var registry = func() map[string]Codec {
	m := map[string]Codec{}
	for _, b := range bases {
		for _, s := range stages {
			c := &pipeline{base: b, stage: s}
			m[c.Name()] = c
		}
	}
	return m
}()

// Get returns the codec with the given name, such as "fp16" or "int8c+lz4".
// The empty name means Default.
func Get(name string) (Codec, error) {
	if name == "" {
		return Default, nil
	}
	if c, ok := registry[strings.ToLower(name)]; ok {
		return c, nil
	}
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknown, name, strings.Join(names, ", "))
}

// Decode decodes a payload with the codec that params name (Default when they
// name none).
func Decode(payload []byte, dt tensor.DType, shape []int, params Params) (*tensor.Tensor, error) {
	c, err := FromParams(params)
	if err != nil {
		return nil, err
	}
	return c.Decode(payload, dt, shape, params)
}

// FromParams returns the codec that params name (Default when none).
func FromParams(params Params) (Codec, error) {
	p, ok := params[ParamCodec]
	if !ok || p == nil {
		return Default, nil
	}
	s, ok := p.GetParameterChoice().(*pb.InferParameter_StringParam)
	if !ok {
		return nil, fmt.Errorf("%w: parameter %s is not a string", ErrInvalid, ParamCodec)
	}
	return Get(s.StringParam)
}

// StringParam returns a string parameter value.
func StringParam(s string) *pb.InferParameter {
	return &pb.InferParameter{ParameterChoice: &pb.InferParameter_StringParam{StringParam: s}}
}

// Int64Param returns an int64 parameter value.
func Int64Param(v int64) *pb.InferParameter {
	return &pb.InferParameter{ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: v}}
}

// DoubleParam returns a double parameter value.
func DoubleParam(v float64) *pb.InferParameter {
	return &pb.InferParameter{ParameterChoice: &pb.InferParameter_DoubleParam{DoubleParam: v}}
}

func int64Of(params Params, key string) (int64, error) {
	p, ok := params[key]
	if !ok || p == nil {
		return 0, fmt.Errorf("%w: parameter %s missing", ErrInvalid, key)
	}
	v, ok := p.GetParameterChoice().(*pb.InferParameter_Int64Param)
	if !ok {
		return 0, fmt.Errorf("%w: parameter %s is not an int64", ErrInvalid, key)
	}
	return v.Int64Param, nil
}

func doubleOf(params Params, key string) (float64, error) {
	p, ok := params[key]
	if !ok || p == nil {
		return 0, fmt.Errorf("%w: parameter %s missing", ErrInvalid, key)
	}
	switch v := p.GetParameterChoice().(type) {
	case *pb.InferParameter_DoubleParam:
		return v.DoubleParam, nil
	case *pb.InferParameter_StringParam:
		// JSON clients may only have strings; accept a decimal number.
		var f float64
		if _, err := fmt.Sscan(v.StringParam, &f); err != nil {
			return 0, fmt.Errorf("%w: parameter %s=%q is not a number", ErrInvalid, key, v.StringParam)
		}
		return f, nil
	}
	return 0, fmt.Errorf("%w: parameter %s is not a double", ErrInvalid, key)
}

// pipeline is a base representation followed by an optional lossless stage.
type pipeline struct {
	base  string // fp32, fp16, int8, int8c
	stage string // "", zstd, lz4
}

func (c *pipeline) Name() string {
	if c.stage == "" {
		return c.base
	}
	return c.base + "+" + c.stage
}

// effective returns the codec actually applied to a tensor of dtype dt and
// rank r: lossy bases only apply to float32, per-channel only to rank >= 2,
// and strings take no stage at all.
func (c *pipeline) effective(dt tensor.DType, rank int) *pipeline {
	base, stage := c.base, c.stage
	if dt != tensor.Float32 {
		base = "fp32"
	}
	if base == "int8c" && rank < 2 {
		base = "int8"
	}
	if dt == tensor.String {
		stage = ""
	}
	if base == c.base && stage == c.stage {
		return c
	}
	return registry[(&pipeline{base: base, stage: stage}).Name()].(*pipeline)
}

func (c *pipeline) Encode(t *tensor.Tensor) ([]byte, Params, error) {
	if t == nil {
		return nil, nil, fmt.Errorf("%w: nil tensor", ErrInvalid)
	}
	if err := checkTensor(t); err != nil {
		return nil, nil, err
	}
	if err := checkStorage(t); err != nil {
		return nil, nil, err
	}
	e := c.effective(t.DType, len(t.Shape))
	params := Params{ParamCodec: StringParam(e.Name())}
	var body []byte
	var err error
	switch e.base {
	case "fp32":
		body, err = AppendRaw(nil, t)
	case "fp16":
		body = encodeFP16(t.F32())
	case "int8":
		var scale float32
		var zp int8
		body, scale, zp = quantizeTensor(t.F32())
		params[ParamScale] = DoubleParam(float64(scale))
		params[ParamZeroPoint] = Int64Param(int64(zp))
	case "int8c":
		body = quantizeChannels(t.F32(), t.Shape, 1)
		params[ParamAxis] = Int64Param(1)
	}
	if err != nil {
		return nil, nil, err
	}
	out, err := compress(e.stage, body)
	if err != nil {
		return nil, nil, err
	}
	return out, params, nil
}

func (c *pipeline) Decode(payload []byte, dt tensor.DType, shape []int, params Params) (*tensor.Tensor, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShape, err)
	}
	if !dt.Supported() {
		return nil, fmt.Errorf("%w: %v", ErrDType, dt)
	}
	if e := c.effective(dt, len(shape)); e != c {
		return nil, fmt.Errorf("%w: %s cannot carry %v of rank %d (the encoder would have used %s)",
			ErrInvalid, c.Name(), dt, len(shape), e.Name())
	}
	// The size of the first stage's output follows from the shape alone.
	var size int
	switch c.base {
	case "fp32":
		size = RawSize(dt, n)
		if dt == tensor.String {
			return DecodeRaw(payload, dt, shape)
		}
	case "fp16":
		size = 2 * n
	case "int8":
		size = n
	case "int8c":
		size = n + 5*channels(shape, n)
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: %v", ErrDType, dt)
	}
	body, err := decompress(c.stage, payload, size)
	if err != nil {
		return nil, err
	}
	if len(body) != size {
		return nil, fmt.Errorf("%w: %s %v%v needs %d bytes, got %d", ErrSize, c.Name(), dt, shape, size, len(body))
	}
	switch c.base {
	case "fp32":
		return DecodeRaw(body, dt, shape)
	case "fp16":
		return decodeFP16(body, shape)
	case "int8":
		scale, err := doubleOf(params, ParamScale)
		if err != nil {
			return nil, err
		}
		zp, err := int64Of(params, ParamZeroPoint)
		if err != nil {
			return nil, err
		}
		if !(scale > 0) || math.IsInf(scale, 0) || scale > math.MaxFloat32 {
			return nil, fmt.Errorf("%w: scale %g", ErrInvalid, scale)
		}
		if zp < -128 || zp > 127 {
			return nil, fmt.Errorf("%w: zero point %d outside int8", ErrInvalid, zp)
		}
		return dequantizeTensor(body, shape, float32(scale), int8(zp))
	default: // int8c
		axis, err := int64Of(params, ParamAxis)
		if err != nil {
			return nil, err
		}
		if axis != 1 {
			return nil, fmt.Errorf("%w: channel axis %d (only 1 is supported)", ErrInvalid, axis)
		}
		return dequantizeChannels(body, shape, 1)
	}
}

// checkStorage verifies that t's Go slice type matches its dtype.
func checkStorage(t *tensor.Tensor) error {
	ok := false
	switch t.Data.(type) {
	case []float32:
		ok = t.DType == tensor.Float32
	case []float64:
		ok = t.DType == tensor.Float64
	case []int8:
		ok = t.DType == tensor.Int8
	case []uint8:
		ok = t.DType == tensor.Uint8
	case []bool:
		ok = t.DType == tensor.Bool
	case []int16:
		ok = t.DType == tensor.Int16
	case []uint16:
		ok = t.DType == tensor.Uint16 || t.DType == tensor.Float16 || t.DType == tensor.BFloat16
	case []int32:
		ok = t.DType == tensor.Int32
	case []uint32:
		ok = t.DType == tensor.Uint32
	case []int64:
		ok = t.DType == tensor.Int64
	case []uint64:
		ok = t.DType == tensor.Uint64
	case []string:
		ok = t.DType == tensor.String
	}
	if !ok {
		return fmt.Errorf("%w: %v stored as %T", ErrDType, t.DType, t.Data)
	}
	return nil
}
