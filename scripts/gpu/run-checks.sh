#!/usr/bin/env bash
# Runs on the GPU machine after build-on-device.sh: the LibTorch face's tests (the CUDA ones
# included), the GPU benchmark, then the whole suite, each within what is left of a deadline
# (PYDMED_DEADLINE, seconds since the epoch; default: 6 minutes from now). Logs and the
# benchmark's JSON go to $OUT (or ./gpu-out); a summary is printed last.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
B=${PYDMED_BUILD_DIR:-build-gpu}
DEADLINE=${PYDMED_DEADLINE:-$(( $(date +%s) + 360 ))}
left() { echo $(( DEADLINE - $(date +%s) )); }
# The bundle's library path and the hints a nested configure needs (written by build-on-device.sh).
source "${PYDMED_DEB_PREFIX:-/opt/deb}/env.sh"
summary=()

nvidia-smi --query-gpu=name,memory.total,driver_version,pcie.link.gen.current,pcie.link.width.current --format=csv \
  2>&1 | tee "$OUT/gpu.txt"

# 1. The LibTorch face's tests, the CUDA ones included.
t=$(( $(left) < 120 ? $(left) : 120 ))
timeout "$t" "$B/tests/pydmed_torch_tests" >"$OUT/torch_tests.log" 2>&1
rc=$?
grep -E "^\[  (FAILED|SKIPPED) |Failure|error:" "$OUT/torch_tests.log" | head -30
summary+=("torch tests: rc=$rc, $(grep -E '^\[  PASSED' "$OUT/torch_tests.log" | head -1), $(grep -cE '^\[  FAILED  \] [A-Za-z]' "$OUT/torch_tests.log") failed")

# 2. The GPU benchmark (and pydmed_torch's CPU figures, on this machine).
t=$(( $(left) < 200 ? $(left) : 200 ))
timeout "$t" "$B/benchmarks/pydmed_bench" --systems pydmed_torch --seconds 5 --max-per-bigchunk 256 --batch 64 \
  --gpu-windows 5 --gpu-steps 30 >"$OUT/bench.json" 2>"$OUT/bench.err"
summary+=("bench: rc=$?")
tail -5 "$OUT/bench.err"
cat "$OUT/bench.json"

# 3. The whole suite (what CI runs), here against CUDA LibTorch, in what time is left.
t=$(left)
if [ "$t" -gt 30 ]; then
  timeout "$t" ctest --test-dir "$B" -j8 --timeout 200 >"$OUT/ctest.log" 2>&1
  grep -E "tests passed|\(Failed\)|\(Timeout\)|\(SEGFAULT\)|Not Run" "$OUT/ctest.log" | head -20
  summary+=("ctest: $(grep -E 'tests passed' "$OUT/ctest.log" || echo 'did not finish')")
else
  summary+=("ctest: no time left")
fi

printf '%s\n' "----- summary -----" "${summary[@]}"
