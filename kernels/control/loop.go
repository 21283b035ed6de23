package control

import (
	"fmt"
	"math"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "Loop", 1, buildLoop)
}

type loopKernel struct {
	random
	body     kernels.Subgraph
	nCarried int
	scanInfo []graph.ValueInfo // declared body scan outputs (for empty results)
	nOut     int
}

func buildLoop(b *kernels.BuildContext) (kernels.Kernel, error) {
	g := b.Attrs().Graph("body")
	if g == nil {
		return nil, b.Errorf("needs a body graph")
	}
	if err := tensorsOnly(g); err != nil {
		return nil, err
	}
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("needs inputs M and cond (possibly empty), got %d", len(b.Inputs))
	}
	n := len(b.Inputs) - 2
	if len(g.Inputs) != n+2 {
		return nil, b.Errorf("body takes %d inputs, want %d (iteration, condition and %d carried values)", len(g.Inputs), n+2, n)
	}
	k := len(g.Outputs) - 1 - n
	if k < 0 {
		return nil, b.Errorf("body has %d outputs, want at least %d", len(g.Outputs), n+1)
	}
	if len(b.Node.Outputs) > n+k {
		return nil, b.Errorf("node has %d outputs, the body provides %d", len(b.Node.Outputs), n+k)
	}
	body, err := b.Compile(g)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return &loopKernel{random: random(hasRandom(g)), body: body, nCarried: n, scanInfo: g.Outputs[1+n:], nOut: len(b.Node.Outputs)}, nil
}

// MaxLoopIterations bounds the iterations of one Loop node run, so that a
// model whose loop never terminates fails with an error instead of hanging.
var MaxLoopIterations int64 = 1 << 24

func (k *loopKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	trip := int64(math.MaxInt64)
	if in[0] != nil {
		if in[0].Len() != 1 || !in[0].DType.IsInteger() {
			return fmt.Errorf("trip count must be one integer, got %v%v", in[0].DType, in[0].Shape)
		}
		trip = in[0].Int64At(0)
	}
	cond := true
	if in[1] != nil {
		var err error
		if cond, err = truth(in[1], "cond"); err != nil {
			return err
		}
	}
	vals := make([]*tensor.Tensor, 2+k.nCarried)
	copy(vals[2:], in[2:])
	for i, v := range vals[2:] {
		if v == nil {
			return fmt.Errorf("loop-carried input %d is missing", i)
		}
	}
	scans := make([][]*tensor.Tensor, len(k.scanInfo))
	scanElems := 0
	var iter int64
	for ; iter < trip && cond; iter++ {
		if iter >= MaxLoopIterations {
			// A hostile or buggy model must not hang the process.
			return fmt.Errorf("loop ran %d iterations without stopping (limit control.MaxLoopIterations)", iter)
		}
		vals[0] = tensor.Scalar(iter)
		vals[1] = tensor.Scalar(cond)
		res, err := k.body.Run(ctx, vals)
		if err != nil {
			return fmt.Errorf("body, iteration %d: %w", iter, err)
		}
		if cond, err = truth(res[0], "body condition output"); err != nil {
			return fmt.Errorf("iteration %d: %w", iter, err)
		}
		copy(vals[2:], res[1:1+k.nCarried])
		for j := range scans {
			s := res[1+k.nCarried+j]
			if len(scans[j]) > 0 {
				if f := scans[j][0]; f.DType != s.DType || !tensor.EqualShapes(f.Shape, s.Shape) {
					return fmt.Errorf("scan output %d changes from %v%v to %v%v at iteration %d", j, f.DType, f.Shape, s.DType, s.Shape, iter)
				}
			}
			scans[j] = append(scans[j], s)
			scanElems += s.Len()
		}
		if scanElems > tensor.MaxElements {
			return fmt.Errorf("scan outputs exceed %d elements after %d iterations", tensor.MaxElements, iter+1)
		}
	}
	for i := 0; i < k.nCarried && i < k.nOut; i++ {
		if iter == 0 {
			out[i] = alias(vals[2+i]) // passed through unchanged
		} else {
			out[i] = vals[2+i]
		}
	}
	for j := range scans {
		if k.nCarried+j >= k.nOut {
			break
		}
		t, err := stack(ctx, scans[j], k.scanInfo[j])
		if err != nil {
			return err
		}
		out[k.nCarried+j] = t
	}
	return nil
}

// stack concatenates equally shaped tensors along a new leading axis; with
// none it returns an empty tensor shaped from the declared body output.
func stack(ctx *kernels.Ctx, parts []*tensor.Tensor, decl graph.ValueInfo) (*tensor.Tensor, error) {
	if len(parts) == 0 {
		dt := decl.DType
		if !dt.Supported() {
			dt = tensor.Float32
		}
		shape, _ := decl.StaticShape(0)
		return ctx.Alloc(dt, with(shape, 0, 0))
	}
	f := parts[0]
	y, err := ctx.Alloc(f.DType, with(f.Shape, 0, len(parts)))
	if err != nil {
		return nil, err
	}
	n := f.Len()
	for i, p := range parts {
		copyBlocks(y.Data, p.Data, i*n, n, 0, n, n, 1)
	}
	return y, nil
}
