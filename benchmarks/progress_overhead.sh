#!/usr/bin/env bash
# What progress costs (issue 28): `pydmed sliding-window` over the same slides with --quiet,
# with the plain lines (stderr to a file), with --progress-json, and under a pseudo-terminal
# (the live line), alternated, medians of ROUNDS runs each. Prints one JSON object: seconds per
# mode and each mode's time over --quiet's.
#   benchmarks/progress_overhead.sh [PYDMED] [ROUNDS]   (PYDMED: build/tools/pydmed)
set -euo pipefail
PYDMED=$(realpath "${1:-build/tools/pydmed}")
ROUNDS=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYDMED" make-sample-slides "$work/s" --count 4 --size 8192 --quiet >/dev/null
run() {  # seconds of one run in mode $1
  local args=("$PYDMED" sliding-window "$work/s" --kernel 64 --stride 64 --out "$work/w.tsv")
  local t0 t1
  t0=$(date +%s.%N)
  case "$1" in
    quiet) "${args[@]}" --quiet 2>"$work/err" ;;
    lines) "${args[@]}" 2>"$work/err" ;;
    json) "${args[@]}" --progress-json "$work/p.json" 2>"$work/err" ;;
    terminal) script -qfec "${args[*]}" /dev/null >"$work/err" ;;
  esac
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
declare -A times
for ((r = 0; r < ROUNDS; ++r)); do
  for mode in quiet lines json terminal; do times[$mode]+="$(run $mode) "; done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
q=$(median "${times[quiet]}")
printf '{"windows": %s, "rounds": %d, "seconds": {' "$(($(wc -l <"$work/w.tsv") - 1))" "$ROUNDS"
sep=""
for mode in quiet lines json terminal; do printf '%s"%s": %.3f' "$sep" "$mode" "$(median "${times[$mode]}")"; sep=", "; done
printf '}, "over_quiet": {'
sep=""
for mode in lines json terminal; do printf '%s"%s": %.3f' "$sep" "$mode" "$(awk -v a="$(median "${times[$mode]}")" -v b="$q" 'BEGIN { print a / b }')"; sep=", "; done
printf '}}\n'
