package shape

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// filled returns a tensor of dtype dt whose element i encodes i.
func filled(dt tensor.DType, shape ...int) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	n := t.Len()
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(i)
		}
	case []uint8:
		for i := range d {
			d[i] = uint8(i * 7)
		}
	case []uint16:
		for i := range d {
			d[i] = uint16(i)
		}
	case []int64:
		for i := range d {
			d[i] = int64(i) - int64(n)
		}
	case []string:
		for i := range d {
			d[i] = strconv.Itoa(i)
		}
	case []bool:
		for i := range d {
			d[i] = i%3 == 0
		}
	}
	return t
}

// naiveTranspose is the reference: one index computation per element.
func naiveTranspose(x *tensor.Tensor, perm []int) *tensor.Tensor {
	shape := make([]int, len(perm))
	for i, p := range perm {
		shape[i] = x.Shape[p]
	}
	y := tensor.New(x.DType, shape...)
	ist := tensor.Strides(x.Shape)
	ost := tensor.Strides(shape)
	for o := 0; o < y.Len(); o++ {
		src, rem := 0, o
		for i := range shape {
			src += (rem / ost[i]) * ist[perm[i]]
			rem %= ost[i]
		}
		setFrom(y, o, x, src)
	}
	return y
}

func setFrom(dst *tensor.Tensor, i int, src *tensor.Tensor, j int) {
	switch d := dst.Data.(type) {
	case []float32:
		d[i] = src.F32()[j]
	case []uint8:
		d[i] = src.Data.([]uint8)[j]
	case []uint16:
		d[i] = src.Data.([]uint16)[j]
	case []int64:
		d[i] = src.I64()[j]
	case []string:
		d[i] = src.Data.([]string)[j]
	case []bool:
		d[i] = src.Data.([]bool)[j]
	}
}

// perms lists every permutation of 0..n-1.
func perms(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range perms(n - 1) {
		for pos := 0; pos <= len(p); pos++ {
			q := append(append(append([]int{}, p[:pos]...), n-1), p[pos:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestTransposeMatchesNaive(t *testing.T) {
	shapes := [][]int{
		{5}, {3, 4}, {1, 7}, {33, 65}, {2, 3, 4}, {1, 40, 37}, {2, 1, 3, 5},
		{2, 5, 1, 70}, {3, 2, 4, 2, 3},
		{4, 64, 129}, // large enough for the parallel and tiled paths
		{0, 3, 2},
	}
	dtypes := []tensor.DType{tensor.Float32, tensor.Uint8, tensor.Float16, tensor.Int64, tensor.String, tensor.Bool}
	for _, shape := range shapes {
		for _, perm := range perms(len(shape)) {
			for _, dt := range dtypes {
				if product(shape) > 4096 && dt != tensor.Float32 && dt != tensor.Uint8 {
					continue // keep the test quick; widths are covered on small shapes
				}
				x := filled(dt, shape...)
				p64 := make([]int64, len(perm))
				for i, a := range perm {
					p64[i] = int64(a)
				}
				got := mustRun(t, "Transpose", 21, []*graph.Attr{aInts("perm", p64...)}, 1, x)[0]
				if err := equal(got, naiveTranspose(x, perm)); err != nil {
					t.Fatalf("%v %v perm %v: %v", dt, shape, perm, err)
				}
			}
		}
	}
}

func TestTransposeDefaultAndAlias(t *testing.T) {
	x := iota32(2, 3)
	got := mustRun(t, "Transpose", 13, nil, 1, x)[0]
	check(t, "default perm", got, f32([]int{3, 2}, 0, 3, 1, 4, 2, 5))

	// Moving only a size-1 dim needs no copy.
	x = iota32(1, 3, 4)
	got = mustRun(t, "Transpose", 13, []*graph.Attr{aInts("perm", 1, 0, 2)}, 1, x)[0]
	if !kernels.SameBuffer(got, x) {
		t.Error("a permutation of a size-1 dim should share the input's data")
	}
	check(t, "size-1 perm", got, func() *tensor.Tensor { y := iota32(3, 1, 4); return y }())
}

func TestDepthSpaceRoundTrip(t *testing.T) {
	x := iota32(2, 8, 3, 5)
	for _, mode := range []string{"DCR", "CRD"} {
		y := mustRun(t, "DepthToSpace", 13, []*graph.Attr{aInt("blocksize", 2), aStr("mode", mode)}, 1, x)[0]
		if !tensor.EqualShapes(y.Shape, []int{2, 2, 6, 10}) {
			t.Fatalf("DepthToSpace %s shape %v", mode, y.Shape)
		}
		if mode == "DCR" {
			// DCR is SpaceToDepth's inverse.
			z := mustRun(t, "SpaceToDepth", 13, []*graph.Attr{aInt("blocksize", 2)}, 1, y)[0]
			check(t, "round trip", z, x)
		}
	}
	// Hand-checked CRD: channel c*4 + i*2 + j goes to pixel (2h+i, 2w+j).
	x = iota32(1, 4, 1, 1)
	y := mustRun(t, "DepthToSpace", 13, []*graph.Attr{aInt("blocksize", 2), aStr("mode", "CRD")}, 1, x)[0]
	check(t, "CRD", y, f32([]int{1, 1, 2, 2}, 0, 1, 2, 3))
}

func BenchmarkTranspose(b *testing.B) {
	cases := []struct {
		shape []int
		perm  []int64
	}{
		{[]int{1, 64, 112, 112}, []int64{0, 2, 3, 1}}, // NCHW -> NHWC
		{[]int{1, 112, 112, 64}, []int64{0, 3, 1, 2}}, // NHWC -> NCHW
		{[]int{1, 128, 12, 64}, []int64{0, 2, 1, 3}},  // attention heads
		{[]int{1024, 1024}, []int64{1, 0}},
	}
	for _, c := range cases {
		b.Run(fmt.Sprint(c.shape, c.perm), func(b *testing.B) {
			x := iota32(c.shape...)
			n := &graph.Node{OpType: "Transpose", Inputs: []string{"x"}, Outputs: []string{"y"},
				Attrs: map[string]*graph.Attr{"perm": aInts("perm", c.perm...)}}
			k, err := buildTranspose(&kernels.BuildContext{Node: n, Opset: 13, Inputs: []kernels.Input{{Present: true}}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := &kernels.Ctx{Allocator: &reuseAllocator{}, Pool: testPool}
			out := make([]*tensor.Tensor, 1)
			b.SetBytes(int64(4 * x.Len()))
			for b.Loop() {
				if err := k.Run(ctx, []*tensor.Tensor{x}, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reuseAllocator hands out the same buffer again, as the runtime's
// recycler does in steady state, so benchmarks time the kernel alone.
type reuseAllocator struct{ t *tensor.Tensor }

func (r *reuseAllocator) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if r.t == nil || r.t.DType != dt || !tensor.EqualShapes(r.t.Shape, shape) {
		t, err := tensor.Make(dt, shape)
		if err != nil {
			return nil, err
		}
		r.t = t
	}
	return r.t, nil
}
