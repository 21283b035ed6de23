package nn

import (
	"math"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	for _, op := range []softmaxKind{softmax, logSoftmax, hardmax} {
		kernels.Register("", op.String(), 1, buildSoftmax(op))
		kernels.Register("", op.String(), 13, buildSoftmax(op))
	}
}

type softmaxKind uint8

const (
	softmax softmaxKind = iota
	logSoftmax
	hardmax
)

func (k softmaxKind) String() string { return [...]string{"Softmax", "LogSoftmax", "Hardmax"}[k] }

// softmaxKernel normalizes along one axis (opset 13+), or, before opset 13,
// over the trailing dims from axis on, the input seen as a 2-D matrix.
type softmaxKernel struct {
	kind    softmaxKind
	axis    int64
	coerce2 bool
}

func buildSoftmax(kind softmaxKind) kernels.Builder {
	return func(b *kernels.BuildContext) (kernels.Kernel, error) {
		if len(b.Inputs) != 1 {
			return nil, b.Errorf("%v needs 1 input", kind)
		}
		if err := checkFloat(kind.String(), b.Inputs[0].DType); err != nil {
			return nil, err
		}
		k := &softmaxKernel{kind: kind, coerce2: b.Opset < 13}
		def := int64(-1)
		if k.coerce2 {
			def = 1
		}
		k.axis = b.Attrs().Int("axis", def)
		return k, nil
	}
}

func (k *softmaxKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	return floatRun(ctx, k, k.kind.String(), in, out,
		func() error { return softmaxRun[float32](ctx, k, in[0], out) },
		func() error { return softmaxRun[float64](ctx, k, in[0], out) })
}

func softmaxRun[F float](ctx *kernels.Ctx, k *softmaxKernel, x *tensor.Tensor, out []*tensor.Tensor) error {
	rank := len(x.Shape)
	var outer, n, inner int
	if rank == 0 {
		outer, n, inner = 1, 1, 1
	} else {
		axis, err := normAxis(k.axis, rank)
		if err != nil {
			return err
		}
		if k.coerce2 {
			outer, n, inner = prod(x.Shape[:axis]), prod(x.Shape[axis:]), 1
		} else {
			outer, n, inner = prod(x.Shape[:axis]), x.Shape[axis], prod(x.Shape[axis+1:])
		}
	}
	y, err := ctx.Alloc(x.DType, x.Shape)
	if err != nil {
		return err
	}
	out[0] = y
	xd, yd := x.Data.([]F), y.Data.([]F)
	if len(xd) == 0 {
		return nil
	}
	ctx.Parallel(outer*inner, max(1, 2048/max(n, 1)), func(lo, hi int) {
		for l := lo; l < hi; l++ {
			base := (l/inner)*n*inner + l%inner
			if inner == 1 {
				softmaxLine(k.kind, xd[base:base+n], yd[base:base+n])
				continue
			}
			softmaxStrided(k.kind, xd[base:], yd[base:], n, inner)
		}
	})
	return nil
}

// softmaxLine computes one contiguous line.
func softmaxLine[F float](kind softmaxKind, x, y []F) {
	mx, arg := x[0], 0
	for i, v := range x {
		if v > mx {
			mx, arg = v, i
		}
	}
	switch kind {
	case hardmax:
		clear(y)
		y[arg] = 1
	case softmax:
		var s float64
		for i, v := range x {
			e := math.Exp(float64(v - mx))
			y[i] = F(e)
			s += e
		}
		inv := 1 / s
		for i := range y {
			y[i] = F(float64(y[i]) * inv)
		}
	case logSoftmax:
		var s float64
		for _, v := range x {
			s += math.Exp(float64(v - mx))
		}
		ls := math.Log(s)
		for i, v := range x {
			y[i] = F(float64(v-mx) - ls)
		}
	}
}

// softmaxStrided computes one line of n elements spaced stride apart.
func softmaxStrided[F float](kind softmaxKind, x, y []F, n, stride int) {
	mx, arg := x[0], 0
	for i := 1; i < n; i++ {
		if v := x[i*stride]; v > mx {
			mx, arg = v, i
		}
	}
	switch kind {
	case hardmax:
		for i := 0; i < n; i++ {
			y[i*stride] = 0
		}
		y[arg*stride] = 1
	case softmax:
		var s float64
		for i := 0; i < n; i++ {
			s += math.Exp(float64(x[i*stride] - mx))
		}
		inv := 1 / s
		for i := 0; i < n; i++ {
			y[i*stride] = F(math.Exp(float64(x[i*stride]-mx)) * inv)
		}
	case logSoftmax:
		var s float64
		for i := 0; i < n; i++ {
			s += math.Exp(float64(x[i*stride] - mx))
		}
		ls := math.Log(s)
		for i := 0; i < n; i++ {
			y[i*stride] = F(float64(x[i*stride]-mx) - ls)
		}
	}
}
