package tensor

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// MaxElements bounds the element count of any tensor edgedl allocates
// (2^28, i.e. 1 GiB of float32: ten times VGG19's largest weight). Larger
// requests fail with ErrTooLarge, so a hostile file cannot exhaust memory.
var MaxElements = 1 << 28

// ErrTooLarge is returned when a shape asks for more than MaxElements.
var ErrTooLarge = errors.New("tensor: shape too large")

// Tensor is a dense row-major array. Shape is never nil for allocated
// tensors; a scalar has Shape []int{} and one element.
type Tensor struct {
	DType DType
	Shape []int
	Data  any
}

// NumElements returns the product of the dims, or an error if a dim is
// negative, the product overflows, or it exceeds MaxElements.
func NumElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor: negative dimension in shape %v", shape)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > MaxElements/d {
			// keep scanning for zeros, which make the product zero
			for _, e := range shape {
				if e == 0 {
					return 0, nil
				}
			}
			return 0, fmt.Errorf("%w: %v has more than %d elements", ErrTooLarge, shape, MaxElements)
		}
		n *= d
	}
	return n, nil
}

// Make allocates a zero tensor, checking the shape first.
func Make(dt DType, shape []int) (*Tensor, error) {
	if !dt.Supported() {
		return nil, fmt.Errorf("tensor: unsupported dtype %v", dt)
	}
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: makeSlice(dt, n)}, nil
}

// New allocates a zero tensor and panics on an invalid shape; use it only
// for shapes the program itself computed and bounded.
func New(dt DType, shape ...int) *Tensor {
	t, err := Make(dt, shape)
	if err != nil {
		panic(err)
	}
	return t
}

// FromSlice wraps data (not copied) in a tensor of the given shape. dt may be
// Float16 or BFloat16 with []uint16 data; otherwise it must match the slice.
func FromSlice(dt DType, shape []int, data any) (*Tensor, error) {
	if sliceDType(data) != storageOf(dt) {
		return nil, fmt.Errorf("tensor: %T cannot hold %v", data, dt)
	}
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	if sliceLen(data) != n {
		return nil, fmt.Errorf("tensor: shape %v needs %d elements, data has %d", shape, n, sliceLen(data))
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: data}, nil
}

// Float32s wraps a float32 slice; it panics if len(data) does not match shape.
func Float32s(shape []int, data []float32) *Tensor {
	t, err := FromSlice(Float32, shape, data)
	if err != nil {
		panic(err)
	}
	return t
}

// Int64s wraps an int64 slice; it panics if len(data) does not match shape.
func Int64s(shape []int, data []int64) *Tensor {
	t, err := FromSlice(Int64, shape, data)
	if err != nil {
		panic(err)
	}
	return t
}

// Scalar returns a rank-0 tensor holding v.
func Scalar[T Elem](v T) *Tensor {
	data := []T{v}
	return &Tensor{DType: sliceDType(data), Shape: []int{}, Data: data}
}

// Elem is the set of Go element types a Tensor may store.
type Elem interface {
	~float32 | ~float64 | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 |
		~int64 | ~uint64 | ~bool | ~string
}

// Data returns t's elements as []T; it panics if the storage type differs.
func Data[T Elem](t *Tensor) []T { return t.Data.([]T) }

// F32 returns the float32 elements of t (panics for other dtypes).
func (t *Tensor) F32() []float32 { return t.Data.([]float32) }

// I64 returns the int64 elements of t (panics for other dtypes).
func (t *Tensor) I64() []int64 { return t.Data.([]int64) }

// Len is the number of elements.
func (t *Tensor) Len() int { return sliceLen(t.Data) }

// Rank is the number of dims.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Bytes is the size of the element data in bytes (strings count their length).
func (t *Tensor) Bytes() int {
	if t.DType == String {
		n := 0
		for _, s := range t.Data.([]string) {
			n += len(s)
		}
		return n
	}
	return t.Len() * t.DType.Size()
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int{}, t.Shape...), Data: makeSlice(t.DType, t.Len())}
	CopyData(c.Data, t.Data)
	return c
}

// Reshaped returns a tensor sharing t's data with a new shape of equal size.
func (t *Tensor) Reshaped(shape []int) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	if n != t.Len() {
		return nil, fmt.Errorf("tensor: cannot reshape %v (%d elements) to %v", t.Shape, t.Len(), shape)
	}
	return &Tensor{DType: t.DType, Shape: append([]int{}, shape...), Data: t.Data}, nil
}

// CopyData copies src into dst; both must be slices of the same type.
func CopyData(dst, src any) int {
	switch d := dst.(type) {
	case []float32:
		return copy(d, src.([]float32))
	case []float64:
		return copy(d, src.([]float64))
	case []int8:
		return copy(d, src.([]int8))
	case []uint8:
		return copy(d, src.([]uint8))
	case []int16:
		return copy(d, src.([]int16))
	case []uint16:
		return copy(d, src.([]uint16))
	case []int32:
		return copy(d, src.([]int32))
	case []uint32:
		return copy(d, src.([]uint32))
	case []int64:
		return copy(d, src.([]int64))
	case []uint64:
		return copy(d, src.([]uint64))
	case []bool:
		return copy(d, src.([]bool))
	case []string:
		return copy(d, src.([]string))
	}
	panic(fmt.Sprintf("tensor: CopyData of %T", dst))
}

// Float64At returns element i converted to float64 (bool: 0/1; string: NaN).
func (t *Tensor) Float64At(i int) float64 {
	switch d := t.Data.(type) {
	case []float32:
		return float64(d[i])
	case []float64:
		return d[i]
	case []int8:
		return float64(d[i])
	case []uint8:
		return float64(d[i])
	case []int16:
		return float64(d[i])
	case []uint16:
		switch t.DType {
		case Float16:
			return float64(HalfToFloat(d[i]))
		case BFloat16:
			return float64(BFloat16ToFloat(d[i]))
		}
		return float64(d[i])
	case []int32:
		return float64(d[i])
	case []uint32:
		return float64(d[i])
	case []int64:
		return float64(d[i])
	case []uint64:
		return float64(d[i])
	case []bool:
		if d[i] {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// Int64At returns element i converted to int64 (floats truncate).
func (t *Tensor) Int64At(i int) int64 {
	switch d := t.Data.(type) {
	case []int64:
		return d[i]
	case []int32:
		return int64(d[i])
	case []uint64:
		return int64(d[i])
	}
	return int64(t.Float64At(i))
}

// Int64Values returns all elements as int64 (for shape-like inputs).
func (t *Tensor) Int64Values() []int64 {
	if v, ok := t.Data.([]int64); ok {
		return v
	}
	out := make([]int64, t.Len())
	for i := range out {
		out[i] = t.Int64At(i)
	}
	return out
}

// Float32Values returns all elements converted to float32 (a copy unless t is float32).
func (t *Tensor) Float32Values() []float32 {
	switch v := t.Data.(type) {
	case []float32:
		return v
	case []uint16:
		if t.DType == Float16 || t.DType == BFloat16 {
			out := make([]float32, len(v))
			WidenHalves(out, v, t.DType)
			return out
		}
	}
	out := make([]float32, t.Len())
	for i := range out {
		out[i] = float32(t.Float64At(i))
	}
	return out
}

// String summarises the tensor: dtype, shape and the first few values.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v%v", t.DType, t.Shape)
	n := t.Len()
	if n > 8 {
		n = 8
	}
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(" ")
		}
		if t.DType == String {
			fmt.Fprintf(&b, "%q", t.Data.([]string)[i])
		} else {
			fmt.Fprintf(&b, "%g", t.Float64At(i))
		}
	}
	if t.Len() > n {
		b.WriteString(" ...")
	}
	b.WriteString("]")
	return b.String()
}

// ShapeString formats a shape as [1,3,224,224].
func ShapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// EqualShapes reports whether a and b have the same dims.
func EqualShapes(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Strides returns row-major element strides for shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// BroadcastShapes returns the numpy-style broadcast of the given shapes.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		if len(s) > rank {
			rank = len(s)
		}
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("tensor: shapes %v are not broadcastable", shapes)
			}
		}
	}
	return out, nil
}

// BroadcastIndex maps each flat index of the broadcast shape out to a flat
// index of a tensor of shape in, writing len(out) entries into idx.
func BroadcastStrides(in, out []int) []int {
	st := make([]int, len(out))
	is := Strides(in)
	off := len(out) - len(in)
	for i := range in {
		if in[i] != 1 {
			st[off+i] = is[i]
		}
	}
	return st
}
