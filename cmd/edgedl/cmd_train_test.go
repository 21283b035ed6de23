package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/onnx"
	"github.com/edgedl/edgedl/runtime"
	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/train/data"
)

// needMNIST skips a test when the MNIST files are not available.
func needMNIST(t *testing.T) {
	t.Helper()
	if _, err := data.MNISTDir(); err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
}

// `edgedl train` on a 2,000-image subset: one JSON line per epoch, a
// checkpoint to resume from, and an exported model that runs.
func TestTrainMNIST2NN(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	out, ckpt := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "m.ckpt")
	args := []string{"train", "mnist-2nn", "--dataset", "mnist", "--limit", "2000", "--test-limit", "1000",
		"--epochs", "2", "--batch", "32", "--lr", "0.1", "--out", out, "--checkpoint", ckpt, "--json", "--threads", "2"}
	stdout, stderr, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per epoch:\n%s", len(lines), stdout)
	}
	var ep epochJSON
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &ep); err != nil || ep.Epoch != i+1 || ep.Epochs != 2 || ep.SamplesPerSec <= 0 {
			t.Fatalf("line %q: %+v %v", l, ep, err)
		}
	}
	if ep.TestAccuracy < 0.8 {
		t.Errorf("test accuracy %.3f after 2 epochs", ep.TestAccuracy)
	}

	// Resume for a third epoch: only epoch 3 runs.
	args[9] = "3" // --epochs
	stdout, stderr, code = runCLI(t, append(args, "--resume")...)
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &ep); err != nil || ep.Epoch != 3 || ep.Step <= 2*63 {
		t.Fatalf("resumed output %q: %+v %v", stdout, ep, err)
	}

	// The export takes [batch,1,28,28] pixels and returns 10 logits.
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Metadata["edgedl.train.dataset"] != "mnist" {
		t.Errorf("metadata %v", m.Metadata)
	}
	s, err := runtime.Compile(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outs, err := s.RunOrdered([]*tensor.Tensor{tensor.Float32s([]int{2, 1, 28, 28}, make([]float32, 2*784))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := outs[0].Shape; len(got) != 2 || got[0] != 2 || got[1] != 10 {
		t.Errorf("logits shape %v, want [2 10]", got)
	}
}

func TestTrainErrors(t *testing.T) {
	needMNIST(t)
	out := filepath.Join(t.TempDir(), "m.onnx")
	_, stderr, code := runCLI(t, "train", "resnet-9000", "--dataset", "mnist", "--limit", "100", "--out", out)
	wantError(t, code, stderr, 2, "edgedl train:", "resnet-9000", "mnist-2nn")
	_, stderr, code = runCLI(t, "train", "mnist-2nn", "--dataset", "mnist")
	wantError(t, code, stderr, 2, "--out")
	_, stderr, code = runCLI(t, "train", "mnist-2nn", "--dataset", "mnist", "--out", out, "--optimizer", "lbfgs")
	wantError(t, code, stderr, 2, "lbfgs")
	_, stderr, code = runCLI(t, "train", "mnist-2nn", "--dataset", "no-such-set", "--out", out)
	wantError(t, code, stderr, 1, "no-such-set")
}
