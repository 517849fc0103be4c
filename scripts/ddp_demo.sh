#!/usr/bin/env bash
# Starts N local ranks of build/examples/ddp_train as torchrun would (RANK, WORLD_SIZE,
# LOCAL_RANK, MASTER_ADDR, MASTER_PORT), without torchrun:
#
#   scripts/ddp_demo.sh 2 --steps 200       (sample slides in sample_slides/; --slides DIR for yours)
#
# Each rank's stderr goes to ddp_rank<R>.log in $DDP_LOGS (default: a temporary folder); its
# last stdout line (a JSON summary) is printed. If any rank fails, the others are stopped and
# the script exits non-zero, naming the rank. Assumes a built tree (scripts/build.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
n="${1:?usage: ddp_demo.sh N [ddp_train flags]}"
shift
case "$n" in '' | *[!0-9]* | 0) echo "ddp_demo.sh: N must be a positive number, not '$n'" >&2; exit 2 ;; esac
bin="${DDP_TRAIN:-./build/examples/ddp_train}"
[ -x "$bin" ] || { echo "ddp_demo.sh: $bin is missing: run scripts/build.sh first" >&2; exit 2; }
logs="${DDP_LOGS:-$(mktemp -d)}"
mkdir -p "$logs"
# A free port from the kernel (bind to 0), unless the caller chose one.
port="${MASTER_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))}"
pids=()
for ((r = 0; r < n; r++)); do
  RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$bin" "$@" >"$logs/ddp_rank$r.out" 2>"$logs/ddp_rank$r.log" &
  pids+=($!)
done
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT  # whatever ends this script, no rank outlives it
status=0
live=("${pids[@]}")
# Reap ranks as they end; the first failure stops the rest. `wait -n` only says that one ended
# (it may name none, when several end at once); each rank's own status comes from `wait PID`,
# which bash keeps for a reaped job. Which ranks still run: bash's own job table (`jobs -pr`),
# not kill -0, which a reused pid would answer.
while [ "${#live[@]}" -gt 0 ]; do
  wait -n "${live[@]}" 2>/dev/null
  running=" $(jobs -pr | tr '\n' ' ') "
  rest=()
  for ((r = 0; r < n; r++)); do
    p="${pids[$r]}"
    case " ${live[*]} " in *" $p "*) ;; *) continue ;; esac
    case "$running" in *" $p "*)
      rest+=("$p")
      continue
      ;;
    esac
    wait "$p" 2>/dev/null
    rc=$?
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
      echo "ddp_demo.sh: rank $r exited with status $rc: $(tail -n 1 "$logs/ddp_rank$r.log")" >&2
      status=1
      stop_all
    fi
  done
  live=(${rest[@]+"${rest[@]}"})
done
for ((r = 0; r < n; r++)); do tail -n 1 "$logs/ddp_rank$r.out"; done
echo "logs: $logs" >&2
exit "$status"
