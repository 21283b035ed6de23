package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgedl/edgedl/federated/flnet"
	"github.com/edgedl/edgedl/onnx"
)

// simLine is the part of a `fl simulate --json` line the tests read; raw
// keeps every field to check which are present.
type simLine struct {
	Round        int      `json:"round"`
	Accuracy     *float64 `json:"accuracy"`
	Loss         *float64 `json:"loss"`
	BytesUp      int64    `json:"bytes_up"`
	BytesDown    int64    `json:"bytes_down"`
	BytesUpTotal int64    `json:"bytes_up_total"`
	WallS        float64  `json:"wall_s"`
	Epsilon      *float64 `json:"epsilon"`
	raw          map[string]json.RawMessage
}

func parseLines(t *testing.T, stdout string, want int) []simLine {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != want {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), want, stdout)
	}
	out := make([]simLine, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &out[i]); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		if err := json.Unmarshal([]byte(l), &out[i].raw); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func simArgs(extra ...string) []string {
	return append([]string{"fl", "simulate", "--model", "mnist-2nn", "--dataset", "mnist", "--limit", "2000",
		"--test-limit", "500", "--clients", "8", "--fraction", "0.5", "--rounds", "3", "--local-epochs", "2",
		"--lr", "0.1", "--json"}, extra...)
}

// `fl simulate --json` prints one parseable line per round with the
// documented fields; compression shrinks the uplink bytes; DP reports ε;
// --plot writes a PNG.
func TestFLSimulateJSON(t *testing.T) {
	needMNIST(t)
	png := filepath.Join(t.TempDir(), "acc.png")
	stdout, stderr, code := runCLI(t, simArgs("--plot", png)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dense := parseLines(t, stdout, 3)
	for i, l := range dense {
		for _, k := range []string{"round", "accuracy", "loss", "bytes_up", "bytes_down", "wall_s", "epsilon"} {
			if _, ok := l.raw[k]; !ok {
				t.Errorf("line %d has no %q", i+1, k)
			}
		}
		if l.Round != i+1 || l.Accuracy == nil || l.Loss == nil || l.BytesUp <= 0 || l.BytesDown <= 0 || l.WallS <= 0 ||
			l.Epsilon != nil || string(l.raw["epsilon"]) != "null" {
			t.Errorf("line %d: %+v", i+1, l)
		}
	}
	if acc := *dense[2].Accuracy; acc < 0.75 {
		t.Errorf("accuracy %.3f after 3 rounds", acc)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("--plot: %v", err)
	}
	prev := dense[2].BytesUpTotal
	for _, c := range []string{"qsgd:8", "qsgd:4", "topk:0.01"} {
		stdout, stderr, code := runCLI(t, simArgs("--compress", c)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c, code, stderr)
		}
		got := parseLines(t, stdout, 3)[2]
		t.Logf("%-9s uplink %9d bytes, accuracy %.3f", c, got.BytesUpTotal, *got.Accuracy)
		if got.BytesUpTotal >= prev {
			t.Errorf("%s: %d uplink bytes, not fewer than the previous codec's %d", c, got.BytesUpTotal, prev)
		}
		prev = got.BytesUpTotal
	}
	stdout, stderr, code = runCLI(t, simArgs("--dp-noise", "1", "--dp-clip", "1", "--rounds", "2")...)
	if code != 0 {
		t.Fatalf("DP: exit %d: %s", code, stderr)
	}
	for _, l := range parseLines(t, stdout, 2) {
		if l.Epsilon == nil || !(*l.Epsilon > 0) {
			t.Errorf("DP round %d: epsilon %v", l.Round, l.raw["epsilon"])
		}
	}
}

func TestFLUsageErrors(t *testing.T) {
	_, stderr, code := runCLI(t, "fl", "bogus")
	wantError(t, code, stderr, 2, "edgedl fl:", "bogus")
	_, stderr, code = runCLI(t, "fl", "server", "--clients", "5", "--plot", "x.png")
	wantError(t, code, stderr, 2, "--clients", "fl simulate", "--plot")
	_, stderr, code = runCLI(t, "fl", "server", "--token", "x")
	wantError(t, code, stderr, 2, "--tls-cert")
	_, stderr, code = runCLI(t, "fl", "client", "--insecure")
	wantError(t, code, stderr, 2, "--token")
	needMNIST(t)
	_, stderr, code = runCLI(t, simArgs("--compress", "zip")...)
	wantError(t, code, stderr, 2, "zip")
	_, stderr, code = runCLI(t, simArgs("--algorithm", "krum", "--secagg")...)
	wantError(t, code, stderr, 2, "secure aggregation")
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// `fl server` and two `fl client`s on loopback with TLS and a token: the
// server prints a JSON line per round and writes the final model.
func TestFLServerClients(t *testing.T) {
	needMNIST(t)
	dir := t.TempDir()
	certs, err := flnet.GenerateCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	out, ckpt := filepath.Join(dir, "global.onnx"), filepath.Join(dir, "coord.ckpt")
	type result struct {
		stdout, stderr string
		code           int
	}
	var wg sync.WaitGroup
	res := make([]result, 3)
	start := func(i int, args ...string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o, e bytes.Buffer
			res[i].code = run(args, &o, &e)
			res[i].stdout, res[i].stderr = o.String(), e.String()
		}()
	}
	start(0, "fl", "server", "--listen", addr, "--model", "mnist-2nn", "--rounds", "2", "--fraction", "1",
		"--min-clients", "2", "--local-epochs", "2", "--lr", "0.1", "--tls-cert", certs.ServerCert, "--tls-key",
		certs.ServerKey, "--token", "s3cret", "--dataset", "mnist", "--test-limit", "500", "--checkpoint", ckpt,
		"--out", out, "--linger", "1", "--json")
	time.Sleep(200 * time.Millisecond)
	for k := range 2 {
		start(k+1, "fl", "client", "--server", addr, "--tls-ca", certs.CA, "--token", "s3cret", "--dataset", "mnist",
			"--limit", "2000", "--shard", []string{"0/2", "1/2"}[k], "--threads", "1", "--json")
	}
	wg.Wait()
	for i, r := range res {
		if r.code != 0 {
			t.Fatalf("process %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	rounds := parseLines(t, res[0].stdout, 2)
	if a := rounds[1].Accuracy; a == nil || *a < 0.75 {
		t.Errorf("server rounds %s", res[0].stdout)
	}
	for k := 1; k <= 2; k++ {
		var c clientJSON
		lines := strings.Split(strings.TrimSpace(res[k].stdout), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &c); err != nil || !c.Accepted || c.Samples != 1000 {
			t.Errorf("client %d: %s", k, res[k].stdout)
		}
	}
	if _, err := onnx.Load(out); err != nil {
		t.Errorf("final model: %v", err)
	}
	// A second run on the same checkpoint must be told to resume.
	_, stderr, code := runCLI(t, "fl", "server", "--listen", freePort(t), "--insecure", "--checkpoint", ckpt, "--rounds", "2", "--log-level", "error")
	wantError(t, code, stderr, 1, "--resume")
}
