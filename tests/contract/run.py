#!/usr/bin/env python3
"""The published contract, checked as a client generator would read it.

    tests/contract/run.sh [sqlite|postgres|both]     # installs schemathesis, then runs this

For each store it starts the built server (debug by default) on a free port with a fresh data
directory or a fresh PostgreSQL database, creates an admin API key, and runs schemathesis
against the server's own `/openapi.json` with every check, the stateful phase included, under
the configuration in `schemathesis.toml` beside this file. Any failure fails the run.

Environment: MAX_EXAMPLES (per operation, default 30), SEED (default 1; `random` for a new
one each run), TARGET (debug|release), DATABASE_URL (admin URL of the PostgreSQL cluster).
"""

import os
import subprocess
import sys
import tempfile
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
os.environ.setdefault("TARGET", "debug")
sys.path.insert(0, os.path.join(ROOT, "benches", "load"))
from run import Server  # noqa: E402  (the load harness's server: one way to start it)

MAX_EXAMPLES = os.environ.get("MAX_EXAMPLES", "30")
SEED = os.environ.get("SEED", "1")
SCHEMATHESIS = os.environ.get("SCHEMATHESIS", "schemathesis")


def check(store):
    work = tempfile.mkdtemp(prefix=f"kagami-contract-{store}-")
    server = Server(store, work)
    try:
        command = [SCHEMATHESIS, "--config-file", os.path.join(HERE, "schemathesis.toml"),
                   "run", f"{server.base}/openapi.json",
                   "--header", f"Authorization: Bearer {server.key}",
                   "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                   "--max-examples", MAX_EXAMPLES,
                   "--workers", "2", "--report", "junit",
                   "--report-dir", os.path.join(ROOT, "target", "contract", store)]
        if SEED != "random":
            command += ["--seed", SEED]
        print(f"\n==> schemathesis against the {store} store: {' '.join(command)}",
              flush=True)
        env = dict(os.environ, SCHEMATHESIS_HOOKS="hooks", PYTHONPATH=HERE)
        cache = os.path.join(ROOT, "target", "contract")
        os.makedirs(cache, exist_ok=True)
        return subprocess.run(command, env=env, cwd=cache).returncode
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "both"
    stores = ["sqlite", "postgres"] if which == "both" else [which]
    if not set(stores) <= {"sqlite", "postgres"}:
        sys.exit("usage: run.sh [sqlite|postgres|both]")
    failed = [store for store in stores if check(store) != 0]
    if failed:
        sys.exit(f"contract check failed on: {', '.join(failed)}")


if __name__ == "__main__":
    main()
