package codec

import (
	"encoding/binary"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

// fuzzDTypes are the dtypes the fuzzer picks from (index by a byte).
var fuzzDTypes = []tensor.DType{tensor.Float32, tensor.Int64, tensor.Float16, tensor.Uint8,
	tensor.Bool, tensor.String, tensor.Int8, tensor.Float64, tensor.Undefined, tensor.Complex64}

// FuzzDecode feeds garbage to every decoder: it must return an error or a
// tensor of exactly the declared shape, never panic, and never allocate for a
// shape the payload cannot fill.
func FuzzDecode(f *testing.F) {
	x := reluActivation(1, 1, 3, 4, 4)
	for i, name := range Names() {
		p, params, err := registry[name].Encode(x)
		if err != nil {
			f.Fatal(err)
		}
		scale := 0.0
		if s, ok := params[ParamScale]; ok {
			scale = s.GetDoubleParam()
		}
		f.Add(uint8(i), uint8(0), []byte{1, 0, 3, 0, 4, 0, 4, 0}, p, scale, int64(-128))
	}
	f.Add(uint8(0), uint8(5), []byte{2, 0}, []byte{1, 0, 0, 0, 'a', 0, 0, 0, 0}, 0.0, int64(0))
	f.Add(uint8(2), uint8(1), []byte{255, 255, 255, 255}, []byte{1, 0, 0, 0}, 0.0, int64(0))
	f.Fuzz(func(t *testing.T, ci, di uint8, dims, payload []byte, scale float64, zp int64) {
		names := Names()
		name := names[int(ci)%len(names)]
		dt := fuzzDTypes[int(di)%len(fuzzDTypes)]
		var shape []int
		for i := 0; i+1 < len(dims) && len(shape) < 5; i += 2 {
			shape = append(shape, int(binary.LittleEndian.Uint16(dims[i:])))
		}
		params := Params{
			ParamCodec:     StringParam(name),
			ParamScale:     DoubleParam(scale),
			ParamZeroPoint: Int64Param(zp),
			ParamAxis:      Int64Param(1),
		}
		y, err := registry[name].Decode(payload, dt, shape, params)
		if err != nil {
			return
		}
		n, _ := tensor.NumElements(shape)
		if y.Len() != n || !tensor.EqualShapes(y.Shape, shape) {
			t.Fatalf("%s: decoded %v with %d elements for shape %v", name, y.Shape, y.Len(), shape)
		}
		// Whatever decoded must re-encode.
		if _, _, err := registry[name].Encode(y); err != nil {
			t.Fatalf("%s: decoded tensor does not re-encode: %v", name, err)
		}
	})
}
