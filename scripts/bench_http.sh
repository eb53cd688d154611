#!/usr/bin/env bash
# HTTP benchmarks of `rtrec serve` on loopback with wrk (Debian's package):
#   1. POST /api/feedback, batches of 100 events, closed loop: events/s.
#      Each run sends WRK_BODIES (default 4096) distinct bodies in a cycle:
#      three runs leave about 1.2M distinct (user, item) pairs, about 12
#      per user, so a recommend scores realistic profiles (with 512 bodies,
#      as before 2026-11-27, users had 1-2 items and queries were ~10x
#      cheaper).
#   2. GET /api/recommend/{user}?n=10, closed loop, while a paced wrk
#      connection ingests 10,000-12,000 events/s (batches of 100, 6 ms
#      apart): requests/s and latency.
# Each phase runs RUNS times (default 3) against one server; the lines
# starting with BENCH are the results (docs/benchmarks.md quotes medians).
# Usage: scripts/bench_http.sh [extra rtrec serve flags...]
# Environment: RUNS, DURATION (s, default 15), WRK_BODIES, CONNS (recommend connections,
# default 32), FEED_CONNS (feedback connections, default 8), RTREC_BIN (the
# rtrec binary, default build/apps/rtrec: compare two builds in one session).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || {
  [ "$(id -u)" -eq 0 ] && apt-get install -y -qq wrk || sudo apt-get install -y -qq wrk
}
[ -x build/apps/rtrec ] || scripts/setup.sh
export WRK_BODIES="${WRK_BODIES:-4096}"
runs="${RUNS:-3}"
duration="${DURATION:-15}"
conns="${CONNS:-32}"
feed_conns="${FEED_CONNS:-8}"
dir=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$dir"' EXIT
# A fresh data directory per run (durability on, as by default): a reused
# one would carry state over from earlier benchmarks.
"${RTREC_BIN:-build/apps/rtrec}" serve --port 0 --port-file "$dir/port" --log-level warn \
  --data-dir "$dir/data" "$@" &
server=$!
for _ in $(seq 1 600); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
url="http://127.0.0.1:$port"
echo "server pid $server on $url; $(nproc) cores"

for r in $(seq 1 "$runs"); do
  WRK_SEED=$r wrk -t1 -c"$feed_conns" -d"${duration}s" -s scripts/bench/feedback.lua "$url" \
    | grep BENCH
done
for r in $(seq 1 "$runs"); do
  WRK_SEED=$((100 + r)) WRK_DELAY_MS=${BG_DELAY_MS:-6} wrk -t1 -c1 -d"$((duration + 2))s" \
    -s scripts/bench/feedback.lua "$url" > "$dir/background.txt" &
  bg=$!
  WRK_SEED=$r wrk -t1 -c"$conns" -d"${duration}s" -s scripts/bench/recommend.lua "$url" \
    | grep BENCH
  wait $bg
  sed 's/BENCH feedback/BENCH background-feedback/' "$dir/background.txt" | grep BENCH
done
curl -s "$url/metrics" | grep -E '^rtrec_(shard_users|item_shard_items|events_accepted_total)' || true
