package quantize

import (
	"fmt"
	"log/slog"
	"math"

	"github.com/edgedl/edgedl/compress/internal/gx"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// DynamicOptions configure Dynamic.
type DynamicOptions struct {
	// PerTensor uses one weight scale per layer (ONNX Runtime's default)
	// instead of one per output column.
	PerTensor bool
	// FloatLayers names nodes to leave in float.
	FloatLayers []string
	// MinElements skips layers with smaller weights (default 0: none).
	MinElements int
	// Logger receives notes on layers left in float; nil: slog.Default().
	Logger *slog.Logger
}

// Dynamic quantises the MatMul and Gemm layers with constant weights the
// way ONNX Runtime's dynamic quantizer does: weights become int8 offline
// (symmetric), and at run time
//
//	DynamicQuantizeLinear(x) -> x_q (uint8), x_scale, x_zero
//	MatMulInteger(x_q, w_q, x_zero, w_zero) -> Cast(float) -> Mul(x_scale*w_scale) [-> Add(bias)]
//
// so that activations are quantised per batch with their actual range.
// Gemm weights [N, K] (transB) are stored transposed as [K, N]; alpha and
// beta are folded into the scale and the bias. Conv layers stay in float.
func Dynamic(m *graph.Model, opts DynamicOptions) (*graph.Model, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("quantize: nil model")
	}
	if m.Opset() < 11 {
		return nil, fmt.Errorf("quantize: dynamic quantisation needs opset 11 or later (DynamicQuantizeLinear), the model has %d", m.Opset())
	}
	pm, err := gx.Prepare(m, false)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	g := pm.Graph
	skip := map[string]bool{}
	names := map[string]bool{}
	for _, n := range g.Nodes {
		names[n.Name] = true
	}
	for _, l := range opts.FloatLayers {
		if !names[l] {
			return nil, fmt.Errorf("quantize: no node named %q to keep in float", l)
		}
		skip[l] = true
	}
	type dq struct{ q, s, z string }
	xq := map[string]dq{} // activation -> its DynamicQuantizeLinear outputs
	var nodes []*graph.Node
	count := 0
	for _, n := range g.Nodes {
		l, ok := gx.AsWeightLayer(g, n)
		if !ok || n.OpType == "Conv" || skip[n.Name] {
			nodes = append(nodes, n)
			continue
		}
		w := g.Initializers[l.Weight]
		if w.Len() < opts.MinElements {
			nodes = append(nodes, n)
			continue
		}
		alpha, beta := float32(1), float32(1)
		var bias string
		if n.OpType == "Gemm" {
			alpha, beta = gx.Float(n, "alpha", 1), gx.Float(n, "beta", 1)
			if len(n.Inputs) > 2 && n.Inputs[2] != "" {
				bias = n.Inputs[2]
				if beta != 1 {
					b := gx.ConstF32(g, bias)
					if b == nil {
						opts.Logger.Warn("quantize: Gemm with beta != 1 and a non-constant bias kept in float", "node", n.Name)
						nodes = append(nodes, n)
						continue
					}
					sb := b.Clone()
					for i := range sb.F32() {
						sb.F32()[i] *= beta
					}
					bias = gx.Unique(g, bias+"_beta")
					g.AddInitializer(bias, sb)
				}
			}
			if gx.Int(n, "transB", 0) != 0 {
				w = transpose2D(w)
			}
		}
		// w is now [K, N]; output columns on axis 1.
		q, scales := quantizeWeight(w, 1, opts.PerTensor)
		if alpha != 1 {
			for i := range scales {
				scales[i] *= alpha
			}
		}
		sshape := []int{len(scales)}
		if opts.PerTensor {
			sshape = []int{}
		}
		base := l.Weight
		qn := gx.Unique(g, base+sufQuant)
		sn := gx.Unique(g, base+sufScale)
		zn := gx.Unique(g, base+sufZero)
		g.AddInitializer(qn, q)
		g.AddInitializer(sn, tensor.Float32s(sshape, scales))
		zt, _ := tensor.Make(tensor.Int8, sshape)
		g.AddInitializer(zn, zt)

		x := n.Inputs[0]
		d, ok := xq[x]
		if !ok {
			d = dq{gx.Unique(g, x+sufQuant), gx.Unique(g, x+sufScale), gx.Unique(g, x+sufZero)}
			xq[x] = d
			nodes = append(nodes, &graph.Node{Name: gx.Unique(g, x+sufQNode), OpType: "DynamicQuantizeLinear",
				Inputs: []string{x}, Outputs: []string{d.q, d.s, d.z}, Attrs: map[string]*graph.Attr{}})
		}
		out := n.Outputs[0]
		mmOut := gx.Unique(g, out+"_MatMulInteger_output")
		castOut := gx.Unique(g, out+"_cast_output")
		scaleOut := gx.Unique(g, out+"_scales_mul")
		mulOut := out
		if bias != "" {
			mulOut = gx.Unique(g, out+"_mul_output")
		}
		cast := &graph.Node{Name: n.Name + "_cast", OpType: "Cast", Inputs: []string{mmOut}, Outputs: []string{castOut}, Attrs: map[string]*graph.Attr{}}
		gx.SetInt(cast, "to", int64(tensor.Float32))
		nodes = append(nodes,
			&graph.Node{Name: n.Name + "_MatMulInteger", OpType: "MatMulInteger", Inputs: []string{d.q, qn, d.z, zn}, Outputs: []string{mmOut}, Attrs: map[string]*graph.Attr{}},
			cast,
			&graph.Node{Name: n.Name + "_scales_mul", OpType: "Mul", Inputs: []string{d.s, sn}, Outputs: []string{scaleOut}, Attrs: map[string]*graph.Attr{}},
			&graph.Node{Name: n.Name + "_mul", OpType: "Mul", Inputs: []string{castOut, scaleOut}, Outputs: []string{mulOut}, Attrs: map[string]*graph.Attr{}},
		)
		if bias != "" {
			nodes = append(nodes, &graph.Node{Name: n.Name + "_bias_add", OpType: "Add", Inputs: []string{mulOut, bias}, Outputs: []string{out}, Attrs: map[string]*graph.Attr{}})
		}
		count++
	}
	g.Nodes = nodes
	gx.DropUnusedInitializers(g)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: the dynamic graph is invalid: %w", err)
	}
	if count == 0 {
		opts.Logger.Warn("quantize: no MatMul or Gemm layer with constant weights to quantise dynamically")
	}
	w := "per-column"
	if opts.PerTensor {
		w = "per-tensor"
	}
	pm.Metadata["edgedl.quantize"] = fmt.Sprintf("dynamic, %s int8 weights, uint8 activations", w)
	return pm, nil
}

func transpose2D(w *tensor.Tensor) *tensor.Tensor {
	r, c := w.Shape[0], w.Shape[1]
	v := w.F32()
	out := make([]float32, len(v))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = v[i*c+j]
		}
	}
	return tensor.Float32s([]int{c, r}, out)
}

// Float16Options configure Float16.
type Float16Options struct {
	// MinElements leaves smaller initializers in float32 (default 16), so
	// that scalars such as Clip bounds do not each cost a Cast node.
	MinElements int
	Logger      *slog.Logger
}

// Float16 stores every float32 initializer of at least MinElements
// elements as float16, read through a Cast to float32 at the start of the
// graph: the file shrinks by about half and the computation stays float32
// (runtimes fold the casts when they load the model). Values beyond
// float16's range saturate at ±65504.
func Float16(m *graph.Model, opts Float16Options) (*graph.Model, error) {
	if opts.MinElements == 0 {
		opts.MinElements = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("quantize: nil model")
	}
	c := gx.Clone(m)
	g := c.Graph
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	var casts []*graph.Node
	saturated := 0
	for _, name := range append([]string{}, g.InitOrder...) {
		t := g.Initializers[name]
		if t == nil || t.DType != tensor.Float32 || t.Len() < opts.MinElements || gx.IsOutput(g, name) {
			continue
		}
		h := make([]uint16, t.Len())
		for i, x := range t.F32() {
			if x > 65504 || x < -65504 {
				saturated++
				x = float32(math.Copysign(65504, float64(x)))
			}
			h[i] = tensor.FloatToHalf(x)
		}
		hn := gx.Unique(g, name+"_fp16")
		g.AddInitializer(hn, &tensor.Tensor{DType: tensor.Float16, Shape: append([]int{}, t.Shape...), Data: h})
		delete(g.Initializers, name)
		cast := &graph.Node{Name: hn + "_Cast", OpType: "Cast", Inputs: []string{hn}, Outputs: []string{name}, Attrs: map[string]*graph.Attr{}}
		gx.SetInt(cast, "to", int64(tensor.Float32))
		casts = append(casts, cast)
	}
	order := g.InitOrder[:0]
	for _, k := range g.InitOrder {
		if _, ok := g.Initializers[k]; ok {
			order = append(order, k)
		}
	}
	g.InitOrder = order
	g.Nodes = append(casts, g.Nodes...)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: the float16 graph is invalid: %w", err)
	}
	if saturated > 0 {
		opts.Logger.Warn("quantize: weights beyond float16's range saturated", "values", saturated)
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	c.Metadata["edgedl.quantize"] = "float16 weight storage"
	return c, nil
}
