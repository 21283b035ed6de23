package elementwise

import (
	"math"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func fattr(name string, v float32) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrFloat, Float: v}
}
func iattr(name string, v int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInt, Int: v}
}
func sattr(name, v string) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrString, String: v}
}

// ten builds a tensor from a typed slice; half selects float16 or
// bfloat16 for []uint16 data.
func ten(shape []int, data any, half ...tensor.DType) *tensor.Tensor {
	var dt tensor.DType
	switch data.(type) {
	case []float32:
		dt = tensor.Float32
	case []float64:
		dt = tensor.Float64
	case []int8:
		dt = tensor.Int8
	case []uint8:
		dt = tensor.Uint8
	case []int16:
		dt = tensor.Int16
	case []uint16:
		dt = tensor.Uint16
	case []int32:
		dt = tensor.Int32
	case []uint32:
		dt = tensor.Uint32
	case []int64:
		dt = tensor.Int64
	case []uint64:
		dt = tensor.Uint64
	case []bool:
		dt = tensor.Bool
	case []string:
		dt = tensor.String
	}
	if len(half) > 0 {
		dt = half[0]
	}
	t, err := tensor.FromSlice(dt, shape, data)
	if err != nil {
		panic(err)
	}
	return t
}

func halfs(dt tensor.DType, v ...float32) []uint16 {
	out := make([]uint16, len(v))
	for i, f := range v {
		if dt == tensor.BFloat16 {
			out[i] = tensor.FloatToBFloat16(f)
		} else {
			out[i] = tensor.FloatToHalf(f)
		}
	}
	return out
}

// runOp compiles one node through the registry, as the runtime does, and
// runs it with a three-thread pool.
func runOp(op string, opset int64, attrs []*graph.Attr, in ...*tensor.Tensor) (*tensor.Tensor, error) {
	n := &graph.Node{OpType: op, Outputs: []string{"y"}, Attrs: map[string]*graph.Attr{}}
	meta := make([]kernels.Input, len(in))
	for i, t := range in {
		if t == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		n.Inputs = append(n.Inputs, "x")
		meta[i] = kernels.Input{Present: true, DType: t.DType, Shape: t.Shape}
	}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	build, err := kernels.Lookup("", op, opset)
	if err != nil {
		return nil, err
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	pool := kernels.NewPool(3)
	defer pool.Close()
	out := make([]*tensor.Tensor, 1)
	if err := k.Run(&kernels.Ctx{Pool: pool, Allocator: poisonAlloc{}}, in, out); err != nil {
		return nil, err
	}
	return out[0], nil
}

// poisonAlloc fills the buffers kernels promise to overwrite (AllocUninit)
// with a marker (NaN for floats), so tests see elements left unwritten.
type poisonAlloc struct{ kernels.HeapAllocator }

func (poisonAlloc) AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, err
	}
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(math.NaN())
		}
	case []float64:
		for i := range d {
			d[i] = math.NaN()
		}
	case []int32:
		for i := range d {
			d[i] = -12345
		}
	case []int64:
		for i := range d {
			d[i] = -12345
		}
	}
	return t, nil
}

// same compares dtype, shape and values; floats within 1e-6 relative (NaNs
// must match), everything else exactly.
func same(got, want *tensor.Tensor) string {
	if got.DType != want.DType || !tensor.EqualShapes(got.Shape, want.Shape) {
		return "got " + got.String() + ", want " + want.String()
	}
	for i := 0; i < want.Len(); i++ {
		if want.DType == tensor.String {
			if got.Data.([]string)[i] != want.Data.([]string)[i] {
				return "got " + got.String() + ", want " + want.String()
			}
			continue
		}
		g, w := got.Float64At(i), want.Float64At(i)
		if want.DType.IsFloat() {
			if math.IsNaN(w) != math.IsNaN(g) || !math.IsNaN(w) && math.Abs(g-w) > 1e-6*math.Abs(w) && g != w {
				return "got " + got.String() + ", want " + want.String()
			}
		} else if g != w || got.Int64At(i) != want.Int64At(i) {
			return "got " + got.String() + ", want " + want.String()
		}
	}
	return ""
}

type opCase struct {
	name  string
	op    string
	opset int64
	attrs []*graph.Attr
	in    []*tensor.Tensor
	want  *tensor.Tensor
	err   string // substring of the expected error; "unsupported" for skips
}

func runCases(t *testing.T, cases []opCase) {
	t.Helper()
	for _, c := range cases {
		opset := c.opset
		if opset == 0 {
			opset = 21
		}
		got, err := runOp(c.op, opset, c.attrs, c.in...)
		switch {
		case c.err == "unsupported":
			if !kernels.IsUnsupported(err) {
				t.Errorf("%s: err %v, want unsupported", c.name, err)
			}
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		default:
			if msg := same(got, c.want); msg != "" {
				t.Errorf("%s: %s", c.name, msg)
			}
		}
	}
}

var nan = float32(math.NaN())

func TestArith(t *testing.T) {
	f := func(shape []int, v ...float32) *tensor.Tensor { return ten(shape, v) }
	runCases(t, []opCase{
		{name: "add bcast", op: "Add", in: []*tensor.Tensor{f([]int{2, 3}, 1, 2, 3, 4, 5, 6), f([]int{3}, 10, 20, 30)},
			want: f([]int{2, 3}, 11, 22, 33, 14, 25, 36)},
		{name: "add bias", op: "Add", in: []*tensor.Tensor{f([]int{1, 2, 1, 3}, 1, 2, 3, 4, 5, 6), f([]int{2, 1, 1}, 10, 20)},
			want: f([]int{1, 2, 1, 3}, 11, 12, 13, 24, 25, 26)},
		{name: "sub scalar first", op: "Sub", in: []*tensor.Tensor{f(nil, 10), f([]int{5}, 1, 2, 3, 4, 5)},
			want: f([]int{5}, 9, 8, 7, 6, 5)},
		{name: "mul outer", op: "Mul", in: []*tensor.Tensor{f([]int{3, 1}, 1, 2, 3), f([]int{1, 2}, 10, 100)},
			want: f([]int{3, 2}, 10, 100, 20, 200, 30, 300)},
		{name: "div float", op: "Div", in: []*tensor.Tensor{f([]int{3}, 1, -1, 0), f([]int{3}, 0, 0, 0)},
			want: f([]int{3}, float32(math.Inf(1)), float32(math.Inf(-1)), nan)},
		{name: "div int truncates", op: "Div", in: []*tensor.Tensor{ten([]int{4}, []int32{7, -7, 7, -7}), ten([]int{4}, []int32{2, 2, -2, -2})},
			want: ten([]int{4}, []int32{3, -3, -3, 3})},
		{name: "div int by zero", op: "Div", in: []*tensor.Tensor{ten([]int{2}, []int64{1, 2}), ten([]int{2}, []int64{1, 0})},
			err: "division by zero"},
		{name: "add uint8 wraps", op: "Add", in: []*tensor.Tensor{ten([]int{2}, []uint8{250, 1}), ten([]int{}, []uint8{10})},
			want: ten([]int{2}, []uint8{4, 11})},
		{name: "add float64 long", op: "Add", in: []*tensor.Tensor{ten([]int{9}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}), ten([]int{1}, []float64{0.5})},
			want: ten([]int{9}, []float64{1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5})},
		{name: "add float16", op: "Add", in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.Float16, 1, 2048), tensor.Float16), ten([]int{2}, halfs(tensor.Float16, 0.5, 1), tensor.Float16)},
			want: ten([]int{2}, halfs(tensor.Float16, 1.5, 2048), tensor.Float16)}, // 2049 rounds to even
		{name: "mul bfloat16", op: "Mul", in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.BFloat16, 3, -2), tensor.BFloat16), ten([]int{1}, halfs(tensor.BFloat16, 0.5), tensor.BFloat16)},
			want: ten([]int{2}, halfs(tensor.BFloat16, 1.5, -1), tensor.BFloat16)},
		{name: "mixed dtypes", op: "Add", in: []*tensor.Tensor{f([]int{1}, 1), ten([]int{1}, []float64{1})}, err: "float64"},
		{name: "bad shapes", op: "Add", in: []*tensor.Tensor{f([]int{2}, 1, 2), f([]int{3}, 1, 2, 3)}, err: "broadcast"},
		{name: "add bool", op: "Add", in: []*tensor.Tensor{ten([]int{1}, []bool{true}), ten([]int{1}, []bool{true})}, err: "unsupported"},
		{name: "prelu", op: "PRelu", in: []*tensor.Tensor{f([]int{2, 2}, -1, 2, -3, 4), f([]int{2, 1}, 0.5, 0.25)},
			want: f([]int{2, 2}, -0.5, 2, -0.75, 4)},
		{name: "prelu slope too big", op: "PRelu", in: []*tensor.Tensor{f([]int{2}, -1, 2), f([]int{2, 2}, 1, 1, 1, 1)}, err: "slope"},
		{name: "prelu int", op: "PRelu", in: []*tensor.Tensor{ten([]int{2}, []int32{-4, 4}), ten([]int{}, []int32{3})},
			want: ten([]int{2}, []int32{-12, 4})},
		{name: "max nan", op: "Max", in: []*tensor.Tensor{f([]int{3}, 1, nan, 5), f([]int{3}, 2, 0, nan)}, want: f([]int{3}, 2, nan, nan)},
		{name: "min three bcast", op: "Min", in: []*tensor.Tensor{f([]int{3}, 3, 1, 2), f([]int{1}, 2.5), f([]int{2, 1}, 0, 9)},
			want: f([]int{2, 3}, 0, 0, 0, 2.5, 1, 2)},
		{name: "sum first pair partial", op: "Sum", in: []*tensor.Tensor{f([]int{1}, 1), f([]int{1}, 2), f([]int{2, 2}, 10, 20, 30, 40)},
			want: f([]int{2, 2}, 13, 23, 33, 43)},
		{name: "sum one", op: "Sum", in: []*tensor.Tensor{f([]int{2}, 1, 2)}, want: f([]int{2}, 1, 2)},
		{name: "mean", op: "Mean", in: []*tensor.Tensor{f([]int{2}, 1, 2), f([]int{2}, 3, 4), f([]int{1}, 5)},
			want: f([]int{2}, 3, 11.0/3)},
		{name: "mean float16", op: "Mean", in: []*tensor.Tensor{ten([]int{1}, halfs(tensor.Float16, 1), tensor.Float16), ten([]int{1}, halfs(tensor.Float16, 2), tensor.Float16)},
			want: ten([]int{1}, halfs(tensor.Float16, 1.5), tensor.Float16)},
		{name: "mean int", op: "Mean", in: []*tensor.Tensor{ten([]int{1}, []int32{1}), ten([]int{1}, []int32{2})}, err: "unsupported"},
		{name: "max uint16", op: "Max", opset: 13, in: []*tensor.Tensor{ten([]int{2}, []uint16{1, 60000}), ten([]int{2}, []uint16{7, 3})},
			want: ten([]int{2}, []uint16{7, 60000})},
	})
}

func TestModPow(t *testing.T) {
	i32 := func(v ...int32) *tensor.Tensor { return ten([]int{len(v)}, v) }
	f32 := func(v ...float32) *tensor.Tensor { return ten([]int{len(v)}, v) }
	runCases(t, []opCase{
		{name: "mod python sign", op: "Mod", in: []*tensor.Tensor{i32(-7, 7, -7, 7, 6), i32(3, -3, -3, 3, 3)}, want: i32(2, -2, -1, 1, 0)},
		{name: "mod fmod sign", op: "Mod", attrs: []*graph.Attr{iattr("fmod", 1)}, in: []*tensor.Tensor{i32(-7, 7, -7, 7), i32(3, -3, -3, 3)}, want: i32(-1, 1, -1, 1)},
		{name: "mod float fmod", op: "Mod", attrs: []*graph.Attr{iattr("fmod", 1)}, in: []*tensor.Tensor{f32(-5.5, 5.5), f32(2, -2)}, want: f32(-1.5, 1.5)},
		{name: "mod float python", op: "Mod", in: []*tensor.Tensor{f32(-5.5, 5.5), f32(2, -2)}, want: f32(0.5, -0.5)},
		{name: "mod uint", op: "Mod", in: []*tensor.Tensor{ten([]int{2}, []uint8{200, 7}), ten([]int{1}, []uint8{7})}, want: ten([]int{2}, []uint8{4, 0})},
		{name: "mod by zero", op: "Mod", in: []*tensor.Tensor{i32(1), i32(0)}, err: "by zero"},
		{name: "mod bad fmod", op: "Mod", attrs: []*graph.Attr{iattr("fmod", 2)}, in: []*tensor.Tensor{i32(1), i32(1)}, err: "fmod"},
		{name: "pow float", op: "Pow", in: []*tensor.Tensor{f32(2, 4, -2), f32(3, 0.5, 2)}, want: f32(8, 2, 4)},
		{name: "pow square", op: "Pow", in: []*tensor.Tensor{f32(1, -2, 3, 4, 5), ten(nil, []float32{2})}, want: f32(1, 4, 9, 16, 25)},
		{name: "pow sqrt", op: "Pow", in: []*tensor.Tensor{f32(4, 9), ten(nil, []float32{0.5})}, want: f32(2, 3)},
		{name: "pow cube", op: "Pow", in: []*tensor.Tensor{f32(-2, 3), ten([]int{1}, []int64{3})}, want: f32(-8, 27)},
		{name: "pow general scalar", op: "Pow", in: []*tensor.Tensor{f32(8, 27), ten(nil, []float64{1.0 / 3})}, want: f32(2, 3)},
		{name: "pow int int", op: "Pow", in: []*tensor.Tensor{i32(2, -3, 5), i32(10, 3, 0)}, want: i32(1024, -27, 1)},
		{name: "pow int negative exponent", op: "Pow", in: []*tensor.Tensor{ten([]int{4}, []int64{2, 1, -1, -1}), ten([]int{4}, []int64{-1, -5, -3, -2})},
			want: ten([]int{4}, []int64{0, 1, -1, 1})},
		{name: "pow int float", op: "Pow", in: []*tensor.Tensor{i32(2, 9), f32(0.5, 0.5)}, want: i32(1, 3)},
		{name: "pow uint8 wraps", op: "Pow", in: []*tensor.Tensor{ten([]int{1}, []uint8{16}), ten([]int{1}, []uint8{2})}, want: ten([]int{1}, []uint8{0})},
		{name: "pow float16 base", op: "Pow", in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.Float16, 2, 3), tensor.Float16), f32(2)},
			want: ten([]int{2}, halfs(tensor.Float16, 4, 9), tensor.Float16)},
		{name: "pow bool", op: "Pow", in: []*tensor.Tensor{ten([]int{1}, []bool{true}), f32(2)}, err: "unsupported"},
	})
}

func TestCompareLogic(t *testing.T) {
	b := func(v ...bool) *tensor.Tensor { return ten([]int{len(v)}, v) }
	f32 := func(v ...float32) *tensor.Tensor { return ten([]int{len(v)}, v) }
	runCases(t, []opCase{
		{name: "equal", op: "Equal", in: []*tensor.Tensor{f32(1, 2, nan), f32(1, 3, nan)}, want: b(true, false, false)},
		{name: "less", op: "Less", in: []*tensor.Tensor{f32(1, 2, 3), ten(nil, []float32{2})}, want: b(true, false, false)},
		{name: "less or equal", op: "LessOrEqual", in: []*tensor.Tensor{f32(1, 2, 3), ten(nil, []float32{2})}, want: b(true, true, false)},
		{name: "greater", op: "Greater", in: []*tensor.Tensor{f32(1, 2, 3), ten(nil, []float32{2})}, want: b(false, false, true)},
		{name: "greater or equal", op: "GreaterOrEqual", in: []*tensor.Tensor{ten(nil, []float32{2}), f32(1, 2, 3)}, want: b(true, true, false)},
		{name: "greater uint64", op: "Greater", in: []*tensor.Tensor{ten([]int{2}, []uint64{1 << 63, 1}), ten([]int{1}, []uint64{2})}, want: b(true, false)},
		{name: "less float16", op: "Less", in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.Float16, 1, 3), tensor.Float16), ten([]int{1}, halfs(tensor.Float16, 2), tensor.Float16)}, want: b(true, false)},
		{name: "equal string", op: "Equal", in: []*tensor.Tensor{ten([]int{2, 2}, []string{"a", "b", "c", "a"}), ten([]int{1}, []string{"a"})},
			want: ten([]int{2, 2}, []bool{true, false, false, true})},
		{name: "equal bool", op: "Equal", in: []*tensor.Tensor{b(true, false, true), b(true, true, false)}, want: b(true, false, false)},
		{name: "less bool", op: "Less", in: []*tensor.Tensor{b(true), b(false)}, err: "unsupported"},
		{name: "less string", op: "Less", in: []*tensor.Tensor{ten([]int{1}, []string{"a"}), ten([]int{1}, []string{"b"})}, err: "unsupported"},
		{name: "and", op: "And", in: []*tensor.Tensor{ten([]int{2, 2}, []bool{true, true, false, false}), b(true, false)}, want: ten([]int{2, 2}, []bool{true, false, false, false})},
		{name: "or", op: "Or", in: []*tensor.Tensor{b(true, false, false), ten(nil, []bool{false})}, want: b(true, false, false)},
		{name: "xor", op: "Xor", in: []*tensor.Tensor{ten(nil, []bool{true}), b(true, false)}, want: b(false, true)},
		{name: "not", op: "Not", in: []*tensor.Tensor{b(true, false)}, want: b(false, true)},
		{name: "not int", op: "Not", in: []*tensor.Tensor{ten([]int{1}, []int32{1})}, err: "unsupported"},
		{name: "and int", op: "And", in: []*tensor.Tensor{ten([]int{1}, []int32{1}), ten([]int{1}, []int32{1})}, err: "unsupported"},
		{name: "bitwise and", op: "BitwiseAnd", in: []*tensor.Tensor{ten([]int{2}, []int16{0x0ff0, -1}), ten([]int{1}, []int16{0x00ff})}, want: ten([]int{2}, []int16{0x00f0, 0xff})},
		{name: "bitwise or", op: "BitwiseOr", in: []*tensor.Tensor{ten([]int{2}, []uint8{1, 2}), ten([]int{2}, []uint8{4, 2})}, want: ten([]int{2}, []uint8{5, 2})},
		{name: "bitwise xor", op: "BitwiseXor", in: []*tensor.Tensor{ten([]int{1}, []uint64{3}), ten([]int{2}, []uint64{1, 3})}, want: ten([]int{2}, []uint64{2, 0})},
		{name: "bitwise not", op: "BitwiseNot", in: []*tensor.Tensor{ten([]int{2}, []int8{0, -1})}, want: ten([]int{2}, []int8{-1, 0})},
		{name: "bitwise float", op: "BitwiseAnd", in: []*tensor.Tensor{f32(1), f32(1)}, err: "unsupported"},
		{name: "shift left", op: "BitShift", attrs: []*graph.Attr{sattr("direction", "LEFT")}, in: []*tensor.Tensor{ten([]int{3}, []uint8{1, 3, 1}), ten([]int{3}, []uint8{7, 1, 8})},
			want: ten([]int{3}, []uint8{128, 6, 0})},
		{name: "shift right", op: "BitShift", attrs: []*graph.Attr{sattr("direction", "RIGHT")}, in: []*tensor.Tensor{ten([]int{2}, []uint32{256, 7}), ten(nil, []uint32{4})},
			want: ten([]int{2}, []uint32{16, 0})},
		{name: "shift direction", op: "BitShift", attrs: []*graph.Attr{sattr("direction", "UP")}, in: []*tensor.Tensor{ten([]int{1}, []uint8{1}), ten([]int{1}, []uint8{1})}, err: "direction"},
		{name: "shift signed", op: "BitShift", attrs: []*graph.Attr{sattr("direction", "LEFT")}, in: []*tensor.Tensor{ten([]int{1}, []int8{1}), ten([]int{1}, []int8{1})}, err: "unsupported"},
		{name: "isnan", op: "IsNaN", in: []*tensor.Tensor{f32(1, nan, float32(math.Inf(1)))}, want: b(false, true, false)},
		{name: "isinf", op: "IsInf", in: []*tensor.Tensor{ten([]int{4}, []float64{1, math.NaN(), math.Inf(1), math.Inf(-1)})}, want: b(false, false, true, true)},
		{name: "isinf positive", op: "IsInf", attrs: []*graph.Attr{iattr("detect_negative", 0)}, in: []*tensor.Tensor{f32(float32(math.Inf(1)), float32(math.Inf(-1)))}, want: b(true, false)},
		{name: "isinf negative float16", op: "IsInf", attrs: []*graph.Attr{iattr("detect_positive", 0)},
			in: []*tensor.Tensor{ten([]int{2}, []uint16{0x7c00, 0xfc00}, tensor.Float16)}, want: b(false, true)},
	})
}

func TestWhere(t *testing.T) {
	runCases(t, []opCase{
		{name: "where 3-way", op: "Where", in: []*tensor.Tensor{
			ten([]int{2, 1}, []bool{true, false}), ten([]int{3}, []float32{1, 2, 3}), ten(nil, []float32{-1})},
			want: ten([]int{2, 3}, []float32{1, 2, 3, -1, -1, -1})},
		{name: "where elementwise", op: "Where", in: []*tensor.Tensor{
			ten([]int{4}, []bool{true, false, false, true}), ten([]int{4}, []int64{1, 2, 3, 4}), ten([]int{4}, []int64{-1, -2, -3, -4})},
			want: ten([]int{4}, []int64{1, -2, -3, 4})},
		{name: "where strings", op: "Where", in: []*tensor.Tensor{
			ten([]int{2}, []bool{false, true}), ten([]int{1}, []string{"x"}), ten([]int{2}, []string{"a", "b"})},
			want: ten([]int{2}, []string{"a", "x"})},
		{name: "where float16 bits", op: "Where", in: []*tensor.Tensor{
			ten([]int{2}, []bool{false, true}), ten([]int{2}, []uint16{1, 2}, tensor.Float16), ten([]int{2}, []uint16{3, 4}, tensor.Float16)},
			want: ten([]int{2}, []uint16{3, 2}, tensor.Float16)},
		{name: "where cond dtype", op: "Where", in: []*tensor.Tensor{
			ten([]int{1}, []int32{1}), ten([]int{1}, []int32{1}), ten([]int{1}, []int32{1})}, err: "bool"},
	})
}

func TestClip(t *testing.T) {
	f32 := func(v ...float32) *tensor.Tensor { return ten([]int{len(v)}, v) }
	s := func(v float32) *tensor.Tensor { return ten(nil, []float32{v}) }
	runCases(t, []opCase{
		{name: "clip", op: "Clip", in: []*tensor.Tensor{f32(-2, 0, 3, 7, nan), s(0), s(6)}, want: f32(0, 0, 3, 6, nan)},
		{name: "clip min only", op: "Clip", in: []*tensor.Tensor{f32(-2, 0, 3, 7), s(1)}, want: f32(1, 1, 3, 7)},
		{name: "clip max only", op: "Clip", in: []*tensor.Tensor{f32(-2, 0, 3, 7), nil, s(1)}, want: f32(-2, 0, 1, 1)},
		{name: "clip none", op: "Clip", in: []*tensor.Tensor{f32(-2, 7)}, want: f32(-2, 7)},
		{name: "clip min > max", op: "Clip", in: []*tensor.Tensor{f32(-2, 0, 3), s(2), s(1)}, want: f32(1, 1, 1)},
		{name: "clip int8", op: "Clip", in: []*tensor.Tensor{ten([]int{3}, []int8{-128, 0, 127}), nil, ten(nil, []int8{5})}, want: ten([]int{3}, []int8{-128, 0, 5})},
		{name: "clip float16", op: "Clip", in: []*tensor.Tensor{ten([]int{2}, halfs(tensor.Float16, -1, 1), tensor.Float16), ten(nil, halfs(tensor.Float16, 0), tensor.Float16)},
			want: ten([]int{2}, halfs(tensor.Float16, 0, 1), tensor.Float16)},
		{name: "clip bound shape", op: "Clip", in: []*tensor.Tensor{f32(1), f32(0, 1)}, err: "scalar"},
		{name: "clip bound dtype", op: "Clip", in: []*tensor.Tensor{f32(1), ten(nil, []float64{0})}, err: "float64"},
		{name: "clip-6 attrs", op: "Clip", opset: 6, attrs: []*graph.Attr{fattr("min", -1), fattr("max", 1)}, in: []*tensor.Tensor{f32(-2, 0.5, 2)}, want: f32(-1, 0.5, 1)},
		{name: "clip-6 default", op: "Clip", opset: 6, in: []*tensor.Tensor{f32(float32(math.Inf(-1)), 1)}, want: f32(-math.MaxFloat32, 1)},
	})
}

// TestPowShortcuts checks the constant-exponent shortcuts against math.Pow.
func TestPowShortcuts(t *testing.T) {
	xs := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2.5, -3.75, 1e-20, 3e12, float32(math.Inf(1)), float32(math.Inf(-1)), nan}
	l := fpowLoops[float32]()
	for _, e := range []float64{1, 2, 3, 0.5, -1, 0.25} {
		got := make([]float32, len(xs))
		l.vs(got, xs, e)
		for i, x := range xs {
			want := float32(math.Pow(float64(x), e))
			if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
				t.Errorf("pow(%g, %g) = %g, want %g", x, e, got[i], want)
			}
		}
	}
}

// TestFusedClamp checks Add and Sum with a Relu or Clip fused by the
// optimizer against the separate activation, same-shape (the fused loop)
// and broadcast, with NaNs.
func TestFusedClamp(t *testing.T) {
	a := tensor.New(tensor.Float32, 2, 3, 50)
	b := tensor.New(tensor.Float32, 2, 3, 50)
	for i := range a.F32() {
		a.F32()[i] = float32(i%17) - 8
		b.F32()[i] = float32(i%5) - 2.5
	}
	a.F32()[7] = float32(math.NaN())
	bc := tensor.New(tensor.Float32, 3, 1)
	copy(bc.F32(), []float32{-1, 0.5, 2})
	for _, act := range []struct {
		kind   string
		lo, hi float32
	}{{"Relu", 0, float32(math.Inf(1))}, {"Clip", -3, 4}} {
		attrs := []*graph.Attr{{Name: "edgedl_activation", Type: graph.AttrString, String: act.kind},
			{Name: "edgedl_activation_alpha", Type: graph.AttrFloat, Float: act.lo},
			{Name: "edgedl_activation_beta", Type: graph.AttrFloat, Float: act.hi}}
		for _, op := range []string{"Add", "Sum"} {
			for _, y := range []*tensor.Tensor{b, bc} {
				got, err := runOp(op, 13, attrs, a, y)
				if err != nil {
					t.Fatal(err)
				}
				plain, err := runOp(op, 13, nil, a, y)
				if err != nil {
					t.Fatal(err)
				}
				want := plain.Clone()
				for i, v := range want.F32() {
					want.F32()[i] = min(max(v, act.lo), act.hi)
				}
				if msg := same(got, want); msg != "" {
					t.Errorf("%s+%s %v: %s", op, act.kind, y.Shape, msg)
				}
			}
		}
	}
	// other activations are refused at build time
	bad := []*graph.Attr{{Name: "edgedl_activation", Type: graph.AttrString, String: "Sigmoid"}}
	if _, err := runOp("Add", 13, bad, a, b); err == nil {
		t.Error("Add+Sigmoid: no error")
	}
}
