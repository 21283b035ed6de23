package nn

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/kernels/gemm"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	// Gemm-1..6 differ only by the broadcast attribute, whose broadcasting
	// is a superset of the exact shapes broadcast=0 requires.
	kernels.Register("", "Gemm", 1, buildGemm)
	kernels.Register("", "MatMul", 1, buildMatMul)
}

// gemmKernel is a compiled Gemm node: Y = alpha·op(A)·op(B) + beta·C.
// A constant B is stored K×N (transposed at build time if transB), and a
// constant C is stored pre-multiplied by beta.
type gemmKernel struct {
	alpha, beta    float32
	transA, transB bool
	act            Activation
	b              any // constant float64 B stored K×N, or nil
	pb             *gemm.PackedB
	bk, bn         int
	c              any // beta·C for a constant C, or nil
	cShape         []int
	packedIDs      []int
}

// PackedInputs implements kernels.PackedInputs: a constant B (packed) and
// a constant C (scaled by beta) live in the kernel.
func (k *gemmKernel) PackedInputs() []int { return k.packedIDs }

func buildGemm(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) < 2 {
		return nil, b.Errorf("Gemm needs inputs A and B")
	}
	if err := checkFloat("Gemm", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	a := b.Attrs()
	k := &gemmKernel{alpha: a.Float("alpha", 1), beta: a.Float("beta", 1),
		transA: a.Int("transA", 0) != 0, transB: a.Int("transB", 0) != 0}
	var err error
	if k.act, err = ParseActivation(a); err != nil {
		return nil, b.Errorf("%v", err)
	}
	if bt := b.ConstInput(1); bt != nil && len(bt.Shape) == 2 && isFloatDT(bt.DType) {
		r, c := bt.Shape[0], bt.Shape[1]
		kd, n := r, c
		if k.transB {
			kd, n = c, r
		}
		switch v := constAs(b, 1).(type) {
		case []float32:
			k.pb = gemm.PackB(k.transB, kd, n, v, c)
		case []float64:
			k.b = packB(v, r, c, k.transB)
		}
		k.bk, k.bn = kd, n
		if sameFloat(b.Inputs[0].DType, bt.DType) {
			k.packedIDs = append(k.packedIDs, 1)
		}
	}
	if b.HasInput(2) {
		switch v := constAs(b, 2).(type) {
		case []float32:
			k.c = scaled(v, k.beta)
		case []float64:
			k.c = scaled(v, float64(k.beta))
		}
		if ct := b.ConstInput(2); k.c != nil && sameFloat(b.Inputs[0].DType, ct.DType) {
			k.cShape = append([]int{}, ct.Shape...)
			k.packedIDs = append(k.packedIDs, 2)
		}
	}
	return k, nil
}

// packB returns B (r×c) as a K×N matrix: transposed if trans, else as is.
func packB[F float](v []F, r, c int, trans bool) []F {
	if !trans {
		return v
	}
	out := make([]F, len(v))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = v[i*c+j]
		}
	}
	return out
}

// sameFloat reports whether a constant of dtype c is computed in the type
// of an input of dtype x (16-bit floats are widened to float32), or may be
// (x unknown at build time: a valid model has them equal).
func sameFloat(x, c tensor.DType) bool {
	return x == tensor.Undefined || x == c || isHalf(x) && isHalf(c)
}

func scaled[F float](v []F, s F) []F {
	out := make([]F, len(v))
	for i, x := range v {
		out[i] = s * x
	}
	return out
}

func (k *gemmKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	switch dt := in[0].DType; dt {
	case tensor.Float32:
		return gemmRun[float32](ctx, k, in, out)
	case tensor.Float64:
		return gemmRun[float64](ctx, k, in, out)
	case tensor.Float16, tensor.BFloat16:
		return runWidened(ctx, k, dt, in, out)
	default:
		return kernels.Unsupported("Gemm", "dtype %v", dt)
	}
}

func gemmRun[F float](ctx *kernels.Ctx, k *gemmKernel, in, out []*tensor.Tensor) error {
	a := in[0]
	if len(a.Shape) != 2 {
		return fmt.Errorf("A must be 2-D, has shape %v", a.Shape)
	}
	m, kd := a.Shape[0], a.Shape[1]
	if k.transA {
		m, kd = kd, m
	}
	var bd []F
	var kb, n, ldb int
	transB := k.transB
	_, is32 := any(bd).([]float32)
	pb := k.pb
	if !is32 {
		pb = nil
	}
	if packed, ok := k.b.([]F); ok {
		bd, kb, n, ldb, transB = packed, k.bk, k.bn, k.bn, false
	} else if pb != nil {
		kb, n = k.bk, k.bn
	} else {
		bt := in[1]
		if bt == nil {
			return fmt.Errorf("B is missing or has a dtype unlike A")
		}
		if len(bt.Shape) != 2 {
			return fmt.Errorf("B must be 2-D, has shape %v", bt.Shape)
		}
		var ok bool
		if bd, ok = bt.Data.([]F); !ok {
			return fmt.Errorf("B has dtype %v, unlike A", bt.DType)
		}
		kb, n, ldb = bt.Shape[0], bt.Shape[1], bt.Shape[1]
		if transB {
			kb, n = n, kb
		}
	}
	if kb != kd {
		return fmt.Errorf("inner dimensions differ: A %v (transA=%v), B has K=%d", a.Shape, k.transA, kb)
	}
	// C must broadcast to [M, N] (unidirectionally).
	var cd []F
	cm, cn := 1, 1
	if hasC := len(in) > 2 && in[2] != nil; hasC || k.cShape != nil {
		cShape := k.cShape
		if hasC {
			cShape = in[2].Shape
		}
		switch len(cShape) {
		case 0:
		case 1:
			cn = cShape[0]
		case 2:
			cm, cn = cShape[0], cShape[1]
		default:
			return fmt.Errorf("C must have rank <= 2, has shape %v", cShape)
		}
		if (cm != 1 && cm != m) || (cn != 1 && cn != n) {
			return fmt.Errorf("C shape %v does not broadcast to [%d %d]", cShape, m, n)
		}
		if pre, ok := k.c.([]F); ok {
			cd = pre
		} else if len(in) <= 2 || in[2] == nil {
			return fmt.Errorf("C is missing or has a dtype unlike A")
		} else {
			v, ok := in[2].Data.([]F)
			if !ok {
				return fmt.Errorf("C has dtype %v, unlike A", in[2].DType)
			}
			cd = scaled(v, F(k.beta))
		}
	}
	y, err := allocFull(ctx, a.DType, []int{m, n}) // the products run with beta = 0 or copy C first
	if err != nil {
		return err
	}
	out[0] = y
	yd := y.Data.([]F)
	if is32 {
		return gemm32(ctx, k, any(a.Data).([]float32), a.Shape[1], m, n, kd, pb, any(bd).([]float32), ldb,
			transB, any(cd).([]float32), cm, cn, any(yd).([]float32))
	}
	parallelGemm(ctx, k.transA, transB, m, n, kd, F(k.alpha), a.Data.([]F), a.Shape[1], bd, ldb, 0, yd, n)
	if cd == nil && k.act.Kind == ActNone {
		return nil
	}
	ctx.Parallel(m, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := yd[i*n : (i+1)*n]
			if cd == nil {
				biasAct(row, 0, k.act)
				continue
			}
			crow := cd
			if cm != 1 {
				crow = cd[i*cn:]
			}
			if cn == 1 {
				biasAct(row, crow[0], k.act)
				continue
			}
			crow = crow[:n]
			for j := range row {
				row[j] += crow[j]
			}
			biasAct(row, 0, k.act)
		}
	})
	return nil
}

// gemm32 is the float32 Gemm: one call of the gemm package with C folded
// into its epilogue as a row or column bias (or preloaded into Y when it is
// a full matrix), and Relu/Clip fused.
func gemm32(ctx *kernels.Ctx, k *gemmKernel, a []float32, lda, m, n, kd int, pb *gemm.PackedB,
	b []float32, ldb int, transB bool, cd []float32, cm, cn int, y []float32) error {
	opt := gemm.Options{Parallel: ctx.Parallel}
	e, fused := gemmEpilogue(k.act)
	var beta float32
	switch {
	case cd == nil:
	case cm == 1 && cn == n:
		e.ColBias = cd[:n]
	case cn == 1 && cm == m:
		e.RowBias = cd[:m]
	case cm == 1 && cn == 1:
		t, err := ctx.Alloc(tensor.Float32, []int{n})
		if err != nil {
			return err
		}
		e.ColBias = t.F32()
		for j := range e.ColBias {
			e.ColBias[j] = cd[0]
		}
	default: // a full m×n C
		copy(y, cd[:m*n])
		beta = 1
	}
	opt.Epilogue = e
	if pb != nil {
		gemm.SgemmPackedB(k.transA, m, n, kd, k.alpha, a, lda, pb, beta, y, n, &opt)
	} else {
		gemm.SgemmEx(k.transA, transB, m, n, kd, k.alpha, a, lda, b, ldb, beta, y, n, &opt)
	}
	if !fused {
		ctx.Parallel(len(y), 1<<14, func(lo, hi int) { biasAct(y[lo:hi], 0, k.act) })
	}
	return nil
}

// matmulKernel is a compiled MatMul node (numpy semantics: batched,
// broadcast, 1-D operands promoted), with an optional activation epilogue.
type matmulKernel struct {
	act    Activation
	b      any           // constant B converted to the compute type, or nil
	pb     *gemm.PackedB // constant float32 B of rank <= 2, packed (b is then nil)
	bShape []int         // shape of a packed B
}

// PackedInputs implements kernels.PackedInputs: a packed B lives in the
// kernel.
func (k *matmulKernel) PackedInputs() []int {
	if k.pb != nil {
		return []int{1}
	}
	return nil
}

func buildMatMul(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) != 2 {
		return nil, b.Errorf("MatMul needs 2 inputs, has %d", len(b.Inputs))
	}
	if err := checkFloat("MatMul", b.Inputs[0].DType); err != nil {
		return nil, err
	}
	k := &matmulKernel{}
	var err error
	if k.act, err = ParseActivation(b.Attrs()); err != nil {
		return nil, b.Errorf("%v", err)
	}
	k.b = constAs(b, 1)
	if bt := b.ConstInput(1); bt != nil && len(bt.Shape) <= 2 && len(bt.Shape) > 0 {
		if v, ok := k.b.([]float32); ok {
			kd, n := bt.Shape[0], 1
			if len(bt.Shape) == 2 {
				n = bt.Shape[1]
			}
			if sameFloat(b.Inputs[0].DType, bt.DType) {
				k.pb = gemm.PackB(false, kd, n, v, n)
				k.bShape = append([]int{}, bt.Shape...)
				k.b = nil // the packed copy is all the product reads
			}
		}
	}
	return k, nil
}

func (k *matmulKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	switch dt := in[0].DType; dt {
	case tensor.Float32:
		return matmulRun[float32](ctx, k, in, out)
	case tensor.Float64:
		return matmulRun[float64](ctx, k, in, out)
	case tensor.Float16, tensor.BFloat16:
		return runWidened(ctx, k, dt, in, out)
	default:
		return kernels.Unsupported("MatMul", "dtype %v", dt)
	}
}

// matmulShapes computes the numpy matmul of shapes a and b: the output
// shape, M, K, N and the broadcast batch shape with each operand's batch
// strides (in matrices; 0 where an operand is broadcast).
type mmShape struct {
	out          []int
	m, k, n      int
	batch        []int
	aStep, bStep []int
	nbatch       int
	aMats, bMats int
	aVec, bVec   bool
}

func matmulShape(as, bs []int) (mmShape, error) {
	var s mmShape
	if len(as) == 0 || len(bs) == 0 {
		return s, fmt.Errorf("MatMul operands must have rank >= 1, have %v and %v", as, bs)
	}
	s.aVec, s.bVec = len(as) == 1, len(bs) == 1
	if s.aVec {
		as = []int{1, as[0]}
	}
	if s.bVec {
		bs = []int{bs[0], 1}
	}
	s.m, s.k = as[len(as)-2], as[len(as)-1]
	kb, n := bs[len(bs)-2], bs[len(bs)-1]
	s.n = n
	if kb != s.k {
		return s, fmt.Errorf("MatMul inner dimensions differ: %v and %v", as, bs)
	}
	ba, bb := as[:len(as)-2], bs[:len(bs)-2]
	batch, err := tensor.BroadcastShapes(ba, bb)
	if err != nil {
		return s, fmt.Errorf("MatMul batch dimensions %v and %v do not broadcast", ba, bb)
	}
	s.batch = batch
	s.aStep = tensor.BroadcastStrides(ba, batch)
	s.bStep = tensor.BroadcastStrides(bb, batch)
	s.aMats, s.bMats = prod(ba), prod(bb)
	s.nbatch = prod(batch)
	s.out = append([]int{}, batch...)
	if !s.aVec {
		s.out = append(s.out, s.m)
	}
	if !s.bVec {
		s.out = append(s.out, s.n)
	}
	return s, nil
}

func matmulRun[F float](ctx *kernels.Ctx, k *matmulKernel, in, out []*tensor.Tensor) error {
	act, bc := k.act, k.b
	a, b := in[0], in[1]
	bShape := k.bShape
	if b != nil {
		bShape = b.Shape
	}
	if bShape == nil {
		return fmt.Errorf("B is missing")
	}
	s, err := matmulShape(a.Shape, bShape)
	if err != nil {
		return err
	}
	ad := a.Data.([]F)
	bd, err := paramData[F](bc, b, "B")
	if err != nil {
		return err
	}
	_, is32 := any(ad).([]float32)
	if bd == nil && !(is32 && k.pb != nil) {
		return fmt.Errorf("B is missing or has a dtype unlike A")
	}
	y, err := ctx.Alloc(a.DType, s.out)
	if err != nil {
		return err
	}
	out[0] = y
	yd := y.Data.([]F)
	m, kd, n := s.m, s.k, s.n
	if len(yd) == 0 {
		return nil
	}
	if y32, ok := any(yd).([]float32); ok && s.bMats == 1 && k.pb != nil {
		// Constant B: one product with the batches of A as rows, the
		// activation fused.
		opt := gemm.Options{Parallel: ctx.Parallel}
		e, fused := gemmEpilogue(act)
		opt.Epilogue = e
		gemm.SgemmPackedB(false, s.aMats*m, n, kd, 1, any(ad).([]float32), kd, k.pb, 0, y32, n, &opt)
		if fused {
			return nil
		}
	} else if s.bMats == 1 {
		// One B for every batch: the batches of A are rows of one product.
		parallelGemm(ctx, false, false, s.aMats*m, n, kd, 1, ad, kd, bd, n, 0, yd, n)
	} else {
		one := func(bi int, par bool) {
			ao, bo := 0, 0
			for i, r := len(s.batch)-1, bi; i >= 0; i-- {
				c := r % s.batch[i]
				r /= s.batch[i]
				ao += c * s.aStep[i]
				bo += c * s.bStep[i]
			}
			aa, bb, yy := ad[ao*m*kd:], bd[bo*kd*n:], yd[bi*m*n:]
			if par {
				parallelGemm(ctx, false, false, m, n, kd, 1, aa, kd, bb, n, 0, yy, n)
			} else {
				gemmF(false, false, m, n, kd, 1, aa, kd, bb, n, 0, yy, n)
			}
		}
		if s.nbatch >= ctx.Threads() {
			ctx.Parallel(s.nbatch, 1, func(lo, hi int) {
				for bi := lo; bi < hi; bi++ {
					one(bi, false)
				}
			})
		} else {
			for bi := 0; bi < s.nbatch; bi++ {
				one(bi, true)
			}
		}
	}
	if act.Kind != ActNone {
		ctx.Parallel(len(yd), 1<<14, func(lo, hi int) { biasAct(yd[lo:hi], 0, act) })
	}
	return nil
}
