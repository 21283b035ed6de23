#!/usr/bin/env bash
# edgedl's full test suite, as CI runs it (.ci/run calls this script).
# Needs Go and the Go module proxy; tests that use ../shared skip without it
# (and fail under CI=true, where it must be present).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test (assembly kernels where the CPU has them)"
go test -count=1 -timeout 60m ./...

echo "== go test -tags noasm (portable Go kernels)"
go test -count=1 -short -timeout 30m -tags noasm ./kernels/... ./runtime/...

echo "== fuzz smoke tests (fixed execution counts)"
bash scripts/fuzz-smoke.sh

echo "== ONNX Runtime comparisons (cgo, build tag ort)"
if command -v npm >/dev/null 2>&1; then
  bash scripts/setup-ort.sh >/dev/null
  go test -count=1 -tags ort ./bench/...
elif [ "${CI:-}" = "true" ]; then
  echo "npm is needed for the ONNX Runtime comparison tests" >&2; exit 1
else
  echo "skipped: npm not found (it installs onnxruntime-node, which ships libonnxruntime)"
fi

echo "== cross-compile (static, arm64)"
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o /dev/null ./cmd/edgedl
CGO_ENABLED=0 go build -o /dev/null ./cmd/edgedl

echo "all test stages passed"
