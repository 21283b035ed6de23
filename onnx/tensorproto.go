package onnx

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/edgedl/edgedl/onnx/onnxpb"
	"github.com/edgedl/edgedl/tensor"
)

// TensorFromProto converts a TensorProto. baseDir resolves external-data
// locations (it may be "" when external data is not allowed).
func TensorFromProto(tp *onnxpb.TensorProto, baseDir string) (*tensor.Tensor, error) {
	dt := tensor.DType(tp.DataType)
	if !dt.Supported() {
		return nil, fmt.Errorf("onnx: tensor %q: unsupported data type %v", tp.Name, dt)
	}
	shape := make([]int, len(tp.Dims))
	for i, d := range tp.Dims {
		if d < 0 || d > int64(tensor.MaxElements) {
			return nil, fmt.Errorf("onnx: tensor %q: invalid dimension %d", tp.Name, d)
		}
		shape[i] = int(d)
	}
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", tp.Name, err)
	}
	if tp.Segment != nil {
		return nil, fmt.Errorf("onnx: tensor %q: segmented tensors are not supported", tp.Name)
	}
	raw := tp.RawData
	if tp.DataLocation == onnxpb.TensorProto_EXTERNAL {
		raw, err = readExternal(tp, baseDir, n*dt.Size())
		if err != nil {
			return nil, err
		}
	}
	if dt == tensor.String {
		if len(tp.StringData) != n {
			return nil, fmt.Errorf("onnx: tensor %q: shape %v needs %d strings, has %d", tp.Name, shape, n, len(tp.StringData))
		}
		s := make([]string, n)
		for i, b := range tp.StringData {
			s[i] = string(b)
		}
		return tensor.FromSlice(dt, shape, s)
	}
	if raw != nil || (tp.DataLocation == onnxpb.TensorProto_EXTERNAL) {
		if len(raw) != n*dt.Size() {
			return nil, fmt.Errorf("onnx: tensor %q: shape %v of %v needs %d bytes of raw data, has %d", tp.Name, shape, dt, n*dt.Size(), len(raw))
		}
		return decodeRaw(dt, shape, raw)
	}
	// Check the value count before allocating, so a hostile shape cannot
	// make us allocate more than the file itself holds.
	var have int
	switch dt {
	case tensor.Float32:
		have = len(tp.FloatData)
	case tensor.Float64:
		have = len(tp.DoubleData)
	case tensor.Int64:
		have = len(tp.Int64Data)
	case tensor.Uint32, tensor.Uint64:
		have = len(tp.Uint64Data)
	default:
		have = len(tp.Int32Data)
	}
	if have != n {
		return nil, fmt.Errorf("onnx: tensor %q: shape %v needs %d values, has %d", tp.Name, shape, n, have)
	}
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", tp.Name, err)
	}
	bad := func(have int) error {
		return fmt.Errorf("onnx: tensor %q: shape %v needs %d values, has %d", tp.Name, shape, n, have)
	}
	switch dt {
	case tensor.Float32:
		if len(tp.FloatData) != n {
			return nil, bad(len(tp.FloatData))
		}
		copy(t.F32(), tp.FloatData)
	case tensor.Float64:
		if len(tp.DoubleData) != n {
			return nil, bad(len(tp.DoubleData))
		}
		copy(t.Data.([]float64), tp.DoubleData)
	case tensor.Int64:
		if len(tp.Int64Data) != n {
			return nil, bad(len(tp.Int64Data))
		}
		copy(t.I64(), tp.Int64Data)
	case tensor.Uint32, tensor.Uint64:
		if len(tp.Uint64Data) != n {
			return nil, bad(len(tp.Uint64Data))
		}
		if dt == tensor.Uint64 {
			copy(t.Data.([]uint64), tp.Uint64Data)
		} else {
			d := t.Data.([]uint32)
			for i, v := range tp.Uint64Data {
				d[i] = uint32(v)
			}
		}
	default: // int32_data carries int32, int16, int8, uint16, uint8, bool, float16, bfloat16
		if len(tp.Int32Data) != n {
			return nil, bad(len(tp.Int32Data))
		}
		switch d := t.Data.(type) {
		case []int32:
			copy(d, tp.Int32Data)
		case []int16:
			for i, v := range tp.Int32Data {
				d[i] = int16(v)
			}
		case []int8:
			for i, v := range tp.Int32Data {
				d[i] = int8(v)
			}
		case []uint16:
			for i, v := range tp.Int32Data {
				d[i] = uint16(v)
			}
		case []uint8:
			for i, v := range tp.Int32Data {
				d[i] = uint8(v)
			}
		case []bool:
			for i, v := range tp.Int32Data {
				d[i] = v != 0
			}
		default:
			return nil, fmt.Errorf("onnx: tensor %q: cannot decode %v from int32_data", tp.Name, dt)
		}
	}
	return t, nil
}

func decodeRaw(dt tensor.DType, shape []int, raw []byte) (*tensor.Tensor, error) {
	return tensor.FromBytes(dt, shape, raw, binary.LittleEndian)
}

// TensorToProto converts a tensor (raw_data for numbers, string_data for strings).
func TensorToProto(name string, t *tensor.Tensor) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{Name: name, DataType: int32(t.DType)}
	tp.Dims = make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		tp.Dims[i] = int64(d)
	}
	if t.DType == tensor.String {
		for _, s := range t.Data.([]string) {
			tp.StringData = append(tp.StringData, []byte(s))
		}
		return tp
	}
	tp.RawData, _ = tensor.AppendBytes(nil, t, binary.LittleEndian) // numeric: cannot fail
	return tp
}

func readExternal(tp *onnxpb.TensorProto, baseDir string, want int) ([]byte, error) {
	if baseDir == "" {
		return nil, fmt.Errorf("onnx: tensor %q: external data is not allowed here (no model directory)", tp.Name)
	}
	var loc string
	var off, length int64 = 0, -1
	for _, kv := range tp.ExternalData {
		switch kv.Key {
		case "location":
			loc = kv.Value
		case "offset":
			v, err := strconv.ParseInt(kv.Value, 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("onnx: tensor %q: bad external offset %q", tp.Name, kv.Value)
			}
			off = v
		case "length":
			v, err := strconv.ParseInt(kv.Value, 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("onnx: tensor %q: bad external length %q", tp.Name, kv.Value)
			}
			length = v
		}
	}
	if loc == "" {
		return nil, fmt.Errorf("onnx: tensor %q: external data without a location", tp.Name)
	}
	// External files must stay inside the model's directory.
	clean := filepath.Clean(loc)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("onnx: tensor %q: external location %q leaves the model directory", tp.Name, loc)
	}
	if length < 0 {
		length = int64(want)
	}
	if length != int64(want) {
		return nil, fmt.Errorf("onnx: tensor %q: external length %d, shape needs %d bytes", tp.Name, length, want)
	}
	f, err := os.Open(filepath.Join(baseDir, clean))
	if err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: %w", tp.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if off+length > st.Size() {
		return nil, fmt.Errorf("onnx: tensor %q: external data [%d,%d) past the end of %s (%d bytes)", tp.Name, off, off+length, loc, st.Size())
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("onnx: tensor %q: reading %s: %w", tp.Name, loc, err)
	}
	return buf, nil
}

// DecodeTensor parses a serialized TensorProto (the .pb files of ONNX test data).
func DecodeTensor(b []byte) (*tensor.Tensor, string, error) {
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return nil, "", fmt.Errorf("onnx: not a TensorProto: %w", err)
	}
	t, err := TensorFromProto(&tp, "")
	return t, tp.Name, err
}

// ReadTensor reads a TensorProto .pb file.
func ReadTensor(path string) (*tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, _, err := DecodeTensor(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// EncodeTensor serialises t as a TensorProto.
func EncodeTensor(name string, t *tensor.Tensor) ([]byte, error) {
	return proto.Marshal(TensorToProto(name, t))
}

// WriteTensor writes t as a TensorProto .pb file.
func WriteTensor(path, name string, t *tensor.Tensor) error {
	b, err := EncodeTensor(name, t)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
