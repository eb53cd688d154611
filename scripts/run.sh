#!/usr/bin/env bash
# Quick start, command 1: sets up (installs missing packages, builds Release)
# and runs the main job: the embedded engine replaying a generated data set.
# Extra arguments go to `rtrec demo` (for example --data FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/apps/rtrec demo "$@"
