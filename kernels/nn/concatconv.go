package nn

import (
	"fmt"
	"strings"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register(FusedDomain, "ConcatConv", 1, buildConcatConv)
}

// FusedDomain is the domain of edgedl's internal operators (the same as
// package kernels/fused's).
const FusedDomain = "edgedl"

// ConcatConvPrefix returns the attribute prefix of branch i of a
// ConcatConv node: the branch's Conv attributes are stored under it.
func ConcatConvPrefix(i int) string { return fmt.Sprintf("c%d_", i) }

// concatConvKernel is edgedl.ConcatConv, which the runtime's optimizer
// substitutes for a Concat along the channels (axis 1) of Conv outputs
// read by nothing else, as in SqueezeNet's Fire and Inception's modules:
//
//	Concat(Conv_0(x_0, W_0, B_0), Conv_1(x_1, W_1, B_1), ...)
//
// Inputs: x_i, W_i, B_i for each branch (B_i may be omitted). Attributes:
// branches (int), and each branch's Conv attributes (including a fused
// activation) prefixed by ConcatConvPrefix(i). For a batch of one the
// branches write straight into their channel slices of the output, so the
// Concat costs nothing; otherwise they run on their own and are copied.
type concatConvKernel struct {
	convs []*convKernel
}

func buildConcatConv(b *kernels.BuildContext) (kernels.Kernel, error) {
	nb := int(b.Attrs().Int("branches", 0))
	if nb < 1 || len(b.Inputs) > 3*nb {
		return nil, b.Errorf("ConcatConv: %d branches, %d inputs", nb, len(b.Inputs))
	}
	k := &concatConvKernel{}
	for i := 0; i < nb; i++ {
		pre := ConcatConvPrefix(i)
		sub := &graph.Node{Name: fmt.Sprintf("%s[%d]", b.Node.Name, i), OpType: "Conv",
			Inputs: make([]string, 3), Outputs: []string{""}, Attrs: map[string]*graph.Attr{}}
		for name, a := range b.Node.Attrs {
			if rest, ok := strings.CutPrefix(name, pre); ok {
				c := *a
				c.Name = rest
				sub.Attrs[rest] = &c
			}
		}
		ins := make([]kernels.Input, 3)
		for j := 0; j < 3; j++ {
			if 3*i+j < len(b.Inputs) {
				ins[j] = b.Inputs[3*i+j]
			}
			if 3*i+j < len(b.Node.Inputs) {
				sub.Inputs[j] = b.Node.Inputs[3*i+j]
			}
		}
		kc, err := buildConv(&kernels.BuildContext{Node: sub, Opset: b.Opset, Inputs: ins, Compile: b.Compile})
		if err != nil {
			return nil, err
		}
		k.convs = append(k.convs, kc.(*convKernel))
	}
	return k, nil
}

// PackedInputs implements kernels.PackedInputs: the branches' packed
// weights and biases.
func (k *concatConvKernel) PackedInputs() []int {
	var ids []int
	for i, c := range k.convs {
		for _, j := range c.PackedInputs() {
			ids = append(ids, 3*i+j)
		}
	}
	return ids
}

func (k *concatConvKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	branch := func(i int) []*tensor.Tensor {
		ins := make([]*tensor.Tensor, 3)
		for j := range ins {
			if 3*i+j < len(in) {
				ins[j] = in[3*i+j]
			}
		}
		return ins
	}
	if len(in) == 0 || in[0] == nil {
		return fmt.Errorf("ConcatConv: X is missing")
	}
	dt := in[0].DType
	// The output shape: the branches' shapes, channels added up.
	shapes := make([][]int, len(k.convs))
	var yshape []int
	for i, c := range k.convs {
		ins := branch(i)
		if ins[0] == nil || ins[0].DType != dt {
			return fmt.Errorf("ConcatConv: branch %d: X missing or of another dtype", i)
		}
		s, err := c.outShape(ins[0], ins[1])
		if err != nil {
			return fmt.Errorf("branch %d: %w", i, err)
		}
		shapes[i] = s
		if i == 0 {
			yshape = append([]int(nil), s...)
			continue
		}
		if len(s) != len(yshape) || s[0] != yshape[0] || !tensor.EqualShapes(s[2:], yshape[2:]) {
			return fmt.Errorf("ConcatConv: branch shapes %v and %v do not concatenate", yshape, s)
		}
		yshape[1] += s[1]
	}
	direct := yshape[0] == 1 && (dt == tensor.Float32 || dt == tensor.Float64)
	if !direct {
		return k.runCopy(ctx, in, out, branch, yshape)
	}
	y, err := allocFull(ctx, dt, yshape) // every branch writes all its slice
	if err != nil {
		return err
	}
	out[0] = y
	off := 0
	for i, c := range k.convs {
		size := prod(shapes[i])
		view := &tensor.Tensor{DType: dt, Shape: shapes[i]}
		var o [1]*tensor.Tensor
		switch d := y.Data.(type) {
		case []float32:
			view.Data = d[off : off+size : off+size]
			err = convRun[float32](ctx, c, branch(i), o[:], view)
		case []float64:
			view.Data = d[off : off+size : off+size]
			err = convRun[float64](ctx, c, branch(i), o[:], view)
		}
		if err != nil {
			return fmt.Errorf("branch %d: %w", i, err)
		}
		off += size
	}
	return nil
}

// runCopy runs the branches into their own outputs and concatenates them
// (batches of more than one image, 16-bit floats).
func (k *concatConvKernel) runCopy(ctx *kernels.Ctx, in, out []*tensor.Tensor,
	branch func(int) []*tensor.Tensor, yshape []int) error {
	parts := make([]*tensor.Tensor, len(k.convs))
	for i, c := range k.convs {
		var o [1]*tensor.Tensor
		if err := c.Run(ctx, branch(i), o[:]); err != nil {
			return fmt.Errorf("branch %d: %w", i, err)
		}
		parts[i] = o[0]
	}
	y, err := allocFull(ctx, parts[0].DType, yshape)
	if err != nil {
		return err
	}
	n, inner, off := yshape[0], prod(yshape[2:]), 0
	for _, p := range parts {
		run := p.Shape[1] * inner
		var ok bool
		switch yd := y.Data.(type) {
		case []float32:
			ok = copyChannels(yd, p.Data, n, yshape[1]*inner, off, run)
		case []float64:
			ok = copyChannels(yd, p.Data, n, yshape[1]*inner, off, run)
		case []uint16:
			ok = copyChannels(yd, p.Data, n, yshape[1]*inner, off, run)
		}
		if !ok {
			return kernels.Unsupported("ConcatConv", "dtype %v", y.DType)
		}
		off += run
		ctx.Free(p)
	}
	out[0] = y
	return nil
}

// copyChannels copies n images of run elements from src (a []T) to dst at
// offset off of each image of stride elements.
func copyChannels[T any](dst []T, src any, n, stride, off, run int) bool {
	s, ok := src.([]T)
	if !ok {
		return false
	}
	for b := 0; b < n; b++ {
		copy(dst[b*stride+off:b*stride+off+run], s[b*run:(b+1)*run])
	}
	return true
}
