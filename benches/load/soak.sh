#!/usr/bin/env bash
# The soak in one command: builds the server, kagami-migrate and the soak tool (release by
# default), then runs benches/load/soak.py.
#   benches/load/soak.sh [postgres|sqlite]       (see soak.py for the environment knobs)
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${TARGET:-release}"
if [ "$target" = release ]; then
    cargo build --locked --release -p kagami-server -p kagami-migrate -p kagami-benches --bins
else
    cargo build --locked --workspace --all-targets
fi
TARGET="$target" exec python3 benches/load/soak.py "${1:-postgres}"
