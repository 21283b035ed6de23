package quant

import (
	"fmt"

	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/tensor"
)

func init() {
	kernels.Register("", "MatMulInteger", 10, buildMatMulInteger)
	kernels.Register("", "QLinearMatMul", 10, buildQLinearMatMul)
}

// packedMats is the B operand of a (batched) matrix product: one packed
// K×N matrix per batch entry of B.
type packedMats struct {
	batch []int // B's batch dims (empty for a matrix or vector)
	k, n  int
	vec   bool // B was 1-D: the N dim is dropped from the output
	mats  []*PackedB
}

// packMats packs B (rank ≥ 1) with zero points zero (none, one, or one
// per column); words, if not nil, provides the storage.
func packMats(b *tensor.Tensor, zero []int32, words []int64) (*packedMats, error) {
	p := &packedMats{}
	switch b.Rank() {
	case 0:
		return nil, fmt.Errorf("B must have rank ≥ 1")
	case 1:
		p.k, p.n, p.vec = b.Shape[0], 1, true
	default:
		r := b.Rank()
		p.batch, p.k, p.n = b.Shape[:r-2], b.Shape[r-2], b.Shape[r-1]
	}
	if len(zero) > 1 && len(zero) != p.n {
		return nil, fmt.Errorf("%d B zero points for %d columns", len(zero), p.n)
	}
	count, per := product(p.batch), PackedWords(p.k, p.n)
	if words == nil {
		words = make([]int64, count*per)
	}
	p.mats = make([]*PackedB, count)
	for t := range p.mats {
		var err error
		off := t * p.k * p.n
		switch bd := b.Data.(type) {
		case []int8:
			p.mats[t], err = PackBInto(words[t*per:(t+1)*per], p.k, p.n, bd[off:off+p.k*p.n], p.n, false, zero)
		case []uint8:
			p.mats[t], err = PackBInto(words[t*per:(t+1)*per], p.k, p.n, bd[off:off+p.k*p.n], p.n, false, zero)
		default:
			return nil, kernels.Unsupported("matmul", "B dtype %v", b.DType)
		}
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// matSource yields packed B matrices: once at build time for constants,
// else per run into scratch.
type matSource struct{ packed *packedMats }

func newMatSource(b *kernels.BuildContext, bIdx, zIdx int) (matSource, error) {
	w := b.ConstInput(bIdx)
	if w == nil || (b.HasInput(zIdx) && b.ConstInput(zIdx) == nil) {
		return matSource{}, nil
	}
	if !is8bit(w.DType) {
		return matSource{}, kernels.Unsupported(b.Node.OpType, "B dtype %v", w.DType)
	}
	z, err := bZeroValues(w, b.ConstInput(zIdx))
	if err != nil {
		return matSource{}, b.Errorf("%v", err)
	}
	p, err := packMats(w, z, nil)
	if err != nil {
		return matSource{}, b.Errorf("%v", err)
	}
	return matSource{p}, nil
}

func (s matSource) get(ctx *kernels.Ctx, b, zero *tensor.Tensor) (*packedMats, error) {
	if s.packed != nil {
		return s.packed, nil
	}
	if !is8bit(b.DType) {
		return nil, kernels.Unsupported("matmul", "B dtype %v", b.DType)
	}
	z, err := bZeroValues(b, zero)
	if err != nil {
		return nil, err
	}
	if b.Rank() == 0 {
		return nil, fmt.Errorf("B must have rank ≥ 1")
	}
	k, n := b.Shape[0], 1
	if r := b.Rank(); r >= 2 {
		k, n = b.Shape[r-2], b.Shape[r-1]
	}
	words, err := ctx.Alloc(tensor.Int64, []int{max(1, b.Len()/max(1, k*n)), PackedWords(k, n)})
	if err != nil {
		return nil, err
	}
	return packMats(b, z, words.I64())
}

// bZeroValues reads B's zero point: per tensor, or per column (N values;
// a [..., 1, N] shape is accepted when all batch entries agree in shape).
func bZeroValues(b, zero *tensor.Tensor) ([]int32, error) {
	if zero == nil {
		return nil, nil
	}
	if zero.DType != b.DType {
		return nil, fmt.Errorf("B zero point dtype %v differs from B dtype %v", zero.DType, b.DType)
	}
	n := 1
	if b.Rank() >= 2 {
		n = b.Shape[b.Rank()-1]
	}
	if zero.Len() != 1 && zero.Len() != n {
		return nil, kernels.Unsupported("matmul", "B zero point of shape %v for B %v", zero.Shape, b.Shape)
	}
	return zeroValues(zero), nil
}

// rowCount checks that an A-side parameter (zero point or scale) is per
// tensor or per row of A (M values, possibly shaped [M, 1]).
func rowCount(t *tensor.Tensor, m int, what string) error {
	if t.Len() != 1 && t.Len() != m {
		return kernels.Unsupported("matmul", "%s of shape %v for %d rows", what, t.Shape, m)
	}
	return nil
}

// mmGeom is a numpy-style matmul of A [..., M, K] by B.
type mmGeom struct {
	m, k, n  int
	batch    int   // output batch entries
	aIdx     []int // batch entry -> A matrix index
	bIdx     []int // batch entry -> B matrix index
	out      []int // output shape
	collapse bool  // one B for all batches and A unbroadcast: a single GEMM of batch·M rows
}

func matmulGeom(aShape []int, b *packedMats) (*mmGeom, error) {
	if len(aShape) == 0 {
		return nil, fmt.Errorf("A must have rank ≥ 1")
	}
	g := &mmGeom{k: b.k, n: b.n}
	var aBatch []int
	vecA := len(aShape) == 1
	if vecA {
		g.m = 1
		if aShape[0] != b.k {
			return nil, fmt.Errorf("A %v and B [%d,%d] do not multiply", aShape, b.k, b.n)
		}
	} else {
		r := len(aShape)
		aBatch, g.m = aShape[:r-2], aShape[r-2]
		if aShape[r-1] != b.k {
			return nil, fmt.Errorf("A %v and B [.., %d, %d] do not multiply", aShape, b.k, b.n)
		}
	}
	batch, err := tensor.BroadcastShapes(aBatch, b.batch)
	if err != nil {
		return nil, fmt.Errorf("batch dims of A %v and B %v do not broadcast", aShape, b.batch)
	}
	g.batch = product(batch)
	g.out = append([]int{}, batch...)
	if !vecA {
		g.out = append(g.out, g.m)
	}
	if !b.vec {
		g.out = append(g.out, g.n)
	}
	if _, err := tensor.NumElements(g.out); err != nil {
		return nil, err
	}
	g.collapse = len(b.mats) == 1 && product(aBatch) == g.batch
	if g.collapse {
		return g, nil
	}
	as, bs := tensor.BroadcastStrides(aBatch, batch), tensor.BroadcastStrides(b.batch, batch)
	g.aIdx, g.bIdx = make([]int, g.batch), make([]int, g.batch)
	idx := make([]int, len(batch))
	for t := 0; t < g.batch; t++ {
		for d := range idx {
			g.aIdx[t] += idx[d] * as[d]
			g.bIdx[t] += idx[d] * bs[d]
		}
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < batch[d] {
				break
			}
			idx[d] = 0
		}
	}
	return g, nil
}

// runMatMul computes the int32 products of A (with per-tensor or per-row
// zero point aZero) and the packed B into c (batch × M × N).
func runMatMul(ctx *kernels.Ctx, a *tensor.Tensor, aZero []int32, b *packedMats, g *mmGeom, c []int32) error {
	switch ad := a.Data.(type) {
	case []int8:
		batchedGemm(ctx, ad, aZero, b, g, c)
	case []uint8:
		batchedGemm(ctx, ad, aZero, b, g, c)
	default:
		return kernels.Unsupported("matmul", "A dtype %v", a.DType)
	}
	return nil
}

func batchedGemm[T int8 | uint8](ctx *kernels.Ctx, a []T, aZero []int32, b *packedMats, g *mmGeom, c []int32) {
	mk, mn := g.m*g.k, g.m*g.n
	if g.collapse {
		rows := g.batch * g.m
		if len(aZero) > 1 && g.batch > 1 {
			z := make([]int32, rows)
			for i := range z {
				z[i] = aZero[i%g.m]
			}
			aZero = z
		}
		gemm(ctx, rows, a, g.k, aZero, b.mats[0], c, g.n)
		return
	}
	for t := 0; t < g.batch; t++ {
		gemm(ctx, g.m, a[g.aIdx[t]*mk:(g.aIdx[t]+1)*mk], g.k, aZero, b.mats[g.bIdx[t]], c[t*mn:(t+1)*mn], g.n)
	}
}

// ---- MatMulInteger ----

type matMulIntegerKernel struct{ b matSource }

func buildMatMulInteger(b *kernels.BuildContext) (kernels.Kernel, error) {
	src, err := newMatSource(b, 1, 3)
	if err != nil {
		return nil, err
	}
	return &matMulIntegerKernel{b: src}, nil
}

func (k *matMulIntegerKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	a := in[0]
	if !is8bit(a.DType) {
		return kernels.Unsupported("MatMulInteger", "A dtype %v", a.DType)
	}
	b, err := k.b.get(ctx, in[1], optional(in, 3))
	if err != nil {
		return err
	}
	g, err := matmulGeom(a.Shape, b)
	if err != nil {
		return err
	}
	var aZero []int32
	if z := optional(in, 2); z != nil {
		if z.DType != a.DType {
			return fmt.Errorf("A zero point dtype %v differs from A dtype %v", z.DType, a.DType)
		}
		if err := rowCount(z, g.m, "a_zero_point"); err != nil {
			return err
		}
		aZero = zeroValues(z)
	}
	y, err := ctx.Alloc(tensor.Int32, g.out)
	if err != nil {
		return err
	}
	if err := runMatMul(ctx, a, aZero, b, g, y.Data.([]int32)); err != nil {
		return err
	}
	out[0] = y
	return nil
}

// ---- QLinearMatMul ----

type qlinearMatMulKernel struct{ b matSource }

func buildQLinearMatMul(b *kernels.BuildContext) (kernels.Kernel, error) {
	if len(b.Inputs) != 8 {
		return nil, b.Errorf("needs 8 inputs, got %d", len(b.Inputs))
	}
	src, err := newMatSource(b, 3, 5)
	if err != nil {
		return nil, err
	}
	return &qlinearMatMulKernel{b: src}, nil
}

func (k *qlinearMatMulKernel) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	a, aScale, aZero, bScale, yScale, yZero := in[0], in[1], in[2], in[4], in[6], in[7]
	if !is8bit(a.DType) {
		return kernels.Unsupported("QLinearMatMul", "A dtype %v", a.DType)
	}
	b, err := k.b.get(ctx, in[3], in[5])
	if err != nil {
		return err
	}
	g, err := matmulGeom(a.Shape, b)
	if err != nil {
		return err
	}
	yDT := a.DType
	if yZero != nil {
		yDT = yZero.DType
	}
	if !is8bit(yDT) {
		return kernels.Unsupported("QLinearMatMul", "output dtype %v", yDT)
	}
	if aScale.DType != bScale.DType || aScale.DType != yScale.DType {
		return fmt.Errorf("scales have different dtypes %v, %v, %v", aScale.DType, bScale.DType, yScale.DType)
	}
	as, err := scaleValues("QLinearMatMul", aScale)
	if err != nil {
		return err
	}
	bs, err := scaleValues("QLinearMatMul", bScale)
	if err != nil {
		return err
	}
	ys, err := scaleValues("QLinearMatMul", yScale)
	if err != nil {
		return err
	}
	if len(bs) != 1 && len(bs) != g.n {
		return kernels.Unsupported("QLinearMatMul", "b_scale of shape %v for %d columns", bScale.Shape, g.n)
	}
	var az, yz []int32
	if aZero != nil {
		if aZero.DType != a.DType {
			return fmt.Errorf("a_zero_point dtype %v differs from A dtype %v", aZero.DType, a.DType)
		}
		if err := rowCount(aZero, g.m, "a_zero_point"); err != nil {
			return err
		}
		az = zeroValues(aZero)
	}
	if yZero != nil {
		if err := rowCount(yZero, g.m, "y_zero_point"); err != nil {
			return err
		}
		yz = zeroValues(yZero)
	} else {
		yz = []int32{0}
	}
	if err := rowCount(aScale, g.m, "a_scale"); err != nil {
		return err
	}
	if err := rowCount(yScale, g.m, "y_scale"); err != nil {
		return err
	}
	rows := g.batch * g.m
	acc, err := ctx.Alloc(tensor.Int32, []int{rows, g.n})
	if err != nil {
		return err
	}
	accd := acc.Data.([]int32)
	if err := runMatMul(ctx, a, az, b, g, accd); err != nil {
		return err
	}
	y, err := ctx.Alloc(yDT, g.out)
	if err != nil {
		return err
	}
	// One output stage per distinct row parameters (a single one unless
	// a_scale, y_scale or y_zero_point are per row).
	perRow := len(as) > 1 || len(ys) > 1 || len(yz) > 1
	nst := 1
	if perRow {
		nst = g.m
	}
	stages := make([]*outputStage, nst)
	for r := range stages {
		at := func(v []float32) float32 { return v[min(r, len(v)-1)] }
		mult := make([]float32, len(bs))
		for j, s := range bs {
			mult[j] = roundScale(roundScale(at(as)*s, aScale.DType)/at(ys), aScale.DType)
		}
		if stages[r], err = newOutputStage(yDT, mult, nil, yz[min(r, len(yz)-1)], false); err != nil {
			return err
		}
	}
	ctx.Parallel(rows, max(1, (1<<14)/max(1, g.n)), func(lo, hi int) {
		if !perRow {
			stages[0].rows(y, lo*g.n, accd[lo*g.n:], g.n, hi-lo, g.n, 0)
			return
		}
		for i := lo; i < hi; i++ {
			stages[i%g.m].rows(y, i*g.n, accd[i*g.n:], g.n, 1, g.n, 0)
		}
	})
	out[0] = y
	return nil
}

// ---- integer Gemm / MatMul for graph rewrites ----

// GemmParams describes a quantized matrix product with constant B: what
// DequantizeLinear → Gemm (or MatMul) → QuantizeLinear amounts to.
type GemmParams struct {
	// A: int8 or uint8 with per-tensor scale and zero point.
	AType  tensor.DType
	AScale float32
	AZero  int32
	// B holds int8 or uint8 weights [K, N], or [N, K] when TransB is set
	// (Gemm's transB=1, the usual layout of Linear layers). BScale has one
	// value or N; BZero none, one or N.
	B      *tensor.Tensor
	TransB bool
	BScale []float32
	BZero  []int32
	// Bias is optional, [N]: int32 in units of AScale·BScale[j], or float32
	// in real units.
	Bias *tensor.Tensor
	// Output: int8 or uint8 with per-tensor YScale and YZero, or float32
	// for a dequantized result.
	YType  tensor.DType
	YScale float32
	YZero  int32
	// Relu clamps the output at real zero (a fused Relu).
	Relu bool
}

// NewGemm returns a kernel computing Y = A·B (+ bias) in integer
// arithmetic. The kernel takes one input, the quantized A of shape
// [..., K] (every leading dim is a row), and produces Y of shape [..., N].
// B is packed here, once.
func NewGemm(p GemmParams) (kernels.Kernel, error) {
	if !is8bit(p.AType) {
		return nil, fmt.Errorf("quant: NewGemm: A dtype %v", p.AType)
	}
	if lo, hi, _ := qrange(p.AType); int64(p.AZero) < lo || int64(p.AZero) > hi {
		return nil, fmt.Errorf("quant: NewGemm: A zero point %d out of range for %v", p.AZero, p.AType)
	}
	if p.B == nil || p.B.Rank() != 2 {
		return nil, fmt.Errorf("quant: NewGemm: B must be a matrix")
	}
	k, n := p.B.Shape[0], p.B.Shape[1]
	if p.TransB {
		k, n = n, k
	}
	var pb *PackedB
	var err error
	switch bd := p.B.Data.(type) {
	case []int8:
		pb, err = PackB(k, n, bd, p.B.Shape[1], p.TransB, p.BZero)
	case []uint8:
		pb, err = PackB(k, n, bd, p.B.Shape[1], p.TransB, p.BZero)
	default:
		return nil, fmt.Errorf("quant: NewGemm: B dtype %v", p.B.DType)
	}
	if err != nil {
		return nil, fmt.Errorf("quant: NewGemm: %w", err)
	}
	st, err := fusedStage(p.AScale, p.BScale, n, p.Bias, p.YType, p.YScale, p.YZero, p.Relu)
	if err != nil {
		return nil, fmt.Errorf("quant: NewGemm: %w", err)
	}
	return &fusedGemm{aType: p.AType, aZero: []int32{p.AZero}, b: pb, st: st}, nil
}

type fusedGemm struct {
	aType tensor.DType
	aZero []int32
	b     *PackedB
	st    *outputStage
}

func (k *fusedGemm) Run(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
	a := in[0]
	if a.DType != k.aType {
		return fmt.Errorf("input dtype %v, want %v", a.DType, k.aType)
	}
	if a.Rank() == 0 || a.Shape[a.Rank()-1] != k.b.K {
		return fmt.Errorf("input shape %v: last dim must be %d", a.Shape, k.b.K)
	}
	rows := a.Len() / max(1, k.b.K)
	if k.b.K == 0 {
		rows = product(a.Shape[:a.Rank()-1])
	}
	shape := append(append([]int{}, a.Shape[:a.Rank()-1]...), k.b.N)
	y, err := ctx.Alloc(k.st.dt, shape)
	if err != nil {
		return err
	}
	var acc []int32
	if yd, ok := y.Data.([]int32); ok {
		acc = yd
	} else {
		t, err := ctx.Alloc(tensor.Int32, []int{rows, k.b.N})
		if err != nil {
			return err
		}
		acc = t.Data.([]int32)
	}
	switch ad := a.Data.(type) {
	case []int8:
		gemm(ctx, rows, ad, k.b.K, k.aZero, k.b, acc, k.b.N)
	case []uint8:
		gemm(ctx, rows, ad, k.b.K, k.aZero, k.b, acc, k.b.N)
	}
	n := k.b.N
	ctx.Parallel(rows, max(1, (1<<14)/max(1, n)), func(lo, hi int) {
		k.st.rows(y, lo*n, acc[lo*n:], n, hi-lo, n, 0)
	})
	out[0] = y
	return nil
}
