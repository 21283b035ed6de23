// Package testenv locates the read-only ../shared folder for tests: a user's
// fresh clone skips the tests that need it, CI (CI=true) fails them.
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Shared returns the absolute path of ../shared (relative to the module
// root), skipping t when it is absent, or failing it under CI=true.
func Shared(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(root, "..", "shared")
	if env := os.Getenv("EDGEDL_SHARED"); env != "" {
		dir = env
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testenv: %s is missing; CI must provide ../shared", dir)
		}
		t.Skipf("testenv: %s not found (a fresh clone has no ../shared); skipping", dir)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}
