package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/internal/testenv"
)

// The MNIST CNN of ../shared: its parameter count is known, and once Conv,
// MaxPool and Gemm are linked it runs and matches ONNX Runtime.
func TestSharedMNIST(t *testing.T) {
	dir := filepath.Join(testenv.Shared(t), "models", "mnist_cnn")
	model := filepath.Join(dir, "model.onnx")
	stdout, stderr, code := runCLI(t, "info", model, "--json")
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, stderr)
	}
	var info struct {
		Params     int64
		FLOPs      int64
		FLOPsError string `json:"flops_error"`
	}
	json.Unmarshal([]byte(stdout), &info)
	if info.Params != 1663370 {
		t.Errorf("params %d, want 1,663,370 (models/README.md)", info.Params)
	}
	if info.FLOPsError != "" {
		t.Skipf("operators missing: %s", info.FLOPsError)
	}
	// conv1 2*28*28*32*25, conv2 2*14*14*64*800, fc 2*3136*512 + 2*512*10,
	// pools 32*28*28 + 64*14*14; ReLUs fused or not: 32*28*28 + 64*14*14 + 512.
	const base = 1254400 + 20070400 + 3211264 + 10240 + 25088 + 12544
	if info.FLOPs != base && info.FLOPs != base+25088+12544+512 {
		t.Errorf("FLOPs %d, want %d (+38144 for ReLUs)", info.FLOPs, base)
	}
	set := filepath.Join(dir, "test_data_set_0")
	stdout, stderr, code = runCLI(t, "run", model, "--input", filepath.Join(set, "input_0.pb"),
		"--expect-dir", set, "--tolerance", "1e-4", "--threads", "1", "--output-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `output 0 "output": float32 [10,10]`) || !strings.Contains(stdout, "row 0 top-5: 7 (") {
		t.Errorf("run summary:\n%s", stdout)
	}
	stdout, stderr, code = runCLI(t, "profile", model, "--runs", "2", "--warmup", "0", "--threads", "1", "--json")
	var prof struct{ Nodes []struct{ Op string } }
	if err := json.Unmarshal([]byte(stdout), &prof); code != 0 || err != nil || len(prof.Nodes) < 5 {
		t.Errorf("profile: exit %d %s %v", code, stderr, err)
	}
}

// A filtered run of the ONNX node suite ends with the counting line.
func TestSharedNodeSuite(t *testing.T) {
	root := filepath.Join(testenv.Shared(t), "onnx-node-tests", "node")
	stdout, stderr, code := runCLI(t, "conformance", root, "--filter", "^test_(relu|abs|add)$", "--show-skipped")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`(?m)^(\d+) passed, (\d+) failed, (\d+) skipped\n\z`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no closing line:\n%s", stdout)
	}
	total := 0
	for _, s := range m[1:] {
		n, _ := strconv.Atoi(s)
		total += n
	}
	if total != 3 {
		t.Errorf("%d tests ran, want 3:\n%s", total, stdout)
	}
}
