#!/usr/bin/env bash
# Installs ONNX Runtime's CPU library (from the npm package onnxruntime-node,
# which ships it; --ignore-scripts: nothing is downloaded at install) into
# .cache/ort, for `go test -tags ort` and the ORT comparison benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache/ort
if [ ! -f .cache/ort/node_modules/onnxruntime-node/package.json ]; then
  (cd .cache/ort && npm install --silent --no-audit --no-fund --ignore-scripts onnxruntime-node@1.30.0)
fi
find .cache/ort/node_modules/onnxruntime-node/bin -name 'libonnxruntime.so.1' -path '*linux*'
