#!/usr/bin/env bash
# Fuzz smoke tests: every parser that reads untrusted bytes, for a fixed
# number of executions each.
#
# Budgets are execution counts (-fuzztime Nx), not durations: with a
# duration, Go 1.26's fuzz coordinator can report a spurious "context
# deadline exceeded" failure when the deadline fires while a worker is
# mid-execution on a loaded machine (golang/go#75804, fixed in Go 1.27).
# A count has no deadline to race. Counts are sized to about 15 s each on
# a 2-core Zen 4; FUZZSCALE multiplies them (e.g. FUZZSCALE=10 for a
# longer local run).
#
# A failure counts only when it is reproducible: Go writes the failing
# input to testdata/fuzz/<Target>/, and this script then fails. A bare
# coordinator error with no input written is re-checked by replaying the
# whole corpus; if that passes, it is reported as a flake and not failed.
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${FUZZSCALE:-1}
status=0

fuzz() { # target package executions
  local target=$1 pkg=$2 n=$(( $3 * SCALE ))
  local corpus="$pkg/testdata/fuzz/$target"
  local before=0 after=0 out
  [ -d "$corpus" ] && before=$(find "$corpus" -type f | wc -l)
  echo "-- $target ($pkg, ${n} execs)"
  if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "${n}x" "$pkg" 2>&1); then
    echo "$out" | tail -n 2
    return
  fi
  echo "$out" | tail -n 30
  [ -d "$corpus" ] && after=$(find "$corpus" -type f | wc -l)
  if [ "$after" -gt "$before" ]; then
    echo "FAIL: $target wrote a failing input under $corpus" >&2
    status=1
  elif go test -count=1 -run "^${target}\$" "$pkg" >/dev/null 2>&1; then
    echo "flake: $target failed with no failing input, and its corpus replays clean (go fuzz coordinator)" >&2
  else
    echo "FAIL: $target corpus replay fails" >&2
    status=1
  fi
}

fuzz FuzzDecodeModel  ./onnx             400000
fuzz FuzzDecodeTensor ./onnx             200000
fuzz FuzzDecode       ./federated/codec  800000
fuzz FuzzReadNPY      ./tensorio         800000
fuzz FuzzDecode       ./transport/codec  150000
fuzz FuzzDecodeInputs ./transport        120000
fuzz FuzzHTTPInfer    ./transport        60000

exit $status
