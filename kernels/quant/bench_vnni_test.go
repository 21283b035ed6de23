package quant

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

// reportOps reports GOPS (2 ops per multiply-accumulate) by wall time and
// per CPU-second.
func reportOps(b *testing.B, macs float64, cpu0 time.Duration) {
	ops := 2 * macs * float64(b.N)
	b.ReportMetric(ops/b.Elapsed().Seconds()/1e9, "GOPS")
	if cpu := testenv.ProcessCPU() - cpu0; cpu > 0 {
		b.ReportMetric(ops/cpu.Seconds()/1e9, "cpu-GOPS")
	}
}

// benchCtx returns a context with the given thread count (nil for 1).
func benchCtx(b *testing.B, threads int) *kernels.Ctx {
	if threads == 1 {
		return nil
	}
	pool := kernels.NewPool(threads)
	b.Cleanup(pool.Close)
	return &kernels.Ctx{Pool: pool}
}

// gemmShapes are M×K×N products of the int8 models: MNIST's second
// convolution as im2col (784 pixels × 5·5·32 → 64) and its FC layer
// (batch 1, 3136 → 512), and MobileNetV2's 1×1 convolutions (pixels ×
// input channels → output channels).
var gemmShapes = []struct {
	name    string
	m, k, n int
}{
	{"mnist_conv2_784x800x64", 784, 800, 64},
	{"mnist_fc_1x3136x512", 1, 3136, 512},
	{"mbv2_12544x32x16", 12544, 32, 16},
	{"mbv2_3136x24x144", 3136, 24, 144},
	{"mbv2_3136x144x24", 3136, 144, 24},
	{"mbv2_784x192x32", 784, 192, 32},
	{"mbv2_196x64x384", 196, 64, 384},
	{"mbv2_196x384x64", 196, 384, 64},
	{"mbv2_49x960x160", 49, 960, 160},
	{"mbv2_49x320x1280", 49, 320, 1280},
}

// BenchmarkGemmShapes times GemmU8 (uint8 activations × int8 weights) on
// the model shapes, per implementation and thread count.
func BenchmarkGemmShapes(b *testing.B) {
	for _, impl := range gemmImpls() {
		for _, s := range gemmShapes {
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/t%d", impl, s.name, th), func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 2))
					a := randSlice[uint8](r, s.m*s.k)
					w := randSlice[int8](r, s.k*s.n)
					var pb *PackedB
					withImpl(impl, func() { pb, _ = PackB(s.k, s.n, w, s.n, false, nil) })
					c := make([]int32, s.m*s.n)
					ctx := benchCtx(b, th)
					b.ResetTimer()
					cpu0 := testenv.ProcessCPU()
					for range b.N {
						GemmU8(ctx, s.m, a, s.k, []int32{3}, pb, c, s.n)
					}
					reportOps(b, float64(s.m*s.n*s.k), cpu0)
				})
			}
		}
	}
}

// convShapes are convolutions of the int8 models ([N,C,H,W] input,
// [M,C/g,kh,kw] weights).
var convShapes = []struct {
	name      string
	x, w      []int
	group     int
	pads, str []int
}{
	{"mnist_conv1_5x5_1to32_28", []int{1, 1, 28, 28}, []int{32, 1, 5, 5}, 1, []int{2, 2, 2, 2}, nil},
	{"mnist_conv2_5x5_32to64_14", []int{1, 32, 14, 14}, []int{64, 32, 5, 5}, 1, []int{2, 2, 2, 2}, nil},
	{"mbv2_first_3x3s2_3to32_224", []int{1, 3, 224, 224}, []int{32, 3, 3, 3}, 1, []int{1, 1, 1, 1}, []int{2, 2}},
	{"mbv2_1x1_32to16_112", []int{1, 32, 112, 112}, []int{16, 32, 1, 1}, 1, nil, nil},
	{"mbv2_1x1_24to144_56", []int{1, 24, 56, 56}, []int{144, 24, 1, 1}, 1, nil, nil},
	{"mbv2_1x1_144to24_56", []int{1, 144, 56, 56}, []int{24, 144, 1, 1}, 1, nil, nil},
	{"mbv2_1x1_64to384_14", []int{1, 64, 14, 14}, []int{384, 64, 1, 1}, 1, nil, nil},
	{"mbv2_1x1_960to160_7", []int{1, 960, 7, 7}, []int{160, 960, 1, 1}, 1, nil, nil},
	{"mbv2_1x1_320to1280_7", []int{1, 320, 7, 7}, []int{1280, 320, 1, 1}, 1, nil, nil},
	{"mbv2_dw3x3_144_56", []int{1, 144, 56, 56}, []int{144, 1, 3, 3}, 144, []int{1, 1, 1, 1}, nil},
	{"mbv2_dw3x3s2_144_56", []int{1, 144, 56, 56}, []int{144, 1, 3, 3}, 144, []int{1, 1, 1, 1}, []int{2, 2}},
	{"mbv2_dw3x3_576_14", []int{1, 576, 14, 14}, []int{576, 1, 3, 3}, 576, []int{1, 1, 1, 1}, nil},
}

// BenchmarkConvShapes times fused NewConv kernels (uint8 input, int8
// per-channel symmetric weights, uint8 output, Relu) on the model shapes.
func BenchmarkConvShapes(b *testing.B) {
	for _, impl := range gemmImpls() {
		for _, c := range convShapes {
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/t%d", impl, c.name, th), func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 2))
					x, _ := randTensor(r, tensor.Uint8, c.x)
					w, _ := randTensor(r, tensor.Int8, c.w)
					ws := make([]float32, c.w[0])
					for i := range ws {
						ws[i] = 0.001 + 0.01*r.Float32()
					}
					var k kernels.Kernel
					var err error
					withImpl(impl, func() {
						k, err = NewConv(ConvParams{XType: tensor.Uint8, XScale: 0.1, XZero: 3, W: w, WScale: ws,
							YType: tensor.Uint8, YScale: 0.5, YZero: 0, Relu: true, Group: c.group, Pads: c.pads, Strides: c.str})
					})
					if err != nil {
						b.Fatal(err)
					}
					ctx := benchCtx(b, th)
					if ctx == nil {
						ctx = &kernels.Ctx{}
					}
					rec := &recycler{} // buffers are recycled, as the runtime does
					ctx.Allocator = rec
					out := []*tensor.Tensor{nil}
					k.Run(ctx, []*tensor.Tensor{x}, out)
					oh, ow := out[0].Shape[2], out[0].Shape[3]
					macs := float64(c.w[0]*c.w[1]*c.w[2]*c.w[3]) * float64(oh*ow)
					b.ResetTimer()
					cpu0 := testenv.ProcessCPU()
					for range b.N {
						rec.Free(out[0])
						if err := k.Run(ctx, []*tensor.Tensor{x}, out); err != nil {
							b.Fatal(err)
						}
					}
					reportOps(b, macs, cpu0)
				})
			}
		}
	}
}

// mobileNetV2Convs lists MobileNetV2's convolutions (224×224 input) as
// fused int8 kernels: stem, the 17 inverted residual blocks (expand 1×1,
// depthwise 3×3, project 1×1) and the final 1×1, plus the classifier.
func mobileNetV2Convs(b *testing.B) (convs []kernels.Kernel, fc kernels.Kernel, x *tensor.Tensor, macs float64) {
	r := rand.New(rand.NewPCG(5, 6))
	mk := func(cin, cout, k, stride, group, hw int) {
		w, _ := randTensor(r, tensor.Int8, []int{cout, cin / group, k, k})
		ws := make([]float32, cout)
		for i := range ws {
			ws[i] = 0.002 + 0.01*r.Float32()
		}
		bias := tensor.New(tensor.Int32, cout)
		for i := range cout {
			bias.Data.([]int32)[i] = int32(r.IntN(2000) - 1000)
		}
		pad := k / 2
		kn, err := NewConv(ConvParams{XType: tensor.Int8, XScale: 0.05, XZero: -3, W: w, WScale: ws, Bias: bias,
			YType: tensor.Int8, YScale: 0.1, YZero: -128, Relu: true, Group: group,
			Pads: []int{pad, pad, pad, pad}, Strides: []int{stride, stride}})
		if err != nil {
			b.Fatal(err)
		}
		convs = append(convs, kn)
		ohw := (hw + 2*pad - k) / stride
		ohw++
		macs += float64(cout*(cin/group)*k*k) * float64(ohw*ohw)
	}
	mk(3, 32, 3, 2, 1, 224)
	cin, hw := 32, 112
	for _, blk := range []struct{ t, c, n, s int }{{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}} {
		for i := 0; i < blk.n; i++ {
			s := 1
			if i == 0 {
				s = blk.s
			}
			hidden := cin * blk.t
			if blk.t != 1 {
				mk(cin, hidden, 1, 1, 1, hw)
			}
			mk(hidden, hidden, 3, s, hidden, hw)
			hw = (hw+2-3)/s + 1
			mk(hidden, blk.c, 1, 1, 1, hw)
			cin = blk.c
		}
	}
	mk(320, 1280, 1, 1, 1, 7)
	w, _ := randTensor(r, tensor.Int8, []int{1280, 1000})
	fc, err := NewGemm(GemmParams{AType: tensor.Int8, AScale: 0.05, AZero: -3, B: w, BScale: []float32{0.01},
		YType: tensor.Int8, YScale: 0.2, YZero: 0})
	if err != nil {
		b.Fatal(err)
	}
	macs += 1280 * 1000
	x, _ = randTensor(r, tensor.Int8, []int{1, 3, 224, 224})
	return convs, fc, x, macs
}

// BenchmarkMobileNetV2Chain runs every convolution of MobileNetV2 (and the
// classifier) in sequence, each on the previous one's output where shapes
// chain (the residual adds and the pooling are not included), at 1 and 2
// threads: an end-to-end figure for the int8 conv kernels.
func BenchmarkMobileNetV2Chain(b *testing.B) {
	for _, impl := range gemmImpls() {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", impl, th), func(b *testing.B) {
				var convs []kernels.Kernel
				var fc kernels.Kernel
				var x *tensor.Tensor
				var macs float64
				withImpl(impl, func() { convs, fc, x, macs = mobileNetV2Convs(b) })
				ctx := benchCtx(b, th)
				if ctx == nil {
					ctx = &kernels.Ctx{}
				}
				// buffers are recycled, as the runtime does
				rec := &recycler{}
				ctx.Allocator = rec
				pooled := tensor.New(tensor.Int8, 1, 1280)
				run := func() {
					cur := x
					out := []*tensor.Tensor{nil}
					for _, k := range convs {
						if err := k.Run(ctx, []*tensor.Tensor{cur}, out); err != nil {
							b.Fatal(err)
						}
						if cur != x {
							rec.Free(cur)
						}
						cur = out[0]
					}
					rec.Free(cur)
					if err := fc.Run(ctx, []*tensor.Tensor{pooled}, out); err != nil {
						b.Fatal(err)
					}
				}
				run()
				b.ResetTimer()
				cpu0 := testenv.ProcessCPU()
				for range b.N {
					run()
				}
				reportOps(b, macs, cpu0)
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/run")
			})
		}
	}
}

// recycler is a minimal stand-in for the runtime's allocator: freed
// buffers are reused by size, and AllocUninit skips the zeroing.
type recycler struct {
	mu   sync.Mutex
	free map[[2]int][]*tensor.Tensor
}

func (r *recycler) alloc(dt tensor.DType, shape []int, zero bool) (*tensor.Tensor, error) {
	n, err := tensor.NumElements(shape)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	key := [2]int{int(dt), n}
	if l := r.free[key]; len(l) > 0 {
		t := l[len(l)-1]
		r.free[key] = l[:len(l)-1]
		r.mu.Unlock()
		if zero {
			t2, _ := tensor.Make(dt, shape)
			return t2, nil
		}
		t.Shape = append([]int{}, shape...)
		return t, nil
	}
	r.mu.Unlock()
	return tensor.Make(dt, shape)
}

func (r *recycler) Alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return r.alloc(dt, shape, true)
}

func (r *recycler) AllocUninit(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return r.alloc(dt, shape, false)
}

func (r *recycler) Free(t *tensor.Tensor) {
	if t == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.free == nil {
		r.free = map[[2]int][]*tensor.Tensor{}
	}
	key := [2]int{int(t.DType), t.Len()}
	r.free[key] = append(r.free[key], t)
}
