package arch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// Opset is the ai.onnx opset the models are written against.
const Opset = 13

// builder accumulates nodes and initializers.
type builder struct {
	g   *graph.Graph
	r   *rand.Rand
	ops int
}

func newBuilder(name string, seed uint64, inShape []graph.Dim) *builder {
	g := &graph.Graph{
		Name:   name,
		Inputs: []graph.ValueInfo{{Name: "input", DType: tensor.Float32, Shape: inShape, HasShape: true}},
	}
	return &builder{g: g, r: rand.New(rand.NewPCG(seed, 0xa5c4))}
}

func batchDims(dims ...int) []graph.Dim {
	out := []graph.Dim{{Value: -1, Param: "batch"}}
	for _, d := range dims {
		out = append(out, graph.Dim{Value: int64(d)})
	}
	return out
}

func (b *builder) node(op string, ins []string, attrs map[string]*graph.Attr) string {
	b.ops++
	out := fmt.Sprintf("%s_%d", op, b.ops)
	b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: out, OpType: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	return out
}

// uniform adds an initializer with values uniform in ±bound.
func (b *builder) uniform(name string, bound float64, shape ...int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = float32((2*b.r.Float64() - 1) * bound)
	}
	b.g.AddInitializer(name, tensor.Float32s(shape, d))
	return name
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func ints(v ...int) *graph.Attr {
	a := &graph.Attr{Name: "", Type: graph.AttrInts}
	for _, x := range v {
		a.Ints = append(a.Ints, int64(x))
	}
	return a
}

func named(attrs map[string]*graph.Attr) map[string]*graph.Attr {
	for k, a := range attrs {
		a.Name = k
	}
	return attrs
}

// conv adds a Conv with PyTorch's default initialisation. k and the pads
// apply to every spatial dim (len(k) is the spatial rank).
func (b *builder) conv(x, name string, cin, cout int, k []int, pad int) string {
	fanIn := cin * prod(k)
	bound := 1 / math.Sqrt(float64(fanIn))
	w := b.uniform(name+".weight", bound, append([]int{cout, cin}, k...)...)
	bias := b.uniform(name+".bias", bound, cout)
	pads := make([]int, 2*len(k))
	for i := range pads {
		pads[i] = pad
	}
	strides := make([]int, len(k))
	for i := range strides {
		strides[i] = 1
	}
	return b.node("Conv", []string{x, w, bias}, named(map[string]*graph.Attr{
		"kernel_shape": ints(k...), "pads": ints(pads...), "strides": ints(strides...)}))
}

// linear adds Gemm(x, W^T) + b with W [out, in] as in torch.nn.Linear.
func (b *builder) linear(x, name string, in, out int) string {
	bound := 1 / math.Sqrt(float64(in))
	w := b.uniform(name+".weight", bound, out, in)
	bias := b.uniform(name+".bias", bound, out)
	return b.node("Gemm", []string{x, w, bias}, named(map[string]*graph.Attr{
		"transB": {Type: graph.AttrInt, Int: 1}}))
}

func (b *builder) relu(x string) string { return b.node("Relu", []string{x}, nil) }

func (b *builder) maxpool(x string, k int) string {
	return b.node("MaxPool", []string{x}, named(map[string]*graph.Attr{
		"kernel_shape": ints(k, k), "strides": ints(k, k)}))
}

func (b *builder) flatten(x string) string {
	return b.node("Flatten", []string{x}, named(map[string]*graph.Attr{"axis": {Type: graph.AttrInt, Int: 1}}))
}

// finish renames the last value to "logits" and wraps the graph.
func (b *builder) finish(last string, classes int, doc string) *graph.Model {
	n := b.g.Nodes[len(b.g.Nodes)-1]
	for i, o := range n.Outputs {
		if o == last {
			n.Outputs[i] = "logits"
		}
	}
	b.g.Outputs = []graph.ValueInfo{{Name: "logits", DType: tensor.Float32, HasShape: true,
		Shape: []graph.Dim{{Value: -1, Param: "batch"}, {Value: int64(classes)}}}}
	b.g.Doc = doc
	return &graph.Model{Graph: b.g, Opsets: map[string]int64{"": Opset}, IRVersion: 8,
		ProducerName: "edgedl-train", Doc: doc}
}

// MNISTCNN is the CNN of McMahan et al. (FedAvg, 2017): two 5×5
// convolutions (32 and 64 channels, padding 2) each followed by ReLU and
// 2×2 max pooling, a 512-unit fully connected ReLU layer and a 10-way
// output: 1,663,370 parameters.
func MNISTCNN(seed uint64) *graph.Model {
	b := newBuilder("mnist-cnn", seed, batchDims(1, 28, 28))
	x := b.maxpool(b.relu(b.conv("input", "conv1", 1, 32, []int{5, 5}, 2)), 2)
	x = b.maxpool(b.relu(b.conv(x, "conv2", 32, 64, []int{5, 5}, 2)), 2)
	x = b.relu(b.linear(b.flatten(x), "fc1", 7*7*64, 512))
	x = b.linear(x, "fc2", 512, 10)
	return b.finish(x, 10, "FedAvg MNIST CNN (McMahan et al. 2017)")
}

// MLP is a fully connected ReLU network over flattened inputs of shape in
// (e.g. [1 28 28]) with the given hidden widths and classes outputs.
// Layers are named fc1, fc2, ...
func MLP(name string, in []int, hidden []int, classes int, seed uint64) *graph.Model {
	b := newBuilder(name, seed, batchDims(in...))
	x := b.flatten("input")
	width := prod(in)
	for i, h := range hidden {
		x = b.relu(b.linear(x, fmt.Sprintf("fc%d", i+1), width, h))
		width = h
	}
	x = b.linear(x, fmt.Sprintf("fc%d", len(hidden)+1), width, classes)
	return b.finish(x, classes, fmt.Sprintf("MLP %v-%v-%d", in, hidden, classes))
}

// MNIST2NN is the 2NN of McMahan et al.: 784-200-200-10 with ReLU,
// 199,210 parameters.
func MNIST2NN(seed uint64) *graph.Model {
	return MLP("mnist-2nn", []int{1, 28, 28}, []int{200, 200}, 10, seed)
}

// LeNet300100 is LeCun et al.'s 784-300-100-10 fully connected network
// (ReLU), 266,610 parameters: the MLP of the Deep Compression paper.
func LeNet300100(seed uint64) *graph.Model {
	return MLP("lenet-300-100", []int{1, 28, 28}, []int{300, 100}, 10, seed)
}

// LeNet5 is the Caffe LeNet-5 used by Han et al.'s Deep Compression and
// pruning papers: conv 5×5×20, max pool 2, conv 5×5×50, max pool 2,
// fc 800→500 with ReLU, fc 500→10; 431,080 parameters. (Caffe's LeNet has
// no ReLU after the convolutions, and neither does this one.)
func LeNet5(seed uint64) *graph.Model {
	b := newBuilder("lenet-5", seed, batchDims(1, 28, 28))
	x := b.maxpool(b.conv("input", "conv1", 1, 20, []int{5, 5}, 0), 2)
	x = b.maxpool(b.conv(x, "conv2", 20, 50, []int{5, 5}, 0), 2)
	x = b.relu(b.linear(b.flatten(x), "fc1", 4*4*50, 500))
	x = b.linear(x, "fc2", 500, 10)
	return b.finish(x, 10, "LeNet-5 (Caffe variant, Han et al. 2015)")
}

// TimeSeriesCNN is a small 1-D CNN for series of shape [channels, length]:
// conv k5 (32, padding 2), ReLU, conv k3 (64, padding 1), ReLU, global
// average pooling, fc 64→classes. It suits the UCR/UEA sets (sktime .ts).
func TimeSeriesCNN(channels, length, classes int, seed uint64) *graph.Model {
	b := newBuilder("ts-cnn", seed, batchDims(channels, length))
	x := b.relu(b.conv("input", "conv1", channels, 32, []int{5}, 2))
	x = b.relu(b.conv(x, "conv2", 32, 64, []int{3}, 1))
	x = b.flatten(b.node("GlobalAveragePool", []string{x}, nil))
	x = b.linear(x, "fc1", 64, classes)
	return b.finish(x, classes, fmt.Sprintf("1-D CNN for [%d,%d] series, %d classes", channels, length, classes))
}

var byName = map[string]func(seed uint64) *graph.Model{
	"mnist-cnn":     MNISTCNN,
	"mnist-2nn":     MNIST2NN,
	"lenet-300-100": LeNet300100,
	"lenet-5":       LeNet5,
}

// Names lists the architectures Build knows (the MNIST family; the time
// series and MLP builders take shapes and are called directly).
func Names() []string {
	out := make([]string, 0, len(byName))
	for k := range byName {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Build returns the named MNIST-family architecture initialised from seed.
func Build(name string, seed uint64) (*graph.Model, error) {
	f, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("arch: unknown architecture %q (known: %v)", name, Names())
	}
	return f(seed), nil
}

// NumParams counts the float parameters (initializer elements) of m.
func NumParams(m *graph.Model) int {
	n := 0
	for _, name := range m.Graph.InitOrder {
		t := m.Graph.Initializers[name]
		if t.DType == tensor.Float32 {
			n += t.Len()
		}
	}
	return n
}
