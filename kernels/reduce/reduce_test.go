package reduce

import (
	"math"
	"slices"
	"testing"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func TestMakePlan(t *testing.T) {
	tests := []struct {
		shape, axes []int
		keep        bool
		out         []int
		inner, run  int
		kept, red   int
	}{
		{[]int{2, 3, 4}, []int{2}, true, []int{2, 3, 1}, 1, 4, 6, 1},
		{[]int{2, 3, 4}, []int{1}, false, []int{2, 4}, 4, 1, 2, 3},
		{[]int{2, 3, 4}, []int{0, 1}, false, []int{4}, 4, 1, 1, 6},
		{[]int{2, 3, 4}, []int{0, 2}, true, []int{1, 3, 1}, 1, 4, 3, 2},
		{[]int{2, 1, 4}, []int{0, 2}, false, []int{1}, 1, 8, 1, 1},
		{[]int{5, 1, 1}, []int{1}, true, []int{5, 1, 1}, 5, 1, 1, 1},
		{[]int{2, 3}, nil, true, []int{2, 3}, 6, 1, 1, 1}, // noop
		{[]int{}, nil, false, []int{}, 1, 1, 1, 1},
	}
	for _, tc := range tests {
		p, err := makePlan(tc.shape, tc.axes, tc.keep)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.outShape, tc.out) || p.inner != tc.inner || p.run != tc.run || p.kept.n != tc.kept || p.red.n != tc.red {
			t.Errorf("plan(%v, %v, %v) = out %v inner %d run %d kept %d red %d, want %v %d %d %d %d",
				tc.shape, tc.axes, tc.keep, p.outShape, p.inner, p.run, p.kept.n, p.red.n,
				tc.out, tc.inner, tc.run, tc.kept, tc.red)
		}
	}
}

func TestNormAxes(t *testing.T) {
	if got, err := normAxes([]int64{-1, 0}, 3); err != nil || !slices.Equal(got, []int{0, 2}) {
		t.Errorf("normAxes(-1, 0) = %v, %v", got, err)
	}
	for _, bad := range [][]int64{{3}, {-4}, {1, -2}} {
		if _, err := normAxes(bad, 3); err == nil {
			t.Errorf("normAxes(%v, 3) accepted", bad)
		}
	}
}

func TestReduceExamples(t *testing.T) {
	x := tensor.Float32s([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	ax1 := tensor.Int64s([]int{1}, []int64{1})
	ax0 := tensor.Int64s([]int{1}, []int64{0})
	none := tensor.Int64s([]int{0}, nil)
	l2 := func(v ...float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x * x
		}
		return math.Sqrt(s)
	}
	lse := func(v ...float64) float64 {
		s := 0.0
		for _, x := range v {
			s += math.Exp(x)
		}
		return math.Log(s)
	}
	tests := []struct {
		op    string
		opset int64
		a     []any
		axes  *tensor.Tensor
		shape []int
		want  []float64
	}{
		{"ReduceSum", 13, nil, ax1, []int{2, 1}, []float64{6, 15}},
		{"ReduceSum", 11, []any{"axes", []int64{0}, "keepdims", 0}, nil, []int{3}, []float64{5, 7, 9}},
		{"ReduceSum", 13, []any{"keepdims", 0}, nil, []int{}, []float64{21}},
		{"ReduceSum", 13, []any{"noop_with_empty_axes", 1}, none, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}},
		{"ReduceMean", 18, nil, ax0, []int{1, 3}, []float64{2.5, 3.5, 4.5}},
		{"ReduceMax", 18, []any{"keepdims", 0}, ax1, []int{2}, []float64{3, 6}},
		{"ReduceMin", 13, []any{"axes", []int64{-1}}, nil, []int{2, 1}, []float64{1, 4}},
		{"ReduceProd", 18, nil, ax1, []int{2, 1}, []float64{6, 120}},
		{"ReduceL1", 18, nil, ax0, []int{1, 3}, []float64{5, 7, 9}},
		{"ReduceL2", 18, nil, ax1, []int{2, 1}, []float64{l2(1, 2, 3), l2(4, 5, 6)}},
		{"ReduceSumSquare", 18, nil, ax1, []int{2, 1}, []float64{14, 77}},
		{"ReduceSumSquare", 18, []any{"noop_with_empty_axes", 1}, nil, []int{2, 3}, []float64{1, 4, 9, 16, 25, 36}},
		{"ReduceLogSum", 18, nil, ax1, []int{2, 1}, []float64{math.Log(6), math.Log(15)}},
		{"ReduceLogSumExp", 18, nil, ax1, []int{2, 1}, []float64{lse(1, 2, 3), lse(4, 5, 6)}},
		{"ReduceLogSumExp", 18, nil, nil, []int{1, 1}, []float64{lse(1, 2, 3, 4, 5, 6)}},
	}
	for _, tc := range tests {
		got, err := runOp(nil, tc.op, tc.opset, attrs(tc.a...), 1, nil, x, tc.axes)
		if err != nil {
			t.Fatalf("%s%v: %v", tc.op, tc.a, err)
		}
		checkTensor(t, tc.op, got[0], tc.shape, tc.want, 1e-6)
	}
}

func TestReduceEmptyAndSpecial(t *testing.T) {
	empty := tensor.New(tensor.Float32, 2, 0, 4)
	ax1 := tensor.Int64s([]int{1}, []int64{1})
	inf := math.Inf(1)
	for _, tc := range []struct {
		op   string
		want float64
	}{
		{"ReduceSum", 0}, {"ReduceProd", 1}, {"ReduceMax", -inf}, {"ReduceMin", inf},
		{"ReduceLogSum", -inf}, {"ReduceLogSumExp", -inf}, {"ReduceL2", 0}, {"ReduceMean", math.NaN()},
	} {
		got, err := runOp(nil, tc.op, 18, nil, 1, nil, empty, ax1)
		if err != nil {
			t.Fatalf("%s: %v", tc.op, err)
		}
		want := make([]float64, 8)
		for i := range want {
			want[i] = tc.want
		}
		checkTensor(t, tc.op+" empty", got[0], []int{2, 1, 4}, want, 0)
	}
	// Max propagates NaN; LogSumExp survives large values.
	x := tensor.Float32s([]int{3}, []float32{1, float32(math.NaN()), 2})
	got, err := runOp(nil, "ReduceMax", 18, nil, 1, nil, x)
	if err != nil || !math.IsNaN(got[0].Float64At(0)) {
		t.Errorf("ReduceMax with NaN = %v, %v", got, err)
	}
	x = tensor.Float32s([]int{2}, []float32{1000, 1000})
	got, err = runOp(nil, "ReduceLogSumExp", 18, nil, 1, nil, x)
	if err != nil || !near(got[0].Float64At(0), 1000+math.Ln2, 1e-6) {
		t.Errorf("ReduceLogSumExp(1000, 1000) = %v, %v", got, err)
	}
	// Bool Max is any, Min is all.
	b := &tensor.Tensor{DType: tensor.Bool, Shape: []int{2, 2}, Data: []bool{true, false, false, false}}
	for op, want := range map[string][]bool{"ReduceMax": {true, false}, "ReduceMin": {false, false}} {
		got, err := runOp(nil, op, 20, attrs("keepdims", 0), 1, nil, b, tensor.Int64s([]int{1}, []int64{1}))
		if err != nil || !slices.Equal(got[0].Data.([]bool), want) {
			t.Errorf("%s(bool) = %v, %v; want %v", op, got, err, want)
		}
	}
	// Integer mean truncates; float16 goes through float32.
	xi := &tensor.Tensor{DType: tensor.Int32, Shape: []int{3}, Data: []int32{1, 2, 2}}
	got, err = runOp(nil, "ReduceMean", 18, nil, 1, nil, xi)
	if err != nil || got[0].Data.([]int32)[0] != 1 {
		t.Errorf("ReduceMean(int32 1,2,2) = %v, %v", got, err)
	}
	h := &tensor.Tensor{DType: tensor.Float16, Shape: []int{2}, Data: []uint16{tensor.FloatToHalf(1.5), tensor.FloatToHalf(2.25)}}
	got, err = runOp(nil, "ReduceSum", 13, nil, 1, nil, h)
	if err != nil || got[0].DType != tensor.Float16 || got[0].Float64At(0) != 3.75 {
		t.Errorf("ReduceSum(float16) = %v, %v", got, err)
	}
}

func TestReduceErrors(t *testing.T) {
	x := tensor.New(tensor.Float32, 2, 3)
	for _, axes := range [][]int64{{2}, {-3}, {0, 0}} {
		if _, err := runOp(nil, "ReduceSum", 13, nil, 1, nil, x, tensor.Int64s([]int{len(axes)}, axes)); err == nil {
			t.Errorf("axes %v accepted", axes)
		}
		// With constant axes the error comes at build time.
		if _, err := runOp(nil, "ReduceSum", 13, nil, 1, []bool{false, true}, x, tensor.Int64s([]int{len(axes)}, axes)); err == nil {
			t.Errorf("constant axes %v accepted", axes)
		}
	}
	s := &tensor.Tensor{DType: tensor.String, Shape: []int{1}, Data: []string{"a"}}
	if _, err := runOp(nil, "ReduceSum", 13, nil, 1, nil, s); !kernels.IsUnsupported(err) {
		t.Errorf("string input: %v, want unsupported", err)
	}
}

// naiveReduce is the reference: every input element is mapped to its output
// position and the values are combined in float64.
func naiveReduce(kind opKind, x *tensor.Tensor, axes []int, keep bool, isInt bool) ([]int, []float64) {
	shape := x.Shape
	red := make([]bool, len(shape))
	for _, a := range axes {
		red[a] = true
	}
	var outShape, keptDims []int
	for i, d := range shape {
		if red[i] {
			if keep {
				outShape = append(outShape, 1)
			}
		} else {
			outShape = append(outShape, d)
			keptDims = append(keptDims, i)
		}
	}
	nOut := 1
	for _, d := range outShape {
		nOut *= d
	}
	groups := make([][]float64, nOut)
	idx := make([]int, len(shape))
	for i := 0; i < x.Len(); i++ {
		o := 0
		for _, k := range keptDims {
			o = o*shape[k] + idx[k]
		}
		groups[o] = append(groups[o], x.Float64At(i))
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	out := make([]float64, nOut)
	for o, g := range groups {
		var v float64
		switch kind {
		case opSum, opMean, opLogSum:
			for _, x := range g {
				v += x
			}
			switch kind {
			case opMean:
				v /= float64(len(g))
				if isInt {
					v = math.Trunc(v)
				}
			case opLogSum:
				v = math.Log(v)
			}
		case opSumSquare, opL2:
			for _, x := range g {
				v += x * x
			}
			if kind == opL2 {
				v = math.Sqrt(v)
				if isInt {
					v = math.Trunc(v)
				}
			}
		case opL1:
			for _, x := range g {
				v += math.Abs(x)
			}
		case opMax:
			v = math.Inf(-1)
			for _, x := range g {
				v = math.Max(v, x)
			}
		case opMin:
			v = math.Inf(1)
			for _, x := range g {
				v = math.Min(v, x)
			}
		case opProd:
			v = 1
			for _, x := range g {
				v *= x
			}
		case opLogSumExp:
			for _, x := range g {
				v += math.Exp(x)
			}
			v = math.Log(v)
		}
		out[o] = v
	}
	if outShape == nil {
		outShape = []int{}
	}
	return outShape, out
}

// TestReduceMatchesNaive runs every kind on random and on large shapes,
// serially and on a pool, so that each loop shape and each parallel
// strategy (over outputs, over reduced ranges, over row blocks) is used.
func TestReduceMatchesNaive(t *testing.T) {
	pool := kernels.NewPool(4)
	defer pool.Close()
	ctxs := []*kernels.Ctx{nil, {Pool: pool}}
	rng := lcg(7)
	type tcase struct {
		shape []int
		axes  []int64
	}
	cases := []tcase{
		{[]int{3, 40000}, []int64{1}},        // few outputs, long runs
		{[]int{40000, 3}, []int64{0}},        // few outputs, many rows
		{[]int{300, 200}, []int64{1}},        // many outputs, runs
		{[]int{8, 64, 300}, []int64{1}},      // row blocks
		{[]int{4, 50, 3, 60}, []int64{1, 3}}, // alternating groups
		{[]int{2, 5000, 2, 3}, []int64{0, 2}},
	}
	for range 40 {
		rank := 1 + rng.intn(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1 + rng.intn(5)
		}
		var axes []int64
		for i := range shape {
			if rng.intn(2) == 0 {
				axes = append(axes, int64(i-rank*rng.intn(2))) // some negative
			}
		}
		cases = append(cases, tcase{shape, axes})
	}
	names := map[opKind]string{opSum: "ReduceSum", opMean: "ReduceMean", opSumSquare: "ReduceSumSquare",
		opL1: "ReduceL1", opL2: "ReduceL2", opLogSum: "ReduceLogSum", opLogSumExp: "ReduceLogSumExp",
		opMax: "ReduceMax", opMin: "ReduceMin", opProd: "ReduceProd"}
	for ci, tc := range cases {
		n, _ := tensor.NumElements(tc.shape)
		big := n > 1000
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.Int32} {
			if big && dt != tensor.Float32 {
				continue
			}
			x := randTensor(&rng, dt, tc.shape...)
			for kind, name := range names {
				isInt := dt == tensor.Int32
				if (kind == opProd && big) || (isInt && (kind == opLogSum || kind == opLogSumExp)) {
					continue
				}
				in := x
				if kind == opLogSum { // keep the logarithm's argument positive
					in = tensor.New(dt, tc.shape...)
					vals := make([]float64, n)
					for i := range vals {
						vals[i] = math.Abs(x.Float64At(i)) + 0.1
					}
					setFloat64s(in, 0, vals)
				}
				axes, _ := normAxes(tc.axes, len(tc.shape))
				if len(tc.axes) == 0 {
					axes = allAxes(len(tc.shape))
				}
				for _, keep := range []int{0, 1} {
					wantShape, want := naiveReduce(kind, in, axes, keep == 1, isInt)
					for _, ctx := range ctxs {
						got, err := runOp(ctx, name, 18, attrs("keepdims", keep), 1, nil,
							in, tensor.Int64s([]int{len(tc.axes)}, tc.axes))
						if err != nil {
							t.Fatalf("case %d %s %v: %v", ci, name, dt, err)
						}
						tol := 1e-9
						if dt == tensor.Float32 {
							tol = 2e-4
						}
						checkTensor(t, name, got[0], wantShape, want, tol)
					}
				}
			}
		}
	}
}

func BenchmarkReduceSum(b *testing.B) {
	pool := kernels.NewPool(2)
	defer pool.Close()
	ctx := &kernels.Ctx{Pool: pool}
	rng := lcg(1)
	for _, bc := range []struct {
		name  string
		shape []int
		axes  []int64
	}{
		{"rows_1x1M", []int{1, 1 << 20}, []int64{1}},
		{"cols_1Mx1", []int{1 << 20, 1}, []int64{0}},
		{"spatial_32x256x196", []int{32, 256, 196}, []int64{2}},
		{"channels_32x256x196", []int{32, 256, 196}, []int64{1}},
	} {
		x := randTensor(&rng, tensor.Float32, bc.shape...)
		axes := tensor.Int64s([]int{len(bc.axes)}, bc.axes)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(4 * x.Len()))
			for range b.N {
				if _, err := runOp(ctx, "ReduceSum", 18, nil, 1, []bool{false, true}, x, axes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
