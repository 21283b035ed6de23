package codec

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randVec(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 2)) }

func TestRoundTrip(t *testing.T) {
	for _, dim := range []int{0, 1, 7, 8, 9, 100, 1000} {
		v := randVec(uint64(dim), dim)
		for _, lossless := range []bool{false, true} {
			encs := map[string]Encoder{
				"dense":       Dense{Lossless: lossless},
				"qsgd8":       QSGD{Levels: Bits(8), Lossless: lossless, Rand: newRand(1)},
				"qsgd4-b16":   QSGD{Levels: Bits(4), BucketSize: 16, Lossless: lossless, Rand: newRand(2)},
				"qsgd1-elias": QSGD{Levels: 1, Elias: true, Lossless: lossless, Rand: newRand(3)},
				"qsgd-big":    QSGD{Levels: 32767, Elias: true, BucketSize: 5, Lossless: lossless, Rand: newRand(4)},
				"sign":        SignSGD{Lossless: lossless},
				"efsign":      &EFSign{Lossless: lossless},
				"topk":        &TopK{Fraction: 0.1, Lossless: lossless},
				"dgc":         &DGC{Fraction: 0.1, Momentum: 0.9, Lossless: lossless},
			}
			for name, enc := range encs {
				msg, err := enc.Encode(v)
				if err != nil {
					t.Fatalf("%s dim %d: %v", name, dim, err)
				}
				info, err := Inspect(msg)
				if err != nil || info.Dim != dim || info.Compressed != lossless {
					t.Fatalf("%s dim %d: inspect %+v, %v", name, dim, info, err)
				}
				got, err := Decode(msg, dim)
				if err != nil {
					t.Fatalf("%s dim %d lossless %v: decode: %v", name, dim, lossless, err)
				}
				checkDecoded(t, name, v, got)
				// AddInto adds w times the same vector.
				acc := make([]float32, dim)
				for i := range acc {
					acc[i] = 1
				}
				if err := AddInto(acc, msg, 2); err != nil {
					t.Fatalf("%s: AddInto: %v", name, err)
				}
				for i := range acc {
					if want := 1 + 2*got[i]; math.Abs(float64(acc[i]-want)) > 1e-5*(1+math.Abs(float64(want))) {
						t.Fatalf("%s: AddInto[%d] = %v, want %v", name, i, acc[i], want)
					}
				}
				if _, err := Decode(msg, dim+1); !errors.Is(err, ErrDim) {
					t.Fatalf("%s: wrong dim: %v, want ErrDim", name, err)
				}
			}
		}
	}
}

func checkDecoded(t *testing.T, name string, v, got []float32) {
	t.Helper()
	switch name {
	case "dense":
		if !slices.Equal(v, got) {
			t.Fatalf("dense round trip differs")
		}
	case "sign":
		for i := range v {
			if (v[i] < 0) != (got[i] < 0) || math.Abs(float64(got[i])) != 1 {
				t.Fatalf("sign[%d] = %v for %v", i, got[i], v[i])
			}
		}
	case "topk":
		k, _ := pickK(0, 0.1, len(v))
		nz := 0
		for i := range v {
			if got[i] != 0 {
				nz++
				if got[i] != v[i] {
					t.Fatalf("topk[%d] = %v, want %v", i, got[i], v[i])
				}
			}
		}
		if len(v) > 0 && nz != k {
			t.Fatalf("topk sent %d, want %d", nz, k)
		}
	case "qsgd8", "qsgd4-b16", "qsgd1-elias", "qsgd-big":
		// Each coordinate is within one level (norm/s) of the input.
		for i := range v {
			if math.Abs(float64(got[i]-v[i])) > 2*l2(v)+1e-6 {
				t.Fatalf("%s[%d] = %v, input %v", name, i, got[i], v[i])
			}
			if got[i] != 0 && (got[i] < 0) != (v[i] < 0) {
				t.Fatalf("%s[%d]: sign flipped: %v vs %v", name, i, got[i], v[i])
			}
		}
	}
}

func l2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// QSGD's quantiser is unbiased: the mean over many independent encodings
// converges to the input. With s levels each coordinate's estimate is
// norm/s times a Bernoulli step, so its standard deviation is at most
// norm/(2s); the mean of N encodings is checked to within 5 standard errors.
func TestQSGDUnbiased(t *testing.T) {
	const dim, trials = 64, 4000
	v := randVec(7, dim)
	v[3] = 0
	for _, tc := range []struct {
		levels, bucket int
		elias          bool
	}{{1, 0, true}, {3, 0, false}, {Bits(4), 16, false}, {Bits(8), 0, true}} {
		sum := make([]float64, dim)
		rng := newRand(uint64(tc.levels))
		q := QSGD{Levels: tc.levels, BucketSize: tc.bucket, Elias: tc.elias, Rand: rng}
		for k := 0; k < trials; k++ {
			msg, err := q.Encode(v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(msg, dim)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range got {
				sum[i] += float64(x)
			}
		}
		bound := l2(v) / float64(tc.levels) / 2 / math.Sqrt(trials) * 5
		var worst float64
		for i := range v {
			mean := sum[i] / trials
			e := math.Abs(mean - float64(v[i]))
			worst = max(worst, e/bound)
			if e > bound+1e-6 {
				t.Errorf("s=%d bucket=%d: coordinate %d mean %.5f, input %.5f (|err| %.2g > %.2g)", tc.levels, tc.bucket, i, mean, v[i], e, bound)
			}
		}
		if sum[3] != 0 {
			t.Errorf("s=%d: zero coordinate decoded to nonzero", tc.levels)
		}
		t.Logf("QSGD s=%d bucket=%d: worst |mean-v| = %.2f of the 5-sigma bound", tc.levels, tc.bucket, worst)
	}
}

// The compression ratios the brief asks for, on a vector the size of
// a 1.66M-parameter model (fp32: 6.64 MB).
func TestCompressionRatios(t *testing.T) {
	if testing.Short() {
		t.Skip("1.66M-coordinate vector")
	}
	const dim = 1_660_000
	v := randVec(42, dim)
	raw := 4.0 * dim
	type row struct {
		name string
		enc  Encoder
		min  float64
	}
	rows := []row{
		{"top-k 1%", &TopK{Fraction: 0.01, ErrorFeedback: true}, 50},
		{"top-k 1% + zstd", &TopK{Fraction: 0.01, Lossless: true}, 50},
		{"DGC 0.1%", &DGC{Fraction: 0.001, Momentum: 0.9}, 400},
		{"QSGD 8-bit", QSGD{Levels: Bits(8), BucketSize: 512, Rand: newRand(1)}, 3.5},
		{"QSGD 4-bit", QSGD{Levels: Bits(4), BucketSize: 512, Rand: newRand(2)}, 7},
		{"QSGD 4-bit + zstd", QSGD{Levels: Bits(4), BucketSize: 512, Lossless: true, Rand: newRand(3)}, 7},
		{"QSGD s=1 Elias", QSGD{Levels: 1, Elias: true, Rand: newRand(4)}, 20},
		{"EF-sign", &EFSign{}, 31},
		{"dense + zstd", Dense{Lossless: true}, 0.99}, // random floats barely compress
	}
	for _, r := range rows {
		msg, err := r.enc.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		ratio := raw / float64(len(msg))
		t.Logf("%-18s %9d bytes  %7.2fx smaller than fp32", r.name, len(msg), ratio)
		if ratio < r.min {
			t.Errorf("%s: ratio %.2f < %.2f", r.name, ratio, r.min)
		}
		if _, err := Decode(msg, dim); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
	}
}

func TestTopKErrorFeedback(t *testing.T) {
	const dim = 200
	tk := &TopK{K: 7, ErrorFeedback: true}
	sumIn := make([]float64, dim)
	sumOut := make([]float64, dim)
	for step := 0; step < 50; step++ {
		v := randVec(uint64(100+step), dim)
		prev := slices.Clone(tk.Residual)
		if prev == nil {
			prev = make([]float32, dim)
		}
		msg, err := tk.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(msg, dim)
		if err != nil {
			t.Fatal(err)
		}
		// Exactly: sent + residual' = v + residual, coordinate by coordinate,
		// and each coordinate is in exactly one of the two.
		for i := range v {
			a := v[i] + prev[i]
			if got[i]+tk.Residual[i] != a || (got[i] != 0 && tk.Residual[i] != 0) {
				t.Fatalf("step %d coord %d: sent %v + residual %v != %v", step, i, got[i], tk.Residual[i], a)
			}
			sumIn[i] += float64(v[i])
			sumOut[i] += float64(got[i])
		}
	}
	// Nothing is lost: everything sent plus what is still held equals
	// everything given.
	for i := range sumIn {
		if d := sumIn[i] - sumOut[i] - float64(tk.Residual[i]); math.Abs(d) > 1e-4 {
			t.Fatalf("coord %d: mass lost %v", i, d)
		}
	}
}

func TestEFSignResidual(t *testing.T) {
	const dim = 100
	ef := &EFSign{}
	var sumIn, sumOut [dim]float64
	for step := 0; step < 30; step++ {
		v := randVec(uint64(300+step), dim)
		prev := slices.Clone(ef.Residual)
		if prev == nil {
			prev = make([]float32, dim)
		}
		msg, err := ef.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(msg, dim)
		if err != nil {
			t.Fatal(err)
		}
		var l1 float64
		for i := range v {
			l1 += math.Abs(float64(v[i] + prev[i]))
		}
		for i := range v {
			p := float64(v[i] + prev[i])
			if math.Abs(math.Abs(float64(got[i]))-l1/dim) > 1e-5 {
				t.Fatalf("scale %v, want ‖p‖₁/d = %v", math.Abs(float64(got[i])), l1/dim)
			}
			if d := float64(got[i]) + float64(ef.Residual[i]) - p; math.Abs(d) > 1e-5 {
				t.Fatalf("step %d coord %d: Δ + e' - p = %v", step, i, d)
			}
			sumIn[i] += float64(v[i])
			sumOut[i] += float64(got[i])
		}
	}
	for i := range sumIn {
		if d := sumIn[i] - sumOut[i] - float64(ef.Residual[i]); math.Abs(d) > 1e-3 {
			t.Fatalf("coord %d: mass lost %v", i, d)
		}
	}
}

// With momentum 0 and no clipping, DGC is top-k with error feedback.
func TestDGCMomentumZeroIsTopKEF(t *testing.T) {
	const dim = 300
	d := &DGC{K: 10}
	tk := &TopK{K: 10, ErrorFeedback: true}
	for step := 0; step < 20; step++ {
		g := randVec(uint64(500+step), dim)
		a, err := d.Encode(g)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tk.Encode(g)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Fatalf("step %d: DGC(m=0) and top-k EF messages differ", step)
		}
	}
}

// DGC with momentum: the sent coordinates' momentum and velocity are masked,
// the rest keep accumulating.
func TestDGCMasking(t *testing.T) {
	const dim = 50
	d := &DGC{K: 5, Momentum: 0.9}
	g := randVec(9, dim)
	msg, err := d.Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Decode(msg, dim)
	for i := range g {
		if got[i] != 0 {
			if d.U[i] != 0 || d.W[i] != 0 || got[i] != g[i] {
				t.Fatalf("coord %d sent %v: u=%v w=%v", i, got[i], d.U[i], d.W[i])
			}
		} else if d.U[i] != g[i] || d.W[i] != g[i] {
			t.Fatalf("coord %d unsent: u=%v w=%v, want %v", i, d.U[i], d.W[i], g[i])
		}
	}
	// Second step: u = 0.9u + g, w += u.
	u0, w0 := slices.Clone(d.U), slices.Clone(d.W)
	g2 := randVec(10, dim)
	if _, err := d.Encode(g2); err != nil {
		t.Fatal(err)
	}
	for i := range g2 {
		u := float32(0.9*float64(u0[i]) + float64(g2[i]))
		w := w0[i] + u
		if d.W[i] != 0 && (math.Abs(float64(d.U[i]-u)) > 1e-6 || math.Abs(float64(d.W[i]-w)) > 1e-6) {
			t.Fatalf("coord %d: u=%v w=%v, want %v %v", i, d.U[i], d.W[i], u, w)
		}
	}
}

func TestTopIndices(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(300)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.IntN(11) - 5) // many ties
		}
		k := r.IntN(n + 2)
		got := TopIndices(v, k)
		// Reference: stable sort by magnitude descending.
		ref := make([]int, n)
		for i := range ref {
			ref[i] = i
		}
		slices.SortStableFunc(ref, func(a, b int) int {
			ma, mb := math.Abs(float64(v[a])), math.Abs(float64(v[b]))
			switch {
			case ma > mb:
				return -1
			case ma < mb:
				return 1
			}
			return 0
		})
		want := slices.Clone(ref[:min(k, n)])
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d k=%d: got %v, want %v", n, k, got, want)
		}
	}
}

func TestVote(t *testing.T) {
	workers := [][]float32{
		{1, -1, 1, -1, 0},
		{1, -1, -1, 2, -3},
		{-1, -1, 1, 3, -1},
		{2, 1, -1, -5, 1},
	}
	v := NewVote(5)
	for _, w := range workers {
		msg, err := SignSGD{Scale: 0.5}.Encode(w)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Add(msg); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]float32, 5)
	if err := v.Result(got); err != nil {
		t.Fatal(err)
	}
	// signs (zero counts +): col0 +,+,-,+ → +; col1 -,-,-,+ → -;
	// col2 +,-,+,- → tie; col3 -,+,+,- → tie; col4 +,-,-,+ → tie
	want := []float32{1, -1, 0, 0, 0}
	if !slices.Equal(got, want) || v.Voters() != 4 {
		t.Fatalf("vote = %v (%d voters), want %v", got, v.Voters(), want)
	}
	down, err := v.Encode(0.01, false)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := Decode(down, 5)
	if dec[0] != 0.01 || dec[1] != -0.01 {
		t.Fatalf("downlink %v", dec)
	}
	bad, _ := Dense{}.Encode(workers[0])
	if err := v.Add(bad); err == nil {
		t.Fatal("vote accepted a dense message")
	}
}

func TestStrictDecoding(t *testing.T) {
	v := randVec(1, 20)
	good := map[string][]byte{}
	for name, enc := range map[string]Encoder{
		"dense": Dense{}, "qsgd": QSGD{Levels: 7, Rand: newRand(1)},
		"elias": QSGD{Levels: 3, Elias: true, Rand: newRand(1)},
		"sign":  SignSGD{}, "sparse": &TopK{K: 4},
		"zstd": Dense{Lossless: true},
	} {
		msg, err := enc.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		good[name] = msg
	}
	mutate := func(b []byte, f func([]byte) []byte) []byte { return f(slices.Clone(b)) }
	cases := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"short", []byte{0xED, 1}},
		{"magic", mutate(good["dense"], func(b []byte) []byte { b[0] = 0; return b })},
		{"scheme", mutate(good["dense"], func(b []byte) []byte { b[1] = 9; return b })},
		{"reserved flag", mutate(good["dense"], func(b []byte) []byte { b[1] |= 0x40; return b })},
		{"truncated dense", good["dense"][:len(good["dense"])-1]},
		{"trailing dense", append(slices.Clone(good["dense"]), 0)},
		{"NaN dense", mutate(good["dense"], func(b []byte) []byte { copy(b[3:], []byte{0, 0, 0xC0, 0x7F}); return b })},
		{"truncated qsgd", good["qsgd"][:len(good["qsgd"])-1]},
		{"trailing qsgd", append(slices.Clone(good["qsgd"]), 0)},
		{"truncated elias", good["elias"][:len(good["elias"])-2]},
		{"trailing elias", append(slices.Clone(good["elias"]), 0xFF)},
		{"levels 0", mutate(good["qsgd"], func(b []byte) []byte { b[3] = 0; return b })},
		{"negative norm", mutate(good["qsgd"], func(b []byte) []byte { b[9] |= 0x80; return b })},
		{"truncated sign", good["sign"][:len(good["sign"])-1]},
		{"sign padding", mutate(good["sign"], func(b []byte) []byte { b[len(b)-1] |= 1; return b })},
		{"sparse k", mutate(good["sparse"], func(b []byte) []byte { b[3] = 100; return b })},
		{"sparse index", mutate(good["sparse"], func(b []byte) []byte { b[4] = 30; return b })},
		{"sparse trailing", append(slices.Clone(good["sparse"]), 0)},
		{"zstd garbage", mutate(good["zstd"], func(b []byte) []byte { b[len(b)-3] ^= 0xFF; return b })},
		{"zstd truncated", good["zstd"][:len(good["zstd"])-4]},
	}
	for _, c := range cases {
		if _, err := Decode(c.msg, 20); err == nil {
			t.Errorf("%s: accepted", c.name)
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDim) {
			t.Errorf("%s: error %v does not wrap ErrCorrupt", c.name, err)
		}
	}
	// A tiny message claiming a huge dimension is refused without
	// allocating for the claim.
	huge := []byte{0xED, byte(SchemeSparse), 0xFF, 0xFF, 0xFF, 0x7F, 0}
	if _, err := Decode(huge, 20); !errors.Is(err, ErrDim) {
		t.Errorf("huge dim: %v", err)
	}
	if _, err := Decode(huge, MaxDim+1); !errors.Is(err, ErrDim) {
		t.Errorf("receiver dim above MaxDim: %v", err)
	}
}

func TestEncoderErrors(t *testing.T) {
	v := []float32{1, float32(math.NaN())}
	for name, enc := range map[string]Encoder{
		"dense": Dense{}, "qsgd": QSGD{Levels: 3, Rand: newRand(1)}, "sign": SignSGD{},
		"efsign": &EFSign{}, "topk": &TopK{K: 1}, "dgc": &DGC{K: 1},
	} {
		if _, err := enc.Encode(v); err == nil {
			t.Errorf("%s accepted NaN", name)
		}
	}
	if _, err := (QSGD{Levels: 0, Rand: newRand(1)}).Encode([]float32{1}); err == nil {
		t.Error("QSGD levels 0 accepted")
	}
	if _, err := (QSGD{Levels: 3}).Encode([]float32{1}); err == nil {
		t.Error("QSGD without Rand accepted")
	}
	if _, err := (&TopK{}).Encode([]float32{1}); err == nil {
		t.Error("top-k without K or fraction accepted")
	}
	tk := &TopK{K: 1, ErrorFeedback: true}
	_, _ = tk.Encode([]float32{1, 2})
	if _, err := tk.Encode([]float32{1, 2, 3}); err == nil {
		t.Error("top-k residual length change accepted")
	}
}

// Downlink: the server tracks the model the clients hold (view) and sends
// the compressed difference each round; because the difference is taken
// against the clients' view, compression error does not accumulate (this is
// error feedback without a separate residual). The clients' model stays
// within a bounded distance of the server's while both move.
func TestDownlinkTracksServerModel(t *testing.T) {
	const dim = 500
	server := make([]float32, dim)
	view := make([]float32, dim) // what every client holds
	q := QSGD{Levels: Bits(4), BucketSize: 64, Rand: newRand(77)}
	tk := &TopK{Fraction: 0.2}
	r := rand.New(rand.NewPCG(5, 5))
	for _, enc := range []Encoder{q, tk} {
		clear(server)
		clear(view)
		var firstHalf, secondHalf, rel float64
		for round := 0; round < 200; round++ {
			for i := range server {
				server[i] += float32(0.01 * r.NormFloat64()) // the global model moves
			}
			diff := make([]float32, dim)
			for i := range diff {
				diff[i] = server[i] - view[i]
			}
			msg, err := enc.Encode(diff)
			if err != nil {
				t.Fatal(err)
			}
			if err := AddInto(view, msg, 1); err != nil { // clients apply it
				t.Fatal(err)
			}
			var d2, n2 float64
			for i := range server {
				d := float64(server[i] - view[i])
				d2 += d * d
				n2 += float64(server[i]) * float64(server[i])
			}
			if round < 100 {
				firstHalf = max(firstHalf, math.Sqrt(d2))
			} else {
				secondHalf = max(secondHalf, math.Sqrt(d2))
			}
			rel = math.Sqrt(d2 / n2)
		}
		t.Logf("%T downlink: max |server - client| %.3f (rounds 0-99), %.3f (100-199); final relative %.3f",
			enc, firstHalf, secondHalf, rel)
		if secondHalf > 1.5*firstHalf || rel > 0.25 {
			t.Fatalf("%T: clients drift from the server model", enc)
		}
	}
}
