package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/graph"
	"github.com/edgedl/edgedl/kernels"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/tensorio"
)

const testDomain = "edgedl.clitest"

// Test-only operators, in their own domain so they never meet real ones.
func init() {
	kernels.Register(testDomain, "EdgedlTestDouble", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		return kernels.KernelFunc(func(ctx *kernels.Ctx, in, out []*tensor.Tensor) error {
			y, err := ctx.Alloc(tensor.Float32, in[0].Shape)
			if err != nil {
				return err
			}
			for i, v := range in[0].F32() {
				y.F32()[i] = 2 * v
			}
			out[0] = y
			return nil
		}), nil
	})
	kernels.Register(testDomain, "EdgedlTestPanic", 1, func(b *kernels.BuildContext) (kernels.Kernel, error) {
		panic("builder bug") // the CLI must still print one line
	})
}

// runCLI runs the command in-process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// wantError checks a failure: the exit code and a single stderr line
// naming the command and containing every fragment.
func wantError(t *testing.T, code int, stderr string, wantCode int, fragments ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit %d, want %d (stderr %q)", code, wantCode, stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "edgedl") {
		t.Errorf("stderr is not one edgedl line: %q", stderr)
	}
	for _, f := range fragments {
		if !strings.Contains(stderr, f) {
			t.Errorf("stderr %q lacks %q", stderr, f)
		}
	}
	if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, ".go:") {
		t.Errorf("stderr has a stack trace: %q", stderr)
	}
}

func tensorVI(name string, dt tensor.DType, dims ...graph.Dim) graph.ValueInfo {
	return graph.ValueInfo{Name: name, Kind: graph.KindTensor, DType: dt, HasShape: true, Shape: dims}
}

func dim(v int64) graph.Dim     { return graph.Dim{Value: v} }
func sym(name string) graph.Dim { return graph.Dim{Value: -1, Param: name} }
func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// saveModel encodes m into dir/name and returns the path.
func saveModel(t *testing.T, dir, name string, m *graph.Model) string {
	t.Helper()
	b, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	writeFile(t, p, b)
	return p
}

// doubleModel: x float32 [batch,6] -> EdgedlTestDouble -> y [batch,6], plus
// an initializer of 4 floats (parameters) that nothing reads.
func doubleModel(op string, inShape ...graph.Dim) *graph.Model {
	if len(inShape) == 0 {
		inShape = []graph.Dim{sym("batch"), dim(6)}
	}
	g := &graph.Graph{
		Name:    "double",
		Inputs:  []graph.ValueInfo{tensorVI("x", tensor.Float32, inShape...)},
		Outputs: []graph.ValueInfo{tensorVI("y", tensor.Float32)},
		Nodes:   []*graph.Node{{Name: "twice", OpType: op, Domain: testDomain, Inputs: []string{"x"}, Outputs: []string{"y"}}},
	}
	g.Outputs[0].HasShape = false
	g.AddInitializer("unused", tensor.Float32s([]int{2, 2}, []float32{1, 2, 3, 4}))
	return &graph.Model{Graph: g, IRVersion: 8, ProducerName: "edgedl-test", Opsets: map[string]int64{"": 17, testDomain: 1}}
}

var logits = []float32{0.5, 3, -1, 2, 0, 1 /* row 1 */, 9, 0, 0, 0, 0, 8}

func TestRunPBInput(t *testing.T) {
	dir := t.TempDir()
	model := saveModel(t, dir, "m.onnx", doubleModel("EdgedlTestDouble"))
	in := filepath.Join(dir, "in.pb")
	if err := onnx.WriteTensor(in, "x", tensor.Float32s([]int{2, 6}, logits)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	stdout, stderr, code := runCLI(t, "run", model, "--input", in, "--output-dir", out, "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := onnx.ReadTensor(filepath.Join(out, "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got.F32() {
		if v != 2*logits[i] {
			t.Fatalf("output %v, want 2*input", got)
		}
	}
	// Named as the graph output.
	b, _ := os.ReadFile(filepath.Join(out, "output_0.pb"))
	if _, name, _ := onnx.DecodeTensor(b); name != "y" {
		t.Errorf("output tensor named %q, want y", name)
	}
	for _, want := range []string{`output 0 "y": float32 [2,6]`, "row 0 top-5: 1 (6, p=", "row 1 top-5: 0 (18, p=0.881), 5 (16, p=0.119)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("unexpected stderr %q", stderr)
	}
}

func TestRunNPYInputJSON(t *testing.T) {
	dir := t.TempDir()
	model := saveModel(t, dir, "m.onnx", doubleModel("EdgedlTestDouble"))
	// NumPy's default float64 is converted to the model's float32.
	x64 := make([]float64, len(logits))
	for i, v := range logits {
		x64[i] = float64(v)
	}
	in := filepath.Join(dir, "in.npy")
	if err := tensorio.SaveNPY(in, &tensor.Tensor{DType: tensor.Float64, Shape: []int{2, 6}, Data: x64}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "run", model, "--input", "x="+in, "--json", "--top", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Outputs []struct {
			Name  string
			DType string
			Shape []int
			Top   [][]struct {
				Class int
				Score float64
				Prob  float64
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	o := rep.Outputs[0]
	if o.Name != "y" || o.DType != "float32" || len(o.Top) != 2 || len(o.Top[1]) != 2 {
		t.Fatalf("report %+v", rep)
	}
	// Row 1 logits 18 and 16 (doubled): softmax over the row.
	z := math.Exp(18) + math.Exp(16) + 4
	if c := o.Top[1][0]; c.Class != 0 || c.Score != 18 || math.Abs(c.Prob-math.Exp(18)/z) > 1e-9 {
		t.Errorf("top of row 1: %+v", c)
	}
	if c := o.Top[1][1]; c.Class != 5 || c.Score != 16 {
		t.Errorf("second of row 1: %+v", c)
	}
}

func TestRunExpectDir(t *testing.T) {
	dir := t.TempDir()
	model := saveModel(t, dir, "m.onnx", doubleModel("EdgedlTestDouble"))
	in := filepath.Join(dir, "input_0.pb")
	onnx.WriteTensor(in, "x", tensor.Float32s([]int{1, 6}, logits[:6]))
	want := make([]float32, 6)
	for i := range want {
		want[i] = 2 * logits[i]
	}
	onnx.WriteTensor(filepath.Join(dir, "output_0.pb"), "y", tensor.Float32s([]int{1, 6}, want))
	stdout, stderr, code := runCLI(t, "run", model, "--input", in, "--expect-dir", dir, "--tolerance", "1e-6")
	if code != 0 || !strings.Contains(stdout, "relative L2 error vs expected: 0\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	want[0] += 10
	onnx.WriteTensor(filepath.Join(dir, "output_0.pb"), "y", tensor.Float32s([]int{1, 6}, want))
	_, stderr, code = runCLI(t, "run", model, "--input", in, "--expect-dir", dir, "--tolerance", "1e-6")
	wantError(t, code, stderr, 1, `output "y": relative L2 error`, "exceeds --tolerance 1e-06")
	onnx.WriteTensor(filepath.Join(dir, "output_0.pb"), "y", tensor.Float32s([]int{2, 3}, want))
	_, stderr, code = runCLI(t, "run", model, "--input", in, "--expect-dir", dir)
	wantError(t, code, stderr, 1, "output_0.pb", `output "y"`, "shape")
}

// An 8x8 PNG goes into a model taking [1,1,4,4]: grayscale and resizing
// happen automatically, pixels are divided by --scale.
func TestRunImageInput(t *testing.T) {
	dir := t.TempDir()
	model := saveModel(t, dir, "m.onnx", doubleModel("EdgedlTestDouble", dim(1), dim(1), dim(4), dim(4)))
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			img.Set(x, y, color.RGBA{100, 100, 100, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	p := filepath.Join(dir, "img.png")
	writeFile(t, p, b.Bytes())
	out := filepath.Join(dir, "out")
	_, stderr, code := runCLI(t, "run", model, "--input", p, "--output-dir", out, "--mean", "0.5", "--std", "0.25")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := onnx.ReadTensor(filepath.Join(out, "output_0.pb"))
	wantV := float32(2 * (100.0/255 - 0.5) / 0.25)
	if !tensor.EqualShapes(got.Shape, []int{1, 1, 4, 4}) || math.Abs(float64(got.F32()[5]-wantV)) > 1e-5 {
		t.Errorf("image output %v, want %v everywhere", got, wantV)
	}
	// Three means for a one-channel model is a mistake that names the file.
	_, stderr, code = runCLI(t, "run", model, "--input", p, "--mean", "0.485,0.456,0.406")
	wantError(t, code, stderr, 1, p, "mean has 3 values for 1 channels")
}

// The model is built from real operators when their families are linked.
func TestRunRealOps(t *testing.T) {
	for _, op := range []string{"Add", "Relu"} {
		if _, err := kernels.Lookup("", op, 17); err != nil {
			t.Skipf("%s not registered yet", op)
		}
	}
	g := &graph.Graph{
		Name:    "addrelu",
		Inputs:  []graph.ValueInfo{tensorVI("a", tensor.Float32, dim(1), dim(4)), tensorVI("b", tensor.Float32, dim(1), dim(4))},
		Outputs: []graph.ValueInfo{tensorVI("y", tensor.Float32, dim(1), dim(4))},
		Nodes: []*graph.Node{
			{Name: "add", OpType: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"s"}},
			{Name: "relu", OpType: "Relu", Inputs: []string{"s"}, Outputs: []string{"y"}},
		},
	}
	dir := t.TempDir()
	model := saveModel(t, dir, "addrelu.onnx", &graph.Model{Graph: g, IRVersion: 8, Opsets: map[string]int64{"": 17}})
	pa, pb := filepath.Join(dir, "a.npy"), filepath.Join(dir, "b.pb")
	tensorio.SaveNPY(pa, tensor.Float32s([]int{1, 4}, []float32{1, -2, 3, -4}))
	onnx.WriteTensor(pb, "b", tensor.Float32s([]int{1, 4}, []float32{1, 1, 1, 1}))
	out := filepath.Join(dir, "out")
	if _, stderr, code := runCLI(t, "run", model, "--input", pa, "--input", pb, "--output-dir", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, _ := onnx.ReadTensor(filepath.Join(out, "output_0.pb"))
	for i, want := range []float32{2, 0, 4, 0} {
		if got.F32()[i] != want {
			t.Fatalf("relu(a+b) = %v, want [2 0 4 0]", got)
		}
	}
	stdout, _, code := runCLI(t, "info", model)
	if code != 0 || !regexp.MustCompile(`FLOPs per inference: 8 `).MatchString(stdout) {
		t.Errorf("info on Add/Relu (4 + 4 elementwise FLOPs): exit %d\n%s", code, stdout)
	}
	// A wrong-shape input names the file and the input.
	onnx.WriteTensor(pb, "b", tensor.Float32s([]int{2, 2}, []float32{1, 1, 1, 1}))
	_, stderr, code := runCLI(t, "run", model, "--input", pa, "--input", pb)
	wantError(t, code, stderr, 1, pb, `input "b" must have shape [1,4], the file holds [2,2]`)
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	good := doubleModel("EdgedlTestDouble")
	model := saveModel(t, dir, "m.onnx", good)
	full, _ := os.ReadFile(model)
	truncated := filepath.Join(dir, "trunc.onnx")
	writeFile(t, truncated, full[:len(full)-9])
	notONNX := filepath.Join(dir, "notes.onnx")
	writeFile(t, notONNX, []byte("this is a text file, not a protobuf\n"))
	in := filepath.Join(dir, "in.pb")
	onnx.WriteTensor(in, "x", tensor.Float32s([]int{1, 6}, logits[:6]))
	wrongShape := filepath.Join(dir, "wrong.npy")
	tensorio.SaveNPY(wrongShape, tensor.Float32s([]int{1, 5}, make([]float32, 5)))
	wrongType := filepath.Join(dir, "ints.npy")
	tensorio.SaveNPY(wrongType, &tensor.Tensor{DType: tensor.Uint8, Shape: []int{1, 6}, Data: make([]uint8, 6)})
	badNPY := filepath.Join(dir, "bad.npy")
	writeFile(t, badNPY, []byte("\x93NUMPY\x01\x00"))
	txt := filepath.Join(dir, "in.txt")
	writeFile(t, txt, []byte("1 2 3"))
	unsupported := good
	unsupported.Graph.Nodes = []*graph.Node{{Name: "mystery", OpType: "NoSuchOp", Domain: testDomain, Inputs: []string{"x"}, Outputs: []string{"y"}}}
	unsupportedPath := saveModel(t, dir, "unsupported.onnx", unsupported)
	panicky := doubleModel("EdgedlTestPanic")
	panickyPath := saveModel(t, dir, "panic.onnx", panicky)

	cases := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"missing model file", []string{"run", filepath.Join(dir, "nope.onnx"), "--input", in}, 1, []string{"nope.onnx", "no such file"}},
		{"truncated model", []string{"run", truncated, "--input", in}, 1, []string{"trunc.onnx", "not an ONNX model"}},
		{"not ONNX", []string{"run", notONNX, "--input", in}, 1, []string{"notes.onnx", "not an ONNX model"}},
		{"no input", []string{"run", model}, 2, []string{`takes 1 input(s) (x), got 0 --input`}},
		{"too many inputs", []string{"run", model, "--input", in, "--input", in}, 2, []string{"got 2 --input"}},
		{"missing input file", []string{"run", model, "--input", filepath.Join(dir, "absent.pb")}, 1, []string{"absent.pb", "no such file"}},
		{"wrong shape", []string{"run", model, "--input", wrongShape}, 1, []string{"wrong.npy", `input "x" must have shape [batch,6], the file holds [1,5]`}},
		{"wrong dtype", []string{"run", model, "--input", wrongType}, 1, []string{"ints.npy", `input "x" must be float32, the file holds uint8`}},
		{"truncated npy", []string{"run", model, "--input", badNPY}, 1, []string{"bad.npy", "tensorio: npy: header: file is truncated"}},
		{"unknown format", []string{"run", model, "--input", txt}, 1, []string{"in.txt", `unknown input format ".txt"`}},
		{"unsupported op", []string{"run", unsupportedPath, "--input", in}, 1, []string{"unsupported.onnx", "NoSuchOp", "mystery", "not implemented"}},
		{"panicking builder", []string{"run", panickyPath, "--input", in}, 1, []string{"panic.onnx", "panic"}},
		{"input is not an image model", []string{"run", model, "--input", filepath.Join(dir, "x.png")}, 1, []string{"x.png", `model input "x" has shape [batch,6], not an image's`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, c.args...)
			wantError(t, code, stderr, c.code, append([]string{"edgedl run: "}, c.wants...)...)
			if stdout != "" {
				t.Errorf("stdout %q on error", stdout)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	_, stderr, code := runCLI(t)
	if code != 2 || !strings.Contains(stderr, "Commands:") {
		t.Errorf("no arguments: exit %d, stderr %q", code, stderr)
	}
	stdout, _, code := runCLI(t, "help")
	for _, c := range []string{"run", "info", "profile", "conformance", "version"} {
		if code != 0 || !strings.Contains(stdout, "\n  "+c+" ") {
			t.Errorf("help lacks %s (exit %d):\n%s", c, code, stdout)
		}
	}
	for _, args := range [][]string{{"run", "-h"}, {"run", "--help"}, {"help", "run"}} {
		stdout, _, code = runCLI(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "Usage: edgedl run MODEL.onnx") || !strings.Contains(stdout, "--output-dir DIR") {
			t.Errorf("%v: exit %d\n%s", args, code, stdout)
		}
	}
	_, stderr, code = runCLI(t, "frobnicate")
	wantError(t, code, stderr, 2, `edgedl: unknown command "frobnicate"`)
	_, stderr, code = runCLI(t, "help", "frobnicate")
	wantError(t, code, stderr, 2, `unknown command "frobnicate"`)
	_, stderr, code = runCLI(t, "info", "m.onnx", "--frob")
	wantError(t, code, stderr, 2, "edgedl info: flag provided but not defined: -frob", "edgedl info -h")
	_, stderr, code = runCLI(t, "run", "m.onnx", "--threads", "many")
	wantError(t, code, stderr, 2, "edgedl run:", "-threads")
	_, stderr, code = runCLI(t, "run", "--input", "x.pb")
	wantError(t, code, stderr, 2, "edgedl run: missing MODEL.onnx")
	_, stderr, code = runCLI(t, "info", "a.onnx", "b.onnx")
	wantError(t, code, stderr, 2, `unexpected argument "b.onnx"`)
	_, stderr, code = runCLI(t, "info", "a.onnx", "--log-level", "loud")
	wantError(t, code, stderr, 2, `bad --log-level "loud"`)
	stdout, _, code = runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "edgedl ") || !strings.Contains(stdout, "operators registered") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestParseInterspersed(t *testing.T) {
	e := &env{}
	c := lookupCommand("run")
	fs := newFlagSet(c, e)
	c.setup(e, fs)
	pos, err := parseInterspersed(fs, []string{"--threads", "2", "m.onnx", "--input", "a", "--", "--odd", "-x"})
	if err != nil || strings.Join(pos, " ") != "m.onnx --odd -x" {
		t.Errorf("positionals %q, %v", pos, err)
	}
	if fs.Lookup("threads").Value.String() != "2" || fs.Lookup("input").Value.String() != "a" {
		t.Error("flags around the positional were not parsed")
	}
}

func TestInfo(t *testing.T) {
	dir := t.TempDir()
	model := saveModel(t, dir, "m.onnx", doubleModel("EdgedlTestDouble"))
	stdout, stderr, code := runCLI(t, "info", model, "--batch", "3", "--nodes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"ir version  8", "producer    edgedl-test", "ai.onnx 17, edgedl.clitest 1",
		"x  float32  [batch,6]", "parameters: 4 in 1 initializers (16 B)",
		"FLOPs per inference: 18 (18) at batch 3", "edgedl.clitest.EdgedlTestDouble      1         1     18  100.0%", "0  twice  EdgedlTestDouble  [3,6]"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, code = runCLI(t, "info", model, "--json")
	var rep struct {
		IRVersion  int64 `json:"ir_version"`
		Params     int64
		ParamBytes int64 `json:"param_bytes"`
		FLOPs      int64
		Opsets     map[string]int64
		Inputs     []struct {
			Name  string
			Shape []any
		}
		Operators []struct {
			Op    string
			Count int
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 {
		t.Fatalf("%v, exit %d:\n%s", err, code, stdout)
	}
	if rep.IRVersion != 8 || rep.Params != 4 || rep.ParamBytes != 16 || rep.FLOPs != 6 || rep.Opsets["ai.onnx"] != 17 ||
		rep.Inputs[0].Shape[0] != "batch" || rep.Inputs[0].Shape[1] != 6.0 || rep.Operators[0].Count != 1 {
		t.Errorf("info JSON %+v", rep)
	}
	// A model with an unimplemented op still gets its static description.
	m := doubleModel("NoSuchOp")
	stdout, _, code = runCLI(t, "info", saveModel(t, dir, "u.onnx", m))
	if code != 0 || !strings.Contains(stdout, "FLOPs per inference: unavailable (") || !strings.Contains(stdout, "NoSuchOp") {
		t.Errorf("info on an unsupported model: exit %d\n%s", code, stdout)
	}
}

func TestProfile(t *testing.T) {
	dir := t.TempDir()
	model := saveModel(t, dir, "m.onnx", doubleModel("EdgedlTestDouble"))
	stdout, stderr, code := runCLI(t, "profile", model, "--runs", "3", "--warmup", "1", "--threads", "1", "--json", "--batch", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Model  string
		Runs   int
		Nodes  []map[string]any
		Totals map[string]any
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if rep.Model != model || rep.Runs != 3 || len(rep.Nodes) != 1 {
		t.Fatalf("profile %+v", rep)
	}
	for _, k := range []string{"name", "op", "inputs", "outputs", "output_bytes", "flops", "median_us"} {
		if _, ok := rep.Nodes[0][k]; !ok {
			t.Errorf("node lacks %q", k)
		}
	}
	if rep.Nodes[0]["name"] != "twice" || rep.Nodes[0]["output_bytes"] != 48.0 || rep.Nodes[0]["flops"] != 12.0 || rep.Totals["flops"] != 12.0 {
		t.Errorf("node %v, totals %v", rep.Nodes[0], rep.Totals)
	}
	stdout, stderr, code = runCLI(t, "profile", model, "--runs", "2", "--threads", "1")
	if code != 0 || !regexp.MustCompile(`(?m)^0  twice  EdgedlTestDouble  \[1,6\]\s+24 B\s+6 `).MatchString(stdout) ||
		!strings.Contains(stdout, "run latency: median") {
		t.Errorf("profile table: exit %d %s\n%s", code, stderr, stdout)
	}
	_, stderr, code = runCLI(t, "profile", model, "--runs", "0")
	wantError(t, code, stderr, 2, "--runs")
}

// makeTest writes an ONNX backend test folder for model m with one data set.
func makeTest(t *testing.T, root, name string, m *graph.Model, in, out *tensor.Tensor) {
	t.Helper()
	set := filepath.Join(root, name, "test_data_set_0")
	if err := os.MkdirAll(set, 0o755); err != nil {
		t.Fatal(err)
	}
	saveModel(t, filepath.Join(root, name), "model.onnx", m)
	onnx.WriteTensor(filepath.Join(set, "input_0.pb"), "x", in)
	onnx.WriteTensor(filepath.Join(set, "output_0.pb"), "y", out)
}

func TestConformance(t *testing.T) {
	root := t.TempDir()
	x := tensor.Float32s([]int{1, 6}, logits[:6])
	y := tensor.Float32s([]int{1, 6}, []float32{1, 6, -2, 4, 0, 2})
	bad := tensor.Float32s([]int{1, 6}, []float32{1, 6, -2, 4, 0, 3})
	makeTest(t, root, "test_double", doubleModel("EdgedlTestDouble"), x, y)
	makeTest(t, filepath.Join(root, "nested"), "test_double_wrong", doubleModel("EdgedlTestDouble"), x, bad)
	makeTest(t, root, "test_missing_op", doubleModel("NoSuchOp"), x, y)

	stdout, stderr, code := runCLI(t, "conformance", root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "FAIL test_double_wrong: test_data_set_0 output 0 (y): 1 of 6 elements differ") ||
		lines[1] != "1 passed, 1 failed, 1 skipped" {
		t.Errorf("conformance output:\n%s", stdout)
	}
	stdout, _, _ = runCLI(t, "conformance", root, "--show-skipped", "--filter", "missing|wrong")
	if !strings.Contains(stdout, `skip test_missing_op: NoSuchOp "twice": unsupported: edgedl.clitest.NoSuchOp: operator not implemented`) ||
		!strings.HasSuffix(stdout, "\n0 passed, 1 failed, 1 skipped\n") {
		t.Errorf("--show-skipped --filter:\n%s", stdout)
	}
	list := filepath.Join(root, "passing.txt")
	stdout, _, code = runCLI(t, "conformance", root, "--json", "--list-passing", list)
	var rep struct {
		Passed, Failed, Skipped int
		Results                 []struct{ Name, Status, Reason string }
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 {
		t.Fatalf("%v exit %d:\n%s", err, code, stdout)
	}
	if rep.Passed != 1 || rep.Failed != 1 || rep.Skipped != 1 || len(rep.Results) != 3 {
		t.Errorf("JSON %+v", rep)
	}
	if b, _ := os.ReadFile(list); string(b) != "test_double\n" {
		t.Errorf("passing list %q", b)
	}
	_, stderr, code = runCLI(t, "conformance", root, "--fail-under", "2")
	wantError(t, code, stderr, 1, "1 passed, fewer than --fail-under 2")
	expect := filepath.Join(root, "expect.txt")
	writeFile(t, expect, []byte("# must pass\ntest_double\ntest_double_wrong  # regressed\n"))
	_, stderr, code = runCLI(t, "conformance", root, "--expect", expect)
	wantError(t, code, stderr, 1, "expect.txt: test_double_wrong expected to pass but did not")
	if _, stderr, code = runCLI(t, "conformance", root, "--expect", expect, "--filter", "^test_double$"); code != 0 {
		t.Errorf("--expect with a test filtered out: exit %d, %s", code, stderr)
	}
	_, stderr, code = runCLI(t, "conformance", root, "--filter", "(")
	wantError(t, code, stderr, 2, "--filter")
	_, stderr, code = runCLI(t, "conformance", filepath.Join(root, "absent"))
	wantError(t, code, stderr, 1, "absent", "no such file")
}
