#!/usr/bin/env bash
# The contract check in one command: installs schemathesis (PyPI, pinned, in a virtualenv under
# target/) when missing, builds the server, then runs tests/contract/run.py.
#   tests/contract/run.sh [sqlite|postgres|both]        (see run.py for the environment knobs)
set -euo pipefail
cd "$(dirname "$0")/../.."
version=4.32.5
venv="$(realpath -m "${CARGO_TARGET_DIR:-target}/contract-venv")"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi
target="${TARGET:-debug}"
if [ "$target" = release ]; then
    cargo build --locked --release -p kagami-server -p kagami-migrate
else
    # The debug build of every target, as `cargo test --workspace` leaves it: no rebuild in CI.
    cargo build --locked --workspace --all-targets
fi
TARGET="$target" SCHEMATHESIS="$venv/bin/schemathesis" exec python3 tests/contract/run.py "${1:-both}"
