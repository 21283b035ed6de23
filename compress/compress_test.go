package compress_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/internal/testmodels"
	"github.com/edgedl/edgedl/compress/quantize"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/graph"
	_ "github.com/edgedl/edgedl/kernels/all"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
)

func batch(m *graph.Model, seed uint64, rows int) compress.Batch {
	return compress.Batch{Inputs: testmodels.Inputs(m, seed, 1, rows, true)[0]}
}

func TestCheckBatches(t *testing.T) {
	m := testmodels.CNN(1, false)
	good := batch(m, 1, 3)
	cases := []struct {
		name string
		data []compress.Batch
		want string
	}{
		{"ok", []compress.Batch{good, batch(m, 2, 1)}, ""},
		{"empty", nil, "no data"},
		{"count", []compress.Batch{{Inputs: nil}}, "0 inputs"},
		{"nil tensor", []compress.Batch{{Inputs: []*tensor.Tensor{nil}}}, "is nil"},
		{"dtype", []compress.Batch{{Inputs: []*tensor.Tensor{tensor.New(tensor.Int64, 1, 2, 8, 8)}}}, "must be float32"},
		{"rank", []compress.Batch{{Inputs: []*tensor.Tensor{tensor.New(tensor.Float32, 2, 8, 8)}}}, "must have shape"},
		{"dim", []compress.Batch{{Inputs: []*tensor.Tensor{tensor.New(tensor.Float32, 1, 3, 8, 8)}}}, "must have shape"},
		{"empty batch", []compress.Batch{{Inputs: []*tensor.Tensor{tensor.New(tensor.Float32, 0, 2, 8, 8)}}}, "does not match"},
		{"labels", []compress.Batch{{Inputs: good.Inputs, Labels: []int{0}}}, "1 labels for 3 rows"},
	}
	for _, c := range cases {
		err := compress.CheckBatches(m, c.data)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if err := compress.CheckBatches(m, nil); !errors.Is(err, compress.ErrNoData) {
		t.Errorf("%v is not ErrNoData", err)
	}
}

func TestRandomNormal(t *testing.T) {
	m := testmodels.CNN(1, false)
	a, err := compress.RandomNormal(m, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := compress.RandomNormal(m, 3, 9)
	if len(a) != 3 || !tensor.EqualShapes(a[0].Inputs[0].Shape, []int{1, 2, 8, 8}) || a[2].Inputs[0].F32()[5] != b[2].Inputs[0].F32()[5] {
		t.Errorf("batches %v", a[0].Inputs[0])
	}
	if err := compress.CheckBatches(m, a); err != nil {
		t.Error(err)
	}
	if _, err := compress.RandomNormal(m, 0, 1); !errors.Is(err, compress.ErrNoData) {
		t.Errorf("n=0: %v", err)
	}
}

func TestMNISTBatches(t *testing.T) {
	set := &mnist.Set{Images: tensor.New(tensor.Float32, 5, 1, 2, 2), Labels: []uint8{0, 1, 2, 3, 4}}
	bs, err := compress.MNIST(set, 1, 5, 3)
	if err != nil || len(bs) != 2 || bs[1].Rows() != 1 || bs[1].Labels[0] != 4 {
		t.Fatalf("%v %v", bs, err)
	}
	for _, r := range [][3]int{{0, 6, 2}, {3, 3, 1}, {0, 5, 0}, {-1, 2, 1}} {
		if _, err := compress.MNIST(set, r[0], r[1], r[2]); err == nil {
			t.Errorf("range %v accepted", r)
		}
	}
}

func TestAccuracyAndErrors(t *testing.T) {
	m := testmodels.CNN(2, false)
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := batch(m, 3, 6)
	out, _ := s.RunOrdered(b.Inputs, nil)
	pred, err := compress.Argmax(out[0])
	if err != nil {
		t.Fatal(err)
	}
	b.Labels = append([]int{}, pred...)
	b.Labels[0] = (pred[0] + 1) % 3
	acc, err := compress.Accuracy(s, []compress.Batch{b})
	if err != nil || math.Abs(acc-5.0/6) > 1e-12 {
		t.Errorf("accuracy %v %v, want 5/6", acc, err)
	}
	if _, err := compress.Accuracy(s, []compress.Batch{batch(m, 3, 2)}); err == nil {
		t.Error("unlabelled batch accepted")
	}
	e, dis, err := compress.OutputError(s, s, []compress.Batch{b})
	if err != nil || e != 0 || dis != 0 {
		t.Errorf("self error %v %v %v", e, dis, err)
	}
	if _, err := compress.RelL2(out[0], tensor.New(tensor.Float32, 1)); err == nil {
		t.Error("shape mismatch accepted")
	}
}

// LayerErrors sees every layer of a QDQ model through its dequantized
// values; errors are small but not zero, and zero for identical models.
func TestLayerErrors(t *testing.T) {
	m := testmodels.CNN(4, false)
	data := []compress.Batch{batch(m, 5, 4), batch(m, 6, 4)}
	q, err := quantize.Static(m, data, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	les, err := compress.LayerErrors(m, q, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, le := range les {
		names = append(names, le.Node)
		if le.RelL2 <= 0 || le.RelL2 > 0.1 {
			t.Errorf("%s (%s): rel L2 %.3g", le.Node, le.Value, le.RelL2)
		}
	}
	// Conv and Gemm outputs before their Relu do not exist in the QDQ
	// model (the Relu merged into the QuantizeLinear): they are left out.
	if got := strings.Join(names, ","); got != "r1,p1,r2,fl,r3,f2" {
		t.Errorf("layers %s", got)
	}
	same, err := compress.LayerErrors(m, m, data, 1)
	if err != nil || len(same) != 9 || same[3].RelL2 != 0 {
		t.Errorf("self: %+v %v", same, err)
	}
}

func TestMeasureAndReports(t *testing.T) {
	m := testmodels.CNN(7, false)
	b := batch(m, 1, 4)
	b.Labels = []int{0, 1, 2, 0}
	r, err := compress.Measure("fp32", m, []compress.Batch{b}, compress.MeasureOptions{Threads: 1, LatencyInputs: batch(m, 2, 1).Inputs, LatencyRuns: 5})
	if err != nil {
		t.Fatal(err)
	}
	size, _ := compress.ModelSize(m)
	if r.Bytes != size || r.Latency <= 0 || math.IsNaN(r.Accuracy) {
		t.Errorf("report %+v", r)
	}
	var buf bytes.Buffer
	rs := []compress.Report{r, {Name: "int8", Bytes: r.Bytes / 4, Accuracy: math.NaN(), ORTLatency: time.Millisecond}}
	if err := compress.WriteReports(&buf, rs); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "4.00x") || !strings.Contains(s, "int8") {
		t.Errorf("table:\n%s", s)
	}
	if err := compress.WriteReports(&buf, nil); err == nil {
		t.Error("empty report list accepted")
	}
}

func ExampleWriteReports() {
	rs := []compress.Report{
		{Name: "fp32", Bytes: 6654889, Accuracy: 0.99, Latency: 612 * time.Microsecond},
		{Name: "int8 QDQ", Bytes: 1679792, Accuracy: 0.9895, Latency: 350 * time.Microsecond},
		{Name: "pruned+shared", Bytes: 144910, Accuracy: 0.989},
	}
	compress.WriteReports(os.Stdout, rs)
	// Output:
	// model          size       ratio   accuracy  latency  ORT latency
	// fp32           6.35 MiB   1.00x   99.00%    612µs    -
	// int8 QDQ       1.60 MiB   3.96x   98.95%    350µs    -
	// pruned+shared  141.5 KiB  45.92x  98.90%    -        -
}
