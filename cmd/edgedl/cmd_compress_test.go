package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/compress/codebook"
	"github.com/edgedl/edgedl/compress/prune"
	"github.com/edgedl/edgedl/datasets/mnist"
	"github.com/edgedl/edgedl/internal/testenv"
	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/train/arch"
)

func TestCompressUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"compress", "m.onnx", "--prune", "1.5", "--out", "o.onnx"},
		{"compress", "m.onnx", "--prune-channels", "-0.1", "--out", "o.onnx"},
		{"compress", "m.onnx", "--share-weights", "9", "--out", "o.edldc"},
		{"compress", "m.onnx", "--prune", "0.5", "--finetune-epochs", "-1", "--out", "o.onnx"},
		{"compress", "m.onnx", "--prune", "0.5", "--prune-steps", "0", "--out", "o.onnx"},
		{"compress", "m.onnx", "--prune", "0.5", "--lr", "0", "--out", "o.onnx"},
		{"compress", "m.onnx", "--share-weights", "5", "--quantize", "int8", "--out", "o.onnx"},
		{"compress", "m.onnx", "--out", "o.onnx"},
		{"compress", "m.onnx", "--prune", "0.5"},
		{"compress", "m.onnx", "--qat", "--finetune-epochs", "1", "--out", "o.onnx"},
		{"compress", "m.onnx", "--quantize", "int8", "--qat", "--out", "o.onnx"},
		{"compress", "mnist-2nn", "--distill-from", "t.onnx", "--out", "o.onnx"},
		{"compress", "mnist-2nn", "--distill-from", "t.onnx", "--finetune-epochs", "1", "--alpha", "1.5", "--out", "o.onnx"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

// The Deep Compression pipeline end to end on a small budget: LeNet-300-100
// with random weights, fine-tuned on 600 MNIST images.
func TestCompressDeepCompressionCLI(t *testing.T) {
	if _, err := mnist.Dir(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "lenet300.onnx")
	if err := onnx.Save(base, arch.LeNet300100(1)); err != nil {
		t.Fatal(err)
	}
	out, png := filepath.Join(dir, "l.edldc"), filepath.Join(dir, "p.png")
	var stdout, stderr bytes.Buffer
	code := run([]string{"compress", base, "--deep-compression", "--finetune-epochs", "1", "--train-limit", "600",
		"--runs", "3", "--threads", "1", "--plot", png, "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	for _, want := range []string{"prune 3/3 92.0%", "share 5-bit", "float32 weights and biases", "(container)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	m, err := codebook.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if s := prune.Total(prune.Sparsity(m)).Sparsity(); s < 0.919 || s > 0.921 {
		t.Errorf("decoded model is %.4f sparse, want 0.92", s)
	}
	st, err := os.Stat(out)
	if err != nil || st.Size()*20 > 266_610*4 {
		t.Errorf("container %v bytes (%v): want at least 20x below the float weights", st.Size(), err)
	}
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("plot: %v, %d bytes", err, len(b))
	}
}

// Distillation through the CLI: an untrained mnist-2nn student learns from
// the shared MNIST CNN on 600 images and must end far above chance.
func TestCompressDistillCLI(t *testing.T) {
	teacher := filepath.Join(testenv.Shared(t), "models", "mnist_cnn", "model.onnx")
	if _, err := mnist.Dir(); err != nil {
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "student.onnx")
	var stdout, stderr bytes.Buffer
	code := run([]string{"compress", "mnist-2nn", "--distill-from", teacher, "--finetune-epochs", "2",
		"--train-limit", "600", "--batch", "16", "--lr", "0.01", "--runs", "3", "--threads", "1", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	m := regexp.MustCompile(`distilled \+2 ep +\S+ \S+ +accuracy ([0-9.]+)%`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no distilled accuracy in output:\n%s", stdout.String())
	}
	if acc, _ := strconv.ParseFloat(m[1], 64); acc < 60 {
		t.Errorf("distilled student: %.2f%% on MNIST test after 2 epochs on 600 images; want > 60%%", acc)
	}
	if _, err := onnx.Load(out); err != nil {
		t.Errorf("student file: %v", err)
	}
}
