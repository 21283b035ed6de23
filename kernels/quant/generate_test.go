package quant

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestGeneratedUpToDate checks that the committed assembly is what
// internal/asmgen prints (run `go generate` after changing it).
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out, err := exec.Command(gobin, "run", "./internal/asmgen").Output()
	if err != nil {
		t.Fatalf("asmgen: %v", err)
	}
	have, err := os.ReadFile("vnni_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, have) {
		t.Error("vnni_amd64.s is stale: run go generate in kernels/quant")
	}
}
