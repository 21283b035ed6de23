package elementwise

import (
	"math"
	"math/rand"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// TestNarrowMatchesFloat32Rounding checks narrow against the tensor
// package's float32 converters: for float32 inputs both round once.
func TestNarrowMatchesFloat32Rounding(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 200000; i++ {
		f := math.Float32frombits(r.Uint32())
		if i%2 == 0 { // concentrate on the float16 range
			f = float32(r.NormFloat64() * math.Pow(2, float64(r.Intn(44)-26)))
		}
		h, b := uint16(narrow(float64(f), 10, 5)), uint16(narrow(float64(f), 7, 8))
		wh, wb := tensor.FloatToHalf(f), tensor.FloatToBFloat16(f)
		if f != f {
			if h&0x7c00 != 0x7c00 || h&0x3ff == 0 || b&0x7f80 != 0x7f80 || b&0x7f == 0 {
				t.Fatalf("NaN %#x -> %#x, %#x", math.Float32bits(f), h, b)
			}
			continue
		}
		if h != wh || b != wb {
			t.Fatalf("%g (%#x): narrow gives %#x/%#x, tensor gives %#x/%#x", f, math.Float32bits(f), h, b, wh, wb)
		}
	}
}

func TestNarrowFromFloat64(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want uint16
	}{
		{1 + 0x1p-11 + 0x1p-40, 0x3c01}, // through float32 this would tie and round down
		{1 + 0x1p-11, 0x3c00},           // a true tie goes to even
		{0x1p-24, 0x0001},               // smallest subnormal
		{0x1p-25, 0x0000},               // tie to even: zero
		{0x1p-25 * 1.0001, 0x0001},
		{-0x1p-30, 0x8000},
		{65519, 0x7bff},
		{65520, 0x7c00}, // rounds up to infinity
		{math.Inf(-1), 0xfc00},
		{1e-320, 0}, // float64 subnormal
	} {
		if got := uint16(narrow(c.f, 10, 5)); got != c.want {
			t.Errorf("narrow(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	// Expected strings from numpy: np.array(v, dtype).astype(np.str_).
	for _, c := range []struct {
		f    float32
		want string
	}{
		{0.47892547, "0.47892547"}, {1e-5, "1e-05"}, {123456789, "123456790.0"}, {1e16, "1e+16"},
		{1e15, "1000000000000000.0"}, {0, "0.0"}, {float32(math.Copysign(0, -1)), "-0.0"},
		{nan, "nan"}, {float32(math.Inf(1)), "inf"}, {float32(math.Inf(-1)), "-inf"}, {1.5, "1.5"},
		{100, "100.0"}, {1e-4, "1e-04"}, {3.4028235e38, "3.4028235e+38"}, {1.17549435e-38, "1.1754944e-38"},
	} {
		if got := formatFloat(float64(c.f), 32); got != c.want {
			t.Errorf("formatFloat(%g) = %q, want %q", c.f, got, c.want)
		}
	}
	if got := formatFloat(1e22, 64); got != "1e+22" {
		t.Errorf("formatFloat(1e22) = %q", got)
	}
	for _, c := range []struct {
		f    float32
		want string
	}{{0.1, "0.1"}, {65504, "65500.0"}, {1e-5, "1e-05"}, {1000, "1000.0"}, {1.5e-7, "2e-07"}, {6e-8, "6e-08"}} {
		if got := formatHalf(tensor.FloatToHalf(c.f), tensor.Float16); got != c.want {
			t.Errorf("formatHalf(%g) = %q, want %q", c.f, got, c.want)
		}
	}
}

func TestCast(t *testing.T) {
	to := func(dt tensor.DType) []*graph.Attr { return []*graph.Attr{iattr("to", int64(dt))} }
	f32 := func(v ...float32) *tensor.Tensor { return ten([]int{len(v)}, v) }
	str := func(v ...string) *tensor.Tensor { return ten([]int{len(v)}, v) }
	inf := float32(math.Inf(1))
	runCases(t, []opCase{
		{name: "float to uint8 wraps", op: "Cast", attrs: to(tensor.Uint8), in: []*tensor.Tensor{f32(-1.5, 300.7, -300.2, 1e10, 2.9)},
			want: ten([]int{5}, []uint8{255, 44, 212, 0, 2})},
		{name: "float to int32", op: "Cast", attrs: to(tensor.Int32), in: []*tensor.Tensor{f32(-1.5, 2.9, 1e6)}, want: ten([]int{3}, []int32{-1, 2, 1000000})},
		{name: "float to bool", op: "Cast", attrs: to(tensor.Bool), in: []*tensor.Tensor{f32(0, -0.5, nan)}, want: ten([]int{3}, []bool{false, true, true})},
		{name: "bool to float", op: "Cast", attrs: to(tensor.Float64), in: []*tensor.Tensor{ten([]int{2}, []bool{true, false})}, want: ten([]int{2}, []float64{1, 0})},
		{name: "int64 to float16", op: "Cast", attrs: to(tensor.Float16), in: []*tensor.Tensor{ten([]int{3}, []int64{2049, -3, 70000})},
			want: ten([]int{3}, []uint16{tensor.FloatToHalf(2048), tensor.FloatToHalf(-3), 0x7c00}, tensor.Float16)},
		{name: "double to float16 single rounding", op: "Cast", attrs: to(tensor.Float16), in: []*tensor.Tensor{ten([]int{1}, []float64{1 + 0x1p-11 + 0x1p-40})},
			want: ten([]int{1}, []uint16{0x3c01}, tensor.Float16)},
		{name: "float16 to bfloat16", op: "Cast", attrs: to(tensor.BFloat16), in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.Float16, 1.5, -65504), tensor.Float16)},
			want: ten([]int{2}, halfs(tensor.BFloat16, 1.5, -65536), tensor.BFloat16)},
		{name: "float16 to int8", op: "Cast", attrs: to(tensor.Int8), in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.Float16, -2.5, 7.75), tensor.Float16)},
			want: ten([]int{2}, []int8{-2, 7})},
		{name: "uint16 to float16", op: "Cast", attrs: to(tensor.Float16), in: []*tensor.Tensor{ten([]int{1}, []uint16{3})},
			want: ten([]int{1}, halfs(tensor.Float16, 3), tensor.Float16)},
		{name: "float to string", op: "Cast", attrs: to(tensor.String), in: []*tensor.Tensor{f32(1.5, 1e-5, inf, 100)}, want: str("1.5", "1e-05", "inf", "100.0")},
		{name: "int to string", op: "Cast", attrs: to(tensor.String), in: []*tensor.Tensor{ten([]int{2}, []int8{-3, 7})}, want: str("-3", "7")},
		{name: "uint64 to string", op: "Cast", attrs: to(tensor.String), in: []*tensor.Tensor{ten([]int{1}, []uint64{1 << 63})}, want: str("9223372036854775808")},
		{name: "bool to string", op: "Cast", attrs: to(tensor.String), in: []*tensor.Tensor{ten([]int{2}, []bool{true, false})}, want: str("True", "False")},
		{name: "float16 to string", op: "Cast", attrs: to(tensor.String), in: []*tensor.Tensor{ten([]int{1}, halfs(tensor.Float16, 0.1), tensor.Float16)}, want: str("0.1")},
		{name: "string to float", op: "Cast", attrs: to(tensor.Float32), in: []*tensor.Tensor{str("1.5", " 2 ", "-INF", "NaN", "+inf", "1e3")},
			want: f32(1.5, 2, -inf, nan, inf, 1000)},
		{name: "string to int64", op: "Cast", attrs: to(tensor.Int64), in: []*tensor.Tensor{str("12", "-3")}, want: ten([]int{2}, []int64{12, -3})},
		{name: "string to uint8", op: "Cast", attrs: to(tensor.Uint8), in: []*tensor.Tensor{str("200")}, want: ten([]int{1}, []uint8{200})},
		{name: "string to bfloat16", op: "Cast", attrs: to(tensor.BFloat16), in: []*tensor.Tensor{str("0.5")}, want: ten([]int{1}, halfs(tensor.BFloat16, 0.5), tensor.BFloat16)},
		{name: "string to bool", op: "Cast", attrs: to(tensor.Bool), in: []*tensor.Tensor{str("0", "2")}, want: ten([]int{2}, []bool{false, true})},
		{name: "bad string", op: "Cast", attrs: to(tensor.Int32), in: []*tensor.Tensor{str("1.5")}, err: "parse"},
		{name: "same dtype", op: "Cast", attrs: to(tensor.Float32), in: []*tensor.Tensor{f32(1, 2)}, want: f32(1, 2)},
		{name: "cast-1 string to", op: "Cast", opset: 6, attrs: []*graph.Attr{sattr("to", "DOUBLE")}, in: []*tensor.Tensor{f32(1)}, want: ten([]int{1}, []float64{1})},
		{name: "to float8", op: "Cast", attrs: to(17), in: []*tensor.Tensor{f32(1)}, err: "unsupported"},
		{name: "no to", op: "Cast", in: []*tensor.Tensor{f32(1)}, err: "to"},
		{name: "castlike", op: "CastLike", in: []*tensor.Tensor{f32(1.5, -2), ten([]int{0}, []int16{})}, want: ten([]int{2}, []int16{1, -2})},
	})
}
