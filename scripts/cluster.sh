#!/usr/bin/env bash
# Starts a 3-node rtrec cluster on this machine (docs/cluster/local.toml):
# node I serves HTTP on 127.0.0.1:809(1+I) and talks to the others on
# 127.0.0.1:710(1+I). Logs go to ./rtrec-cluster/node-I.log, data (log and
# checkpoints) to ./rtrec-cluster/node-I/. Ctrl-C (or SIGTERM) stops all
# three. Extra arguments go to every node.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p rtrec-cluster
pids=()
stop() {
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop EXIT INT TERM
for i in 0 1 2; do
  build/apps/rtrec node --config docs/cluster/local.toml --node "$i" --port "809$((i + 1))" \
    --data-dir "rtrec-cluster/node-$i" "$@" \
    2> "rtrec-cluster/node-$i.log" &
  pids+=($!)
done
echo "rtrec cluster: HTTP on 127.0.0.1:8091, :8092, :8093; status: curl -s 127.0.0.1:8091/api/cluster"
echo "logs in rtrec-cluster/; Ctrl-C stops the nodes"
wait -n "${pids[@]}" || true
