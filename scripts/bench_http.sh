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
#      apart): requests/s and latency. Each such run follows a run of the
#      same recommends with no ingest (BENCH recommend-quiet, same users)
#      and a run of the paced ingest alone (BENCH paced-feedback), so that
#      what the background ingest costs the recommends (`interference` in
#      the MEDIAN recommend line) is measured in the same sitting.
# Each phase runs RUNS times (default 3) against one server; the lines
# starting with BENCH are the results (docs/benchmarks.md quotes medians),
# the MEDIAN lines at the end their medians per phase (the lower middle
# value when RUNS is even).
#
# Besides wrk's fields (requests, events, requests_per_s or events_per_s,
# latency percentiles), each BENCH feedback and BENCH recommend line carries
# the server's CPU time (utime + stime of the whole process, all threads,
# from /proc/<pid>/stat) read right before and right after its wrk run:
#   server_cpu_s      CPU seconds the server used during the run
#   wall_s            wall seconds between the two reads: duration_s plus
#                     wrk's start-up (feedback: about 0.6 s building its
#                     bodies, while the server idles) and exit
#   server_cores      server_cpu_s / duration_s: cores the server kept busy
#                     while wrk loaded it (wrk runs on the same cores)
#   feedback only:
#   cpu_us_per_event  server CPU µs per event (events = requests x 100)
#   recommend only (a paced ingest runs meanwhile, see 2. above):
#   bg_events         events the server accepted during the run (all from the
#                     background ingest; rtrec_events_accepted_total, /metrics)
#   cpu_us_per_request       raw: all server CPU / recommend requests
#   cpu_us_per_request_net   the same with the ingest's estimated share taken
#                     off: (CPU - bg_events x ingest_cpu_us_per_event) /
#                     requests, where ingest_cpu_us_per_event is the
#                     feedback phase's CPU per event over all its runs. An
#                     estimate: the flat-out phase batches and groups its
#                     work better than a paced batch every 6 ms does, so the
#                     ingest's real share is likely larger and the net
#                     figure an upper bound.
#   bg_client_cores   cores the background ingest's wrk client used from its
#                     start to the end of the run (on the same cores, so
#                     taken from the server and the recommend client)
#   paced_cpu_us_per_event   the server CPU per event of the same paced
#                     ingest alone (BENCH paced-feedback, run between the
#                     quiet and the loaded recommend runs): a batch every
#                     6 ms costs more per event than the flat-out phase
#   cpu_us_per_request_net_paced   the loaded run's CPU less bg_events x
#                     paced_cpu_us_per_event, per request
#   interference      cpu_us_per_request_net_paced / the quiet run's
#                     cpu_us_per_request: above 1, the recommends themselves
#                     cost more while the ingest runs
# The clock tick (getconf CLK_TCK, usually 100/s) bounds the resolution to
# 10 ms of CPU per read.
# Usage: scripts/bench_http.sh [extra rtrec serve flags...]
# Environment: RUNS, DURATION (s, default 15), WRK_BODIES, CONNS (recommend connections,
# default 32), FEED_CONNS (feedback connections, default 8), RTREC_BIN (the
# rtrec binary, default build/apps/rtrec: compare two builds in one session).
set -euo pipefail
cd "$(dirname "$0")/.."
install_missing() {  # install_missing COMMAND PACKAGE
  command -v "$1" >/dev/null && return
  local sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$2" || {
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$2"
  }
}
install_missing wrk wrk
install_missing curl curl
bin="${RTREC_BIN:-build/apps/rtrec}"
if [ -z "${RTREC_BIN:-}" ] && [ ! -x "$bin" ]; then scripts/setup.sh; fi
[ -x "$bin" ] || { echo "bench_http.sh: $bin is not an executable" >&2; exit 2; }
export WRK_BODIES="${WRK_BODIES:-4096}"
runs="${RUNS:-3}"
duration="${DURATION:-15}"
conns="${CONNS:-32}"
feed_conns="${FEED_CONNS:-8}"
tck=$(getconf CLK_TCK)
dir=$(mktemp -d)
server=""
bg=""
cleanup() {
  for p in $bg $server; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
# A fresh data directory per run (durability on, as by default): a reused
# one would carry state over from earlier benchmarks.
"$bin" serve --port 0 --port-file "$dir/port" --log-level warn --data-dir "$dir/data" "$@" &
server=$!
for _ in $(seq 1 600); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
url="http://127.0.0.1:$port"
echo "server pid $server on $url; $(nproc) cores; clock tick 1/${tck} s"

# cpu_ticks PID: utime + stime (fields 14 and 15 of /proc/PID/stat, in
# clock ticks). Fields are counted after the ")" that ends the command name.
cpu_ticks() {
  local stat f
  stat=$(< "/proc/$1/stat")
  read -r -a f <<< "${stat##*) }"  # f[0] is field 3
  echo $((f[11] + f[12]))
}
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
# field NAME LINE: the value of NAME=value in a BENCH line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }
accepted_events() {
  curl -sf "$url/metrics" | awk '$1 == "rtrec_events_accepted_total" { printf "%.0f\n", $2 }'
}

# calc AWK-EXPRESSION [VAR=VALUE...]: prints the expression, computed by awk.
calc() {
  local expr=$1 a args=()
  shift
  for a in "$@"; do args+=(-v "$a"); done
  awk "${args[@]}" "BEGIN { print $expr }"
}
# report LINE TICKS WALL_US [FIELD...]: prints a BENCH line with the server's
# CPU fields added (server_cpu_s, wall_s, server_cores, then FIELDs) and keeps
# it in $dir/bench.txt for the medians.
report() {
  local cpu wall out
  cpu=$(calc 'sprintf("%.2f", t / k)' t="$2" k="$tck")
  wall=$(calc 'sprintf("%.2f", w / 1e6)' w="$3")
  out="$1 server_cpu_s=$cpu wall_s=$wall"
  out="$out server_cores=$(calc 'sprintf("%.2f", d > 0 ? c / d : 0)' c="$cpu" d="$(field duration_s "$1")")"
  shift 3
  out="$out${*:+ $*}"
  echo "$out"
  echo "$out" >> "$dir/bench.txt"
}

# Phase 1: feedback, flat out.
feed_ticks=0
feed_events=0
for r in $(seq 1 "$runs"); do
  t0=$(cpu_ticks "$server"); w0=$(now_us)
  line=$(WRK_SEED=$r wrk -t1 -c"$feed_conns" -d"${duration}s" -s scripts/bench/feedback.lua "$url" \
    | grep BENCH)
  w1=$(now_us); t1=$(cpu_ticks "$server")
  events=$(field events "$line")
  feed_ticks=$((feed_ticks + t1 - t0))
  feed_events=$((feed_events + events))
  report "$line" $((t1 - t0)) $((w1 - w0)) \
    "cpu_us_per_event=$(calc 'sprintf("%.3f", e > 0 ? t * 1e6 / k / e : 0)' t=$((t1 - t0)) k="$tck" e="$events")"
done
# The server CPU per ingested event, over all feedback runs: the background
# ingest's estimated share in phase 2.
ingest_us=$(calc 'sprintf("%.3f", e > 0 ? t * 1e6 / k / e : 0)' t="$feed_ticks" k="$tck" e="$feed_events")

# Phase 2: recommend, closed loop: alone, then beside a paced background
# ingest.
for r in $(seq 1 "$runs"); do
  t0=$(cpu_ticks "$server"); w0=$(now_us)
  line=$(WRK_SEED=$r wrk -t1 -c"$conns" -d"${duration}s" -s scripts/bench/recommend.lua "$url" \
    | grep BENCH | sed 's/BENCH recommend/BENCH recommend-quiet/')
  w1=$(now_us); t1=$(cpu_ticks "$server")
  requests=$(field requests "$line")
  quiet=$(calc 'sprintf("%.2f", n > 0 ? t * 1e6 / k / n : 0)' t=$((t1 - t0)) k="$tck" n="$requests")
  report "$line" $((t1 - t0)) $((w1 - w0)) "cpu_us_per_request=$quiet"
  # The paced ingest alone: its own server CPU per event at that pace.
  e0=$(accepted_events)
  t0=$(cpu_ticks "$server"); w0=$(now_us)
  line=$(WRK_SEED=$((200 + r)) WRK_DELAY_MS=${BG_DELAY_MS:-6} wrk -t1 -c1 -d"${duration}s" \
    -s scripts/bench/feedback.lua "$url" | grep BENCH | sed 's/BENCH feedback/BENCH paced-feedback/')
  w1=$(now_us); t1=$(cpu_ticks "$server")
  e1=$(accepted_events)
  paced_us=$(calc 'sprintf("%.3f", e > 0 ? t * 1e6 / k / e : 0)' t=$((t1 - t0)) k="$tck" e=$((e1 - e0)))
  report "$line" $((t1 - t0)) $((w1 - w0)) "cpu_us_per_event=$paced_us"
  WRK_SEED=$((100 + r)) WRK_DELAY_MS=${BG_DELAY_MS:-6} wrk -t1 -c1 -d"$((duration + 2))s" \
    -s scripts/bench/feedback.lua "$url" > "$dir/background.txt" &
  bg=$!
  e0=$(accepted_events)
  t0=$(cpu_ticks "$server"); w0=$(now_us)
  line=$(WRK_SEED=$r wrk -t1 -c"$conns" -d"${duration}s" -s scripts/bench/recommend.lua "$url" \
    | grep BENCH)
  w1=$(now_us); t1=$(cpu_ticks "$server")
  bg_ticks=$(cpu_ticks "$bg" 2>/dev/null || echo 0)  # the background client, still running
  e1=$(accepted_events)
  requests=$(field requests "$line")
  raw=$(calc 'sprintf("%.2f", n > 0 ? t * 1e6 / k / n : 0)' t=$((t1 - t0)) k="$tck" n="$requests")
  net=$(calc 'sprintf("%.2f", n > 0 ? (t * 1e6 / k - b * i) / n : 0)' \
          t=$((t1 - t0)) k="$tck" n="$requests" b=$((e1 - e0)) i="$ingest_us")
  net_paced=$(calc 'sprintf("%.2f", n > 0 ? (t * 1e6 / k - b * i) / n : 0)' \
          t=$((t1 - t0)) k="$tck" n="$requests" b=$((e1 - e0)) i="$paced_us")
  report "$line" $((t1 - t0)) $((w1 - w0)) "bg_events=$((e1 - e0))" \
    "cpu_us_per_request=$raw ingest_cpu_us_per_event=$ingest_us cpu_us_per_request_net=$net" \
    "paced_cpu_us_per_event=$paced_us cpu_us_per_request_net_paced=$net_paced" \
    "interference=$(calc 'sprintf("%.3f", q > 0 ? n / q : 0)' n="$net_paced" q="$quiet")" \
    "bg_client_cores=$(calc 'sprintf("%.3f", t / k / d)' t="$bg_ticks" k="$tck" d="$duration")"
  wait "$bg"
  bg=""
  sed 's/BENCH feedback/BENCH background-feedback/' "$dir/background.txt" | grep BENCH
done

# The medians of the fields quoted in docs/benchmarks.md, per phase.
for phase in feedback recommend-quiet paced-feedback recommend; do
  awk -v phase="$phase" '
    function median(name,   n, i, j, t, a) {
      n = split(vals[name], a, " ")
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
        t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
      }
      return a[int((n + 1) / 2)]
    }
    $2 == phase {
      for (i = 3; i <= NF; i++) {
        split($i, kv, "=")
        if (!(kv[1] in vals)) order[++k] = kv[1]
        vals[kv[1]] = vals[kv[1]] " " kv[2]
      }
      runs++
    }
    END {
      if (runs == 0) exit
      line = "MEDIAN " phase " runs=" runs
      for (i = 1; i <= k; i++)
        if (order[i] ~ /_per_|_ms$|^server_|^bg_events$|^bg_client_cores$|^interference$/) line = line " " order[i] "=" median(order[i])
      print line
    }' "$dir/bench.txt"
done
curl -s "$url/metrics" | grep -E '^rtrec_(shard_users|item_shard_items|events_accepted_total)' || true
