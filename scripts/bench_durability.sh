#!/usr/bin/env bash
# Ingest throughput with the write-ahead log off, on with fsync per group, and
# on without fsync, alternated in one run (RUNS rounds), plus recovery time.
# Prints BENCH lines and the medians. Usage:
#   RUNS=3 EVENTS=2000000 scripts/bench_durability.sh
# Environment: RUNS (3), EVENTS (2000000), USERS (1000000), ITEMS (100000),
# RECOVERY_EVENTS (10000000; 0 skips the recovery run), RTREC_BIN, DATA_ROOT.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${RTREC_BIN:-build/apps/rtrec}"
runs="${RUNS:-3}"
events="${EVENTS:-2000000}"
users="${USERS:-1000000}"
items="${ITEMS:-100000}"
root="${DATA_ROOT:-$(mktemp -d /tmp/rtrec-bench-XXXXXX)}"
trap 'rm -rf "$root"' EXIT
[ -x "$bin" ] || scripts/setup.sh

rate() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ingest_events_per_sec"]))'; }
declare -A all
for r in $(seq 1 "$runs"); do  # RUNS=0: only the recovery run
  for mode in off fsync none; do
    rm -rf "$root/d"
    args=(bench --json --events "$events" --users "$users" --items "$items" --log-level warn)
    if [ "$mode" != off ]; then args+=(--data-dir "$root/d" --sync "$mode" --snapshot-interval 0); fi
    v=$("$bin" "${args[@]}" | rate)
    echo "BENCH round=$r log=$mode ingest_events_per_sec=$v"
    all[$mode]="${all[$mode]:-} $v"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
if [ "$runs" -gt 0 ]; then
off=$(echo "${all[off]}" | median); fs=$(echo "${all[fsync]}" | median); no=$(echo "${all[none]}" | median)
echo "MEDIAN log=off $off  log=fsync $fs ($(python3 -c "print(f'{$fs/$off:.2f}')")x)  log=none $no ($(python3 -c "print(f'{$no/$off:.2f}')")x)"
fi

rec="${RECOVERY_EVENTS:-10000000}"
if [ "$rec" -gt 0 ]; then
  rm -rf "$root/d"
  "$bin" bench --json --events "$rec" --users "$users" --items "$items" --log-level warn \
    --data-dir "$root/d" --snapshot-interval 20 --measure-recovery |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("RECOVERY", json.dumps(d["durability"]))'
fi
