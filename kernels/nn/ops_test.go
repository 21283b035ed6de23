package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// naiveMatMul multiplies m×k by k×n (float64).
func naiveMatMul(a, b []float64, m, k, n int) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				c[i*n+j] += a[i*k+p] * b[p*n+j]
			}
		}
	}
	return c
}

func transpose(a []float64, r, c int) []float64 {
	out := make([]float64, len(a))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = a[i*c+j]
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const m, k, n = 7, 5, 19
	for _, transA := range []bool{false, true} {
		for _, transB := range []bool{false, true} {
			for _, cshape := range [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}} {
				for _, constB := range []bool{false, true} {
					for _, act := range []string{"", "Relu", "Sigmoid"} {
						as, bs := []int{m, k}, []int{k, n}
						if transA {
							as = []int{k, m}
						}
						if transB {
							bs = []int{n, k}
						}
						a, b := randTensor(rng, as...), randTensor(rng, bs...)
						ad, bd := toF64(a), toF64(b)
						if transA {
							ad = transpose(ad, k, m)
						}
						if transB {
							bd = transpose(bd, n, k)
						}
						want := naiveMatMul(ad, bd, m, k, n)
						const alpha, beta = 0.5, 1.5
						ins := []*tensor.Tensor{a, b}
						var c *tensor.Tensor
						if cshape != nil {
							c = randTensor(rng, cshape...)
							ins = append(ins, c)
						}
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								v := alpha * want[i*n+j]
								if c != nil {
									ci := 0
									switch len(cshape) {
									case 1:
										ci = j % cshape[0]
									case 2:
										ci = (i%cshape[0])*cshape[1] + j%cshape[1]
									}
									v += beta * c.Float64At(ci)
								}
								want[i*n+j] = v
							}
						}
						attrs := map[string]*graph.Attr{"alpha": floatAttr(alpha), "beta": floatAttr(beta)}
						if transA {
							attrs["transA"] = intAttr(1)
						}
						if transB {
							attrs["transB"] = intAttr(1)
						}
						if act != "" {
							attrs[AttrActivation] = strAttr(act)
							for i := range want {
								want[i] = applyRef(want[i], Activation{Kind: actNames[act]})
							}
						}
						out, err := runNode(t, node("Gemm", len(ins), 1, attrs), 13, ins, []bool{false, constB, constB})
						if err != nil {
							t.Fatal(err)
						}
						if !tensor.EqualShapes(out[0].Shape, []int{m, n}) {
							t.Fatalf("shape %v", out[0].Shape)
						}
						closeTo(t, "Gemm", out[0], want, 1e-5)
					}
				}
			}
		}
	}
	// errors: mismatched K, C that does not broadcast
	a, b := randTensor(rng, 3, 4), randTensor(rng, 5, 6)
	if _, err := runNode(t, node("Gemm", 2, 1, nil), 13, []*tensor.Tensor{a, b}, nil); err == nil {
		t.Error("K mismatch: no error")
	}
	b = randTensor(rng, 4, 6)
	if _, err := runNode(t, node("Gemm", 3, 1, nil), 13, []*tensor.Tensor{a, b, randTensor(rng, 2, 6)}, nil); err == nil {
		t.Error("bad C: no error")
	}
}

func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	cases := []struct{ a, b, out []int }{
		{[]int{3}, []int{3}, []int{}},
		{[]int{4}, []int{2, 4, 5}, []int{2, 5}},
		{[]int{2, 3, 4}, []int{4}, []int{2, 3}},
		{[]int{5, 4}, []int{4, 6}, []int{5, 6}},
		{[]int{2, 5, 4}, []int{4, 6}, []int{2, 5, 6}},
		{[]int{5, 4}, []int{3, 4, 6}, []int{3, 5, 6}},
		{[]int{3, 1, 5, 4}, []int{1, 2, 4, 6}, []int{3, 2, 5, 6}},
		{[]int{2, 1, 3, 2}, []int{2, 2, 2}, []int{2, 2, 3, 2}},
		{[]int{1, 1, 70, 33}, []int{33, 40}, []int{1, 1, 70, 40}},
	}
	for _, cs := range cases {
		for _, constB := range []bool{false, true} {
			a, b := randTensor(rng, cs.a...), randTensor(rng, cs.b...)
			out, err := runNode(t, node("MatMul", 2, 1, nil), 13, []*tensor.Tensor{a, b}, []bool{false, constB})
			if err != nil {
				t.Fatalf("%v×%v: %v", cs.a, cs.b, err)
			}
			if !tensor.EqualShapes(out[0].Shape, cs.out) {
				t.Fatalf("%v×%v: shape %v, want %v", cs.a, cs.b, out[0].Shape, cs.out)
			}
			closeTo(t, "MatMul", out[0], naiveBatchedMatMul(a, b, cs.out), 1e-5)
		}
	}
	if _, err := runNode(t, node("MatMul", 2, 1, nil), 13,
		[]*tensor.Tensor{randTensor(rng, 2, 3), randTensor(rng, 4, 2)}, nil); err == nil {
		t.Error("inner mismatch: no error")
	}
	if _, err := runNode(t, node("MatMul", 2, 1, nil), 13,
		[]*tensor.Tensor{randTensor(rng, 2, 2, 3), randTensor(rng, 3, 3, 2)}, nil); err == nil {
		t.Error("batch mismatch: no error")
	}
}

// naiveBatchedMatMul is numpy's matmul through element indexing.
func naiveBatchedMatMul(a, b *tensor.Tensor, outShape []int) []float64 {
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	batch, _ := tensor.BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	sa := tensor.BroadcastStrides(as[:len(as)-2], batch)
	sb := tensor.BroadcastStrides(bs[:len(bs)-2], batch)
	nb := prod(batch)
	out := make([]float64, 0, nb*m*n)
	idx := make([]int, len(batch))
	for bi := 0; bi < nb; bi++ {
		ao, bo := 0, 0
		for i := range idx {
			ao += idx[i] * sa[i]
			bo += idx[i] * sb[i]
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					s += a.Float64At(ao*m*k+i*k+p) * b.Float64At(bo*k*n+p*n+j)
				}
				out = append(out, s)
			}
		}
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < batch[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

func TestConvTransposeAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	cases := []struct {
		name               string
		c, m, group        int
		in, k, s, d, pads  []int
		outPad             []int
		constW, bias, is1d bool
		act                string
	}{
		{name: "basic", c: 2, m: 3, group: 1, in: []int{4, 5}, k: []int{3, 3}, s: []int{1, 1}, d: []int{1, 1}, pads: []int{0, 0, 0, 0}, constW: true, bias: true},
		{name: "strided-padded", c: 3, m: 2, group: 1, in: []int{5, 4}, k: []int{3, 2}, s: []int{2, 3}, d: []int{1, 1}, pads: []int{1, 0, 0, 1}, outPad: []int{1, 0}},
		{name: "groups-dilated", c: 4, m: 6, group: 2, in: []int{3, 4}, k: []int{2, 3}, s: []int{1, 2}, d: []int{2, 1}, pads: []int{0, 1, 1, 0}, constW: true, act: "Relu"},
		{name: "1d", c: 2, m: 2, group: 1, in: []int{6}, k: []int{3}, s: []int{2}, d: []int{1}, pads: []int{1, 0}, bias: true},
		{name: "3d", c: 1, m: 2, group: 1, in: []int{3, 2, 3}, k: []int{2, 2, 2}, s: []int{2, 1, 1}, d: []int{1, 1, 1}, pads: []int{0, 0, 0, 0, 0, 0}, constW: true},
	}
	for _, cs := range cases {
		nd := len(cs.in)
		xs := append([]int{1, cs.c}, cs.in...)
		ws := append([]int{cs.c, cs.m / cs.group}, cs.k...)
		x, w, b := randTensor(rng, xs...), randTensor(rng, ws...), randTensor(rng, cs.m)
		outSp := make([]int, nd)
		for i := 0; i < nd; i++ {
			op := 0
			if cs.outPad != nil {
				op = cs.outPad[i]
			}
			outSp[i] = cs.s[i]*(cs.in[i]-1) + op + (cs.k[i]-1)*cs.d[i] + 1 - cs.pads[i] - cs.pads[nd+i]
		}
		// reference: scatter every input value through every tap
		want := make([]float64, cs.m*prod(outSp))
		cg, mg := cs.c/cs.group, cs.m/cs.group
		ic, kc := make([]int, nd), make([]int, nd)
		for ci := 0; ci < cs.c; ci++ {
			g := ci / cg
			for j := 0; j < prod(cs.in); j++ {
				for i, f := nd-1, j; i >= 0; i-- {
					ic[i] = f % cs.in[i]
					f /= cs.in[i]
				}
				for mi := 0; mi < mg; mi++ {
					for kf := 0; kf < prod(cs.k); kf++ {
						for i, f := nd-1, kf; i >= 0; i-- {
							kc[i] = f % cs.k[i]
							f /= cs.k[i]
						}
						idx, ok := 0, true
						for i := 0; i < nd; i++ {
							o := ic[i]*cs.s[i] - cs.pads[i] + kc[i]*cs.d[i]
							if o < 0 || o >= outSp[i] {
								ok = false
								break
							}
							idx = idx*outSp[i] + o
						}
						if ok {
							want[(g*mg+mi)*prod(outSp)+idx] += x.Float64At(ci*prod(cs.in)+j) * w.Float64At((ci*mg+mi)*prod(cs.k)+kf)
						}
					}
				}
			}
		}
		if cs.bias {
			for i := range want {
				want[i] += b.Float64At(i / prod(outSp))
			}
		}
		attrs := map[string]*graph.Attr{"group": intAttr(int64(cs.group)), "strides": ints(i64s(cs.s)...),
			"dilations": ints(i64s(cs.d)...), "pads": ints(i64s(cs.pads)...)}
		if cs.outPad != nil {
			attrs["output_padding"] = ints(i64s(cs.outPad)...)
		}
		if cs.act != "" {
			attrs[AttrActivation] = strAttr(cs.act)
			for i := range want {
				want[i] = applyRef(want[i], Activation{Kind: actNames[cs.act]})
			}
		}
		ins := []*tensor.Tensor{x, w}
		if cs.bias {
			ins = append(ins, b)
		}
		out, err := runNode(t, node("ConvTranspose", len(ins), 1, attrs), 17, ins, []bool{false, cs.constW, cs.constW})
		if err != nil {
			t.Fatalf("%s: %v", cs.name, err)
		}
		if !tensor.EqualShapes(out[0].Shape, append([]int{1, cs.m}, outSp...)) {
			t.Fatalf("%s: shape %v, want %v", cs.name, out[0].Shape, outSp)
		}
		closeTo(t, cs.name, out[0], want, 1e-5)
	}
}

func TestMaxPoolIndicesAndCeil(t *testing.T) {
	// 1×1×4×5 input 0..19; 2×2 windows, stride 2, ceil_mode: the last
	// column of windows overhangs the input.
	x := tensor.New(tensor.Float32, 1, 1, 4, 5)
	for i := range x.F32() {
		x.F32()[i] = float32(i)
	}
	attrs := map[string]*graph.Attr{"kernel_shape": ints(2, 2), "strides": ints(2, 2), "ceil_mode": intAttr(1)}
	out, err := runNode(t, node("MaxPool", 1, 2, attrs), 12, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Y", out[0], []float64{6, 8, 9, 16, 18, 19}, 0)
	closeTo(t, "Indices", out[1], []float64{6, 8, 9, 16, 18, 19}, 0)
	attrs["storage_order"] = intAttr(1) // column-major indices: w*H + h
	out, err = runNode(t, node("MaxPool", 1, 2, attrs), 12, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Indices col-major", out[1], []float64{1*4 + 1, 3*4 + 1, 4*4 + 1, 1*4 + 3, 3*4 + 3, 4*4 + 3}, 0)
	// the fast path (no Indices) agrees with the indexed one on random data
	rng := rand.New(rand.NewPCG(2, 9))
	for _, k := range []int{2, 3, 4} {
		xr := randTensor(rng, 2, 3, 13, 17)
		attrs := map[string]*graph.Attr{"kernel_shape": ints(int64(k), int64(k)), "strides": ints(2, 1),
			"pads": ints(1, 0, 1, 1), "dilations": ints(1, int64(k%2+1))}
		a, err := runNode(t, node("MaxPool", 1, 1, attrs), 12, []*tensor.Tensor{xr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := runNode(t, node("MaxPool", 1, 2, attrs), 12, []*tensor.Tensor{xr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "fast vs indexed", a[0], toF64(b[0]), 0)
		for i, j := range b[1].I64() {
			if xr.F32()[j] != b[0].F32()[i] {
				t.Fatalf("index %d does not point at the maximum", i)
			}
		}
	}
}

func TestAveragePoolCountIncludePad(t *testing.T) {
	x := tensor.New(tensor.Float32, 1, 1, 3, 3)
	for i := range x.F32() {
		x.F32()[i] = 1
	}
	// 3×3 windows with pad 1: the corner window holds 4 real values
	for _, cp := range []int64{0, 1} {
		attrs := map[string]*graph.Attr{"kernel_shape": ints(3, 3), "pads": ints(1, 1, 1, 1), "count_include_pad": intAttr(cp)}
		out, err := runNode(t, node("AveragePool", 1, 1, attrs), 19, []*tensor.Tensor{x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []float64{1, 1, 1, 1, 1, 1, 1, 1, 1}
		if cp == 1 {
			want = []float64{4.0 / 9, 6.0 / 9, 4.0 / 9, 6.0 / 9, 1, 6.0 / 9, 4.0 / 9, 6.0 / 9, 4.0 / 9}
		}
		closeTo(t, "AveragePool", out[0], want, 1e-6)
	}
	// 3-D goes through the N-D path; compare a 1×1×1 kernel with identity
	x3 := randTensor(rand.New(rand.NewPCG(1, 1)), 1, 2, 3, 4, 5)
	out, err := runNode(t, node("AveragePool", 1, 1, map[string]*graph.Attr{"kernel_shape": ints(1, 1, 1)}), 19,
		[]*tensor.Tensor{x3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "AveragePool 3-D identity", out[0], toF64(x3), 0)
}

func TestGlobalPools(t *testing.T) {
	x := tensor.Float32s([]int{1, 2, 2, 2}, []float32{1, 2, 3, 4, -1, -2, -3, -4})
	for _, c := range []struct {
		op   string
		want []float64
	}{
		{"GlobalAveragePool", []float64{2.5, -2.5}},
		{"GlobalMaxPool", []float64{4, -1}},
		{"GlobalLpPool", []float64{math.Sqrt(30), math.Sqrt(30)}},
	} {
		out, err := runNode(t, node(c.op, 1, 1, nil), 2, []*tensor.Tensor{x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.EqualShapes(out[0].Shape, []int{1, 2, 1, 1}) {
			t.Fatalf("%s shape %v", c.op, out[0].Shape)
		}
		closeTo(t, c.op, out[0], c.want, 1e-6)
	}
}

func TestSoftmaxFamily(t *testing.T) {
	x := tensor.Float32s([]int{2, 3}, []float32{1, 2, 3, 1000, 1000, 1000})
	e1, e2, e3 := math.Exp(1), math.Exp(2), math.Exp(3)
	s := e1 + e2 + e3
	out, err := runNode(t, node("Softmax", 1, 1, nil), 13, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Softmax", out[0], []float64{e1 / s, e2 / s, e3 / s, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-6)
	out, err = runNode(t, node("LogSoftmax", 1, 1, nil), 13, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := math.Log(s)
	closeTo(t, "LogSoftmax", out[0], []float64{1 - l, 2 - l, 3 - l, -math.Log(3), -math.Log(3), -math.Log(3)}, 1e-6)
	out, err = runNode(t, node("Hardmax", 1, 1, nil), 13, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Hardmax", out[0], []float64{0, 0, 1, 1, 0, 0}, 0)
	// axis 0 (strided) and, before opset 13, the 2-D coercion over axes 0..
	out, err = runNode(t, node("Hardmax", 1, 1, map[string]*graph.Attr{"axis": intAttr(0)}), 13, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Hardmax axis 0", out[0], []float64{0, 0, 0, 1, 1, 1}, 0)
	out, err = runNode(t, node("Hardmax", 1, 1, map[string]*graph.Attr{"axis": intAttr(0)}), 11, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Hardmax-11 axis 0", out[0], []float64{0, 0, 0, 1, 0, 0}, 0)
	if _, err := runNode(t, node("Softmax", 1, 1, map[string]*graph.Attr{"axis": intAttr(2)}), 13, []*tensor.Tensor{x}, nil); err == nil {
		t.Error("axis out of range: no error")
	}
}

func TestNormalizations(t *testing.T) {
	x := tensor.Float32s([]int{1, 2, 1, 2}, []float32{1, 3, 10, 20})
	scale := tensor.Float32s([]int{2}, []float32{2, 1})
	bias := tensor.Float32s([]int{2}, []float32{0.5, -1})
	mean := tensor.Float32s([]int{2}, []float32{2, 15})
	variance := tensor.Float32s([]int{2}, []float32{1, 25})
	for _, constParams := range []bool{false, true} {
		out, err := runNode(t, node("BatchNormalization", 5, 1, map[string]*graph.Attr{"epsilon": floatAttr(0)}), 15,
			[]*tensor.Tensor{x, scale, bias, mean, variance}, []bool{false, constParams, constParams, constParams, constParams})
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "BatchNormalization", out[0], []float64{-1.5, 2.5, -2, 0}, 1e-6)
	}
	// training mode: batch statistics and running averages
	out, err := runNode(t, node("BatchNormalization", 5, 3, map[string]*graph.Attr{"epsilon": floatAttr(0), "training_mode": intAttr(1), "momentum": floatAttr(0.5)}), 15,
		[]*tensor.Tensor{x, scale, bias, mean, variance}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "BN train Y", out[0], []float64{-1.5, 2.5, -2, 0}, 1e-6) // batch stats: mean 2/15, var 1/25
	closeTo(t, "BN running mean", out[1], []float64{2, 15}, 1e-6)
	closeTo(t, "BN running var", out[2], []float64{1, 25}, 1e-6)
	if x.F32()[0] != 1 || mean.F32()[0] != 2 {
		t.Fatal("BatchNormalization modified its inputs")
	}

	out, err = runNode(t, node("InstanceNormalization", 3, 1, map[string]*graph.Attr{"epsilon": floatAttr(0)}), 6,
		[]*tensor.Tensor{x, scale, bias}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "InstanceNormalization", out[0], []float64{-1.5, 2.5, -2, 0}, 1e-6)

	// LayerNormalization over the last axis of [[1,3],[10,20]]
	x2 := tensor.Float32s([]int{2, 2}, []float32{1, 3, 10, 20})
	out, err = runNode(t, node("LayerNormalization", 3, 3, map[string]*graph.Attr{"epsilon": floatAttr(0)}), 17,
		[]*tensor.Tensor{x2, scale, bias}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "LayerNormalization", out[0], []float64{-1.5, 0, -1.5, 0}, 1e-6)
	closeTo(t, "LN Mean", out[1], []float64{2, 15}, 1e-6)
	closeTo(t, "LN InvStdDev", out[2], []float64{1, 0.2}, 1e-6)
	if !tensor.EqualShapes(out[1].Shape, []int{2, 1}) {
		t.Fatalf("Mean shape %v", out[1].Shape)
	}
	out, err = runNode(t, node("RMSNormalization", 2, 1, map[string]*graph.Attr{"epsilon": floatAttr(0)}), 23,
		[]*tensor.Tensor{x2, scale}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r0, r1 := math.Sqrt(5), math.Sqrt(250)
	closeTo(t, "RMSNormalization", out[0], []float64{2 / r0, 3 / r0, 20 / r1, 20 / r1}, 1e-6)

	// GroupNormalization: one group of both channels; opset 18 scales per
	// group, 21 per channel
	x4 := tensor.Float32s([]int{1, 2, 1, 1}, []float32{1, 3})
	out, err = runNode(t, node("GroupNormalization", 3, 1, map[string]*graph.Attr{"num_groups": intAttr(1), "epsilon": floatAttr(0)}), 21,
		[]*tensor.Tensor{x4, scale, bias}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "GroupNormalization-21", out[0], []float64{-1.5, 0}, 1e-6)
	out, err = runNode(t, node("GroupNormalization", 3, 1, map[string]*graph.Attr{"num_groups": intAttr(1), "epsilon": floatAttr(0)}), 18,
		[]*tensor.Tensor{x4, tensor.Float32s([]int{1}, []float32{2}), tensor.Float32s([]int{1}, []float32{1})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "GroupNormalization-18", out[0], []float64{-1, 3}, 1e-6)

	// LpNormalization and LRN
	out, err = runNode(t, node("LpNormalization", 1, 1, map[string]*graph.Attr{"p": intAttr(1)}), 1,
		[]*tensor.Tensor{x2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "LpNormalization", out[0], []float64{0.25, 0.75, 1.0 / 3, 2.0 / 3}, 1e-6)
	out, err = runNode(t, node("LRN", 1, 1, map[string]*graph.Attr{"size": intAttr(2), "alpha": floatAttr(2), "beta": floatAttr(1), "bias": floatAttr(1)}), 13,
		[]*tensor.Tensor{tensor.Float32s([]int{1, 2, 1, 1}, []float32{1, 2})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// channel 0 sums channels 0..1 (1+4), channel 1 only itself (4)
	closeTo(t, "LRN", out[0], []float64{1 / (1 + 5.0), 2 / (1 + 4.0)}, 1e-6)
}

func TestDropout(t *testing.T) {
	// numpy: np.random.seed(0); np.random.random_sample(3)
	var mt mt19937
	mt.seed(0)
	for i, want := range []float64{0.5488135039273248, 0.7151893663724195, 0.6027633760716439} {
		if got := mt.float64(); got != want {
			t.Fatalf("draw %d = %v, want %v", i, got, want)
		}
	}
	x := tensor.Float32s([]int{3}, []float32{1, 2, 3})
	// inference: identity sharing the buffer, all-true mask
	out, err := runNode(t, node("Dropout", 1, 2, nil), 13, []*tensor.Tensor{x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !kernels.SameBuffer(out[0], x) || out[1].DType != tensor.Bool {
		t.Fatal("inference Dropout must alias X and return a bool mask")
	}
	// training with ratio 0.6 and seed 0: keep draws >= 0.6, scale 2.5
	ratio := tensor.Scalar(float32(0.6))
	train := tensor.Scalar(true)
	out, err = runNode(t, node("Dropout", 3, 2, map[string]*graph.Attr{"seed": intAttr(0)}), 13,
		[]*tensor.Tensor{x, ratio, train}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Dropout train", out[0], []float64{0, 5, 7.5}, 1e-6)
	if m := out[1].Data.([]bool); m[0] || !m[1] || !m[2] {
		t.Fatalf("mask %v", m)
	}
}

func TestEinsum(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	a, b := randTensor(rng, 2, 3, 4), randTensor(rng, 2, 4, 5)
	at := func(t *tensor.Tensor, idx ...int) float64 {
		off := 0
		for i, s := range tensor.Strides(t.Shape) {
			off += idx[i] * s
		}
		return t.Float64At(off)
	}
	// batched matmul
	want := make([]float64, 0, 2*3*5)
	for bi := 0; bi < 2; bi++ {
		for i := 0; i < 3; i++ {
			for k := 0; k < 5; k++ {
				var s float64
				for j := 0; j < 4; j++ {
					s += at(a, bi, i, j) * at(b, bi, j, k)
				}
				want = append(want, s)
			}
		}
	}
	check := func(eq string, ins []*tensor.Tensor, shape []int, want []float64) {
		t.Helper()
		out, err := runNode(t, node("Einsum", len(ins), 1, map[string]*graph.Attr{"equation": strAttr(eq)}), 12, ins, nil)
		if err != nil {
			t.Fatalf("%s: %v", eq, err)
		}
		if !tensor.EqualShapes(out[0].Shape, shape) {
			t.Fatalf("%s: shape %v, want %v", eq, out[0].Shape, shape)
		}
		closeTo(t, eq, out[0], want, 1e-5)
	}
	check("bij,bjk->bik", []*tensor.Tensor{a, b}, []int{2, 3, 5}, want)
	check("...ij,...jk", []*tensor.Tensor{a, b}, []int{2, 3, 5}, want)
	// transpose, trace, sum, outer product
	m := randTensor(rng, 3, 3)
	check("ij->ji", []*tensor.Tensor{m}, []int{3, 3}, toF64(transposeT(m)))
	check("ii", []*tensor.Tensor{m}, []int{}, []float64{at(m, 0, 0) + at(m, 1, 1) + at(m, 2, 2)})
	check("ij->", []*tensor.Tensor{m}, []int{}, []float64{sumAll(m)})
	u, v := randTensor(rng, 2), randTensor(rng, 3)
	outer := []float64{}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			outer = append(outer, u.Float64At(i)*v.Float64At(j))
		}
	}
	check("i,j", []*tensor.Tensor{u, v}, []int{2, 3}, outer)
	// three operands: a chain of products, i,ij,j -> scalar
	w := randTensor(rng, 3)
	var chain float64
	mm := randTensor(rng, 2, 3)
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			chain += u.Float64At(i) * at(mm, i, j) * w.Float64At(j)
		}
	}
	check("i,ij,j->", []*tensor.Tensor{u, mm, w}, []int{}, []float64{chain})
	// errors
	if _, err := runNode(t, node("Einsum", 2, 1, map[string]*graph.Attr{"equation": strAttr("ij,jk->ik")}), 12,
		[]*tensor.Tensor{randTensor(rng, 2, 3), randTensor(rng, 4, 2)}, nil); err == nil {
		t.Error("size mismatch: no error")
	}
	if _, err := runNode(t, node("Einsum", 1, 1, map[string]*graph.Attr{"equation": strAttr("ij->k")}), 12,
		[]*tensor.Tensor{m}, nil); err == nil {
		t.Error("unknown output label: no error")
	}
}

func transposeT(m *tensor.Tensor) *tensor.Tensor {
	r, c := m.Shape[0], m.Shape[1]
	o := tensor.New(tensor.Float32, c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			o.F32()[j*r+i] = m.F32()[i*c+j]
		}
	}
	return o
}

func sumAll(t *tensor.Tensor) float64 {
	var s float64
	for i := 0; i < t.Len(); i++ {
		s += t.Float64At(i)
	}
	return s
}

// TestBadInputsDoNotPanic feeds malformed shapes to every operator; each
// must return an error (runNode reports panics as test errors).
func TestBadInputsDoNotPanic(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	x1 := randTensor(rng, 3)
	x4 := randTensor(rng, 1, 2, 3, 3)
	scalar := tensor.Scalar(float32(1))
	cases := []struct {
		op    string
		opset int64
		attrs map[string]*graph.Attr
		ins   []*tensor.Tensor
	}{
		{"MaxPool", 17, map[string]*graph.Attr{"kernel_shape": ints(2, 2)}, []*tensor.Tensor{x1}},
		{"MaxPool", 17, map[string]*graph.Attr{"kernel_shape": ints(5, 5)}, []*tensor.Tensor{x4}},
		{"AveragePool", 17, map[string]*graph.Attr{"kernel_shape": ints(2)}, []*tensor.Tensor{x4}},
		{"LpPool", 17, map[string]*graph.Attr{"kernel_shape": ints(2, 2), "strides": ints(0, 1)}, []*tensor.Tensor{x4}},
		{"GlobalAveragePool", 17, nil, []*tensor.Tensor{scalar}},
		{"MaxUnpool", 11, map[string]*graph.Attr{"kernel_shape": ints(2, 2)}, []*tensor.Tensor{x4, tensor.Int64s([]int{1}, []int64{0})}},
		{"MaxUnpool", 11, map[string]*graph.Attr{"kernel_shape": ints(2, 2)}, []*tensor.Tensor{x4, func() *tensor.Tensor {
			t := tensor.New(tensor.Int64, 1, 2, 3, 3)
			t.I64()[0] = 1 << 40
			return t
		}()}},
		{"BatchNormalization", 15, nil, []*tensor.Tensor{x4, x1, x1, x1, x1}},
		{"InstanceNormalization", 6, nil, []*tensor.Tensor{x4, x1, x1}},
		{"LayerNormalization", 17, map[string]*graph.Attr{"axis": intAttr(7)}, []*tensor.Tensor{x4, x1}},
		{"LayerNormalization", 17, nil, []*tensor.Tensor{x4, randTensor(rng, 4)}},
		{"GroupNormalization", 21, map[string]*graph.Attr{"num_groups": intAttr(4)}, []*tensor.Tensor{x4, x1, x1}},
		{"LpNormalization", 1, map[string]*graph.Attr{"axis": intAttr(-9)}, []*tensor.Tensor{x4}},
		{"MeanVarianceNormalization", 13, map[string]*graph.Attr{"axes": ints(9)}, []*tensor.Tensor{x4}},
		{"Softmax", 13, map[string]*graph.Attr{"axis": intAttr(4)}, []*tensor.Tensor{x4}},
		{"Dropout", 13, nil, []*tensor.Tensor{x4, randTensor(rng, 2)}},
		{"Dropout", 13, nil, []*tensor.Tensor{x4, tensor.Scalar(float32(1.5)), tensor.Scalar(true)}},
		{"Einsum", 12, map[string]*graph.Attr{"equation": strAttr("ij,jk")}, []*tensor.Tensor{x4, x4}},
		{"ConvTranspose", 17, nil, []*tensor.Tensor{x4, randTensor(rng, 3, 1, 2, 2)}},
		{"ConvTranspose", 17, map[string]*graph.Attr{"output_shape": ints(1<<20, 1<<20)}, []*tensor.Tensor{x4, randTensor(rng, 2, 1, 2, 2)}},
		{"Gemm", 13, nil, []*tensor.Tensor{x1, x1}},
	}
	for _, c := range cases {
		_, err := runNode(t, node(c.op, len(c.ins), 1, c.attrs), c.opset, c.ins, nil)
		if err == nil {
			t.Errorf("%s %v: no error", c.op, c.attrs)
		}
	}
}
