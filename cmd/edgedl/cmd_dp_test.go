package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/federated/dp"
)

// `edgedl train --dp-clip --dp-noise` runs DP-SGD with Poisson lots and
// reports after each epoch the ε the RDP accountant gives for the steps
// taken so far (q = B/N, round(N/B) steps an epoch); --dp-epsilon picks
// the noise that ends the run at (just under) that ε.
func TestTrainDPSGD(t *testing.T) {
	needMNIST(t)
	out := filepath.Join(t.TempDir(), "dp.onnx")
	base := []string{"train", "mnist-2nn", "--dataset", "mnist", "--limit", "1000", "--test-limit", "200",
		"--epochs", "2", "--batch", "100", "--lr", "0.5", "--dp-clip", "1", "--out", out, "--json", "--threads", "2"}
	stdout, stderr, code := runCLI(t, append(base, "--dp-noise", "1.1")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), stdout)
	}
	prev := 0.0
	for i, l := range lines {
		var ep epochJSON
		if err := json.Unmarshal([]byte(l), &ep); err != nil || ep.Epsilon == nil {
			t.Fatalf("line %q: %v", l, err)
		}
		want, err := dp.EpsilonAfter(0.1, 1.1, 10*(i+1), 1e-5, dp.ConversionImproved)
		if err != nil {
			t.Fatal(err)
		}
		if ep.Step != int64(10*(i+1)) || math.Abs(*ep.Epsilon-want) > 1e-9 || *ep.Epsilon <= prev {
			t.Errorf("epoch %d: step %d, ε %v, want step %d and ε %v", i+1, ep.Step, *ep.Epsilon, 10*(i+1), want)
		}
		prev = *ep.Epsilon
	}
	// Mironov's conversion reports a larger ε for the same run.
	stdout, stderr, code = runCLI(t, append(base, "--dp-noise", "1.1", "--dp-conversion", "classic", "--epochs", "1")...)
	if code != 0 {
		t.Fatalf("classic: exit %d: %s", code, stderr)
	}
	var ep epochJSON
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &ep); err != nil || ep.Epsilon == nil {
		t.Fatalf("classic output %q: %v", stdout, err)
	}
	improved, _ := dp.EpsilonAfter(0.1, 1.1, 10, 1e-5, dp.ConversionImproved)
	classic, _ := dp.EpsilonAfter(0.1, 1.1, 10, 1e-5, dp.ConversionClassic)
	if math.Abs(*ep.Epsilon-classic) > 1e-9 || !(classic > improved) {
		t.Errorf("classic conversion: ε %v, want %v (improved: %v)", *ep.Epsilon, classic, improved)
	}
	stdout, stderr, code = runCLI(t, append(base, "--dp-epsilon", "3")...)
	if code != 0 {
		t.Fatalf("--dp-epsilon: exit %d: %s", code, stderr)
	}
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	var last epochJSON
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Epsilon == nil {
		t.Fatalf("--dp-epsilon output %q: %v", stdout, err)
	}
	if e := *last.Epsilon; e > 3 || e < 2.95 {
		t.Errorf("--dp-epsilon 3 ended at ε = %v", e)
	}
	// Without DP there is no ε.
	stdout, _, code = runCLI(t, "train", "mnist-2nn", "--dataset", "mnist", "--limit", "200", "--test-limit", "50",
		"--epochs", "1", "--out", out, "--json")
	if code != 0 || !strings.Contains(stdout, `"epsilon":null`) {
		t.Errorf("non-private run: exit %d, %s", code, stdout)
	}
}

func TestTrainDPErrors(t *testing.T) {
	needMNIST(t)
	out := filepath.Join(t.TempDir(), "m.onnx")
	base := []string{"train", "mnist-2nn", "--dataset", "mnist", "--limit", "100", "--out", out}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dp-noise", "1"}, "--dp-clip"},
		{[]string{"--dp-clip", "1"}, "--dp-noise"},
		{[]string{"--dp-clip", "1", "--dp-noise", "1", "--dp-epsilon", "2"}, "not both"},
		{[]string{"--dp-clip", "-1", "--dp-noise", "1"}, "negative"},
		{[]string{"--dp-clip", "1", "--dp-noise", "1", "--dp-delta", "2"}, "--dp-delta"},
		{[]string{"--dp-clip", "1", "--dp-noise", "1", "--dp-sampling", "bogus"}, "bogus"},
		{[]string{"--dp-clip", "1", "--dp-noise", "1", "--dp-conversion", "moments"}, "moments"},
		{[]string{"--dp-clip", "1", "--dp-noise", "1", "--batch", "500"}, "larger than"},
	} {
		_, stderr, code := runCLI(t, append(base, c.args...)...)
		wantError(t, code, stderr, 2, c.want)
	}
}

// Straggler and stop flags: bad values are usage errors; --stop-at ends
// the run at the first evaluation that reaches the accuracy.
func TestFLSimulateSlowAndStop(t *testing.T) {
	needMNIST(t)
	for _, bad := range [][]string{{"--slow-fraction", "1.5"}, {"--slow-factor", "0.5"}, {"--stop-at", "2"}} {
		_, stderr, code := runCLI(t, simArgs(bad...)...)
		wantError(t, code, stderr, 2, bad[0])
	}
	stdout, stderr, code := runCLI(t, simArgs("--rounds", "20", "--stop-at", "0.5", "--slow-fraction", "0.25")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var last simLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Accuracy == nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if len(lines) >= 20 || *last.Accuracy < 0.5 {
		t.Errorf("--stop-at 0.5: %d rounds, last accuracy %v", len(lines), *last.Accuracy)
	}
	for _, l := range lines[:len(lines)-1] {
		var r simLine
		if json.Unmarshal([]byte(l), &r) == nil && r.Accuracy != nil && *r.Accuracy >= 0.5 {
			t.Errorf("round %d reached %.3f but the run went on", r.Round, *r.Accuracy)
		}
	}
}

// A DP run resumed with other DP settings (or none) is refused: the
// privacy spent before the checkpoint would be accounted wrongly. With the
// same settings it continues.
func TestTrainDPResumeChecksSettings(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	ckpt, out := filepath.Join(dir, "dp.ckpt"), filepath.Join(dir, "dp.onnx")
	base := []string{"train", "mnist-2nn", "--dataset", "mnist", "--limit", "500", "--test-limit", "100",
		"--batch", "100", "--lr", "0.5", "--dp-clip", "1", "--out", out, "--json", "--threads", "1", "--checkpoint", ckpt}
	if _, stderr, code := runCLI(t, append(base, "--epochs", "1", "--dp-noise", "1.1")...); code != 0 {
		t.Fatalf("first epoch: exit %d: %s", code, stderr)
	}
	_, stderr, code := runCLI(t, append(base, "--epochs", "2", "--dp-noise", "0.5", "--resume")...)
	if code == 0 || !strings.Contains(stderr, "same DP flags") {
		t.Errorf("resume with another noise multiplier: exit %d: %s", code, stderr)
	}
	stdout, stderr, code := runCLI(t, append(base, "--epochs", "2", "--dp-noise", "1.1", "--resume")...)
	if code != 0 || !strings.Contains(stdout, `"epoch":2`) {
		t.Errorf("resume with the same settings: exit %d: %s\n%s", code, stderr, stdout)
	}
}
