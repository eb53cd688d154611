#!/usr/bin/env bash
# What a feedback batch costs the server when batches arrive with idle gaps
# between them (docs/benchmarks.md, "Why a paced batch costs more"): one wrk
# connection posts batches of 100 events, waiting GAPS_MS milliseconds after
# each answer (0: closed loop), and the same with FEED_CONNS connections flat
# out. For each, the server's CPU per event is split by thread (utime and
# stime from /proc/<pid>/task/<tid>/stat) with the voluntary context switches
# per batch, so the cost is put where it is paid: the HTTP threads, CAF's
# workers, the log's writer (fdatasync is its stime).
#
# Usage: RUNS=3 DURATION=6 GAPS_MS="0 1 3 6" scripts/bench_paced.sh [rtrec serve flags...]
# Environment: RUNS (3), DURATION (s, 6), GAPS_MS ("0 1 3 6"), FEED_CONNS
# (8), RTREC_BIN (default build/apps/rtrec). Prints a BENCH line per run and
# thread group, and MEDIAN lines (per gap: total CPU µs per event).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench_paced.sh: needs wrk (apt-get install -y wrk)" >&2; exit 2; }
bin="${RTREC_BIN:-build/apps/rtrec}"
[ -x "$bin" ] || { echo "bench_paced.sh: $bin is not an executable (run scripts/setup.sh)" >&2; exit 2; }
runs="${RUNS:-3}"
duration="${DURATION:-6}"
gaps="${GAPS_MS:-0 1 3 6}"
feed_conns="${FEED_CONNS:-8}"
tck=$(getconf CLK_TCK)
dir=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  rm -rf "$dir"
}
trap cleanup EXIT
"$bin" serve --port 0 --port-file "$dir/port" --log-level warn --data-dir "$dir/data" "$@" &
server=$!
for _ in $(seq 1 600); do [ -s "$dir/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$dir/port")"
accepted() {
  curl -sf "$url/metrics" | awk '$1 == "rtrec_events_accepted_total" { printf "%.0f\n", $2 }'
}
# Per thread of the server: tid, group, utime, stime (ticks), voluntary
# context switches. Groups: the HTTP threads (asio), CAF's scheduler workers
# (CAF 0.17 names them caf.multiplexer), the log writer, everything else.
threads() {
  local t tid stat f group
  for t in /proc/"$server"/task/*; do
    tid=${t##*/}
    stat=$(< "$t/stat") || continue
    read -r -a f <<< "${stat##*) }"
    group=other
    case "$(< "$t/comm")" in caf.multiplexer) group=caf_workers ;; esac
    if [ "$group" = other ]; then
      case "$(cat "$t/wchan" 2>/dev/null)" in do_epoll_wait) group=http ;; esac
    fi
    echo "$tid $group ${f[11]} ${f[12]} $(awk '/^voluntary_ctxt/ {print $2}' "$t/status")"
  done | sort
}
# The writer thread and the asio pool block in futexes like CAF's threads;
# name them once, from their stacks' first frames, while the server idles.
if command -v gdb >/dev/null; then
  gdb -p "$server" -batch -ex "thread apply all bt 8" 2>/dev/null |
    awk '/^Thread/ { match($0, /LWP [0-9]+/); tid = substr($0, RSTART + 4, RLENGTH - 4) }
         /storage::wal::run/ { print tid, "log_writer" }
         /asio::detail::scheduler::run/ { print tid, "http" }' | sort -u > "$dir/names"
else
  : > "$dir/names"
fi
rename() { awk 'NR == FNR { n[$1] = $2; next } { if ($1 in n) $2 = n[$1]; print }' "$dir/names" -; }

WRK_SEED=1 wrk -t1 -c4 -d2s -s scripts/bench/feedback.lua "$url" > /dev/null  # warm up, some state
one_run() {  # one_run LABEL WRK-ARGS...: prints BENCH lines for a run
  local label=$1 e0 e1 events
  shift
  threads | rename > "$dir/t0"
  e0=$(accepted)
  "$@" > /dev/null
  e1=$(accepted)
  threads | rename > "$dir/t1"
  events=$((e1 - e0))
  join "$dir/t0" "$dir/t1" | awk -v ev="$events" -v k="$tck" -v label="$label" '
    { g = $2; u[g] += $7 - $3; s[g] += $8 - $4; v[g] += $9 - $5; U += $7 - $3; S += $8 - $4 }
    END {
      for (g in u) if (u[g] + s[g] + v[g] > 0)
        printf "BENCH %s group=%s user_us_per_event=%.2f sys_us_per_event=%.2f vcsw_per_batch=%.2f\n",
               label, g, u[g] * 1e6 / k / ev, s[g] * 1e6 / k / ev, v[g] * 100 / ev
      printf "BENCH %s group=all events=%d cpu_us_per_event=%.2f user_us_per_event=%.2f sys_us_per_event=%.2f\n",
             label, ev, (U + S) * 1e6 / k / ev, U * 1e6 / k / ev, S * 1e6 / k / ev
    }'
}
for r in $(seq 1 "$runs"); do
  one_run "flat-out" env WRK_SEED="$((10 + r))" \
    wrk -t1 -c"$feed_conns" -d"${duration}s" -s scripts/bench/feedback.lua "$url"
  for g in $gaps; do
    one_run "gap-${g}ms" env WRK_SEED="$((20 + r))" WRK_DELAY_MS="$g" \
      wrk -t1 -c1 -d"${duration}s" -s scripts/bench/feedback.lua "$url"
  done
done | tee "$dir/bench.txt"
awk '$3 == "group=all" {
       split($5, kv, "="); vals[$2] = vals[$2] " " kv[2]; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
     }
     END {
       for (i = 1; i <= n; i++) {
         m = split(vals[order[i]], a, " ")
         for (x = 2; x <= m; x++) for (y = x; y > 1 && a[y - 1] + 0 > a[y] + 0; y--) { t = a[y]; a[y] = a[y - 1]; a[y - 1] = t }
         printf "MEDIAN %s cpu_us_per_event=%s (runs %d)\n", order[i], a[int((m + 1) / 2)], m
       }
     }' "$dir/bench.txt"
