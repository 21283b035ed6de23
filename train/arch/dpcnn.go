package arch

import (
	"math"

	"github.com/edgedl/edgedl/graph"
)

func init() { byName["dp-cnn"] = DPCNN }

// DPCNN is the small tanh CNN used for differentially private training on
// MNIST by Papernot et al. ("Tempered Sigmoid Activations for Deep Learning
// with Differential Privacy", 2021) and Tramèr and Boneh ("Differentially
// Private Learning Needs Better Features", 2021), after TF Privacy's
// tutorial model: conv 8×8 stride 2 padding 3 (16 channels), tanh, max pool
// 2×2 stride 1, conv 4×4 stride 2 (32 channels), tanh, max pool 2×2
// stride 1, fc 512→32, tanh, fc 32→10: 26,010 parameters. It has no
// BatchNormalization (per-example gradients need examples to stay
// independent) and is cheap enough for per-example clipping.
func DPCNN(seed uint64) *graph.Model {
	b := newBuilder("dp-cnn", seed, batchDims(1, 28, 28))
	x := b.tanh(b.convStride("input", "conv1", 1, 16, 8, 2, 3))
	x = b.pool1(x)
	x = b.tanh(b.convStride(x, "conv2", 16, 32, 4, 2, 0))
	x = b.pool1(x)
	x = b.tanh(b.linear(b.flatten(x), "fc1", 32*4*4, 32))
	x = b.linear(x, "fc2", 32, 10)
	return b.finish(x, 10, "tanh CNN for DP-SGD on MNIST (Papernot et al. 2021; Tramer and Boneh 2021)")
}

func (b *builder) tanh(x string) string { return b.node("Tanh", []string{x}, nil) }

// convStride adds a square k×k Conv with the given stride and padding and
// PyTorch's default initialisation.
func (b *builder) convStride(x, name string, cin, cout, k, stride, pad int) string {
	bound := 1 / math.Sqrt(float64(cin*k*k))
	w := b.uniform(name+".weight", bound, cout, cin, k, k)
	bias := b.uniform(name+".bias", bound, cout)
	return b.node("Conv", []string{x, w, bias}, named(map[string]*graph.Attr{
		"kernel_shape": ints(k, k), "pads": ints(pad, pad, pad, pad), "strides": ints(stride, stride)}))
}

// pool1 is a 2×2 max pool with stride 1.
func (b *builder) pool1(x string) string {
	return b.node("MaxPool", []string{x}, named(map[string]*graph.Attr{
		"kernel_shape": ints(2, 2), "strides": ints(1, 1)}))
}
