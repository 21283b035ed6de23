package attention

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// run builds op with attrs and runs it once with nOut named outputs.
func run(t *testing.T, op string, opset int64, attrs map[string]*graph.Attr, nOut int, in ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	t.Helper()
	n := &graph.Node{OpType: op, Attrs: attrs}
	meta := make([]kernels.Input, len(in))
	for i, x := range in {
		n.Inputs = append(n.Inputs, "")
		if x != nil {
			n.Inputs[i] = "x" + string(rune('0'+i))
			meta[i] = kernels.Input{Present: true, DType: x.DType, Shape: x.Shape}
		}
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, "y"+string(rune('0'+i)))
	}
	build, err := kernels.Lookup("", op, opset)
	if err != nil {
		t.Fatal(err)
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, nOut)
	return out, k.Run(&kernels.Ctx{Pool: testPool}, in, out)
}

// testPool makes the kernels' parallel loops really run in parallel.
var testPool = kernels.NewPool(2)

func ints(v ...int64) *graph.Attr                { return &graph.Attr{Type: graph.AttrInt, Int: v[0]} }
func flt(v float32) *graph.Attr                  { return &graph.Attr{Type: graph.AttrFloat, Float: v} }
func str(v string) *graph.Attr                   { return &graph.Attr{Type: graph.AttrString, String: v} }
func f(shape []int, v ...float32) *tensor.Tensor { return tensor.Float32s(shape, v) }

func near(t *testing.T, name string, got *tensor.Tensor, wantShape []int, want []float32, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no output", name)
	}
	if !tensor.EqualShapes(got.Shape, wantShape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape, wantShape)
	}
	g := got.F32()
	for i := range want {
		if math.Abs(float64(g[i]-want[i])) > tol || math.IsNaN(float64(g[i])) {
			t.Fatalf("%s: element %d = %v, want %v (all %v)", name, i, g[i], want[i], g)
		}
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestAttentionHandComputed(t *testing.T) {
	e := math.E
	p0, p1 := float32(e/(e+1)), float32(1/(e+1))
	q := f([]int{1, 1, 1, 2}, 1, 0)
	k := f([]int{1, 1, 2, 2}, 1, 0, 0, 1)
	v := f([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	one := map[string]*graph.Attr{"scale": flt(1)}
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
		want  []float32
	}{
		{"plain", one, []*tensor.Tensor{q, k, v}, []float32{p0*1 + p1*3, p0*2 + p1*4}},
		// default scale 1/sqrt(2): scores [0.7071, 0]
		{"default scale", nil, []*tensor.Tensor{q, k, v}, func() []float32 {
			a := math.Exp(1 / math.Sqrt2)
			p, r := float32(a/(a+1)), float32(1/(a+1))
			return []float32{p*1 + r*3, p*2 + r*4}
		}()},
		// bool mask hides key 0; a short float mask is padded with -inf
		{"bool mask", one, []*tensor.Tensor{q, k, v, {DType: tensor.Bool, Shape: []int{1, 2}, Data: []bool{false, true}}}, []float32{3, 4}},
		{"short mask", one, []*tensor.Tensor{q, k, v, f([]int{1, 1}, 0)}, []float32{1, 2}},
		// causal with one query and two keys: query 0 sees key 0 only
		{"causal", map[string]*graph.Attr{"scale": flt(1), "is_causal": ints(1)}, []*tensor.Tensor{q, k, v}, []float32{1, 2}},
		// every key masked: zeros, not NaN
		{"fully masked", one, []*tensor.Tensor{q, k, v, {DType: tensor.Bool, Shape: []int{1, 2}, Data: []bool{false, false}}}, []float32{0, 0}},
		// softcap 0.5: scores 0.5·tanh(2), 0
		{"softcap", map[string]*graph.Attr{"scale": flt(1), "softcap": flt(0.5)}, []*tensor.Tensor{q, k, v}, func() []float32 {
			a := math.Exp(0.5 * math.Tanh(2))
			p, r := float32(a/(a+1)), float32(1/(a+1))
			return []float32{p*1 + r*3, p*2 + r*4}
		}()},
	}
	for _, tc := range tests {
		out, err := run(t, "Attention", 23, tc.attrs, 1, tc.in...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		near(t, tc.name, out[0], []int{1, 1, 1, 2}, tc.want, 1e-6)
	}
}

func TestAttentionPastAndQK(t *testing.T) {
	q := f([]int{1, 1, 1, 2}, 1, 0)
	k := f([]int{1, 1, 1, 2}, 0, 1)
	v := f([]int{1, 1, 1, 2}, 3, 4)
	pk := f([]int{1, 1, 1, 2}, 1, 0)
	pv := f([]int{1, 1, 1, 2}, 1, 2)
	attrs := map[string]*graph.Attr{"scale": flt(1), "qk_matmul_output_mode": ints(0)}
	out, err := run(t, "Attention", 23, attrs, 4, q, k, v, nil, pk, pv)
	if err != nil {
		t.Fatal(err)
	}
	e := math.E
	p0, p1 := float32(e/(e+1)), float32(1/(e+1))
	near(t, "Y", out[0], []int{1, 1, 1, 2}, []float32{p0*1 + p1*3, p0*2 + p1*4}, 1e-6)
	near(t, "present_key", out[1], []int{1, 1, 2, 2}, []float32{1, 0, 0, 1}, 0)
	near(t, "present_value", out[2], []int{1, 1, 2, 2}, []float32{1, 2, 3, 4}, 0)
	near(t, "qk", out[3], []int{1, 1, 1, 2}, []float32{1, 0}, 1e-6)
}

// naive is a direct transcription of the Attention definition for 4-D
// inputs (GQA by head grouping, optional causal mask).
func naive(q, k, v []float32, b, hq, hk, sq, skv, dh, dv int, causal bool) []float32 {
	y := make([]float32, b*hq*sq*dv)
	scale := 1 / math.Sqrt(float64(dh))
	for bi := 0; bi < b; bi++ {
		for h := 0; h < hq; h++ {
			g := h / (hq / hk)
			for i := 0; i < sq; i++ {
				s := make([]float64, skv)
				m := math.Inf(-1)
				for j := 0; j < skv; j++ {
					if causal && j > i {
						s[j] = math.Inf(-1)
						continue
					}
					var acc float64
					for d := 0; d < dh; d++ {
						acc += float64(q[((bi*hq+h)*sq+i)*dh+d]) * float64(k[((bi*hk+g)*skv+j)*dh+d])
					}
					s[j] = acc * scale
					m = math.Max(m, s[j])
				}
				var sum float64
				for j := range s {
					s[j] = math.Exp(s[j] - m)
					sum += s[j]
				}
				for d := 0; d < dv; d++ {
					var acc float64
					for j := range s {
						acc += s[j] / sum * float64(v[((bi*hk+g)*skv+j)*dv+d])
					}
					y[((bi*hq+h)*sq+i)*dv+d] = float32(acc)
				}
			}
		}
	}
	return y
}

func randT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = r.Float32()*2 - 1
	}
	return t
}

// TestAttentionGQA3D checks the 3-D packed layout against the 4-D naive
// definition: [B,S,H·D] is [B,H,S,D] transposed.
func TestAttentionGQA3D(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const b, hq, hk, sq, skv, dh, dv = 2, 6, 2, 3, 5, 4, 3
	q, k, v := randT(r, b, hq, sq, dh), randT(r, b, hk, skv, dh), randT(r, b, hk, skv, dv)
	for _, causal := range []bool{false, true} {
		want := naive(q.F32(), k.F32(), v.F32(), b, hq, hk, sq, skv, dh, dv, causal)
		c := int64(0)
		if causal {
			c = 1
		}
		out, err := run(t, "Attention", 23, map[string]*graph.Attr{"is_causal": ints(c)}, 1, q, k, v)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "4d", out[0], []int{b, hq, sq, dv}, want, 1e-5)

		attrs := map[string]*graph.Attr{"is_causal": ints(c), "q_num_heads": ints(hq), "kv_num_heads": ints(hk)}
		out, err = run(t, "Attention", 23, attrs, 1, to3D(q), to3D(k), to3D(v))
		if err != nil {
			t.Fatal(err)
		}
		near(t, "3d", out[0], []int{b, sq, hq * dv}, to3D(tensor.Float32s([]int{b, hq, sq, dv}, want)).F32(), 1e-5)
	}
}

// to3D turns [B,H,S,D] into [B,S,H·D].
func to3D(x *tensor.Tensor) *tensor.Tensor {
	b, h, s, d := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := tensor.New(tensor.Float32, b, s, h*d)
	for bi := 0; bi < b; bi++ {
		for hi := 0; hi < h; hi++ {
			for si := 0; si < s; si++ {
				copy(y.F32()[(bi*s+si)*h*d+hi*d:][:d], x.F32()[((bi*h+hi)*s+si)*d:][:d])
			}
		}
	}
	return y
}

func TestAttentionErrors(t *testing.T) {
	q := f([]int{1, 1, 1, 2}, 1, 0)
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		in    []*tensor.Tensor
		want  string
	}{
		{"rank mismatch", nil, []*tensor.Tensor{q, f([]int{1, 2, 2}, 1, 2, 3, 4), q}, "3-D or 4-D"},
		{"head size", nil, []*tensor.Tensor{q, f([]int{1, 1, 1, 3}, 1, 2, 3), q}, "do not match"},
		{"3d without heads", nil, []*tensor.Tensor{f([]int{1, 1, 2}, 1, 2), f([]int{1, 1, 2}, 1, 2), f([]int{1, 1, 2}, 1, 2)}, "q_num_heads"},
		{"long mask", nil, []*tensor.Tensor{q, q, q, f([]int{1, 2}, 0, 0)}, "longer"},
		{"bad nonpad", nil, []*tensor.Tensor{q, q, q, nil, nil, nil, tensor.Int64s([]int{1}, []int64{5})}, "out of range"},
	}
	for _, tc := range tests {
		_, err := run(t, "Attention", 24, tc.attrs, 1, tc.in...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestRotaryEmbedding(t *testing.T) {
	x := f([]int{1, 1, 1, 4}, 1, 2, 3, 4)
	pos := tensor.Int64s([]int{1, 1}, []int64{1})
	// row 0 is the identity rotation, row 1 a quarter turn
	cos := f([]int{2, 2}, 1, 1, 0, 0)
	sin := f([]int{2, 2}, 0, 0, 1, 1)
	tests := []struct {
		name  string
		attrs map[string]*graph.Attr
		want  []float32
	}{
		// halves: (x1, x2) = ([1,2], [3,4]) → (−x2, x1)
		{"halves", nil, []float32{-3, -4, 1, 2}},
		// pairs: (1,2), (3,4) → (−2,1), (−4,3)
		{"interleaved", map[string]*graph.Attr{"interleaved": ints(1)}, []float32{-2, 1, -4, 3}},
	}
	for _, tc := range tests {
		out, err := run(t, "RotaryEmbedding", 23, tc.attrs, 1, x, cos, sin, pos)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		near(t, tc.name, out[0], []int{1, 1, 1, 4}, tc.want, 1e-7)
	}
	if _, err := run(t, "RotaryEmbedding", 23, nil, 1, x, cos, sin, tensor.Int64s([]int{1, 1}, []int64{7})); err == nil {
		t.Error("out-of-range position id: no error")
	}
}

func TestLinearAttention(t *testing.T) {
	// One head, d_k = d_v = 2, one step, no past: S = k vᵀ, o = scale·(q·k)·v.
	q, k, v := f([]int{1, 1, 2}, 1, 2), f([]int{1, 1, 2}, 3, 4), f([]int{1, 1, 2}, 5, 6)
	heads := func(rule string) map[string]*graph.Attr {
		return map[string]*graph.Attr{"q_num_heads": ints(1), "kv_num_heads": ints(1), "scale": flt(0.5), "update_rule": str(rule)}
	}
	out, err := run(t, "LinearAttention", 27, heads("linear"), 2, q, k, v)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "output", out[0], []int{1, 1, 2}, []float32{0.5 * 11 * 5, 0.5 * 11 * 6}, 1e-5)
	near(t, "state", out[1], []int{1, 1, 2, 2}, []float32{15, 18, 20, 24}, 1e-6)

	// Delta rule with past S = I and β = 0.5: v' = 0.5(v − Sᵀk) = (1, 1);
	// S = I + k v'ᵀ = [[4,3],[4,5]]; o = 0.5·qᵀS = 0.5·(12, 13).
	past := f([]int{1, 1, 2, 2}, 1, 0, 0, 1)
	beta := f([]int{1, 1, 1}, 0.5)
	out, err = run(t, "LinearAttention", 27, heads("delta"), 2, q, k, v, past, nil, beta)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "delta state", out[1], []int{1, 1, 2, 2}, []float32{4, 3, 4, 5}, 1e-6)
	near(t, "delta output", out[0], []int{1, 1, 2}, []float32{6, 6.5}, 1e-6)

	if _, err := run(t, "LinearAttention", 27, heads("gated"), 2, q, k, v); err == nil {
		t.Error("gated rule without decay: no error")
	}
}

func TestCausalConvAndSwiGLU(t *testing.T) {
	x := f([]int{1, 1, 3}, 1, 2, 3)
	w := f([]int{1, 1, 2}, 1, 1)
	out, err := run(t, "CausalConvWithState", 27, nil, 2, x, w)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "conv", out[0], []int{1, 1, 3}, []float32{1, 3, 5}, 0)
	near(t, "state", out[1], []int{1, 1, 1}, []float32{3}, 0)
	out, err = run(t, "CausalConvWithState", 27, map[string]*graph.Attr{"activation": str("silu")}, 2,
		x, w, f([]int{1}, 1), f([]int{1, 1, 1}, 10))
	if err != nil {
		t.Fatal(err)
	}
	silu := func(v float64) float32 { return float32(v * sigmoid(v)) }
	near(t, "conv silu", out[0], []int{1, 1, 3}, []float32{silu(12), silu(4), silu(6)}, 1e-5)

	out, err = run(t, "SwiGLU", 28, map[string]*graph.Attr{"alpha": flt(2)}, 1, f([]int{2}, 0, 1), f([]int{2}, 3, 2))
	if err != nil {
		t.Fatal(err)
	}
	near(t, "swiglu", out[0], []int{2}, []float32{0, float32(sigmoid(2) * 2)}, 1e-6)
}
