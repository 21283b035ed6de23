package codec

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgedl/edgedl/tensor"
)

// RawSize is the size in bytes of the raw little-endian form of n elements of
// dt, or -1 when dt has no fixed size (strings) or is not supported.
func RawSize(dt tensor.DType, n int) int {
	sz := dt.Size()
	if dt == tensor.String || sz == 0 || !dt.Supported() {
		return -1
	}
	if n > math.MaxInt/sz {
		return -1
	}
	return n * sz
}

// AppendRaw appends the elements of t to dst in the KServe v2 raw form:
// flattened row-major, little-endian, no padding. Strings (BYTES) are each
// written as a 4-byte little-endian length followed by their bytes, as Triton
// does. Float16 and BFloat16 are written as their 16-bit patterns.
func AppendRaw(dst []byte, t *tensor.Tensor) ([]byte, error) {
	if t == nil {
		return dst, fmt.Errorf("%w: nil tensor", ErrInvalid)
	}
	if err := checkTensor(t); err != nil {
		return dst, err
	}
	if d, ok := t.Data.([]string); ok {
		n := 0
		for _, s := range d {
			n += 4 + len(s)
		}
		dst = grow(dst, n)
		for _, s := range d {
			if uint64(len(s)) > math.MaxUint32 {
				return dst, fmt.Errorf("%w: string element of %d bytes", ErrTooLarge, len(s))
			}
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
			dst = append(dst, s...)
		}
		return dst, nil
	}
	dst, err := tensor.AppendBytes(dst, t, binary.LittleEndian)
	if err != nil {
		return dst, fmt.Errorf("%w: %v stored as %T", ErrDType, t.DType, t.Data)
	}
	return dst, nil
}

// DecodeRaw builds a tensor of dtype dt and the given shape from its raw
// little-endian form. The byte length must match the shape exactly; it is
// checked before anything is allocated, so a short message cannot make the
// decoder allocate a large tensor.
func DecodeRaw(raw []byte, dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShape, err)
	}
	if !dt.Supported() {
		return nil, fmt.Errorf("%w: %v", ErrDType, dt)
	}
	if dt == tensor.String {
		return decodeStrings(raw, shape, n)
	}
	want := RawSize(dt, n)
	if want < 0 {
		return nil, fmt.Errorf("%w: %v", ErrDType, dt)
	}
	if len(raw) != want {
		return nil, fmt.Errorf("%w: %v %v needs %d bytes, got %d", ErrSize, dt, shape, want, len(raw))
	}
	t, err := tensor.FromBytes(dt, shape, raw, binary.LittleEndian)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShape, err)
	}
	return t, nil
}

// decodeStrings parses n length-prefixed strings that must fill raw exactly.
func decodeStrings(raw []byte, shape []int, n int) (*tensor.Tensor, error) {
	if n > len(raw)/4 {
		return nil, fmt.Errorf("%w: %d BYTES elements need at least %d bytes, got %d", ErrSize, n, 4*n, len(raw))
	}
	out := make([]string, n)
	p := raw
	for i := range out {
		if len(p) < 4 {
			return nil, fmt.Errorf("%w: BYTES element %d: truncated length", ErrSize, i)
		}
		l := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if uint64(l) > uint64(len(p)) {
			return nil, fmt.Errorf("%w: BYTES element %d: length %d exceeds the %d bytes left", ErrSize, i, l, len(p))
		}
		out[i] = string(p[:l])
		p = p[l:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left after %d BYTES elements", ErrSize, len(p), n)
	}
	return tensor.FromSlice(tensor.String, shape, out)
}

// checkTensor verifies that t's data matches its dtype and shape.
func checkTensor(t *tensor.Tensor) error {
	n, err := tensor.NumElements(t.Shape)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrShape, err)
	}
	if t.Data == nil {
		return fmt.Errorf("%w: %v%v has no data", ErrInvalid, t.DType, t.Shape)
	}
	if t.Len() != n {
		return fmt.Errorf("%w: shape %v needs %d elements, data has %d", ErrShape, t.Shape, n, t.Len())
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		return nb
	}
	return b
}
