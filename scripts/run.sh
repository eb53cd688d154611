#!/usr/bin/env bash
# Quick start, command 1: sets up (installs missing packages, builds Release)
# and runs the main job: `rtrec serve`, the HTTP/JSON API on one node with
# embedded defaults, on http://127.0.0.1:8087 until Ctrl-C or SIGTERM.
# Extra arguments go to `rtrec serve` (for example --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/apps/rtrec serve "$@"
