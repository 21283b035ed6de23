package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

// refMatMul is numpy's matmul of (a − za[row]) and (b − zb[col]) in int64,
// with 1-D promotion and batch broadcasting.
func refMatMul(aShape []int, a []int64, za []int64, bShape []int, b []int64, zb []int64) ([]int64, []int) {
	as, bs := append([]int{}, aShape...), append([]int{}, bShape...)
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	batch, _ := tensor.BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	out := append([]int{}, batch...)
	if len(aShape) > 1 {
		out = append(out, m)
	}
	if len(bShape) > 1 {
		out = append(out, n)
	}
	astr := tensor.BroadcastStrides(as[:len(as)-2], batch)
	bstr := tensor.BroadcastStrides(bs[:len(bs)-2], batch)
	y := make([]int64, product(batch)*m*n)
	idx := make([]int, len(batch))
	for t := 0; t < product(batch); t++ {
		ai, bi := 0, 0
		for d := range idx {
			ai += idx[d] * astr[d]
			bi += idx[d] * bstr[d]
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s int64
				for p := 0; p < k; p++ {
					s += (a[(ai*m+i)*k+p] - za[i%len(za)]) * (b[(bi*k+p)*n+j] - zb[j%len(zb)])
				}
				y[(t*m+i)*n+j] = s
			}
		}
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < batch[d] {
				break
			}
			idx[d] = 0
		}
	}
	return y, out
}

var matmulShapes = []struct{ a, b []int }{
	{[]int{4, 3}, []int{3, 2}},
	{[]int{5, 17}, []int{17, 9}},
	{[]int{2, 3, 4}, []int{4, 5}},        // collapsed into one GEMM
	{[]int{2, 1, 3, 4}, []int{3, 4, 5}},  // broadcast both ways
	{[]int{3, 4}, []int{2, 4, 6}},        // A broadcast over B's batch
	{[]int{7}, []int{7, 3}},              // 1-D A
	{[]int{2, 7}, []int{7}},              // 1-D B
	{[]int{6}, []int{6}},                 // dot product
	{[]int{1, 70, 33}, []int{1, 33, 20}}, // unit batch dims
}

func TestMatMulIntegerMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range matmulShapes {
		for _, dts := range [][2]tensor.DType{{tensor.Uint8, tensor.Int8}, {tensor.Int8, tensor.Uint8}, {tensor.Uint8, tensor.Uint8}} {
			m := 1
			if len(s.a) > 1 {
				m = s.a[len(s.a)-2]
			}
			n := 1
			if len(s.b) > 1 {
				n = s.b[len(s.b)-1]
			}
			a, av := randTensor(r, dts[0], s.a)
			b, bv := randTensor(r, dts[1], s.b)
			azT, az := randTensor(r, dts[0], []int{m})
			bzT, bz := randTensor(r, dts[1], []int{n})
			want, shape := refMatMul(s.a, av, az, s.b, bv, bz)
			for _, consts := range []bool{false, true} {
				got := mustRun(t, node{op: "MatMulInteger", opset: 10, consts: consts}, a, b, azT, bzT)[0]
				if got.DType != tensor.Int32 || !tensor.EqualShapes(got.Shape, shape) {
					t.Fatalf("%v×%v: got %v%v, want int32%v", s.a, s.b, got.DType, got.Shape, shape)
				}
				for i, v := range got.Data.([]int32) {
					if int64(v) != want[i] {
						t.Fatalf("%v×%v %v consts=%v: y[%d] = %d, want %d", s.a, s.b, dts, consts, i, v, want[i])
					}
				}
			}
		}
	}
}

// TestQLinearMatMul checks per-row A scales and zero points and per-column
// B scales against the ONNX reference formula, for float32 and float16
// scales (whose multiplier is rounded to half precision at each step).
func TestQLinearMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, half := range []bool{false, true} {
		for _, s := range matmulShapes[:5] {
			m, n := s.a[len(s.a)-2], s.b[len(s.b)-1]
			a, av := randTensor(r, tensor.Uint8, s.a)
			b, bv := randTensor(r, tensor.Int8, s.b)
			azT, az := randTensor(r, tensor.Uint8, []int{m})
			bzT, bz := randTensor(r, tensor.Int8, []int{n})
			yzT, yz := randTensor(r, tensor.Int8, []int{m})
			mk := func(k int, lo, span float32) ([]float32, *tensor.Tensor) {
				v := make([]float32, k)
				for i := range v {
					v[i] = lo + span*r.Float32()
					if half {
						v[i] = roundScale(v[i], tensor.Float16)
					}
				}
				if half {
					return v, f16([]int{k}, v...)
				}
				return v, tt([]int{k}, v...)
			}
			as, asT := mk(m, 0.01, 0.02)
			bs, bsT := mk(n, 0.01, 0.02)
			ys, ysT := mk(m, 0.5, 1)
			acc, shape := refMatMul(s.a, av, az, s.b, bv, bz)
			got := mustRun(t, node{op: "QLinearMatMul", opset: 21, consts: true}, a, asT, azT, b, bsT, bzT, ysT, yzT)[0]
			if got.DType != tensor.Int8 || !tensor.EqualShapes(got.Shape, shape) {
				t.Fatalf("%v×%v: got %v%v, want int8%v", s.a, s.b, got.DType, got.Shape, shape)
			}
			for i := range acc {
				row, col := i/n%m, i%n
				mult := as[row] * bs[col]
				if half {
					mult = roundScale(roundScale(mult, tensor.Float16)/ys[row], tensor.Float16)
				} else {
					mult = float32(mult) / ys[row]
				}
				want := saturate(float64(acc[i])*float64(mult), float64(yz[row]), -128, 127)
				if got.Float64At(i) != want {
					t.Fatalf("%v×%v half=%v: y[%d] = %v, want %v", s.a, s.b, half, i, got.Float64At(i), want)
				}
			}
		}
	}
}

// TestNewGemmFloatReference runs the exported fused Gemm (B transposed,
// per-column scales, int32 and float bias) against float arithmetic on the
// dequantized operands.
func TestNewGemmFloatReference(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const m, k, n = 3, 40, 11
	a, av := randTensor(r, tensor.Int8, []int{m, k})
	b, bv := randTensor(r, tensor.Int8, []int{n, k}) // [N, K]: transB
	as, az := float32(0.04), int32(-128)
	bs := make([]float32, n)
	ib := tensor.New(tensor.Int32, n)
	fb := tensor.New(tensor.Float32, n)
	for j := range bs {
		bs[j] = 0.002 + 0.002*r.Float32()
		ib.Data.([]int32)[j] = int32(r.IntN(4000) - 2000)
		fb.F32()[j] = float32(ib.Data.([]int32)[j]) * as * bs[j]
	}
	realVal := func(i, j int) float64 {
		var s float64
		for p := 0; p < k; p++ {
			s += float64(float32(av[i*k+p]-int64(az))*as) * float64(float32(bv[j*k+p])*bs[j])
		}
		return s + float64(fb.F32()[j])
	}
	for _, bias := range []*tensor.Tensor{ib, fb} {
		for _, yt := range []tensor.DType{tensor.Float32, tensor.Uint8} {
			kern, err := NewGemm(GemmParams{AType: tensor.Int8, AScale: as, AZero: az, B: b, TransB: true,
				BScale: bs, Bias: bias, YType: yt, YScale: 0.05, YZero: 100})
			if err != nil {
				t.Fatal(err)
			}
			out := []*tensor.Tensor{nil}
			if err := kern.Run(nil, []*tensor.Tensor{a}, out); err != nil {
				t.Fatal(err)
			}
			y := out[0]
			if y.DType != yt || !tensor.EqualShapes(y.Shape, []int{m, n}) {
				t.Fatalf("got %v%v", y.DType, y.Shape)
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					want, g := realVal(i, j), y.Float64At(i*n+j)
					if yt == tensor.Float32 {
						if math.Abs(g-want) > 1e-4*math.Max(1, math.Abs(want)) {
							t.Fatalf("bias %v float: y[%d,%d] = %v, want %v", bias.DType, i, j, g, want)
						}
						continue
					}
					q := math.Max(0, math.Min(255, math.RoundToEven(want/0.05)+100))
					if math.Abs(g-q) > 1 {
						t.Fatalf("bias %v uint8: y[%d,%d] = %v, want about %v", bias.DType, i, j, g, q)
					}
				}
			}
		}
	}
	// A wrong inner dimension is an error, not a panic.
	kern, _ := NewGemm(GemmParams{AType: tensor.Int8, AScale: 1, B: b, TransB: true, BScale: []float32{1}, YType: tensor.Float32})
	if err := kern.Run(nil, []*tensor.Tensor{tensor.New(tensor.Int8, 2, k+1)}, []*tensor.Tensor{nil}); err == nil {
		t.Error("mismatched K: no error")
	}
}

func TestMatMulRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   []*tensor.Tensor
	}{
		{"inner dims differ", []*tensor.Tensor{tensor.New(tensor.Uint8, 2, 3), tensor.New(tensor.Uint8, 4, 2)}},
		{"batch dims do not broadcast", []*tensor.Tensor{tensor.New(tensor.Uint8, 2, 2, 3), tensor.New(tensor.Uint8, 3, 3, 2)}},
		{"a zero point per column", []*tensor.Tensor{tensor.New(tensor.Uint8, 2, 3), tensor.New(tensor.Uint8, 3, 4), tensor.New(tensor.Uint8, 3)}},
		{"b zero point dtype", []*tensor.Tensor{tensor.New(tensor.Uint8, 2, 3), tensor.New(tensor.Uint8, 3, 4), nil, tensor.New(tensor.Int8, 4)}},
		{"scalar A", []*tensor.Tensor{tensor.New(tensor.Uint8), tensor.New(tensor.Uint8, 3, 4)}},
	}
	for _, tc := range tests {
		for _, consts := range []bool{false, true} {
			if _, err := runOp(node{op: "MatMulInteger", opset: 10, consts: consts}, tc.in...); err == nil {
				t.Errorf("%s (consts=%v): no error", tc.name, consts)
			}
		}
	}
}
