package codec

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

// reluActivation is a post-ReLU NCHW activation whose channels have
// different scales, as after a convolution and batch norm.
func reluActivation(seed uint64, n, c, h, w int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	t := tensor.New(tensor.Float32, n, c, h, w)
	d := t.F32()
	inner := h * w
	for i := 0; i < n*c; i++ {
		scale := float32(0.2 + 3*r.Float64())
		bias := float32(r.NormFloat64() * 0.5)
		for j := 0; j < inner; j++ {
			v := float32(r.NormFloat64())*scale + bias
			d[i*inner+j] = max(v, 0)
		}
	}
	return t
}

// gaussianActivation is a pre-activation NCHW tensor: N(0, 1) per element.
func gaussianActivation(seed uint64, n, c, h, w int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 2))
	t := tensor.New(tensor.Float32, n, c, h, w)
	for i := range t.F32() {
		t.F32()[i] = float32(r.NormFloat64())
	}
	return t
}

func mustGet(t testing.TB, name string) Codec {
	t.Helper()
	c, err := Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func roundTrip(t testing.TB, c Codec, x *tensor.Tensor) (*tensor.Tensor, []byte, Params) {
	t.Helper()
	p, params, err := c.Encode(x)
	if err != nil {
		t.Fatalf("%s: encode %v: %v", c.Name(), x.Shape, err)
	}
	y, err := Decode(p, x.DType, x.Shape, params)
	if err != nil {
		t.Fatalf("%s: decode %v: %v", c.Name(), x.Shape, err)
	}
	if y.DType != x.DType || !tensor.EqualShapes(y.Shape, x.Shape) {
		t.Fatalf("%s: got %v%v, want %v%v", c.Name(), y.DType, y.Shape, x.DType, x.Shape)
	}
	return y, p, params
}

func TestNames(t *testing.T) {
	names := Names()
	if len(names) != 12 {
		t.Fatalf("Names() = %v", names)
	}
	for _, n := range names {
		c := mustGet(t, n)
		if c.Name() != n {
			t.Errorf("Get(%q).Name() = %q", n, c.Name())
		}
	}
	if c := mustGet(t, ""); c != Default || c.Name() != "fp32" {
		t.Errorf("Get(\"\") = %v", c.Name())
	}
	if c := mustGet(t, "INT8C+LZ4"); c.Name() != "int8c+lz4" {
		t.Errorf("case-insensitive lookup gave %q", c.Name())
	}
	for _, bad := range []string{"fp8", "int8+gzip", "+zstd", "zstd"} {
		if _, err := Get(bad); !errors.Is(err, ErrUnknown) {
			t.Errorf("Get(%q) err = %v, want ErrUnknown", bad, err)
		}
	}
}

// fp32 is exact for every dtype, bit for bit, including NaN payloads and
// infinities, with and without a lossless stage.
func TestFP32Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	f := make([]float32, 1000)
	for i := range f {
		f[i] = math.Float32frombits(r.Uint32())
	}
	f[0], f[1], f[2] = float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())
	i64 := make([]int64, 60)
	for i := range i64 {
		i64[i] = int64(r.Uint64())
	}
	h := make([]uint16, 64)
	for i := range h {
		h[i] = uint16(r.Uint32())
	}
	cases := []*tensor.Tensor{
		tensor.Float32s([]int{10, 100}, f),
		tensor.Int64s([]int{3, 4, 5}, i64),
		must(tensor.FromSlice(tensor.Float16, []int{8, 8}, h)),
		must(tensor.FromSlice(tensor.Bool, []int{4}, []bool{true, false, false, true})),
		must(tensor.FromSlice(tensor.Int8, []int{3}, []int8{-128, 0, 127})),
		must(tensor.FromSlice(tensor.Uint8, []int{2}, []uint8{0, 255})),
		must(tensor.FromSlice(tensor.Int32, []int{2}, []int32{math.MinInt32, math.MaxInt32})),
		must(tensor.FromSlice(tensor.Float64, []int{2}, []float64{math.Pi, math.Copysign(0, -1)})),
		must(tensor.FromSlice(tensor.String, []int{3}, []string{"", "héllo", strings.Repeat("x", 300)})),
		tensor.Scalar(float32(1.5)),
		tensor.New(tensor.Float32, 0, 3),
	}
	for _, name := range Names() {
		c := mustGet(t, name)
		for _, x := range cases {
			// Lossy bases change float32 only; everything else must be exact.
			if x.DType == tensor.Float32 && !strings.HasPrefix(name, "fp32") && x.Len() > 0 && x.Rank() > 0 {
				continue
			}
			y, _, _ := roundTrip(t, c, x)
			a, _ := AppendRaw(nil, x)
			b, _ := AppendRaw(nil, y)
			if string(a) != string(b) {
				t.Errorf("%s: %v%v not exact", name, x.DType, x.Shape)
			}
		}
	}
}

func must(t *tensor.Tensor, err error) *tensor.Tensor {
	if err != nil {
		panic(err)
	}
	return t
}

func TestLossyErrorBounds(t *testing.T) {
	inputs := map[string]*tensor.Tensor{
		"relu":     reluActivation(1, 1, 32, 28, 28),
		"gaussian": gaussianActivation(2, 1, 32, 28, 28),
		"relu-b4":  reluActivation(3, 4, 16, 14, 14),
	}
	bounds := map[string]float64{"fp32": 0, "fp16": 1e-3, "int8": 1e-2, "int8c": 1e-2}
	for _, name := range Names() {
		base, _, _ := strings.Cut(name, "+")
		for in, x := range inputs {
			y, _, _ := roundTrip(t, mustGet(t, name), x)
			e := RelL2(y.F32(), x.F32())
			if e > bounds[base] {
				t.Errorf("%s on %s: rel L2 %.3g > %g", name, in, e, bounds[base])
			}
		}
	}
}

// A lossless stage must give back exactly what its base alone gives.
func TestLosslessStagesExact(t *testing.T) {
	x := reluActivation(4, 1, 8, 16, 16)
	for _, base := range bases {
		want, _, _ := roundTrip(t, mustGet(t, base), x)
		for _, st := range []string{"zstd", "lz4"} {
			got, p, _ := roundTrip(t, mustGet(t, base+"+"+st), x)
			for i, v := range want.F32() {
				if math.Float32bits(got.F32()[i]) != math.Float32bits(v) {
					t.Fatalf("%s+%s differs from %s at %d", base, st, base, i)
				}
			}
			if len(p) == 0 {
				t.Fatalf("%s+%s: empty payload", base, st)
			}
		}
	}
	// Incompressible data is stored by lz4, compressed by nothing.
	r := rand.New(rand.NewPCG(5, 5))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	for _, st := range []string{"zstd", "lz4"} {
		p, err := compress(st, noise)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decompress(st, p, len(noise))
		if err != nil || string(back) != string(noise) {
			t.Fatalf("%s: noise round trip failed: %v", st, err)
		}
	}
}

func TestInt8Semantics(t *testing.T) {
	// Range [-16, 47.75]: scale 63.75/255 = 0.25 exactly, zero point
	// -128 - (-16/0.25) = -64. Values at k.5 steps test round-half-to-even.
	scale, zp := affine(-16, 47.75)
	if scale != 0.25 || zp != -64 {
		t.Fatalf("affine(-16, 47.75) = %v, %d", scale, zp)
	}
	x := []float32{-16, 0, 47.75, 0.125, 0.375, 0.625, -0.125, -0.375, 100, -100,
		float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	// 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2; ±100 saturate;
	// NaN -> zero point; ±Inf saturate.
	want := []int8{-128, -64, 127, -64, -62, -62, -64, -66, 127, -128, -64, 127, -128}
	q := make([]byte, len(x))
	quantize(q, x, scale, zp)
	for i := range want {
		if int8(q[i]) != want[i] {
			t.Errorf("quantize(%v) = %d, want %d", x[i], int8(q[i]), want[i])
		}
	}
	// Zero and the range's ends are exact.
	out := make([]float32, len(q))
	dequantize(out, q, scale, zp)
	if out[0] != -16 || out[1] != 0 || out[2] != 47.75 {
		t.Errorf("dequantized ends %v %v %v", out[0], out[1], out[2])
	}
	// Post-ReLU data uses all 256 levels over [0, max].
	if s, z := affine(0, 63.75); z != -128 || s != 0.25 {
		t.Errorf("affine(0, 63.75) = %v, %d", s, z)
	}
	// All zeros, all negative, huge range: no division by zero, no overflow.
	if s, z := affine(0, 0); s != 1 || z != 0 {
		t.Errorf("affine(0,0) = %v, %d", s, z)
	}
	if s, z := affine(-5, -1); !(s > 0) || z != 127 {
		t.Errorf("affine(-5,-1) = %v, %d", s, z)
	}
	if s, _ := affine(-math.MaxFloat32, math.MaxFloat32); math.IsInf(float64(s), 0) || !(s > 0) {
		t.Errorf("affine(full range) scale = %v", s)
	}
}

func TestFP16Saturates(t *testing.T) {
	x := tensor.Float32s([]int{4}, []float32{1e6, -1e6, 65504, 1})
	y, _, _ := roundTrip(t, mustGet(t, "fp16"), x)
	want := []float32{65504, -65504, 65504, 1}
	for i, v := range want {
		if y.F32()[i] != v {
			t.Errorf("fp16(%v) = %v, want %v", x.F32()[i], y.F32()[i], v)
		}
	}
}

func TestPerChannelBeatsPerTensor(t *testing.T) {
	x := reluActivation(9, 2, 16, 8, 8)
	yt, pt, _ := roundTrip(t, mustGet(t, "int8"), x)
	yc, pc, _ := roundTrip(t, mustGet(t, "int8c"), x)
	et, ec := RelL2(yt.F32(), x.F32()), RelL2(yc.F32(), x.F32())
	if ec > et {
		t.Errorf("per-channel error %.3g > per-tensor %.3g", ec, et)
	}
	if len(pc) != len(pt)+5*16 {
		t.Errorf("int8c payload %d bytes, want %d", len(pc), len(pt)+5*16)
	}
}

func TestFallbacks(t *testing.T) {
	c := mustGet(t, "int8c+zstd")
	cases := []struct {
		x    *tensor.Tensor
		want string
	}{
		{tensor.Int64s([]int{2}, []int64{1, 2}), "fp32+zstd"},
		{tensor.Float32s([]int{5}, []float32{1, 2, 3, 4, 5}), "int8+zstd"},
		{must(tensor.FromSlice(tensor.String, []int{1}, []string{"a"})), "fp32"},
		{tensor.Float32s([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}), "int8c+zstd"},
	}
	for _, tc := range cases {
		_, _, params := roundTrip(t, c, tc.x)
		if got := params[ParamCodec].GetStringParam(); got != tc.want {
			t.Errorf("%v%v: applied %q, want %q", tc.x.DType, tc.x.Shape, got, tc.want)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	bad := []*tensor.Tensor{
		nil,
		{DType: tensor.Float32, Shape: []int{3}, Data: []float32{1, 2}},
		{DType: tensor.Float32, Shape: []int{2}, Data: []int64{1, 2}},
		{DType: tensor.Float32, Shape: []int{-1}, Data: []float32{}},
		{DType: tensor.Float32, Shape: []int{1}},
	}
	for _, name := range []string{"fp32", "int8c+lz4"} {
		for i, x := range bad {
			if _, _, err := mustGet(t, name).Encode(x); err == nil {
				t.Errorf("%s: bad tensor %d encoded", name, i)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	x := reluActivation(11, 1, 4, 4, 4)
	for _, name := range Names() {
		c := mustGet(t, name)
		p, params, err := c.Encode(x)
		if err != nil {
			t.Fatal(err)
		}
		check := func(what string, payload []byte, shape []int, params Params) {
			t.Helper()
			if _, err := Decode(payload, tensor.Float32, shape, params); err == nil {
				t.Errorf("%s: %s decoded without error", name, what)
			}
		}
		check("truncated", p[:len(p)-1], x.Shape, params)
		check("empty", nil, x.Shape, params)
		check("extra byte", append(append([]byte{}, p...), 0), x.Shape, params)
		check("wrong shape", p, []int{1, 4, 4, 5}, params)
		check("negative dim", p, []int{1, -4, 4, 4}, params)
		check("huge shape", p, []int{1 << 20, 1 << 20}, params)
		if strings.HasPrefix(name, "int8") && !strings.HasPrefix(name, "int8c") {
			q := Params{ParamCodec: params[ParamCodec], ParamScale: DoubleParam(-1), ParamZeroPoint: params[ParamZeroPoint]}
			check("negative scale", p, x.Shape, q)
			q = Params{ParamCodec: params[ParamCodec], ParamScale: params[ParamScale], ParamZeroPoint: Int64Param(300)}
			check("zero point out of range", p, x.Shape, q)
			check("missing scale", p, x.Shape, Params{ParamCodec: params[ParamCodec]})
		}
	}
	if _, err := Decode(nil, tensor.Float32, []int{1}, Params{ParamCodec: StringParam("gzip")}); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown codec: %v", err)
	}
	if _, err := Decode(nil, tensor.Float32, []int{1}, Params{ParamCodec: Int64Param(3)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("non-string codec param: %v", err)
	}
	// A lossy codec named for a dtype the encoder would not have used it on.
	if _, err := Decode(make([]byte, 8), tensor.Int64, []int{1}, Params{ParamCodec: StringParam("fp16")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("fp16 on int64: %v", err)
	}
	// A per-channel payload with a zero scale.
	body := make([]byte, 5*2+4)
	if _, err := Decode(body, tensor.Float32, []int{1, 2, 2}, Params{ParamCodec: StringParam("int8c"), ParamAxis: Int64Param(1)}); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero channel scale: %v", err)
	}
}

// A tiny payload that declares a huge shape must fail before the decoder
// allocates anything the size of the shape.
func TestDecodeDoesNotTrustShape(t *testing.T) {
	shape := []int{1, 64, 1024, 1024} // 64 Mi elements: 256 MiB as float32
	zeros := make([]byte, 1024)
	cases := map[string][]byte{}
	for _, name := range Names() {
		c := mustGet(t, name)
		p, params, err := c.Encode(tensor.Float32s([]int{1, 1, 16, 16}, make([]float32, 256)))
		if err != nil {
			t.Fatal(err)
		}
		cases[name] = p
		_ = params
	}
	cases["lz4-forged"] = append([]byte{lz4Compressed}, zeros...)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	for name, p := range cases {
		codecName := name
		if name == "lz4-forged" {
			codecName = "fp32+lz4"
		}
		params := Params{ParamCodec: StringParam(codecName), ParamScale: DoubleParam(1), ParamZeroPoint: Int64Param(0), ParamAxis: Int64Param(1)}
		if _, err := Decode(p, tensor.Float32, shape, params); err == nil {
			t.Errorf("%s: decoded a %d-byte payload as %v", name, len(p), shape)
		}
	}
	runtime.ReadMemStats(&ms)
	if grew := ms.TotalAlloc - before; grew > 16<<20 {
		t.Errorf("decoding forged payloads allocated %d MiB", grew>>20)
	}
}

func TestMeteredAndMeasure(t *testing.T) {
	x := reluActivation(12, 1, 16, 16, 16)
	m := NewMetered(mustGet(t, "int8+lz4"))
	for range 3 {
		roundTripWith(t, m, x)
	}
	s := m.Stats()
	if s.Encodes != 3 || s.Decodes != 3 || s.RawBytes != 3*int64(x.Bytes()) || s.DecodedBytes != s.RawBytes {
		t.Errorf("stats %+v", s)
	}
	if s.Ratio() < 3 || s.EncodedBytes == 0 || s.EncodeTime <= 0 || s.DecodeTime <= 0 {
		t.Errorf("ratio %.2f, stats %+v", s.Ratio(), s)
	}
	if s.EncodeThroughput() <= 0 || s.DecodeThroughput() <= 0 {
		t.Errorf("throughputs %v %v", s.EncodeThroughput(), s.DecodeThroughput())
	}
	m.Reset()
	if m.Stats() != (Stats{}) {
		t.Error("Reset left totals")
	}
	me, err := Measure(mustGet(t, "fp16+zstd"), x)
	if err != nil {
		t.Fatal(err)
	}
	if me.Applied != "fp16+zstd" || me.Ratio <= 2 || me.RelL2 > 1e-3 || me.RawBytes != x.Bytes() {
		t.Errorf("%v", me)
	}
}

func roundTripWith(t *testing.T, c Codec, x *tensor.Tensor) {
	t.Helper()
	p, params, err := c.Encode(x)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(p, x.DType, x.Shape, params); err != nil {
		t.Fatal(err)
	}
}

// TestReportRatios logs each codec's ratio, speed and error on a realistic
// activation (run with -v to see the table).
func TestReportRatios(t *testing.T) {
	inputs := []struct {
		name string
		x    *tensor.Tensor
	}{
		{"relu 1x64x56x56", reluActivation(21, 1, 64, 56, 56)},
		{"gauss 1x64x56x56", gaussianActivation(22, 1, 64, 56, 56)},
	}
	for _, in := range inputs {
		t.Logf("%s (%d bytes):", in.name, in.x.Bytes())
		for _, name := range Names() {
			c := mustGet(t, name)
			best := Measurement{}
			for i := range 3 {
				m, err := Measure(c, in.x)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 || m.EncodeTime < best.EncodeTime {
					best.EncodeTime = m.EncodeTime
				}
				if i == 0 || m.DecodeTime < best.DecodeTime {
					best.DecodeTime = m.DecodeTime
				}
				m.EncodeTime, m.DecodeTime = best.EncodeTime, best.DecodeTime
				best = m
			}
			mbps := func(d float64) float64 { return float64(best.RawBytes) / d / 1e6 }
			t.Logf("  %-11s x%6.2f  enc %7.0f MB/s  dec %7.0f MB/s  relL2 %.2e",
				name, best.Ratio, mbps(best.EncodeTime.Seconds()), mbps(best.DecodeTime.Seconds()), best.RelL2)
		}
	}
}

func BenchmarkCodecs(b *testing.B) {
	x := reluActivation(31, 1, 64, 56, 56)
	for _, name := range Names() {
		c := mustGet(b, name)
		p, params, err := c.Encode(x)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(x.Bytes()))
			for b.Loop() {
				if _, _, err := c.Encode(x); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(x.Bytes()))
			for b.Loop() {
				if _, err := c.Decode(p, x.DType, x.Shape, params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
