package gemm

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
	for _, arch := range []string{"amd64", "arm64"} {
		out, err := exec.Command(gobin, "run", "./internal/asmgen", "-arch", arch).Output()
		if err != nil {
			t.Fatalf("asmgen -arch %s: %v", arch, err)
		}
		have, err := os.ReadFile("kernel_" + arch + ".s")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, have) {
			t.Errorf("kernel_%s.s is stale: run go generate in kernels/gemm", arch)
		}
	}
}
