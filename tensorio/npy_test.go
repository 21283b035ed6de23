package tensorio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

func TestNPYRoundTripEveryDType(t *testing.T) {
	cases := []*tensor.Tensor{
		tensor.Float32s([]int{2, 3}, []float32{0, -1.5, float32(math.Inf(1)), 3.25, 1e-30, -0}),
		{DType: tensor.Float64, Shape: []int{3}, Data: []float64{math.Pi, -2, 1e300}},
		tensor.Int64s([]int{2, 2}, []int64{math.MinInt64, -1, 0, math.MaxInt64}),
		{DType: tensor.Int32, Shape: []int{1, 2}, Data: []int32{math.MinInt32, 7}},
		{DType: tensor.Uint8, Shape: []int{4}, Data: []uint8{0, 1, 128, 255}},
		{DType: tensor.Int8, Shape: []int{2, 1}, Data: []int8{-128, 127}},
		{DType: tensor.Bool, Shape: []int{3}, Data: []bool{true, false, true}},
		{DType: tensor.Int16, Shape: []int{2}, Data: []int16{-300, 300}},
		{DType: tensor.Uint16, Shape: []int{1}, Data: []uint16{65535}},
		{DType: tensor.Uint32, Shape: []int{1}, Data: []uint32{1 << 31}},
		{DType: tensor.Uint64, Shape: []int{1}, Data: []uint64{1 << 63}},
		{DType: tensor.Float16, Shape: []int{2}, Data: []uint16{tensor.FloatToHalf(1.5), tensor.FloatToHalf(-2)}},
		{DType: tensor.Float32, Shape: []int{}, Data: []float32{42}}, // scalar
		{DType: tensor.Float32, Shape: []int{0, 3}, Data: []float32{}},
	}
	dir := t.TempDir()
	for _, want := range cases {
		var b bytes.Buffer
		if err := WriteNPY(&b, want); err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		// NumPy's layout: the header ends in '\n' at a multiple of 64 bytes.
		hlen := int(binary.LittleEndian.Uint16(b.Bytes()[8:10]))
		if (10+hlen)%64 != 0 || b.Bytes()[10+hlen-1] != '\n' {
			t.Errorf("%v: header of %d bytes is not padded to 64", want, hlen)
		}
		got, err := ReadNPY(&b)
		if err != nil {
			t.Fatalf("%v: %v", want, err)
		}
		if got.DType != want.DType || !tensor.EqualShapes(got.Shape, want.Shape) || !reflect.DeepEqual(got.Data, want.Data) {
			t.Errorf("round trip: got %v, want %v", got, want)
		}
		// And through a file.
		p := filepath.Join(dir, want.DType.String()+".npy")
		if err := SaveNPY(p, want); err != nil {
			t.Fatal(err)
		}
		if got, err = LoadNPY(p); err != nil || !reflect.DeepEqual(got.Data, want.Data) {
			t.Errorf("file round trip of %v: %v, %v", want, got, err)
		}
	}
}

// npyBytes builds a file by hand as other writers do (versions, spacing,
// byte orders), to check the reader is not tied to our own writer.
func npyBytes(major byte, header string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{major, 0})
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(header)))
	}
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestReadNPYForeignHeaders(t *testing.T) {
	be := make([]byte, 8)
	binary.BigEndian.PutUint32(be, math.Float32bits(1.5))
	binary.BigEndian.PutUint32(be[4:], math.Float32bits(-2))
	le := make([]byte, 16)
	binary.LittleEndian.PutUint64(le, 7)
	binary.LittleEndian.PutUint64(le[8:], uint64(1<<40))
	cases := []struct {
		name string
		file []byte
		want *tensor.Tensor
	}{
		{"big-endian v1", npyBytes(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }      \n", be),
			tensor.Float32s([]int{2}, []float32{1.5, -2})},
		{"v2 no trailing comma", npyBytes(2, `{"descr":"<i8","fortran_order":False,"shape":(1,2)}`+"\n", le),
			tensor.Int64s([]int{1, 2}, []int64{7, 1 << 40})},
		{"v3 python2 longs", npyBytes(3, "{'shape': (2L,), 'fortran_order': False, 'descr': '<i8'}\n", le),
			tensor.Int64s([]int{2}, []int64{7, 1 << 40})},
		{"bool as ?", npyBytes(1, "{'descr': '|?', 'fortran_order': False, 'shape': (2,), }\n", []byte{0, 3}),
			&tensor.Tensor{DType: tensor.Bool, Shape: []int{2}, Data: []bool{false, true}}},
	}
	for _, c := range cases {
		got, err := ReadNPY(bytes.NewReader(c.file))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.DType != c.want.DType || !tensor.EqualShapes(got.Shape, c.want.Shape) || !reflect.DeepEqual(got.Data, c.want.Data) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestReadNPYErrors(t *testing.T) {
	var good bytes.Buffer
	WriteNPY(&good, tensor.Float32s([]int{4}, []float32{1, 2, 3, 4}))
	full := good.Bytes()
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"empty", "not a .npy file", nil},
		{"not npy", "not a .npy file", []byte("PK\x03\x04 this is a zip file")},
		{"truncated data", "truncated data: float32[4] needs 16 bytes, file has 9", full[:len(full)-7]},
		{"truncated header", "header: file is truncated", full[:20]},
		{"fortran", "Fortran-order", npyBytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", make([]byte, 4))},
		{"structured", "structured arrays", npyBytes(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n", nil)},
		{"unicode", "unsupported dtype \"<U3\"", npyBytes(1, "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }\n", nil)},
		{"huge shape", "shape too large", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }\n", nil)},
		{"garbage header", "bad header", npyBytes(1, "{'descr': '<f4', 'shape': (1,,), }\n", nil)},
		{"negative dim", "bad dimension -1", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n", nil)},
		{"version 9", "unsupported format version 9.0", npyBytes(9, "", nil)},
	}
	for _, c := range cases {
		_, err := ReadNPY(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "tensorio: ") {
			t.Errorf("%s: error %q does not name the package", c.name, err)
		}
	}
	if _, err := ReadNPY(bytes.NewReader(nil)); !errors.Is(err, ErrNotNPY) {
		t.Errorf("empty input: %v does not wrap ErrNotNPY", err)
	}
	p := filepath.Join(t.TempDir(), "bad.npy")
	os.WriteFile(p, full[:len(full)-1], 0o644)
	if _, err := LoadNPY(p); err == nil || !strings.HasPrefix(err.Error(), p+": tensorio: npy: truncated") {
		t.Errorf("LoadNPY error %v does not name the file", err)
	}
}

func TestWriteNPYRefuses(t *testing.T) {
	for _, x := range []*tensor.Tensor{
		{DType: tensor.String, Shape: []int{1}, Data: []string{"a"}},
		{DType: tensor.BFloat16, Shape: []int{1}, Data: []uint16{0}},
		{DType: tensor.Float32, Shape: []int{3}, Data: []float32{1}},
	} {
		if err := WriteNPY(&bytes.Buffer{}, x); err == nil {
			t.Errorf("WriteNPY(%v) succeeded", x.DType)
		}
	}
}

func FuzzReadNPY(f *testing.F) {
	var b bytes.Buffer
	WriteNPY(&b, tensor.Float32s([]int{2, 2}, []float32{1, 2, 3, 4}))
	f.Add(b.Bytes())
	f.Add(npyBytes(2, "{'descr': '>i2', 'fortran_order': False, 'shape': (1,), }\n", []byte{1, 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ReadNPY(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteNPY(&out, x); err != nil {
			t.Fatalf("re-encoding %v: %v", x, err)
		}
		y, err := ReadNPY(&out)
		if err != nil || !reflect.DeepEqual(x.Data, y.Data) && !hasNaN(x) {
			t.Fatalf("round trip of %v: %v, %v", x, y, err)
		}
	})
}

func hasNaN(x *tensor.Tensor) bool {
	for i := 0; i < x.Len(); i++ {
		if math.IsNaN(x.Float64At(i)) {
			return true
		}
	}
	return false
}
