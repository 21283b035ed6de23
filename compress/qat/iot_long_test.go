package qat

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/edgedl/edgedl/compress"
	"github.com/edgedl/edgedl/compress/quantize"
	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/tensorio"
	"github.com/edgedl/edgedl/train"
	"github.com/edgedl/edgedl/train/arch"
	"github.com/edgedl/edgedl/train/data"
)

// recorder is a slog.Handler that keeps the messages and attributes.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.msgs = append(r.msgs, b.String())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// TestLongIoTQuantize is the activity-recognition figure: the
// time-series CNN (train/arch) on BasicMotions (6-axis accelerometer and
// gyroscope, 4 activities, 40 training and 40 test series of length 100)
// in float, after post-training int8 quantisation (calibrated on the
// training series) and after QAT fine-tuning: size on disk, test accuracy,
// median latency at batch 1, the operators run as integer kernels and the
// quantizer's warnings for operators it keeps in float.
//
//	EDGEDL_LONG=1 go test ./compress/qat -run TestLongIoTQuantize -v
//
// EDGEDL_IOT_SET names another folder of /work/shared/datasets/iot;
// EDGEDL_IOT_MODEL takes the float model from `edgedl train ts-cnn` instead
// of training it here (with the same settings); EDGEDL_COMPRESS_OUT keeps
// the models and writes the normalised training and test series as .npy
// (the calibration file for `edgedl compress --calibration`).
func TestLongIoTQuantize(t *testing.T) {
	if os.Getenv("EDGEDL_LONG") != "1" {
		t.Skip("set EDGEDL_LONG=1 to train and quantise the time-series CNN")
	}
	name := os.Getenv("EDGEDL_IOT_SET")
	if name == "" {
		name = "BasicMotions"
	}
	tr, te, err := data.LoadTS(filepath.Join(testenv.Shared(t), "datasets", "iot", name))
	if err != nil {
		t.Fatal(err)
	}
	mean, std := data.ChannelStats(tr) // as `edgedl train` normalises
	data.Normalize(tr, mean, std)
	data.Normalize(te, mean, std)
	classes := max(data.NumClasses(tr), data.NumClasses(te))
	out := t.TempDir()
	if d := os.Getenv("EDGEDL_COMPRESS_OUT"); d != "" {
		out = d
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	var m *graph.Model
	if path := os.Getenv("EDGEDL_IOT_MODEL"); path != "" {
		if m, err = onnx.Load(path); err != nil {
			t.Fatal(err)
		}
	} else {
		// `edgedl train ts-cnn --dataset NAME_TRAIN.ts --epochs 100 --batch 8 --optimizer adam --lr 0.003`
		p, err := train.Compile(arch.TimeSeriesCNN(tr.SampleShape[0], tr.SampleShape[1], classes, 1), train.Options{Threads: 1, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := train.Fit(ctx, p, tr, train.Config{Epochs: 100, Batch: 8, LR: 0.003, Optimizer: &train.Adam{}, Seed: 1},
			train.Callbacks{}); err != nil {
			t.Fatal(err)
		}
		m = p.Export()
		p.Close()
	}
	all := func(ds *data.InMemory) *tensor.Tensor {
		return tensor.Float32s(append([]int{ds.Len()}, ds.SampleShape...), ds.X)
	}
	for _, f := range []struct {
		file string
		ds   *data.InMemory
	}{{name + "_train_x.npy", tr}, {name + "_test_x.npy", te}} {
		if err := tensorio.SaveNPY(filepath.Join(out, f.file), all(f.ds)); err != nil {
			t.Fatal(err)
		}
	}
	calib := []compress.Batch{{Inputs: []*tensor.Tensor{all(tr)}}}
	test := batches(te, 64)
	one := []*tensor.Tensor{tensor.Float32s(append([]int{1}, te.SampleShape...), te.X[:len(te.X)/te.Len()])}

	rec := &recorder{}
	ptq, err := quantize.Static(m, calib, quantize.Options{Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range rec.msgs {
		t.Logf("quantizer warning: %s", msg)
	}
	// QAT: 20 epochs of fine-tuning from the float model
	q, err := Prepare(m, calib, Options{Logger: slog.New(&recorder{})})
	if err != nil {
		t.Fatal(err)
	}
	p, err := q.Compile(train.Options{Threads: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(ctx, p, tr, train.Config{Epochs: 20, Batch: 8, LR: 3e-4, Optimizer: &train.Adam{}, Seed: 2},
		train.Callbacks{}); err != nil {
		t.Fatal(err)
	}
	qm, err := q.Export(p)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	var rows []compress.Report
	for _, v := range []struct {
		name string
		m    *graph.Model
	}{{"fp32", m}, {"int8 PTQ", ptq}, {"int8 QAT", qm}} {
		path := filepath.Join(out, fmt.Sprintf("%s_tscnn_%s.onnx", name, strings.ReplaceAll(v.name, " ", "_")))
		if err := onnx.Save(path, v.m); err != nil {
			t.Fatal(err)
		}
		size, _ := compress.FileSize(path)
		r, err := compress.Measure(v.name, v.m, test, compress.MeasureOptions{Threads: 1, LatencyInputs: one, LatencyRuns: 500, Bytes: size})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
		ops := executedOps(t, v.m, one[0])
		t.Logf("%-8s %s: %d bytes, accuracy %.2f%% on %d test series, median latency %v (1 thread); executed %v",
			v.name, path, size, 100*r.Accuracy, te.Len(), r.Latency, ops)
		if v.name != "fp32" && (ops["QConv"] != 2 || ops["Conv"] != 0) {
			t.Errorf("%s: executed %v: want both convolutions as QConv", v.name, ops)
		}
	}
	var b strings.Builder
	if err := compress.WriteReports(&b, rows); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s time-series CNN:\n%s", name, b.String())
	if rows[1].Accuracy < rows[0].Accuracy-0.05 {
		t.Errorf("PTQ accuracy %.3f is more than 5 points below float's %.3f", rows[1].Accuracy, rows[0].Accuracy)
	}
}
