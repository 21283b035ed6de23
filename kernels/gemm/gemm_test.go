package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"
)

// variant is a kernel and a B path to test.
type variant struct {
	name                            string
	kern                            *microKernel
	forcePack, forceDirect, noShort bool
	noNarrow                        bool
}

// variants returns every kernel this machine can run, with each of its B
// paths (packed and, where the kernel has one, in place).
func variants() []variant {
	var vs []variant
	for _, k := range kernelsUnderTest() {
		vs = append(vs, variant{name: k.name + "_packB", kern: k, forcePack: true})
		if k.direct != nil {
			vs = append(vs, variant{name: k.name + "_directB", kern: k, forceDirect: true})
		}
		if k.indirect != nil {
			// the default paths: in-place B for small M, indirect B
			vs = append(vs, variant{name: k.name + "_default", kern: k})
		}
		if k.short != nil {
			vs = append(vs, variant{name: k.name + "_noshort", kern: k, noShort: true})
		}
		if k.narrow != nil {
			vs = append(vs, variant{name: k.name + "_nonarrow", kern: k, noNarrow: true})
			vs = append(vs, variant{name: k.name + "_nonarrow_directB", kern: k, noNarrow: true, forceDirect: true})
		}
	}
	return vs
}

// withVariant runs f with v's kernel and B path.
func withVariant(v variant, f func()) {
	oldP, oldD, oldS, oldN := forcePack, forceDirect, noShort, noNarrow
	forcePack, forceDirect, noShort, noNarrow = v.forcePack, v.forceDirect, v.noShort, v.noNarrow
	defer func() { forcePack, forceDirect, noShort, noNarrow = oldP, oldD, oldS, oldN }()
	withKernel(v.kern, f)
}

// kernelsUnderTest returns every micro-kernel this machine can run.
func kernelsUnderTest() []*microKernel {
	ks := []*microKernel{kernelGo}
	for _, k := range asmKernels() {
		if k != kernelGo {
			ks = append(ks, k)
		}
	}
	return ks
}

// withKernel runs f with kern as the active kernel.
func withKernel(kern *microKernel, f func()) {
	old := activeKernel
	activeKernel = kern
	defer func() { activeKernel = old }()
	f()
}

var nan32 = float32(math.NaN())

// matrix is an r×c matrix stored at offset off of buf with stride ld;
// buf is as short as the layout allows so that stray reads past the
// end panic in Go code.
type matrix struct {
	buf      []float32
	off, ld  int
	rows, co int
}

func newMatrix(rng *rand.Rand, r, c, pad, off int) matrix {
	ld := c + pad
	n := off
	if r > 0 && c > 0 {
		n += (r-1)*ld + c
	}
	buf := make([]float32, n)
	for i := range buf {
		buf[i] = rng.Float32()*2 - 1
	}
	return matrix{buf: buf, off: off, ld: max(ld, 1), rows: r, co: c}
}

func (x matrix) s() []float32 { return x.buf[x.off:] }

func (x matrix) at(i, j int) float32 { return x.buf[x.off+i*x.ld+j] }

// cMatrix is C with a guard band of NaN before, after and between rows.
type cMatrix struct {
	buf           []float32
	off, ld, m, n int
}

const guard = 37

func newC(rng *rand.Rand, m, n, pad int, beta float32) cMatrix {
	ld := max(n+pad, 1)
	c := cMatrix{off: guard, ld: ld, m: m, n: n}
	c.buf = make([]float32, guard+max(0, (m-1)*ld+n)+guard)
	for i := range c.buf {
		c.buf[i] = nan32
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			v := nan32 // beta == 0 must overwrite NaN
			if beta != 0 {
				v = rng.Float32()*2 - 1
			}
			c.buf[guard+i*ld+j] = v
		}
	}
	return c
}

func (c cMatrix) s() []float32 { return c.buf[c.off : len(c.buf)-guard] }

func (c cMatrix) inside(idx int) bool {
	idx -= c.off
	if idx < 0 {
		return false
	}
	i, j := idx/c.ld, idx%c.ld
	return i < c.m && j < c.n
}

type testCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int
	padC           int
	offA, offB     int
	ep             Epilogue
}

func (tc testCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g pads=%d,%d,%d offs=%d,%d ep=%v/%v/%d",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC, tc.offA, tc.offB,
		tc.ep.RowBias != nil, tc.ep.ColBias != nil, tc.ep.Act)
}

type mode int

const (
	modeSgemm mode = iota
	modeEx
	modePackedA
	modePackedB
	modeSource
	modeIndirect
	numModes
)

// goParallel is a ParallelFor that runs chunks on goroutines.
func goParallel(threads int) ParallelFor {
	return func(n, grain int, fn func(lo, hi int)) {
		chunks := min(threads, max(1, n/max(grain, 1)))
		step := (n + chunks - 1) / chunks
		var wg sync.WaitGroup
		for lo := 0; lo < n; lo += step {
			wg.Add(1)
			go func(lo, hi int) {
				defer wg.Done()
				fn(lo, hi)
			}(lo, min(lo+step, n))
		}
		wg.Wait()
	}
}

// check runs tc through md and compares with a float64 reference.
func check(t *testing.T, rng *rand.Rand, tc testCase, md mode, par ParallelFor) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = ac, ar
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = bc, br
	}
	A := newMatrix(rng, ar, ac, tc.padA, tc.offA)
	B := newMatrix(rng, br, bc, tc.padB, tc.offB)
	C := newC(rng, tc.m, tc.n, tc.padC, tc.beta)
	orig := append([]float32(nil), C.buf...)
	aOf := func(i, p int) float64 {
		if tc.transA {
			return float64(A.at(p, i))
		}
		return float64(A.at(i, p))
	}
	var bOf func(p, j int) float64
	bOf = func(p, j int) float64 {
		if tc.transB {
			return float64(B.at(j, p))
		}
		return float64(B.at(p, j))
	}
	opt := &Options{Parallel: par, Epilogue: tc.ep}
	switch md {
	case modeSgemm:
		if par != nil {
			SgemmParallel(par, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, A.s(), A.ld, B.s(), B.ld, tc.beta, C.s(), C.ld)
		} else {
			Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, A.s(), A.ld, B.s(), B.ld, tc.beta, C.s(), C.ld)
		}
	case modeEx:
		SgemmEx(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, A.s(), A.ld, B.s(), B.ld, tc.beta, C.s(), C.ld, opt)
	case modePackedA:
		pa := PackA(tc.transA, tc.m, tc.k, A.s(), A.ld)
		SgemmPackedA(tc.m, tc.n, tc.k, tc.alpha, pa, tc.transB, B.s(), B.ld, tc.beta, C.s(), C.ld, opt)
	case modePackedB:
		pb := PackB(tc.transB, tc.k, tc.n, B.s(), B.ld)
		SgemmPackedB(tc.transA, tc.m, tc.n, tc.k, tc.alpha, A.s(), A.ld, pb, tc.beta, C.s(), C.ld, opt)
	case modeSource:
		pa := PackA(tc.transA, tc.m, tc.k, A.s(), A.ld)
		var mu sync.Mutex
		covered := make([]int, tc.k*tc.n)
		src := func(dst []float32, ld, p0, kb, j0, nc int) {
			if p0 < 0 || kb < 1 || p0+kb > tc.k || j0 < 0 || nc < 1 || j0+nc > tc.n || ld < nc || len(dst) < (kb-1)*ld+nc {
				t.Errorf("BSource called with ld=%d p0=%d kb=%d j0=%d nc=%d len=%d", ld, p0, kb, j0, nc, len(dst))
				return
			}
			for p := 0; p < kb; p++ {
				for j := 0; j < nc; j++ {
					dst[p*ld+j] = float32(bOf(p0+p, j0+j))
				}
				for j := nc; j < ld && p*ld+j < len(dst); j++ {
					dst[p*ld+j] = nan32 // scratch must not be read
				}
			}
			mu.Lock()
			for p := p0; p < p0+kb; p++ {
				for j := j0; j < j0+nc; j++ {
					covered[p*tc.n+j]++
				}
			}
			mu.Unlock()
		}
		SgemmPackedASource(tc.m, tc.n, tc.k, tc.alpha, pa, src, tc.beta, C.s(), C.ld, opt)
		if tc.m > 0 && tc.k > 0 {
			for i, c := range covered {
				if c == 0 || (par == nil && c != 1) {
					t.Fatalf("%v: BSource covered B[%d,%d] %d times", tc, i/tc.n, i%tc.n, c)
				}
			}
		}
	case modeIndirect:
		// Rows of B at random, overlapping offsets of one buffer, the
		// last one ending at the buffer's end.
		pa := PackA(tc.transA, tc.m, tc.k, A.s(), A.ld)
		buf := make([]float32, tc.n+tc.k+rng.IntN(2*tc.n+8))
		for i := range buf {
			buf[i] = rng.Float32()*2 - 1
		}
		off := make([]int32, tc.k)
		for p := range off {
			off[p] = int32(rng.IntN(len(buf) - tc.n + 1))
		}
		if tc.k > 0 {
			off[tc.k-1] = int32(len(buf) - tc.n)
		}
		bOf = func(p, j int) float64 { return float64(buf[int(off[p])+j]) }
		SgemmPackedAIndirect(tc.m, tc.n, tc.k, tc.alpha, pa, buf, off, tc.beta, C.s(), C.ld, opt)
	}
	bad := 0
	for idx, got := range C.buf {
		if !C.inside(idx) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("%v mode %d: guard element %d (offset %d from C) was overwritten with %g", tc, md, idx, idx-C.off, got)
			}
			continue
		}
		i, j := (idx-C.off)/C.ld, (idx-C.off)%C.ld
		var sum, mag float64
		for p := 0; p < tc.k; p++ {
			sum += aOf(i, p) * bOf(p, j)
			mag += math.Abs(aOf(i, p) * bOf(p, j))
		}
		want := float64(tc.alpha) * sum
		mag = math.Abs(float64(tc.alpha))*mag + 1
		if tc.beta != 0 {
			want += float64(tc.beta) * float64(orig[idx])
		}
		if tc.ep.RowBias != nil {
			want += float64(tc.ep.RowBias[i])
		}
		if tc.ep.ColBias != nil {
			want += float64(tc.ep.ColBias[j])
		}
		switch tc.ep.Act {
		case ActReLU:
			want = math.Max(want, 0)
		case ActClip:
			want = math.Min(math.Max(want, float64(tc.ep.Min)), float64(tc.ep.Max))
		}
		if d := math.Abs(float64(got) - want); !(d <= 2e-6*mag*float64(max(tc.k, 4))) {
			if bad++; bad < 5 {
				t.Errorf("%v mode %d: C[%d,%d] = %g, want %g", tc, md, i, j, got, want)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%v mode %d: %d wrong elements", tc, md, bad)
	}
}

// edgeSizes returns sizes around the multiples of unit and around limit.
func edgeSizes(unit, limit int) []int {
	s := []int{1, 2, unit / 3, unit/3 + 1, unit / 2, unit - 1, unit, unit + 1, unit + unit*2/3, 2*unit - 1, 2*unit + 3}
	if limit > 0 {
		s = append(s, limit-1, limit, limit+1, 2*limit+unit-1)
	}
	out := s[:0]
	seen := map[int]bool{}
	for _, v := range s {
		if v >= 1 && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func TestKparamsLayout(t *testing.T) {
	var p kparams
	offs := []uintptr{
		unsafe.Offsetof(p.rowBias), unsafe.Offsetof(p.colBias), unsafe.Offsetof(p.flags),
		unsafe.Offsetof(p.rows), unsafe.Offsetof(p.mask0), unsafe.Offsetof(p.mask1),
		unsafe.Offsetof(p.alpha), unsafe.Offsetof(p.beta), unsafe.Offsetof(p.lo),
		unsafe.Offsetof(p.hi), unsafe.Offsetof(p.cols), unsafe.Offsetof(p.ldb), unsafe.Offsetof(p.off), unsafe.Offsetof(p.idx),
	}
	want := []uintptr{0, 8, 16, 20, 24, 28, 32, 36, 40, 44, 48, 56, 64, 72}
	for i := range want {
		if offs[i] != want[i] {
			t.Fatalf("kparams field %d at offset %d, assembly expects %d", i, offs[i], want[i])
		}
	}
}

// TestEdges sweeps every tail size around mr, nr and the K block for each
// kernel, with transposes, alpha/beta, padding and odd offsets.
func TestEdges(t *testing.T) {
	for _, v := range variants() {
		kern := v.kern
		t.Run(v.name, func(t *testing.T) {
			withVariant(v, func() {
				rng := rand.New(rand.NewPCG(1, uint64(kern.mr*100+kern.nr)))
				ms := edgeSizes(kern.mr, 0)
				ns := edgeSizes(kern.nr, 0)
				ks := []int{1, 2, 3, 5, 8, 17}
				if testing.Short() {
					ks = []int{1, 3, 8}
				}
				for _, m := range ms {
					for _, n := range ns {
						for _, k := range ks {
							tc := testCase{m: m, n: n, k: k, alpha: 1, beta: 0,
								transA: rng.IntN(2) == 0, transB: rng.IntN(2) == 0,
								padA: rng.IntN(3), padB: rng.IntN(3), padC: rng.IntN(3),
								offA: rng.IntN(5), offB: rng.IntN(5)}
							switch rng.IntN(3) {
							case 1:
								tc.alpha, tc.beta = -0.5, 1
							case 2:
								tc.alpha, tc.beta = 1.5, 0.25
							}
							check(t, rng, tc, mode(rng.IntN(int(numModes))), nil)
						}
					}
				}
				// K around the block size, where C is loaded back.
				for _, k := range edgeSizes(8, kern.kc) {
					for _, md := range []mode{modeSgemm, modePackedA, modePackedB, modeSource, modeIndirect} {
						tc := testCase{m: kern.mr + 1, n: kern.nr + 3, k: k, alpha: 0.75, beta: float32(rng.IntN(2)),
							transA: rng.IntN(2) == 0, transB: rng.IntN(2) == 0, offA: 1, offB: 3, padC: 1}
						check(t, rng, tc, md, nil)
					}
				}
			})
		})
	}
}

// TestRandom runs random shapes through every entry point.
func TestRandom(t *testing.T) {
	for _, v := range variants() {
		kern := v.kern
		t.Run(v.name, func(t *testing.T) {
			withVariant(v, func() {
				rng := rand.New(rand.NewPCG(2, 7))
				iters := 150
				if testing.Short() {
					iters = 40
				}
				for it := 0; it < iters; it++ {
					tc := testCase{
						m: 1 + rng.IntN(70), n: 1 + rng.IntN(90), k: 1 + rng.IntN(kern.kc+40),
						transA: rng.IntN(2) == 0, transB: rng.IntN(2) == 0,
						alpha: []float32{1, -1, 0.5, 2}[rng.IntN(4)], beta: []float32{0, 1, -0.5}[rng.IntN(3)],
						padA: rng.IntN(4), padB: rng.IntN(4), padC: rng.IntN(4), offA: rng.IntN(7), offB: rng.IntN(7),
					}
					md := mode(rng.IntN(int(numModes)))
					if md != modeSgemm {
						tc.ep = randomEpilogue(rng, tc.m, tc.n)
					}
					var par ParallelFor
					if rng.IntN(3) == 0 {
						par = goParallel(2 + rng.IntN(3))
					}
					check(t, rng, tc, md, par)
				}
			})
		})
	}
}

func randomEpilogue(rng *rand.Rand, m, n int) Epilogue {
	var ep Epilogue
	if rng.IntN(2) == 0 {
		ep.RowBias = make([]float32, m)
		for i := range ep.RowBias {
			ep.RowBias[i] = rng.Float32() - 0.5
		}
	}
	if rng.IntN(2) == 0 {
		ep.ColBias = make([]float32, n)
		for i := range ep.ColBias {
			ep.ColBias[i] = rng.Float32() - 0.5
		}
	}
	ep.Act = Activation(rng.IntN(3))
	ep.Min, ep.Max = -0.25, 0.5
	return ep
}

// TestEpilogue checks every epilogue on each kernel with edge tiles and
// more than one K block.
func TestEpilogue(t *testing.T) {
	for _, v := range variants() {
		kern := v.kern
		t.Run(v.name, func(t *testing.T) {
			withVariant(v, func() {
				rng := rand.New(rand.NewPCG(3, 3))
				for _, k := range []int{1, 9, kern.kc + 5} {
					for _, act := range []Activation{ActNone, ActReLU, ActClip} {
						for _, md := range []mode{modeEx, modePackedA, modePackedB, modeSource, modeIndirect} {
							for _, beta := range []float32{0, 0.5} {
								m, n := 2*kern.mr+1, 2*kern.nr+5
								ep := randomEpilogue(rng, m, n)
								ep.Act = act
								tc := testCase{m: m, n: n, k: k, alpha: 1.25, beta: beta, ep: ep, offA: 1, offB: 2, padC: 3}
								check(t, rng, tc, md, nil)
							}
						}
					}
				}
			})
		})
	}
}

// TestParallel checks that split calls (over N and over M) match.
func TestParallel(t *testing.T) {
	for _, v := range variants() {
		kern := v.kern
		t.Run(v.name, func(t *testing.T) {
			withVariant(v, func() {
				rng := rand.New(rand.NewPCG(4, 4))
				shapes := [][3]int{{64, 300, 70}, {200, 17, 300}, {97, 1000, 13}, {33, 129, kern.kc + 3}}
				for _, s := range shapes {
					for _, md := range []mode{modeSgemm, modeEx, modePackedA, modePackedB, modeSource, modeIndirect} {
						tc := testCase{m: s[0], n: s[1], k: s[2], alpha: 1, beta: 0.5, padC: 2, offA: 3, offB: 1,
							ep: randomEpilogue(rng, s[0], s[1])}
						if md == modeSgemm {
							tc.ep = Epilogue{}
						}
						check(t, rng, tc, md, goParallel(3))
					}
				}
			})
		})
	}
}

// TestZeroSizes checks degenerate shapes.
func TestZeroSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, s := range [][3]int{{0, 5, 5}, {5, 0, 5}, {5, 5, 0}, {1, 1, 0}} {
		for _, beta := range []float32{0, 2} {
			tc := testCase{m: s[0], n: s[1], k: s[2], alpha: 1, beta: beta}
			check(t, rng, tc, modeSgemm, nil)
			tc.ep = randomEpilogue(rng, s[0], s[1])
			check(t, rng, tc, modePackedA, nil)
			check(t, rng, tc, modePackedB, nil)
			check(t, rng, tc, modeSource, nil)
		}
	}
}

// TestMatchesRef compares against sgemmRef itself on a few shapes.
func TestMatchesRef(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, s := range [][3]int{{13, 37, 50}, {64, 64, 64}, {1, 100, 3}} {
		m, n, k := s[0], s[1], s[2]
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		for i := range a {
			a[i] = rng.Float32()
		}
		for i := range b {
			b[i] = rng.Float32()
		}
		c1 := make([]float32, m*n)
		c2 := make([]float32, m*n)
		for i := range c1 {
			c1[i] = rng.Float32()
			c2[i] = c1[i]
		}
		Sgemm(false, false, m, n, k, 0.5, a, k, b, n, 2, c1, n)
		sgemmRef(false, false, m, n, k, 0.5, a, k, b, n, 2, c2, n)
		for i := range c1 {
			if d := math.Abs(float64(c1[i] - c2[i])); d > 1e-4*float64(k) {
				t.Fatalf("%v: element %d: %g vs ref %g", s, i, c1[i], c2[i])
			}
		}
	}
}

// TestChunkedA forces Sgemm and SgemmPackedB to pack A in several chunks
// of rows.
func TestChunkedA(t *testing.T) {
	old := maxPackedA
	defer func() { maxPackedA = old }()
	for _, v := range variants() {
		t.Run(v.name, func(t *testing.T) {
			withVariant(v, func() {
				rng := rand.New(rand.NewPCG(7, 7))
				for it := 0; it < 20; it++ {
					tc := testCase{m: 1 + rng.IntN(100), n: 1 + rng.IntN(70), k: 1 + rng.IntN(50),
						transA: rng.IntN(2) == 0, transB: rng.IntN(2) == 0, alpha: 1.5, beta: 0.5, offA: 1, padA: 2, padC: 1}
					tc.ep = randomEpilogue(rng, tc.m, tc.n)
					maxPackedA = (1 + rng.IntN(3)) * v.kern.mr * tc.k
					md := []mode{modeSgemm, modeEx, modePackedB}[rng.IntN(3)]
					if md == modeSgemm {
						tc.ep = Epilogue{}
					}
					check(t, rng, tc, md, nil)
				}
			})
		})
	}
}

// TestIm2colBlock checks the benchmark's block im2col (a model for Conv
// callers of SgemmPackedASource) against the direct definition.
func TestIm2colBlock(t *testing.T) {
	const cin, h, w = 3, 5, 7
	rng := rand.New(rand.NewPCG(8, 8))
	x := randSlice(rng, cin*h*w)
	k, n := cin*9, h*w
	for _, blk := range [][4]int{{0, k, 0, n}, {4, 9, 3, 20}, {10, 1, 6, 1}, {26, 1, 34, 1}} {
		p0, kb, j0, nc := blk[0], blk[1], blk[2], blk[3]
		ld := nc + 3
		dst := make([]float32, kb*ld)
		im2colBlock(x, h, w, dst, ld, p0, kb, j0, nc)
		for p := p0; p < p0+kb; p++ {
			ci, ky, kx := p/9, p%9/3, p%3
			for j := j0; j < j0+nc; j++ {
				iy, ix := j/w+ky-1, j%w+kx-1
				want := float32(0)
				if iy >= 0 && iy < h && ix >= 0 && ix < w {
					want = x[ci*h*w+iy*w+ix]
				}
				if got := dst[(p-p0)*ld+j-j0]; got != want {
					t.Fatalf("block %v: [%d,%d] = %g, want %g", blk, p, j, got, want)
				}
			}
		}
	}
}
