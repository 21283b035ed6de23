package codebook

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/entropy"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func TestKMeans(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	normal := make([]float32, 5000)
	for i := range normal {
		normal[i] = float32(r.NormFloat64())
	}
	cases := []struct {
		name   string
		values []float32
		k      int
		maxErr float64 // bound on the relative squared error
		want   []float32
	}{
		{"empty", nil, 4, 0, nil},
		{"exact", []float32{3, 1, 2, 1, 3, 3}, 4, 0, []float32{1, 2, 3}},
		{"one cluster", []float32{1, 2, 3}, 1, 1, []float32{2}},
		{"normal 2 bits", normal, 4, 0.125, nil},  // Lloyd-Max optimum 0.1175
		{"normal 5 bits", normal, 32, 0.006, nil}, // within 2x of the Panter-Dite bound
		{"normal 8 bits", normal, 256, 1e-4, nil},
	}
	for _, c := range cases {
		cent, idx := KMeans(c.values, c.k, 30)
		if len(idx) != len(c.values) || len(cent) > c.k {
			t.Fatalf("%s: %d indices, %d centroids", c.name, len(idx), len(cent))
		}
		for i := 1; i < len(cent); i++ {
			if cent[i] <= cent[i-1] {
				t.Errorf("%s: centroids not ascending: %v", c.name, cent)
			}
		}
		var e, w float64
		for i, v := range c.values {
			if int(idx[i]) >= len(cent) {
				t.Fatalf("%s: index %d of %d", c.name, idx[i], len(cent))
			}
			// each value goes to its nearest centroid
			d := math.Abs(float64(v - cent[idx[i]]))
			for _, o := range cent {
				if math.Abs(float64(v-o)) < d-1e-6 {
					t.Fatalf("%s: %v assigned to %v, %v is nearer", c.name, v, cent[idx[i]], o)
				}
			}
			e += d * d
			w += float64(v) * float64(v)
		}
		if w > 0 && e/w > c.maxErr {
			t.Errorf("%s: relative squared error %.3g > %g", c.name, e/w, c.maxErr)
		}
		if c.want != nil && !equalF32(cent, c.want) {
			t.Errorf("%s: centroids %v, want %v", c.name, cent, c.want)
		}
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func models(t *testing.T) map[string]*graph.Model {
	cnn := testmodels.CNN(1, false)
	pruned, _, err := prune.Magnitude(cnn, prune.MagnitudeOptions{Sparsity: 0.8})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*graph.Model{"cnn": cnn, "pruned cnn": pruned, "mlp": testmodels.MLP(2), "residual": testmodels.Residual(3)}
}

func TestRoundTrip(t *testing.T) {
	for name, m := range models(t) {
		for _, coder := range []entropy.Coder{entropy.Huffman, entropy.RANS} {
			for _, bits := range []int{1, 3, 8} {
				o := Options{Bits: bits, Coder: coder, MinElements: 16, LayerBits: map[string]int{"f2": 2}}
				b, rep, err := Encode(m, o)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				d, err := Decode(b, DecodeOptions{})
				if err != nil {
					t.Fatalf("%s %v %d bits: %v", name, coder, bits, err)
				}
				shared, reps, err := Share(m, o)
				if err != nil {
					t.Fatal(err)
				}
				if len(reps) != len(rep.Tensors) || rep.Bytes != len(b) {
					t.Errorf("%s: reports disagree", name)
				}
				sum := 20 + rep.SkeletonBytes + 9
				for _, tr := range rep.Tensors {
					sum += tr.Bytes
					if tr.Codebook > 1<<tr.Bits || (tr.Name == "f2.w" && tr.Bits != 2) {
						t.Errorf("%s: %+v", name, tr)
					}
				}
				if sum != len(b) {
					t.Errorf("%s: parts sum to %d, container is %d", name, sum, len(b))
				}
				for k, want := range shared.Graph.Initializers {
					got := d.Graph.Initializers[k]
					if got == nil || !tensor.EqualShapes(got.Shape, want.Shape) || !equalF32(got.Float32Values(), want.Float32Values()) {
						t.Fatalf("%s %v %d bits: initializer %q differs after decoding", name, coder, bits, k)
					}
				}
				// Pruned zeros stay exactly zero.
				if name == "pruned cnn" {
					for _, l := range prune.Sparsity(d) {
						if l.Sparsity() < 0.79 {
							t.Errorf("%s: %s has sparsity %.2f after decoding", name, l.Node, l.Sparsity())
						}
					}
				}
				s, err := runtime.Compile(d, runtime.Options{Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.RunOrdered(testmodels.Inputs(m, 1, 1, 2, false)[0], nil); err != nil {
					t.Fatal(err)
				}
				s.Close()
			}
		}
	}
	if _, _, err := Encode(testmodels.MLP(1), Options{Bits: 9}); err == nil {
		t.Error("9 bits accepted")
	}
	if _, _, err := Encode(testmodels.MLP(1), Options{LayerBits: map[string]int{"f1": 0}}); err == nil {
		t.Error("0 bits accepted")
	}
}

func container(t testing.TB) []byte {
	b, _, err := Encode(testmodels.CNN(4, false), Options{Bits: 3, MinElements: 16, MaskSparsity: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reseal fixes the header checksum after an edit of the header.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	return b
}

func TestDecodeErrors(t *testing.T) {
	good := container(t)
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	secLen := int(binary.LittleEndian.Uint32(good[21:]))
	cases := map[string][]byte{
		"empty":           nil,
		"magic":           edit(func(b []byte) []byte { b[1] = 'X'; return b }),
		"version":         edit(func(b []byte) []byte { b[8] = 2; return reseal(b) }),
		"flags":           edit(func(b []byte) []byte { b[10] = 1; return reseal(b) }),
		"header checksum": edit(func(b []byte) []byte { b[12]++; return b }),
		"section count":   edit(func(b []byte) []byte { b[12]++; return reseal(b) }),
		"huge count":      edit(func(b []byte) []byte { b[15] = 0x7f; return reseal(b) }),
		"payload bit":     edit(func(b []byte) []byte { b[40] ^= 4; return b }),
		"truncated":       good[:len(good)-3],
		"trailing":        append(append([]byte{}, good...), 0),
		"no skeleton":     edit(func(b []byte) []byte { b[12]--; return reseal(append(b[:20], b[20+secLen+9:]...)) }),
		"kind":            edit(func(b []byte) []byte { b[20] = 7; return b }),
	}
	for name, b := range cases {
		_, err := Decode(b, DecodeOptions{})
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v, want ErrFormat", name, err)
		}
	}
	if _, err := Decode(good, DecodeOptions{MaxElements: 100}); !errors.Is(err, ErrFormat) {
		t.Errorf("element limit: %v", err)
	}
	// A tensor section twice.
	n := binary.LittleEndian.Uint32(good[12:])
	last := good[len(good)-lastSectionLen(good):]
	dup := append(append([]byte{}, good...), last...)
	binary.LittleEndian.PutUint32(dup[12:], n+1)
	if _, err := Decode(reseal(dup), DecodeOptions{}); !errors.Is(err, ErrFormat) {
		t.Errorf("duplicate tensor: %v", err)
	}
}

// lastSectionLen walks the sections to find the size of the last one.
func lastSectionLen(b []byte) int {
	pos, last := 20, 0
	for pos < len(b) {
		last = 9 + int(binary.LittleEndian.Uint32(b[pos+1:]))
		pos += last
	}
	return last
}

func FuzzDecode(f *testing.F) {
	f.Add(container(f))
	b, _, _ := Encode(testmodels.MLP(3), Options{Bits: 2, MinElements: 8, Coder: entropy.RANS})
	f.Add(b)
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, DecodeOptions{MaxElements: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if err := m.Graph.Validate(); err != nil {
			t.Fatalf("decoded an invalid graph: %v", err)
		}
	})
}

func TestSave(t *testing.T) {
	m := testmodels.MLP(5)
	path := t.TempDir() + "/m.edc"
	rep, err := Save(path, m, Options{MinElements: 16})
	if err != nil {
		t.Fatal(err)
	}
	size, _ := compress.FileSize(path)
	if int64(rep.Bytes) != size {
		t.Errorf("report says %d bytes, file has %d", rep.Bytes, size)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path + ".missing"); err == nil {
		t.Error("missing file loaded")
	}
	var buf bytes.Buffer
	buf.WriteString("not a container")
	if _, err := Decode(buf.Bytes(), DecodeOptions{}); err == nil {
		t.Error("text decoded")
	}
}

// FuzzDecodeTensor reaches past the checksums that stop FuzzDecode's
// mutations early: it feeds tensor section payloads to the decoder.
func FuzzDecodeTensor(f *testing.F) {
	for _, mask := range []float64{0.01, 1} {
		m, _, _ := prune.Magnitude(testmodels.CNN(6, false), prune.MagnitudeOptions{Sparsity: 0.5})
		for _, c := range []entropy.Coder{entropy.Huffman, entropy.RANS} {
			b, _, err := Encode(m, Options{Bits: 3, MinElements: 16, MaskSparsity: mask, Coder: c})
			if err != nil {
				f.Fatal(err)
			}
			pos := 20
			for pos < len(b) {
				l := int(binary.LittleEndian.Uint32(b[pos+1:]))
				if b[pos] == sectionTensor {
					f.Add(b[pos+5 : pos+5+l])
				}
				pos += 9 + l
			}
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		budget := 1 << 20
		name, tt, err := decodeTensor(p, &budget)
		if err != nil {
			return
		}
		if tt.Len() > 1<<20 || budget < 0 || name == "\x00never" {
			t.Fatalf("tensor of %d elements, budget %d", tt.Len(), budget)
		}
	})
}

// A tensor that already holds at most 2^bits distinct values (shared
// weights after centroid fine-tuning) is coded without loss: its values
// are the codebook, whatever their spacing.
func TestAlreadySharedIsLossless(t *testing.T) {
	m := testmodels.MLP(3)
	g := m.Graph
	values := []float32{-0.7, -0.69, 0.001, 0.3, 0.31, 2.5} // uneven: k-means from a linear start would move them
	var name string
	for _, k := range g.InitOrder {
		if g.Initializers[k].Len() >= 64 {
			name = k
			break
		}
	}
	if name == "" {
		t.Fatal("test model has no large tensor")
	}
	w := g.Initializers[name].Clone()
	for i := range w.F32() {
		w.F32()[i] = values[(i*7)%len(values)]
		if i%5 == 0 {
			w.F32()[i] = 0 // pruned: masked, not a codebook entry
		}
	}
	g.Initializers[name] = w
	for _, bits := range []int{3, 4} {
		b, rep, err := Encode(m, Options{Bits: bits, MinElements: 64})
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !equalF32(d.Graph.Initializers[name].F32(), w.F32()) {
			t.Fatalf("%d bits: the shared tensor changed through the container", bits)
		}
		for _, tr := range rep.Tensors {
			if tr.Name == name && (tr.Codebook != len(values) || tr.RelL2 != 0) {
				t.Errorf("%d bits: %+v, want a %d-entry codebook and no error", bits, tr, len(values))
			}
		}
	}
	// Two bits cannot hold six values: k-means approximates them.
	d, _, err := Share(m, Options{Bits: 2, MinElements: 64})
	if err != nil {
		t.Fatal(err)
	}
	if equalF32(d.Graph.Initializers[name].F32(), w.F32()) {
		t.Error("6 distinct values survived a 4-entry codebook unchanged")
	}
}
