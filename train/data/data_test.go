package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const iotDir = "/work/shared/datasets/iot"

func TestReadTSArchive(t *testing.T) {
	for _, c := range []struct {
		name                  string
		dims, length, classes int
		trainN, testN         int
	}{
		{"BasicMotions", 6, 100, 4, 40, 40},
		{"Chinatown", 1, 24, 2, 20, 343},
		{"ItalyPowerDemand", 1, 24, 2, 67, 1029},
	} {
		dir := filepath.Join(iotDir, c.name)
		if _, err := os.Stat(dir); err != nil {
			t.Skipf("%s not available: %v", dir, err)
		}
		tr, te, err := LoadTS(dir)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(tr.Shape(), []int{c.dims, c.length}) || tr.Len() != c.trainN || te.Len() != c.testN {
			t.Errorf("%s: shape %v, %d train, %d test", c.name, tr.Shape(), tr.Len(), te.Len())
		}
		if NumClasses(tr) != c.classes || len(tr.Classes) != c.classes {
			t.Errorf("%s: %d classes (%v)", c.name, NumClasses(tr), tr.Classes)
		}
	}
}

func TestReadTSErrors(t *testing.T) {
	head := "@problemName x\n@univariate true\n@classLabel true a b\n@data\n"
	good := head + "1,2,3:a\n# comment\n\n4,5,6:b\r\n"
	ts, err := ReadTS(strings.NewReader(good), "good.ts")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Series) != 2 || ts.Labels[1] != 1 || ts.Series[1][0][2] != 6 {
		t.Fatalf("parsed %+v", ts)
	}
	reg, err := ReadTS(strings.NewReader("@targetLabel true\n@data\n1,?,3:2.5\n"), "reg.ts")
	if err != nil || reg.Targets[0] != 2.5 || reg.Series[0][0][1] == reg.Series[0][0][1] {
		t.Fatalf("regression: %+v %v", reg, err)
	}
	if d := reg.Dataset(0); d.X[1] != 0 || d.T[0] != 2.5 {
		t.Fatalf("missing value not zero-filled: %v", d.X)
	}
	for name, bad := range map[string]string{
		"unknown label":    head + "1,2:c\n",
		"not a number":     head + "1,x:a\n",
		"no label":         head + "1,2\n",
		"dims differ":      "@classLabel true a\n@data\n1:2:a\n1:a\n",
		"no data":          "@problemName x\n",
		"series length":    "@seriesLength 3\n@classLabel true a\n@data\n1,2:a\n",
		"timestamps":       "@timeStamps true\n@data\n(0,1):a\n",
		"junk before data": "hello\n@data\n",
		"bad bool":         "@univariate maybe\n@data\n",
		"empty":            "@data\n",
	} {
		if _, err := ReadTS(strings.NewReader(bad), "bad.ts"); err == nil {
			t.Errorf("%s: parsed without error", name)
		} else if !strings.HasPrefix(err.Error(), "data: bad.ts") {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
}

func checkCover(t *testing.T, name string, parts [][]int, n int) {
	t.Helper()
	seen := make([]int, n)
	for _, p := range parts {
		for _, i := range p {
			seen[i]++
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("%s: sample %d assigned %d times", name, i, c)
		}
	}
}

// avgClasses is the mean number of distinct labels per client.
func avgClasses(labels []int, parts [][]int, classes int) float64 {
	s := 0
	for _, c := range LabelCounts(labels, parts, classes) {
		for _, v := range c {
			if v > 0 {
				s++
			}
		}
	}
	return float64(s) / float64(len(parts))
}

func TestPartitioners(t *testing.T) {
	// MNIST-like: 60,000 samples, 10 balanced classes in random order.
	n := 60000
	labels := make([]int, n)
	for i, p := range Permutation(n, 1, 9) {
		labels[p] = i % 10
	}
	iid, _ := IID(n, 100, 1)
	shards, err := Shards(labels, 100, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	dirLow, _ := Dirichlet(labels, 100, 0.1, 1)
	dirHigh, _ := Dirichlet(labels, 100, 100, 1)
	unb, _ := Unbalanced(n, 100, 1.0, 1)
	for name, p := range map[string][][]int{"iid": iid, "shards": shards, "dir0.1": dirLow, "dir100": dirHigh, "unbalanced": unb} {
		if len(p) != 100 {
			t.Fatalf("%s: %d parts", name, len(p))
		}
		checkCover(t, name, p, n)
	}
	for k, p := range shards {
		if len(p) != 600 {
			t.Fatalf("shards: client %d has %d samples, want 600", k, len(p))
		}
	}
	ci, cs, cl, ch := avgClasses(labels, iid, 10), avgClasses(labels, shards, 10), avgClasses(labels, dirLow, 10), avgClasses(labels, dirHigh, 10)
	if ci != 10 || cs > 2.2 || cl > 6 || ch < 9.9 {
		t.Errorf("classes per client: iid %.2f shards %.2f dirichlet(0.1) %.2f dirichlet(100) %.2f", ci, cs, cl, ch)
	}
	lo, hi := n, 0
	for _, p := range unb {
		lo, hi = min(lo, len(p)), max(hi, len(p))
	}
	if hi < 4*lo || lo < 1 {
		t.Errorf("unbalanced sizes %d..%d are not skewed", lo, hi)
	}
	// Deterministic by seed, different across seeds.
	again, _ := Dirichlet(labels, 100, 0.1, 1)
	other, _ := Dirichlet(labels, 100, 0.1, 2)
	if fmt.Sprint(again) != fmt.Sprint(dirLow) || fmt.Sprint(other) == fmt.Sprint(dirLow) {
		t.Error("Dirichlet is not a function of the seed")
	}
	if _, err := Shards(labels[:10], 100, 2, 1); err == nil {
		t.Error("Shards with more shards than samples succeeded")
	}
}

func TestLoader(t *testing.T) {
	x := make([]float32, 10*2)
	for i := range x {
		x[i] = float32(i / 2)
	}
	y := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	d, _ := NewInMemory(x, []int{2}, y)
	l := &Loader{Data: d, Batch: 4, Shuffle: true, Seed: 3}
	var seen []int
	sizes := []int{}
	for b := range l.Epoch(0) {
		sizes = append(sizes, b.Len())
		for k, i := range b.Index {
			if b.Labels[k] != i || b.X.F32()[2*k] != float32(i) {
				t.Fatalf("batch row %d holds sample %v", k, b.X.F32()[2*k])
			}
		}
		seen = append(seen, b.Index...)
	}
	if fmt.Sprint(sizes) != "[4 4 2]" {
		t.Errorf("batch sizes %v", sizes)
	}
	slices.Sort(seen)
	if fmt.Sprint(seen) != fmt.Sprint(y) {
		t.Errorf("epoch covered %v", seen)
	}
	var e0, e1 []int
	for b := range l.Epoch(0) {
		e0 = append(e0, b.Index...)
	}
	for b := range l.Epoch(1) {
		e1 = append(e1, b.Index...)
	}
	if fmt.Sprint(e0) == fmt.Sprint(e1) {
		t.Error("epochs 0 and 1 have the same order")
	}
	l.DropLast = true
	if l.NumBatches() != 2 {
		t.Errorf("NumBatches with DropLast = %d", l.NumBatches())
	}
}

func TestFashionMNIST(t *testing.T) {
	if _, err := FashionMNIST(t.TempDir(), "test"); err == nil || !strings.Contains(err.Error(), "dataset-fashion-mnist") {
		t.Errorf("missing directory: %v", err)
	}
	dir := FashionMNISTDir()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	d, err := FashionMNIST(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 10000 || !slices.Equal(d.Shape(), []int{1, 28, 28}) || NumClasses(d) != 10 {
		t.Errorf("Fashion-MNIST test: %d samples of %v, %d classes", d.Len(), d.Shape(), NumClasses(d))
	}
}

func ExampleShards() {
	labels := make([]int, 60000)
	for i := range labels {
		labels[i] = i % 10
	}
	parts, _ := Shards(labels, 100, 2, 1)
	counts := LabelCounts(labels, parts, 10)
	distinct := 0
	for _, c := range counts[0] {
		if c > 0 {
			distinct++
		}
	}
	fmt.Println(len(parts), len(parts[0]), distinct)
	// Output: 100 600 2
}
