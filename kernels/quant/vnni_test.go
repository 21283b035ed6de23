package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// EDGEDL_QUANT_IMPL=portable|avx2|vnni runs the whole test suite with
// that implementation as the default (to test, on a VNNI machine, what a
// CPU without it runs).
func init() {
	switch impl := os.Getenv("EDGEDL_QUANT_IMPL"); impl {
	case "portable", "avx2", "vnni", "sdot":
		useVNNI, useAVX2, useSDOT = impl == "vnni" && hasVNNI, impl == "avx2" && hasAVX2, impl == "sdot" && hasSDOT
	}
}

// gemmImpls lists the GEMM implementations this CPU can run.
func gemmImpls() []string {
	impls := []string{"portable"}
	if hasAVX2 {
		impls = append(impls, "avx2")
	}
	if hasVNNI {
		impls = append(impls, "vnni")
	}
	if hasSDOT {
		impls = append(impls, "sdot")
	}
	return impls
}

// withImpl runs f with new packings using the named implementation.
func withImpl(impl string, f func()) {
	oldV, oldA, oldS := useVNNI, useAVX2, useSDOT
	useVNNI, useAVX2, useSDOT = impl == "vnni", impl == "avx2", impl == "sdot"
	defer func() { useVNNI, useAVX2, useSDOT = oldV, oldA, oldS }()
	f()
}

// withVNNI runs f with the VNNI kernels on, or with the portable ones.
func withVNNI(on bool, f func()) {
	if on {
		withImpl("vnni", f)
		return
	}
	withImpl("portable", f)
}

// refGemmStrided is refGemm for A with row stride lda.
func refGemmStrided[TA, TB int8 | uint8](m, n, k int, a []TA, lda int, aZero []int32, b []TB, trans bool, bZero []int32) []int32 {
	ac := make([]TA, m*k)
	for i := 0; i < m; i++ {
		copy(ac[i*k:(i+1)*k], a[i*lda:i*lda+k])
	}
	return refGemm(m, n, k, ac, aZero, b, trans, bZero)
}

// zeroCase picks zero points: none, one, one per row/column, or the
// values the VNNI path treats specially (0 and 128 for weights).
func zeroCase(r *rand.Rand, n int, signed bool) []int32 {
	switch r.IntN(6) {
	case 0:
		return nil
	case 1:
		return []int32{0}
	case 2:
		if signed {
			return []int32{0}
		}
		return []int32{128}
	case 3:
		z := randZero(r, n, signed)
		return z
	case 4: // extremes
		if signed {
			return []int32{-128}
		}
		return []int32{255}
	}
	return randZero(r, 1, signed)
}

func randExtreme[T int8 | uint8](r *rand.Rand, n int, extreme bool) []T {
	s := randSlice[T](r, n)
	if extreme {
		for i := range s {
			v := []int{-128, 127, 0, 255}[r.IntN(4)]
			if !isSigned[T]() && v < 0 {
				v = 255
			}
			if isSigned[T]() && v > 127 {
				v = -128
			}
			s[i] = T(v)
		}
	}
	return s
}

func propGemm[TA, TB int8 | uint8](t *testing.T, r *rand.Rand, ctx *kernels.Ctx, m, n, k int) {
	t.Helper()
	trans := r.IntN(2) == 0
	extreme := r.IntN(4) == 0
	off := r.IntN(4) // unaligned A
	lda := k + r.IntN(3)
	a := randExtreme[TA](r, off+m*lda+r.IntN(2), extreme)[off:]
	b := randExtreme[TB](r, k*n, extreme)
	aZero := zeroCase(r, m, isSigned[TA]())
	if len(aZero) > 1 && len(aZero) != m {
		aZero = aZero[:1]
	}
	bZero := zeroCase(r, n, isSigned[TB]())
	ldb := n
	if trans {
		ldb = k
	}
	pb, err := PackB(k, n, b, ldb, trans, bZero)
	if err != nil {
		t.Fatal(err)
	}
	ldc := n + r.IntN(5)
	coff := r.IntN(3)
	const guard = -7777
	c := make([]int32, coff+m*ldc+4)
	for i := range c {
		c[i] = guard
	}
	switch av := any(a).(type) {
	case []uint8:
		GemmU8(ctx, m, av, lda, aZero, pb, c[coff:], ldc)
	case []int8:
		GemmS8(ctx, m, av, lda, aZero, pb, c[coff:], ldc)
	}
	want := refGemmStrided(m, n, k, a, lda, aZero, b, trans, bZero)
	for i, v := range c {
		ii, j := (i-coff)/ldc, (i-coff)%ldc
		if i < coff || ii >= m || j >= n {
			if v != guard {
				t.Fatalf("%T×%T %dx%dx%d: guard c[%d] overwritten with %d", a, b, m, n, k, i, v)
			}
			continue
		}
		if v != want[ii*n+j] {
			t.Fatalf("%T×%T %dx%dx%d trans=%v lda=%d aZero=%v bZero=%v: C[%d,%d] = %d, want %d",
				a, b, m, n, k, trans, lda, aZero, bZero, ii, j, v, want[ii*n+j])
		}
	}
}

// TestGemmPaths checks every GEMM implementation against the int64
// reference on random shapes covering all row, column and K tails, zero
// point kinds, extreme values, unaligned operands and guard bands.
func TestGemmPaths(t *testing.T) {
	pool := kernels.NewPool(2)
	defer pool.Close()
	par := &kernels.Ctx{Pool: pool}
	for _, impl := range gemmImpls() {
		t.Run(impl, func(t *testing.T) {
			withImpl(impl, func() {
				r := rand.New(rand.NewPCG(11, 12))
				for it := 0; it < 400; it++ {
					m, n, k := 1+r.IntN(20), 1+r.IntN(70), r.IntN(40)
					if it%10 == 0 {
						m, n, k = 1+r.IntN(300), 1+r.IntN(100), r.IntN(300)
					}
					ctx := []*kernels.Ctx{nil, par}[it%2]
					switch it % 4 {
					case 0:
						propGemm[uint8, int8](t, r, ctx, m, n, k)
					case 1:
						propGemm[uint8, uint8](t, r, ctx, m, n, k)
					case 2:
						propGemm[int8, int8](t, r, ctx, m, n, k)
					case 3:
						propGemm[int8, uint8](t, r, ctx, m, n, k)
					}
				}
			})
		})
	}
}

// TestGemmVNNIWrap drives the int32 accumulators past 2³¹ (K = 70000 of
// extreme values): the result must wrap exactly like the reference.
func TestGemmVNNIWrap(t *testing.T) {
	const k = 70001
	for _, impl := range gemmImpls() {
		withImpl(impl, func() {
			a := make([]uint8, 3*k)
			b := make([]uint8, k*33)
			for i := range a {
				a[i] = 255
			}
			for i := range b {
				b[i] = 0
			}
			pb, err := PackB(k, 33, b, 33, false, []int32{255})
			if err != nil {
				t.Fatal(err)
			}
			c := make([]int32, 3*33)
			GemmU8(nil, 3, a, k, []int32{0}, pb, c, 33)
			want := refGemm(3, 33, k, a, []int32{0}, b, false, []int32{255})
			for i := range c {
				if c[i] != want[i] {
					t.Fatalf("%s: C[%d] = %d, want %d", impl, i, c[i], want[i])
				}
			}
		})
	}
}

// TestConvVNNIMatchesPortable runs NewConv kernels built with and without
// the VNNI path on random geometries and compares every output exactly
// (the portable path is checked against the reference elsewhere), for
// every input/weight/output type, bias kind and fused Relu, and checks
// ConvInteger through the VNNI path against the integer reference.
func TestConvVNNIMatchesPortable(t *testing.T) {
	forEpilogue(t, testConvVNNIMatchesPortable)
}

func testConvVNNIMatchesPortable(t *testing.T) {
	if !hasVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	r := rand.New(rand.NewPCG(21, 22))
	pool := kernels.NewPool(2)
	defer pool.Close()
	par := &kernels.Ctx{Pool: pool}
	for it := 0; it < 300; it++ {
		sp := 1 + r.IntN(2)
		c := convCase{name: fmt.Sprint(it)}
		group := 1
		if r.IntN(4) == 0 {
			group = 2
		}
		cin := group * (1 + r.IntN(6))
		cout := group * (1 + r.IntN(20))
		c.x = []int{1 + r.IntN(2), cin}
		c.w = []int{cout, cin / group}
		for d := 0; d < sp; d++ {
			kd := 1 + r.IntN(4)
			if it%3 == 0 {
				kd = 1
			}
			c.x = append(c.x, 2*kd-1+r.IntN(40))
			c.w = append(c.w, kd)
		}
		c.group = group
		if it%3 != 0 {
			c.strides, c.dilations, c.pad = make([]int, sp), make([]int, sp), make([]int, 2*sp)
			for d := 0; d < sp; d++ {
				c.strides[d] = 1 + r.IntN(2)
				c.dilations[d] = 1 + r.IntN(2)
				c.pad[d], c.pad[d+sp] = r.IntN(3), r.IntN(3)
			}
		}
		xdt := []tensor.DType{tensor.Int8, tensor.Uint8}[r.IntN(2)]
		wdt := []tensor.DType{tensor.Int8, tensor.Uint8}[r.IntN(2)]
		ydt := []tensor.DType{tensor.Int8, tensor.Uint8, tensor.Float32}[r.IntN(3)]
		x, xv := randTensor(r, xdt, c.x)
		w, wv := randTensor(r, wdt, c.w)
		wz := int32(0)
		if wdt == tensor.Uint8 {
			wz = 128
		}
		xlo, xhi, _ := qrange(xdt)
		xz := int32(xlo) + int32(r.IntN(int(xhi-xlo+1)))
		wsc := make([]float32, 1+(cout-1)*r.IntN(2))
		for i := range wsc {
			wsc[i] = 0.0005 + 0.004*r.Float32()
		}
		var bias *tensor.Tensor
		switch r.IntN(3) {
		case 1:
			bias = tensor.New(tensor.Int32, cout)
			for i := range cout {
				bias.Data.([]int32)[i] = int32(r.IntN(40000) - 20000)
			}
		case 2:
			bias = tensor.New(tensor.Float32, cout)
			for i := range cout {
				bias.F32()[i] = r.Float32() - 0.5
			}
		}
		ylo, yhi, _ := qrange(ydt)
		if ydt == tensor.Float32 {
			ylo, yhi = -10, 10
		}
		p := ConvParams{XType: xdt, XScale: 0.02 + 0.05*r.Float32(), XZero: xz, W: w, WScale: wsc, WZero: []int32{wz},
			Bias: bias, YType: ydt, YScale: 0.01 + 0.3*r.Float32(), YZero: int32(ylo) + int32(r.IntN(int(yhi-ylo+1))),
			Relu: r.IntN(3) == 0, Group: group, Strides: c.strides, Dilations: c.dilations, Pads: c.pad}
		ctx := []*kernels.Ctx{nil, par}[it%2]
		var got, want []*tensor.Tensor
		// every fourth case without VPERMB: the grid path then computes
		// junk columns instead of gathering pixels
		vbmi := hasVBMI
		if it%4 == 1 {
			hasVBMI = false
		}
		for _, impl := range []bool{true, false} {
			withVNNI(impl, func() {
				k, err := NewConv(p)
				if err != nil {
					t.Fatal(err)
				}
				dw := c.w[1] == 1 && group > 1
				if fk := k.(*fusedConv); (fk.w.vn != nil) != (impl && !dw) {
					t.Fatalf("%v: VNNI path %v, want %v", c, fk.w.vn != nil, impl)
				}
				out := []*tensor.Tensor{nil}
				if err := k.Run(ctx, []*tensor.Tensor{x}, out); err != nil {
					t.Fatal(err)
				}
				if impl {
					got = out
				} else {
					want = out
				}
			})
		}
		hasVBMI = vbmi
		equalTensor(t, fmt.Sprintf("%+v %v/%v/%v", c, xdt, wdt, ydt), got[0], want[0])
		// ConvInteger (int32 output) through the VNNI path against the
		// integer reference.
		withVNNI(true, func() {
			xzT := tensor.New(xdt)
			xzT.Data = map[tensor.DType]any{tensor.Int8: []int8{int8(xz)}, tensor.Uint8: []uint8{uint8(xz)}}[xdt]
			wzT := tensor.New(wdt)
			wzT.Data = map[tensor.DType]any{tensor.Int8: []int8{0}, tensor.Uint8: []uint8{128}}[wdt]
			y := mustRun(t, node{op: "ConvInteger", opset: 10, attrs: c.attrs(), consts: true}, x, w, xzT, wzT)[0]
			ref, _ := refConv(c, xv, int64(xz), wv, []int64{int64(wz)})
			for i, v := range y.Data.([]int32) {
				if int64(v) != ref[i] {
					t.Fatalf("ConvInteger %+v: y[%d] = %d, want %d", c, i, v, ref[i])
				}
			}
		})
	}
}

// TestRequantEpilogueExtremes drives the fused requantisation through
// saturation, ties, huge and NaN multipliers and both output types.
func TestRequantEpilogueExtremes(t *testing.T) {
	forEpilogue(t, testRequantEpilogueExtremes)
}

func testRequantEpilogueExtremes(t *testing.T) {
	if !hasVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	r := rand.New(rand.NewPCG(31, 32))
	x, _ := randTensor(r, tensor.Uint8, []int{1, 16, 5, 7})
	w, _ := randTensor(r, tensor.Int8, []int{11, 16, 1, 1})
	for _, ys := range []float32{1e-6, 0.5, 1, 3e5} {
		for _, ydt := range []tensor.DType{tensor.Int8, tensor.Uint8} {
			for _, relu := range []bool{false, true} {
				ylo, _, _ := qrange(ydt)
				p := ConvParams{XType: tensor.Uint8, XScale: 0.5, XZero: 7, W: w, WScale: []float32{0.5, 1e30}, WZero: []int32{0},
					YType: ydt, YScale: ys, YZero: int32(ylo) + 3, Relu: relu}
				p.WScale = make([]float32, 11)
				for i := range p.WScale {
					p.WScale[i] = []float32{0.5, 1, 1e30, 0.25, 2, 3e38, float32(math.NaN())}[i%7]
				}
				var outs [2]*tensor.Tensor
				for i, impl := range []bool{true, false} {
					withVNNI(impl, func() {
						k, err := NewConv(p)
						if err != nil {
							t.Fatal(err)
						}
						out := []*tensor.Tensor{nil}
						if err := k.Run(nil, []*tensor.Tensor{x}, out); err != nil {
							t.Fatal(err)
						}
						outs[i] = out[0]
					})
				}
				equalTensor(t, fmt.Sprintf("ys=%v %v relu=%v", ys, ydt, relu), outs[0], outs[1])
			}
		}
	}
}

// BenchmarkConvImpl is BenchmarkConv for each implementation.
func BenchmarkConvImpl(b *testing.B) {
	for _, impl := range gemmImpls() {
		withImpl(impl, func() { b.Run(impl, BenchmarkConv) })
	}
}

// TestDepthwiseVNNIMatchesPortable compares the VNNI 3×3 depthwise kernel
// with the portable one on random geometries (strides 1 and 2, asymmetric
// pads, channel multipliers, all row tails), types, biases and Relu.
func TestDepthwiseVNNIMatchesPortable(t *testing.T) {
	forEpilogue(t, testDepthwiseVNNIMatchesPortable)
}

func testDepthwiseVNNIMatchesPortable(t *testing.T) {
	if !hasVNNI || !hasVBMI {
		t.Skip("no AVX-512 VNNI/VBMI")
	}
	r := rand.New(rand.NewPCG(41, 42))
	pool := kernels.NewPool(2)
	defer pool.Close()
	par := &kernels.Ctx{Pool: pool}
	for it := 0; it < 300; it++ {
		cin := 2 + r.IntN(5)
		mult := 1 + r.IntN(2)
		s := 1 + r.IntN(2)
		pads := []int{r.IntN(3), r.IntN(3), r.IntN(3), r.IntN(3)}
		xs := []int{1 + r.IntN(2), cin, 1 + r.IntN(40), 1 + r.IntN(70)}
		if xs[2]+pads[0]+pads[2] < 3 || xs[3]+pads[1]+pads[3] < 3 {
			continue
		}
		xdt := []tensor.DType{tensor.Int8, tensor.Uint8}[r.IntN(2)]
		wdt := []tensor.DType{tensor.Int8, tensor.Uint8}[r.IntN(2)]
		ydt := []tensor.DType{tensor.Int8, tensor.Uint8, tensor.Float32}[r.IntN(3)]
		x, _ := randTensor(r, xdt, xs)
		w, _ := randTensor(r, wdt, []int{cin * mult, 1, 3, 3})
		wz := int32(0)
		if wdt == tensor.Uint8 {
			wz = 128
		}
		xlo, xhi, _ := qrange(xdt)
		ylo, yhi, _ := qrange(ydt)
		if ydt == tensor.Float32 {
			ylo, yhi = -10, 10
		}
		wsc := make([]float32, cin*mult)
		for i := range wsc {
			wsc[i] = 0.001 + 0.01*r.Float32()
		}
		var bias *tensor.Tensor
		if r.IntN(2) == 0 {
			bias = tensor.New(tensor.Int32, cin*mult)
			for i := range cin * mult {
				bias.Data.([]int32)[i] = int32(r.IntN(4000) - 2000)
			}
		}
		p := ConvParams{XType: xdt, XScale: 0.05, XZero: int32(xlo) + int32(r.IntN(int(xhi-xlo+1))), W: w, WScale: wsc,
			WZero: []int32{wz}, Bias: bias, YType: ydt, YScale: 0.05 + 0.2*r.Float32(),
			YZero: int32(ylo) + int32(r.IntN(int(yhi-ylo+1))), Relu: r.IntN(3) == 0, Group: cin,
			Strides: []int{s, s}, Pads: pads}
		var outs [2]*tensor.Tensor
		for i, impl := range []bool{true, false} {
			withVNNI(impl, func() {
				k, err := NewConv(p)
				if err != nil {
					t.Fatal(err)
				}
				if fk := k.(*fusedConv); (fk.w.dwv != nil) != impl {
					t.Fatalf("VNNI depthwise %v, want %v", fk.w.dwv != nil, impl)
				}
				out := []*tensor.Tensor{nil}
				if err := k.Run([]*kernels.Ctx{nil, par}[it%2], []*tensor.Tensor{x}, out); err != nil {
					t.Fatal(err)
				}
				outs[i] = out[0]
			})
		}
		equalTensor(t, fmt.Sprintf("x%v s%d pads%v %v/%v/%v", xs, s, pads, xdt, wdt, ydt), outs[0], outs[1])
	}
}

// forEpilogue runs f with the float32 requantisation enabled and disabled.
func forEpilogue(t *testing.T, f func(*testing.T)) {
	for _, on := range []bool{true, false} {
		t.Run(map[bool]string{true: "f32", false: "f64"}[on], func(t *testing.T) {
			old := useF32Epilogue
			useF32Epilogue = on
			defer func() { useF32Epilogue = old }()
			f(t)
		})
	}
}

// TestRequantLargeAccumulators uses K = 1200 of extreme values, so some
// channels' accumulators exceed the float32-exact range (2²⁴) and their
// tiles must fall back to the float64 epilogue; the others stay in
// float32. Results must match the portable path exactly.
func TestRequantLargeAccumulators(t *testing.T) {
	if !hasVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	const cin, cout = 1200, 20
	x := tensor.New(tensor.Uint8, 1, cin, 3, 11)
	for i := range x.Data.([]uint8) {
		x.Data.([]uint8)[i] = uint8(255 * (i % 3 / 2))
	}
	w := tensor.New(tensor.Int8, cout, cin, 1, 1)
	wd := w.Data.([]int8)
	for i := range wd {
		c := i / cin
		switch {
		case c < 9: // |acc| up to 255·128·1200 ≈ 3.9e7 > 2²⁴
			wd[i] = int8(127 - 255*(i%2))
		default:
			wd[i] = int8(i%5 - 2)
		}
	}
	ws := make([]float32, cout)
	for i := range ws {
		ws[i] = 1e-5 * float32(i+1)
	}
	p := ConvParams{XType: tensor.Uint8, XScale: 0.5, XZero: 0, W: w, WScale: ws, YType: tensor.Int8, YScale: 0.5, YZero: 1}
	var outs [2]*tensor.Tensor
	for i, impl := range []bool{true, false} {
		withVNNI(impl, func() {
			k, err := NewConv(p)
			if err != nil {
				t.Fatal(err)
			}
			out := []*tensor.Tensor{nil}
			if err := k.Run(nil, []*tensor.Tensor{x}, out); err != nil {
				t.Fatal(err)
			}
			outs[i] = out[0]
		})
	}
	equalTensor(t, "large accumulators", outs[0], outs[1])
}

// TestConvVNNIParallelShapes runs model-sized convolutions (above the
// serial threshold, with few pixel panels so channel blocks are split
// between workers) on two threads against the portable path.
func TestConvVNNIParallelShapes(t *testing.T) {
	if !hasVNNI {
		t.Skip("no AVX-512 VNNI")
	}
	r := rand.New(rand.NewPCG(51, 52))
	pool := kernels.NewPool(2)
	defer pool.Close()
	par := &kernels.Ctx{Pool: pool}
	for _, c := range []struct {
		x, w      []int
		pads, str []int
		group     int
	}{
		{[]int{1, 96, 7, 7}, []int{200, 96, 1, 1}, nil, nil, 1},
		{[]int{1, 64, 14, 14}, []int{72, 64, 3, 3}, []int{1, 1, 1, 1}, nil, 1},
		{[]int{2, 32, 9, 11}, []int{48, 32, 5, 5}, []int{2, 2, 2, 2}, nil, 1},
		{[]int{1, 40, 15, 13}, []int{64, 20, 3, 3}, []int{1, 0, 1, 2}, []int{2, 2}, 2},
		{[]int{1, 3, 50, 50}, []int{32, 3, 3, 3}, []int{1, 1, 1, 1}, []int{2, 2}, 1},
		{[]int{1, 120, 20, 20}, []int{120, 1, 3, 3}, []int{1, 1, 1, 1}, nil, 120},
	} {
		for _, xdt := range []tensor.DType{tensor.Int8, tensor.Uint8} {
			x, _ := randTensor(r, xdt, c.x)
			w, _ := randTensor(r, tensor.Int8, c.w)
			ws := make([]float32, c.w[0])
			for i := range ws {
				ws[i] = 0.0005 + 0.002*r.Float32()
			}
			bias := tensor.New(tensor.Int32, c.w[0])
			for i := range c.w[0] {
				bias.Data.([]int32)[i] = int32(r.IntN(20000) - 10000)
			}
			p := ConvParams{XType: xdt, XScale: 0.05, XZero: 5, W: w, WScale: ws, Bias: bias,
				YType: tensor.Uint8, YScale: 0.2, YZero: 100, Group: c.group, Pads: c.pads, Strides: c.str}
			var outs [2]*tensor.Tensor
			for i, impl := range []bool{true, false} {
				withVNNI(impl, func() {
					k, err := NewConv(p)
					if err != nil {
						t.Fatal(err)
					}
					out := []*tensor.Tensor{nil}
					if err := k.Run(par, []*tensor.Tensor{x}, out); err != nil {
						t.Fatal(err)
					}
					outs[i] = out[0]
				})
			}
			equalTensor(t, fmt.Sprintf("x%v w%v %v", c.x, c.w, xdt), outs[0], outs[1])
		}
	}
}
