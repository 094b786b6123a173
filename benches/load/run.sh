#!/usr/bin/env bash
# The load harness in one command, from a fresh clone: installs wrk (Debian) when missing,
# builds the server, kagami-migrate and load_prep, then runs benches/load/run.py.
#   benches/load/run.sh [sqlite|postgres|both]       (see run.py for the environment knobs)
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null; then
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    install_wrk() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
    install_wrk || { as_root apt-get update -q >/dev/null && install_wrk; }
fi
command -v pgbench >/dev/null || { echo "error: pgbench (postgresql-client) is needed" >&2; exit 1; }
target="${TARGET:-$([ "${SMOKE:-0}" = 1 ] && echo debug || echo release)}"
if [ "$target" = release ]; then
    cargo build --locked --release -p kagami-server -p kagami-migrate -p kagami-benches --bins
else
    # The debug build of every target, as `cargo test --workspace` leaves it: no rebuild in CI.
    cargo build --locked --workspace --all-targets
fi
TARGET="$target" exec python3 benches/load/run.py "${1:-both}"
