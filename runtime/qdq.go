package runtime

import (
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/tensor"
)

// The QDQ rewrite turns the "fake quantized" graphs that ONNX Runtime's
// static quantizer writes into integer execution:
//
//   - DQ(xq) -> Conv/Gemm(DQ(wq), bias) [-> Relu] -> Q  becomes edgedl.QConv/QGemm(xq, wq, bias)
//   - DQ(xq) -> MaxPool/Flatten/Reshape/... -> Q (same scale and zero point) runs on xq directly
//     (max and data movement commute with a monotonic affine map)
//
// DequantizeLinear nodes left without readers are removed afterwards.

const fusedDomain = "edgedl"

// qparam is a per-tensor quantization: a constant scale and zero point.
type qparam struct {
	scale float32
	zero  int32
	dtype tensor.DType // of the quantized values (from the zero point)
}

// scalarQ reads the scale and zero point inputs of a Q or DQ node when they
// are per-tensor constants.
func (o *optimizer) scalarQ(n *graph.Node) (qparam, bool) {
	if len(n.Inputs) < 3 || n.Inputs[2] == "" {
		return qparam{}, false // no zero point: dtype unknown, leave alone
	}
	s, z := o.g.Initializers[n.Inputs[1]], o.g.Initializers[n.Inputs[2]]
	if s == nil || z == nil || s.DType != tensor.Float32 || s.Len() != 1 || z.Len() != 1 {
		return qparam{}, false
	}
	if z.DType != tensor.Int8 && z.DType != tensor.Uint8 {
		return qparam{}, false
	}
	if a := n.Attrs["output_dtype"]; a != nil && a.Int != 0 {
		return qparam{}, false
	}
	return qparam{scale: s.F32()[0], zero: int32(z.Int64At(0)), dtype: z.DType}, true
}

// weightQ reads a DequantizeLinear of constant int8/uint8 weights with
// per-tensor or per-output-channel (axis 0) parameters.
func (o *optimizer) weightQ(n *graph.Node, axis int64) (w *tensor.Tensor, scales []float32, zeros []int32, ok bool) {
	if n == nil || n.OpType != "DequantizeLinear" || n.Domain != "" || len(n.Inputs) < 2 {
		return nil, nil, nil, false
	}
	w = o.g.Initializers[n.Inputs[0]]
	s := o.g.Initializers[n.Inputs[1]]
	if w == nil || s == nil || (w.DType != tensor.Int8 && w.DType != tensor.Uint8) || s.DType != tensor.Float32 {
		return nil, nil, nil, false
	}
	if a := n.Attrs["block_size"]; a != nil && a.Int != 0 {
		return nil, nil, nil, false
	}
	if s.Len() > 1 {
		ax := int64(1)
		if a := n.Attrs["axis"]; a != nil {
			ax = a.Int
		}
		if ax < 0 {
			ax += int64(w.Rank())
		}
		if ax != axis || s.Len() != w.Shape[axis] {
			return nil, nil, nil, false
		}
	}
	scales = s.F32()
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		z := o.g.Initializers[n.Inputs[2]]
		if z == nil || z.Len() != s.Len() {
			return nil, nil, nil, false
		}
		for i := 0; i < z.Len(); i++ {
			zeros = append(zeros, int32(z.Int64At(i)))
		}
	}
	return w, scales, zeros, true
}

// biasQ accepts a float constant, or DequantizeLinear of a constant int32
// bias whose scale is x_scale*w_scale and zero point 0 (what quantizers
// write), returning the tensor the integer kernel takes.
func (o *optimizer) biasQ(name string, prod map[string]*graph.Node, xs float32, ws []float32) (*tensor.Tensor, bool) {
	if t := o.g.Initializers[name]; t != nil {
		return t, t.DType == tensor.Float32
	}
	d := prod[name]
	if d == nil || d.OpType != "DequantizeLinear" || len(d.Inputs) < 2 {
		return nil, false
	}
	b, s := o.g.Initializers[d.Inputs[0]], o.g.Initializers[d.Inputs[1]]
	if b == nil || s == nil || b.DType != tensor.Int32 || s.DType != tensor.Float32 {
		return nil, false
	}
	if len(d.Inputs) > 2 && d.Inputs[2] != "" {
		z := o.g.Initializers[d.Inputs[2]]
		if z == nil {
			return nil, false
		}
		for i := 0; i < z.Len(); i++ {
			if z.Int64At(i) != 0 {
				return nil, false
			}
		}
	}
	for c := 0; c < b.Len(); c++ {
		want := xs * ws[0]
		if len(ws) > 1 {
			want = xs * ws[c]
		}
		got := s.F32()[0]
		if s.Len() > 1 {
			got = s.F32()[c]
		}
		if d := got - want; d > 1e-6*want || d < -1e-6*want {
			// Not in x_scale*w_scale units: pass it dequantized, in float.
			f := make([]float32, b.Len())
			for i := range f {
				sc := s.F32()[0]
				if s.Len() > 1 {
					sc = s.F32()[i]
				}
				f[i] = float32(b.Int64At(i)) * sc
			}
			return tensor.Float32s([]int{b.Len()}, f), true
		}
	}
	return b, true
}

func (o *optimizer) rewriteQDQ() {
	if o.usesSubgraphs() {
		return
	}
	for changed := true; changed; {
		changed = o.rewriteQDQOnce()
	}
	o.removeDeadNodes()
}

func (o *optimizer) rewriteQDQOnce() bool {
	prod := o.producers()
	cons := o.consumers()
	only := func(name string) *graph.Node {
		if len(cons[name]) != 1 || o.isGraphOutput(name) {
			return nil
		}
		return cons[name][0]
	}
	dq := func(name string) (*graph.Node, qparam, bool) {
		n := prod[name]
		if n == nil || n.OpType != "DequantizeLinear" || n.Domain != "" {
			return nil, qparam{}, false
		}
		q, ok := o.scalarQ(n)
		return n, q, ok
	}
	for _, n := range o.g.Nodes {
		if n.Domain != "" || len(n.Inputs) == 0 || len(n.Outputs) != 1 {
			continue
		}
		switch n.OpType {
		case "MaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose":
			// DQ -> op -> Q with equal parameters: run op on the integers.
			d, dqp, ok := dq(n.Inputs[0])
			if !ok || (n.OpType == "MaxPool" && (len(n.Outputs) > 1 || dqp.scale <= 0)) {
				continue
			}
			q := only(n.Outputs[0])
			if q == nil || q.OpType != "QuantizeLinear" || q.Domain != "" {
				continue
			}
			if qp, ok := o.scalarQ(q); !ok || qp != dqp {
				continue
			}
			n.Inputs[0] = d.Inputs[0]
			n.Outputs[0] = q.Outputs[0]
			q.OpType, q.Inputs, q.Outputs = "", nil, nil // dropped below
			o.dropMarked()
			return true
		case "Add":
			// DQ(a) + DQ(b) -> Q: an integer add with rescaling.
			if len(n.Inputs) != 2 {
				continue
			}
			da, qa, okA := dq(n.Inputs[0])
			db, qb, okB := dq(n.Inputs[1])
			if !okA || !okB || qa.scale <= 0 || qb.scale <= 0 {
				continue
			}
			q := only(n.Outputs[0])
			if q == nil || q.OpType != "QuantizeLinear" || q.Domain != "" {
				continue
			}
			yq, ok := o.scalarQ(q)
			if !ok || yq.scale <= 0 {
				continue
			}
			f := func(k string, v float32) *graph.Attr { return &graph.Attr{Name: k, Type: graph.AttrFloat, Float: v} }
			i := func(k string, v int64) *graph.Attr { return &graph.Attr{Name: k, Type: graph.AttrInt, Int: v} }
			attrs := map[string]*graph.Attr{
				"a_scale": f("a_scale", qa.scale), "a_zero": i("a_zero", int64(qa.zero)),
				"b_scale": f("b_scale", qb.scale), "b_zero": i("b_zero", int64(qb.zero)),
				"y_scale": f("y_scale", yq.scale), "y_zero": i("y_zero", int64(yq.zero)), "y_type": i("y_type", int64(yq.dtype)),
			}
			*n = graph.Node{Name: n.Name, OpType: "QAdd", Domain: fusedDomain,
				Inputs: []string{da.Inputs[0], db.Inputs[0]}, Outputs: []string{q.Outputs[0]}, Attrs: attrs}
			q.OpType, q.Inputs, q.Outputs = "", nil, nil
			o.dropMarked()
			return true
		case "Conv", "Gemm":
			if len(n.Inputs) < 2 {
				continue
			}
			_, xq, ok := dq(n.Inputs[0])
			if !ok {
				continue
			}
			if n.OpType == "Gemm" {
				if a := n.Attrs["transA"]; a != nil && a.Int != 0 {
					continue
				}
				if a := n.Attrs["alpha"]; a != nil && a.Float != 1 {
					continue
				}
				if a := n.Attrs["beta"]; a != nil && a.Float != 1 {
					continue
				}
			}
			transB := n.OpType == "Gemm" && n.Attrs["transB"] != nil && n.Attrs["transB"].Int != 0
			waxis := int64(0)
			if n.OpType == "Gemm" && !transB {
				waxis = 1
			}
			_, ws, wz, ok := o.weightQ(prod[n.Inputs[1]], waxis)
			if !ok {
				continue
			}
			var bias *tensor.Tensor
			if len(n.Inputs) > 2 && n.Inputs[2] != "" {
				if bias, ok = o.biasQ(n.Inputs[2], prod, xq.scale, ws); !ok {
					continue
				}
			}
			// Optional Relu, then the QuantizeLinear of the result.
			next := only(n.Outputs[0])
			relu := false
			if next != nil && next.OpType == "Relu" && next.Domain == "" {
				relu = true
				next = only(next.Outputs[0])
			}
			if next == nil || next.OpType != "QuantizeLinear" || next.Domain != "" {
				continue
			}
			yq, ok := o.scalarQ(next)
			if !ok {
				continue
			}
			attrs := map[string]*graph.Attr{}
			if n.OpType == "Conv" {
				for _, k := range []string{"auto_pad", "group", "kernel_shape", "strides", "dilations", "pads"} {
					if a := n.Attrs[k]; a != nil {
						attrs[k] = a
					}
				}
			} else if transB {
				attrs["trans_b"] = &graph.Attr{Name: "trans_b", Type: graph.AttrInt, Int: 1}
			}
			setF := func(k string, v float32) { attrs[k] = &graph.Attr{Name: k, Type: graph.AttrFloat, Float: v} }
			setI := func(k string, v int64) { attrs[k] = &graph.Attr{Name: k, Type: graph.AttrInt, Int: v} }
			setF("x_scale", xq.scale)
			setI("x_zero", int64(xq.zero))
			setI("x_type", int64(xq.dtype))
			setF("y_scale", yq.scale)
			setI("y_zero", int64(yq.zero))
			setI("y_type", int64(yq.dtype))
			if relu {
				setI("relu", 1)
			}
			attrs["w_scales"] = &graph.Attr{Name: "w_scales", Type: graph.AttrFloats, Floats: ws}
			zs := make([]int64, len(wz))
			for i, z := range wz {
				zs[i] = int64(z)
			}
			attrs["w_zeros"] = &graph.Attr{Name: "w_zeros", Type: graph.AttrInts, Ints: zs}
			inputs := []string{prod[n.Inputs[0]].Inputs[0], prod[n.Inputs[1]].Inputs[0]}
			if bias != nil {
				inputs = append(inputs, o.newInit(n.Name+"_qbias", bias))
			}
			op := "QConv"
			if n.OpType == "Gemm" {
				op = "QGemm"
			}
			q := next
			*n = graph.Node{Name: n.Name, OpType: op, Domain: fusedDomain, Inputs: inputs, Outputs: []string{q.Outputs[0]}, Attrs: attrs}
			// The Relu (if any) and the QuantizeLinear are now dead.
			for _, m := range o.g.Nodes {
				if m != n && (m == q || (relu && len(m.Outputs) == 1 && m.OpType == "Relu" && only(m.Outputs[0]) == q)) {
					m.OpType, m.Inputs, m.Outputs = "", nil, nil
				}
			}
			o.dropMarked()
			return true
		}
	}
	return false
}

// dropMarked removes nodes a rewrite emptied (OpType "").
func (o *optimizer) dropMarked() {
	dead := map[*graph.Node]bool{}
	for _, n := range o.g.Nodes {
		if n.OpType == "" {
			dead[n] = true
		}
	}
	o.drop(dead)
}

// removeDeadNodes deletes nodes none of whose outputs is read or is a graph
// output, repeatedly, and initializers nothing reads any more.
func (o *optimizer) removeDeadNodes() {
	for {
		cons := o.consumers()
		dead := map[*graph.Node]bool{}
		for _, n := range o.g.Nodes {
			used := false
			for _, out := range n.Outputs {
				if out != "" && (len(cons[out]) > 0 || o.isGraphOutput(out)) {
					used = true
				}
			}
			if !used {
				dead[n] = true
			}
		}
		if len(dead) == 0 {
			break
		}
		o.drop(dead)
	}
	cons := o.consumers()
	order := o.g.InitOrder[:0]
	for _, k := range o.g.InitOrder {
		if len(cons[k]) > 0 || o.isGraphOutput(k) {
			order = append(order, k)
		} else {
			delete(o.g.Initializers, k)
		}
	}
	o.g.InitOrder = order
}
