package nn

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// randTensor returns a float32 tensor of uniform values in [-1, 1).
func randTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32() {
		t.F32()[i] = rng.Float32()*2 - 1
	}
	return t
}

// buildNode compiles one node; consts[i] non-nil marks input i constant.
func buildNode(tb testing.TB, n *graph.Node, opset int64, ins []*tensor.Tensor, consts []bool) kernels.Kernel {
	tb.Helper()
	meta := make([]kernels.Input, len(ins))
	for i, t := range ins {
		if t == nil {
			continue
		}
		meta[i] = kernels.Input{Present: true, DType: t.DType, Shape: t.Shape}
		if i < len(consts) && consts[i] {
			meta[i].Const = t
		}
	}
	build, err := kernels.Lookup(n.Domain, n.OpType, opset)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := build(&kernels.BuildContext{Node: n, Opset: opset, Inputs: meta})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func ints(v ...int64) *graph.Attr { return &graph.Attr{Type: graph.AttrInts, Ints: v} }
func intAttr(v int64) *graph.Attr { return &graph.Attr{Type: graph.AttrInt, Int: v} }
func strAttr(s string) *graph.Attr {
	return &graph.Attr{Type: graph.AttrString, String: s}
}
func floatAttr(f float32) *graph.Attr { return &graph.Attr{Type: graph.AttrFloat, Float: f} }

// convBench is one Conv shape of the MobileNetV2/SqueezeNet kind.
type convBench struct {
	name             string
	c, h, w, m, k, s int
	group            int
}

var convBenches = []convBench{
	{"pw_96to24_56", 96, 56, 56, 24, 1, 1, 1},
	{"pw_16to96_112", 16, 112, 112, 96, 1, 1, 1},
	{"pw_320to1280_7", 320, 7, 7, 1280, 1, 1, 1},
	{"pw_960to160_7", 960, 7, 7, 160, 1, 1, 1},
	{"pw_384to64_14", 384, 14, 14, 64, 1, 1, 1},
	{"pw_576to96_14", 576, 14, 14, 96, 1, 1, 1},
	{"pw_512to64_13", 512, 13, 13, 64, 1, 1, 1}, // SqueezeNet's last squeeze
	{"pw_256to64_56", 256, 56, 56, 64, 1, 1, 1}, // ResNet50 stage 1
	{"dw_144_56_s1", 144, 56, 56, 144, 3, 1, 144},
	{"dw_96_112_s2", 96, 112, 112, 96, 3, 2, 96},
	{"dw_960_7_s1", 960, 7, 7, 960, 3, 1, 960},
	{"c3x3_3to32_224_s2", 3, 224, 224, 32, 3, 2, 1},
	{"c3x3_16to64_55_s1", 16, 55, 55, 64, 3, 1, 1},
	{"c3x3_128to32_56_s1", 128, 56, 56, 32, 3, 1, 1}, // DenseNet growth convolutions
	{"c3x3_128to32_14_s1", 128, 14, 14, 32, 3, 1, 1},
	{"c3x3_64to64_56_s1", 64, 56, 56, 64, 3, 1, 1}, // ResNet50 stage 1
	{"c7x7_3to64_224_s2", 3, 224, 224, 64, 7, 2, 1},
	{"c3x3_256to256_14_s1", 256, 14, 14, 256, 3, 1, 1},
	{"c3x3_512to512_7_s1", 512, 7, 7, 512, 3, 1, 1},
	{"c3x3_160to224_7_s1", 160, 7, 7, 224, 3, 1, 1}, // Inception v2's last modules
	{"c3x3_128to160_14_s1", 128, 14, 14, 160, 3, 1, 1},
}

// convPathsFromEnv turns convolution paths off for A/B runs, as the
// environment says: CONV_IM2COL=1 the indirect one, CONV_NOPIXELS=1 the
// pixel one (weights packed for it are then unpacked and packed again).
// It returns the function that restores them.
func convPathsFromEnv() func() {
	oldI, oldP := noIndirect, noPixels
	noIndirect = noIndirect || os.Getenv("CONV_IM2COL") != ""
	noPixels = noPixels || os.Getenv("CONV_NOPIXELS") != ""
	return func() { noIndirect, noPixels = oldI, oldP }
}

// BenchmarkConv times one Conv node per shape (see convPathsFromEnv).
func BenchmarkConv(b *testing.B) {
	defer convPathsFromEnv()()
	for _, cb := range convBenches {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", cb.name, threads), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				x := randTensor(rng, 1, cb.c, cb.h, cb.w)
				w := randTensor(rng, cb.m, cb.c/cb.group, cb.k, cb.k)
				bias := randTensor(rng, cb.m)
				pad := int64(cb.k / 2)
				n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
					Attrs: map[string]*graph.Attr{
						"group": intAttr(int64(cb.group)), "strides": ints(int64(cb.s), int64(cb.s)),
						"pads":              ints(pad, pad, pad, pad),
						AttrActivation:      strAttr("Clip"),
						AttrActivationAlpha: floatAttr(0), AttrActivationBeta: floatAttr(6),
					}}
				k := buildNode(b, n, 17, []*tensor.Tensor{x, w, bias}, []bool{false, true, true})
				pool := kernels.NewPool(threads)
				defer pool.Close()
				ctx := &kernels.Ctx{Pool: pool}
				out := make([]*tensor.Tensor, 1)
				in := []*tensor.Tensor{x, w, bias}
				b.ResetTimer()
				cpu0 := testenv.ProcessCPU()
				for i := 0; i < b.N; i++ {
					if err := k.Run(ctx, in, out); err != nil {
						b.Fatal(err)
					}
				}
				cpu := testenv.ProcessCPU() - cpu0
				y := out[0]
				oh, ow := y.Shape[2], y.Shape[3]
				flops := 2 * float64(cb.m*oh*ow) * float64(cb.c/cb.group*cb.k*cb.k)
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu > 0 {
					b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}

func BenchmarkMaxPool(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 1, 64, 111, 111)
	n := &graph.Node{OpType: "MaxPool", Inputs: []string{"x"}, Outputs: []string{"y"},
		Attrs: map[string]*graph.Attr{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "ceil_mode": intAttr(1)}}
	k := buildNode(b, n, 17, []*tensor.Tensor{x}, nil)
	ctx := &kernels.Ctx{}
	out := make([]*tensor.Tensor, 1)
	for i := 0; i < b.N; i++ {
		if err := k.Run(ctx, []*tensor.Tensor{x}, out); err != nil {
			b.Fatal(err)
		}
	}
}

// reuseAlloc hands back the same buffer for the same request, like the
// runtime's recycler does between runs (no page faults in the timings).
type reuseAlloc struct{ m map[string]*tensor.Tensor }

func (r *reuseAlloc) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	key := fmt.Sprint(dt, shape)
	if r.m == nil {
		r.m = map[string]*tensor.Tensor{}
	}
	if t, ok := r.m[key]; ok {
		clear(t.F32())
		return t, nil
	}
	t, err := tensor.Make(dt, shape)
	r.m[key] = t
	return t, err
}

// BenchmarkConvReuse is BenchmarkConv with recycled outputs and scratch.
func BenchmarkConvReuse(b *testing.B) {
	defer convPathsFromEnv()()
	for _, cb := range convBenches {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", cb.name, threads), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				x := randTensor(rng, 1, cb.c, cb.h, cb.w)
				w := randTensor(rng, cb.m, cb.c/cb.group, cb.k, cb.k)
				bias := randTensor(rng, cb.m)
				pad := int64(cb.k / 2)
				n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
					Attrs: map[string]*graph.Attr{
						"group": intAttr(int64(cb.group)), "strides": ints(int64(cb.s), int64(cb.s)),
						"pads":              ints(pad, pad, pad, pad),
						AttrActivation:      strAttr("Clip"),
						AttrActivationAlpha: floatAttr(0), AttrActivationBeta: floatAttr(6),
					}}
				k := buildNode(b, n, 17, []*tensor.Tensor{x, w, bias}, []bool{false, true, true})
				pool := kernels.NewPool(threads)
				defer pool.Close()
				ctx := &kernels.Ctx{Pool: pool, Allocator: &reuseAlloc{}}
				out := make([]*tensor.Tensor, 1)
				in := []*tensor.Tensor{x, w, bias}
				best := time.Duration(1 << 62)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					if err := k.Run(ctx, in, out); err != nil {
						b.Fatal(err)
					}
					best = min(best, time.Since(t0))
				}
				y := out[0]
				oh, ow := y.Shape[2], y.Shape[3]
				flops := 2 * float64(cb.m*oh*ow) * float64(cb.c/cb.group*cb.k*cb.k)
				b.ReportMetric(float64(best.Nanoseconds())/1e3, "min-us")
				b.ReportMetric(flops/best.Seconds()/1e9, "best-GFLOP/s")
			})
		}
	}
}
