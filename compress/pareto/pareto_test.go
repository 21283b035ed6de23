package pareto

import (
	"bytes"
	"image/png"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/edgedl/edgedl/compress"
)

func reports() []compress.Report {
	ms := time.Millisecond
	return []compress.Report{
		{Name: "fp32", Bytes: 6 << 20, Accuracy: 0.990, Latency: 2 * ms},
		{Name: "fp16", Bytes: 3 << 20, Accuracy: 0.990, Latency: 2 * ms},      // dominates fp32
		{Name: "int8", Bytes: 1600 << 10, Accuracy: 0.9895, Latency: 1 * ms},  // front
		{Name: "pruned", Bytes: 3200 << 10, Accuracy: 0.966, Latency: 1 * ms}, // dominated by int8
		{Name: "shared", Bytes: 150 << 10, Accuracy: 0.989, Latency: 3 * ms},  // front: smallest
	}
}

func fastPruned(rs []compress.Report) {
	rs[3].Accuracy, rs[3].Latency = 0.9896, 500*time.Microsecond
}

func TestFront(t *testing.T) {
	cases := []struct {
		name string
		edit func([]compress.Report)
		want []int
	}{
		{"three measures", func([]compress.Report) {}, []int{4, 2, 1}},
		// A fast, accurate but large variant is on the front only while
		// latency counts (it does when every report has one).
		{"latency counts", fastPruned, []int{4, 2, 1, 3}},
		{"no latency", func(rs []compress.Report) { fastPruned(rs); rs[0].Latency = 0 }, []int{4, 2, 1}},
		{"no accuracy", func(rs []compress.Report) { rs[3].Accuracy = math.NaN() }, []int{4, 2}},
	}
	for _, c := range cases {
		rs := reports()
		c.edit(rs)
		if got := Front(rs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: front %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPlot(t *testing.T) {
	for _, lat := range []bool{true, false} {
		rs := reports()
		if !lat {
			rs[2].Latency = 0
		}
		var buf bytes.Buffer
		if err := Plot(&buf, "test", rs); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
			t.Errorf("image %v is too small", b)
		}
	}
	rs := reports()
	rs[1].Accuracy = math.NaN()
	if err := Plot(&bytes.Buffer{}, "x", rs); err == nil {
		t.Error("a report without accuracy was plotted")
	}
	if err := Plot(&bytes.Buffer{}, "x", nil); err == nil {
		t.Error("no reports plotted")
	}
}
