package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// AppendBytes appends the elements of a numeric (or bool) tensor to dst in
// the given byte order: the raw layout of ONNX raw_data, .npy files and the
// KServe v2 wire format. Strings have no fixed-size encoding and are refused.
func AppendBytes(dst []byte, t *Tensor, o binary.ByteOrder) ([]byte, error) {
	size := t.DType.Size()
	if size == 0 || t.DType == Complex64 || t.DType == Complex128 {
		return dst, fmt.Errorf("tensor: %v has no raw byte encoding", t.DType)
	}
	start := len(dst)
	dst = append(dst, make([]byte, t.Len()*size)...)
	raw := dst[start:]
	switch d := t.Data.(type) {
	case []float32:
		for i, v := range d {
			o.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range d {
			o.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case []int8:
		for i, v := range d {
			raw[i] = byte(v)
		}
	case []uint8:
		copy(raw, d)
	case []bool:
		for i, v := range d {
			if v {
				raw[i] = 1
			}
		}
	case []int16:
		for i, v := range d {
			o.PutUint16(raw[2*i:], uint16(v))
		}
	case []uint16:
		for i, v := range d {
			o.PutUint16(raw[2*i:], v)
		}
	case []int32:
		for i, v := range d {
			o.PutUint32(raw[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range d {
			o.PutUint32(raw[4*i:], v)
		}
	case []int64:
		for i, v := range d {
			o.PutUint64(raw[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range d {
			o.PutUint64(raw[8*i:], v)
		}
	default:
		return dst[:start], fmt.Errorf("tensor: %v data %T has no raw byte encoding", t.DType, t.Data)
	}
	return dst, nil
}

// FromBytes decodes raw elements in the given byte order into a new tensor,
// checking first that raw holds exactly the shape's worth of bytes (so a
// hostile shape cannot cause an allocation larger than the input).
func FromBytes(dt DType, shape []int, raw []byte, o binary.ByteOrder) (*Tensor, error) {
	size := dt.Size()
	if size == 0 || !dt.Supported() {
		return nil, fmt.Errorf("tensor: %v has no raw byte encoding", dt)
	}
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	if len(raw) != n*size {
		return nil, fmt.Errorf("tensor: shape %v of %v needs %d bytes, got %d", shape, dt, n*size, len(raw))
	}
	t, err := Make(dt, shape)
	if err != nil {
		return nil, err
	}
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(o.Uint32(raw[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(o.Uint64(raw[8*i:]))
		}
	case []int8:
		for i := range d {
			d[i] = int8(raw[i])
		}
	case []uint8:
		copy(d, raw)
	case []bool:
		for i := range d {
			d[i] = raw[i] != 0
		}
	case []int16:
		for i := range d {
			d[i] = int16(o.Uint16(raw[2*i:]))
		}
	case []uint16:
		for i := range d {
			d[i] = o.Uint16(raw[2*i:])
		}
	case []int32:
		for i := range d {
			d[i] = int32(o.Uint32(raw[4*i:]))
		}
	case []uint32:
		for i := range d {
			d[i] = o.Uint32(raw[4*i:])
		}
	case []int64:
		for i := range d {
			d[i] = int64(o.Uint64(raw[8*i:]))
		}
	case []uint64:
		for i := range d {
			d[i] = o.Uint64(raw[8*i:])
		}
	}
	return t, nil
}
