package partition_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/partition"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
)

// codecBound is what a codec base must reproduce at every cut: the rel L2
// error of the model's outputs, and whether the argmax must not move.
var codecBounds = []struct {
	base   string
	relL2  float64
	argmax bool
}{
	{"fp32", 1e-4, false},
	{"fp16", 1e-3, false},
	{"int8", 1e-2, true},
	{"int8c", 1e-2, true},
}

// TestCodecEveryCut sends the crossing tensors of every cut of four models
// through every activation codec (fp32, fp16, int8, int8c, each alone and
// followed by zstd and by lz4) and runs the tail piece on the decoded
// tensors: the model's outputs stay within rel L2 1e-4 (fp32), 1e-3
// (fp16), 1e-2 with an unchanged argmax (int8, int8c) of the full model's.
//
// It runs the full model once (the traced reference values of
// split_models_test.go) and, per cut, compiles only the tail and runs it
// once per base codec. A lossless stage must give back exactly the tensor
// its base decodes to (checked bit for bit), so the tail run of the base
// stands for base+zstd and base+lz4: the runtime is deterministic.
//
// The onnx-zoo-light graphs carry their weights as ConstantOfShape nodes
// (every weight equal, outputs constant, argmax a tie); the sweep replaces
// them by seeded random initializers (He-scaled) so that it measures
// something, calibrates ResNet50's BatchNormalization statistics on the
// test input (calibrateBN), and drops their final Softmax so that, like
// mobilenet_v2 and squeezenet1_1, they output logits (dropSoftmax).
//
// By default the zoo models get an evenly spread sample of their cuts
// (AlexNet 13 of 25, ResNet50 20 of 177, both ends included; compiling
// their tails re-packs up to 240 MB of weights per cut); EDGEDL_LONG=1
// sweeps every cut of every model.
func TestCodecEveryCut(t *testing.T) {
	long := os.Getenv("EDGEDL_LONG") == "1"
	models := []struct {
		name   string
		random bool // replace ConstantOfShape weights
		sample int  // cuts to test by default (0: all)
	}{
		{"mobilenet_v2", false, 0},
		{"squeezenet1_1", false, 0},
		{"onnx-zoo-light/bvlc_alexnet", true, 13},
		{"onnx-zoo-light/resnet50", true, 20},
	}
	for _, mc := range models {
		t.Run(mc.name, func(t *testing.T) {
			start := time.Now()
			var ref *reference
			if mc.random {
				m := loadModel(t, mc.name)
				if n := randomizeWeights(m, rand.New(rand.NewPCG(7, 11))); n == 0 {
					t.Fatal("no ConstantOfShape weights to replace")
				}
				calibrateBN(t, m)
				dropSoftmax(m)
				ref = referenceOf(t, m)
			} else {
				ref = loadReference(t, mc.name)
			}
			d := partition.NewDAG(ref.m.Graph)
			if err := d.SetSizes(ref.sizes); err != nil {
				t.Fatal(err)
			}
			cuts := d.Cuts()
			idx := spread(len(cuts), mc.sample)
			if long || mc.sample == 0 {
				idx = spread(len(cuts), 0)
			}
			worst := map[string]float64{}
			argmaxKept := map[string]int{}
			for _, k := range idx {
				_, tail, err := partition.Split(ref.m, cuts[k], ref.types)
				if err != nil {
					t.Fatalf("cut %d: %v", k, err)
				}
				s, err := runtime.Compile(tail, runtime.Options{Threads: 1})
				if err != nil {
					t.Fatalf("cut %d: compile tail: %v", k, err)
				}
				crossing := make([]*tensor.Tensor, len(tail.Graph.Inputs))
				for i, v := range tail.Graph.Inputs {
					if crossing[i] = ref.values[v.Name]; crossing[i] == nil {
						t.Fatalf("cut %d: crossing tensor %q has no reference value", k, v.Name)
					}
				}
				for _, b := range codecBounds {
					in, err := roundTrip(b.base, crossing)
					if err != nil {
						t.Fatalf("cut %d: %v", k, err)
					}
					out, err := s.RunOrdered(in, nil)
					if err != nil {
						t.Fatalf("cut %d, %s: run tail: %v", k, b.base, err)
					}
					e := worstRelL2(out, ref.want)
					worst[b.base] = max(worst[b.base], e)
					if e > b.relL2 || math.IsNaN(e) {
						t.Errorf("cut %d (after %s), %s: rel L2 %.3g > %g", k, cuts[k].After, b.base, e, b.relL2)
					}
					if b.argmax {
						if i, ok := sameArgmax(out, ref.want); !ok {
							t.Errorf("cut %d (after %s), %s: output %d's argmax moved", k, cuts[k].After, b.base, i)
						} else {
							argmaxKept[b.base]++
						}
					}
					for _, stage := range []string{"zstd", "lz4"} {
						name := b.base + "+" + stage
						got, err := roundTrip(name, crossing)
						if err != nil {
							t.Fatalf("cut %d: %v", k, err)
						}
						for i := range got {
							if !sameBits(got[i], in[i]) {
								t.Errorf("cut %d, %s: crossing tensor %d decodes differently from %s", k, name, i, b.base)
							}
						}
					}
				}
				s.Close()
				goruntime.GC() // the pieces of the randomized zoo models hold hundreds of MB
			}
			var sb strings.Builder
			for _, b := range codecBounds {
				fmt.Fprintf(&sb, "  %s(+zstd,+lz4) %.3g", b.base, worst[b.base])
				if b.argmax {
					fmt.Fprintf(&sb, " argmax kept %d/%d", argmaxKept[b.base], len(idx))
				}
			}
			t.Logf("%d of %d cuts, worst rel L2:%s; %v", len(idx), len(cuts), sb.String(), time.Since(start).Round(time.Millisecond))
		})
	}
}

// spread returns n indices out of 0..total-1 evenly spread with both ends
// included (all of them when n is 0 or at least total).
func spread(total, n int) []int {
	var idx []int
	if n <= 0 || n >= total {
		for i := 0; i < total; i++ {
			idx = append(idx, i)
		}
		return idx
	}
	for i := 0; i < n; i++ {
		k := int(math.Round(float64(i) * float64(total-1) / float64(n-1)))
		if len(idx) == 0 || idx[len(idx)-1] != k {
			idx = append(idx, k)
		}
	}
	return idx
}

// roundTrip encodes and decodes every tensor with the named codec, as the
// device and the next tier do.
func roundTrip(name string, ts []*tensor.Tensor) ([]*tensor.Tensor, error) {
	c, err := codec.Get(name)
	if err != nil {
		return nil, err
	}
	out := make([]*tensor.Tensor, len(ts))
	for i, x := range ts {
		payload, params, err := c.Encode(x)
		if err != nil {
			return nil, fmt.Errorf("%s: encode %v%v: %w", name, x.DType, x.Shape, err)
		}
		if out[i], err = codec.Decode(payload, x.DType, x.Shape, params); err != nil {
			return nil, fmt.Errorf("%s: decode %v%v: %w", name, x.DType, x.Shape, err)
		}
	}
	return out, nil
}

// sameBits reports whether a and b have the same dtype, shape and bytes.
func sameBits(a, b *tensor.Tensor) bool {
	if a.DType != b.DType || !tensor.EqualShapes(a.Shape, b.Shape) {
		return false
	}
	ra, err1 := codec.AppendRaw(nil, a)
	rb, err2 := codec.AppendRaw(nil, b)
	return err1 == nil && err2 == nil && bytes.Equal(ra, rb)
}

// sameArgmax checks that each output's (flat) argmax in got is a maximum
// of want; it returns the first output where it is not.
func sameArgmax(got, want []*tensor.Tensor) (int, bool) {
	for i := range want {
		if got[i].Len() != want[i].Len() || want[i].Len() == 0 {
			return i, false
		}
		a := 0
		for j := 1; j < got[i].Len(); j++ {
			if got[i].Float64At(j) > got[i].Float64At(a) {
				a = j
			}
		}
		top := want[i].Float64At(0)
		for j := 1; j < want[i].Len(); j++ {
			top = max(top, want[i].Float64At(j))
		}
		if want[i].Float64At(a) != top {
			return i, false
		}
	}
	return 0, true
}

// randomizeWeights replaces each float ConstantOfShape node with a constant
// shape (how the onnx-zoo-light graphs store their weights) by a seeded
// random initializer scaled for its consumer: He-normal Conv and Gemm
// weights, small biases, BatchNormalization scale near 1 and variance in
// [0.5, 1.5). It returns the number of nodes replaced; nodes feeding
// anything else are kept.
func randomizeWeights(m *graph.Model, r *rand.Rand) int {
	g := m.Graph
	cons := g.Consumers()
	replaced := 0
	var keep []*graph.Node
	for _, n := range g.Nodes {
		init, ok := randomWeight(g, n, cons, r)
		if !ok {
			keep = append(keep, n)
			continue
		}
		g.AddInitializer(n.Outputs[0], init)
		replaced++
	}
	g.Nodes = keep
	return replaced
}

func randomWeight(g *graph.Graph, n *graph.Node, cons map[string][]int, r *rand.Rand) (*tensor.Tensor, bool) {
	if n.OpType != "ConstantOfShape" || len(n.Inputs) != 1 || len(n.Outputs) != 1 {
		return nil, false
	}
	if a := n.Attrs["value"]; a != nil && (a.Tensor == nil || a.Tensor.DType != tensor.Float32) {
		return nil, false
	}
	st := g.Initializers[n.Inputs[0]]
	if st == nil || st.DType != tensor.Int64 {
		return nil, false
	}
	var shape []int
	for i := 0; i < st.Len(); i++ {
		shape = append(shape, int(st.Float64At(i)))
	}
	users := cons[n.Outputs[0]]
	if len(users) != 1 {
		return nil, false
	}
	u := g.Nodes[users[0]]
	slot := -1
	for i, in := range u.Inputs {
		if in == n.Outputs[0] {
			slot = i
		}
	}
	w, err := tensor.Make(tensor.Float32, shape)
	if err != nil {
		return nil, false
	}
	x := w.F32()
	fill := func(f func() float64) {
		for i := range x {
			x[i] = float32(f())
		}
	}
	switch {
	case (u.OpType == "Conv" || u.OpType == "Gemm") && slot == 1 && len(shape) >= 2:
		fanIn := 1
		for _, d := range shape[1:] {
			fanIn *= d
		}
		if u.OpType == "Gemm" && (u.Attrs["transB"] == nil || u.Attrs["transB"].Int == 0) {
			fanIn = shape[0]
		}
		std := math.Sqrt(2 / float64(max(fanIn, 1)))
		fill(func() float64 { return std * r.NormFloat64() })
	case (u.OpType == "Conv" || u.OpType == "Gemm") && slot == 2:
		fill(func() float64 { return 0.01 * r.NormFloat64() })
	case u.OpType == "BatchNormalization" && slot == 1:
		fill(func() float64 { return 1 + 0.1*r.NormFloat64() })
	case u.OpType == "BatchNormalization" && (slot == 2 || slot == 3):
		fill(func() float64 { return 0.1 * r.NormFloat64() })
	case u.OpType == "BatchNormalization" && slot == 4:
		fill(func() float64 { return 0.5 + r.Float64() })
	default:
		return nil, false
	}
	return w, true
}

// calibrateBN rescales every BatchNormalization so that its output has
// the scale of a unit-variance signal on the test input: its mean becomes
// 0 and its variance (one number for all channels) the mean square of its
// input. Without it ResNet50's activations grow 10^4-fold through its
// residual sums, beyond float16's range. One pass computes all of them:
// each BatchNormalization's input X is first divided by sqrt(mean(X^2))
// inside the graph (with mean 0 and variance 1 the layer then computes
// what it will compute on X with the calibrated variance), and the model
// runs once, recording the mean squares.
//
// Per-channel statistics (as if BatchNormalization were
// InstanceNormalization on the one input) are not used: they make the
// random network chaotic, a 0.5% perturbation of a crossing tensor moving
// the logits by 20% (Yang et al., "A mean field theory of batch
// normalization", 2019), which trained networks are not.
func calibrateBN(t *testing.T, m *graph.Model) {
	t.Helper()
	g := m.Graph
	orig := g.Nodes
	var nodes []*graph.Node
	type bn struct {
		n  *graph.Node
		x  string // the original input
		ms string // the mean square value
	}
	var bns []bn
	eps := map[*graph.Node]float64{}
	for _, n := range orig {
		if n.OpType != "BatchNormalization" || len(n.Inputs) != 5 || g.Initializers[n.Inputs[3]] == nil ||
			g.Initializers[n.Inputs[4]] == nil {
			nodes = append(nodes, n)
			continue
		}
		x, p := n.Inputs[0], "calib_"+n.Outputs[0]
		nodes = append(nodes,
			&graph.Node{Name: p + "_sq", OpType: "Mul", Inputs: []string{x, x}, Outputs: []string{p + "_sq"}},
			&graph.Node{Name: p + "_ms", OpType: "ReduceMean", Inputs: []string{p + "_sq"}, Outputs: []string{p + "_ms"},
				Attrs: map[string]*graph.Attr{"keepdims": {Name: "keepdims", Type: graph.AttrInt, Int: 1}}},
			&graph.Node{Name: p + "_rms", OpType: "Sqrt", Inputs: []string{p + "_ms"}, Outputs: []string{p + "_rms"}},
			&graph.Node{Name: p + "_x", OpType: "Div", Inputs: []string{x, p + "_rms"}, Outputs: []string{p + "_x"}},
			n)
		bns = append(bns, bn{n, x, p + "_ms"})
		n.Inputs = append([]string{p + "_x"}, n.Inputs[1:]...)
		e := 1e-5
		if a := n.Attrs["epsilon"]; a != nil {
			e = float64(a.Float)
		}
		eps[n] = e
		for k, v := range []float32{0, 1} { // mean 0, variance 1
			name := n.Inputs[3+k]
			t := tensor.New(tensor.Float32, g.Initializers[name].Shape...)
			for i := range t.F32() {
				t.F32()[i] = v
			}
			g.Initializers[name] = t
		}
	}
	if len(bns) == 0 {
		return
	}
	g.Nodes = nodes
	want := map[string]bool{}
	for _, b := range bns {
		want[b.ms] = true
	}
	ms := map[string]float64{}
	s, err := runtime.Compile(m, runtime.Options{Threads: 1, NoOptimize: true})
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.SyntheticInputs(runtime.SyntheticOptions{Rand: rand.New(rand.NewPCG(1, 2))}) // as referenceOf
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RunOrdered(in, func(_ int, n *graph.Node, _, out []*tensor.Tensor, _ time.Duration) {
		if len(n.Outputs) == 1 && want[n.Outputs[0]] && len(out) == 1 && out[0].Len() == 1 {
			ms[n.Outputs[0]] = out[0].Float64At(0)
		}
	})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	g.Nodes = orig
	for _, b := range bns {
		v, ok := ms[b.ms]
		if !ok || !(v > 0) {
			t.Fatalf("%s: input mean square %v", b.n.Label(), v)
		}
		b.n.Inputs = append([]string{b.x}, b.n.Inputs[1:]...)
		// (X-0)/sqrt(var+eps) = (X/sqrt(v))/sqrt(1+eps) when var = v(1+eps)-eps.
		vr := g.Initializers[b.n.Inputs[4]]
		for i := range vr.F32() {
			vr.F32()[i] = float32(v*(1+eps[b.n]) - eps[b.n])
		}
	}
}

// dropSoftmax removes a final Softmax so that the model outputs logits,
// as the torchvision exports do: the rel L2 error of probabilities depends
// on the (arbitrary, for random weights) scale of the logits.
func dropSoftmax(m *graph.Model) {
	g := m.Graph
	if len(g.Outputs) != 1 || len(g.Nodes) == 0 {
		return
	}
	last := g.Nodes[len(g.Nodes)-1]
	if last.OpType != "Softmax" || last.Outputs[0] != g.Outputs[0].Name || len(g.Consumers()[last.Outputs[0]]) > 0 {
		return
	}
	g.Outputs[0].Name = last.Inputs[0]
	g.Nodes = g.Nodes[:len(g.Nodes)-1]
}
