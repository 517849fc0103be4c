#!/usr/bin/env bash
# Starts N local ranks of `pydmed embed` as torchrun would (RANK, WORLD_SIZE, LOCAL_RANK,
# MASTER_ADDR, MASTER_PORT), without torchrun (Debian 12's own torchrun cannot start workers):
#
#   scripts/embed_ranks.sh 2 SLIDES --model model.pt --out features/ [embed flags]
#
# The ranks share the slides through rank 0's store; a rank that dies loses its slide to the
# others after --lease seconds, so the others are left to finish. Each rank's stderr goes to
# embed_rank<R>.log in $EMBED_LOGS (default: a temporary folder); each rank's JSON line is
# printed. Exits with the highest rank status. Assumes a built tree (scripts/build.sh).
set -uo pipefail
n="${1:?usage: embed_ranks.sh N SOURCE --model M --out DIR [pydmed embed flags]}"
shift
case "$n" in '' | *[!0-9]* | 0) echo "embed_ranks.sh: N must be a positive number, not '$n'" >&2; exit 2 ;; esac
bin="${PYDMED_EMBED:-$(dirname "$0")/../build/tools/pydmed-embed}"
[ -x "$bin" ] || { echo "embed_ranks.sh: $bin is missing: run scripts/build.sh first" >&2; exit 2; }
logs="${EMBED_LOGS:-$(mktemp -d)}"
mkdir -p "$logs"
port="${MASTER_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))}"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; exit 130' INT TERM  # before any rank starts
for ((r = 0; r < n; r++)); do
  RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$bin" "$@" >"$logs/embed_rank$r.out" 2>"$logs/embed_rank$r.log" &
  pids+=($!)
done
status=0
for ((r = 0; r < n; r++)); do
  wait "${pids[$r]}"
  s=$?
  [ "$s" -gt "$status" ] && status=$s
  cat "$logs/embed_rank$r.out"
  [ "$s" -ne 0 ] && echo "embed_ranks.sh: rank $r exited $s: $(tail -n 1 "$logs/embed_rank$r.log")" >&2
done
exit "$status"
