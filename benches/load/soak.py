#!/usr/bin/env python3
"""A soak: the `soak` tool's mixed load, at half the measured capacity, against the built
server on one store, for a long time.

    benches/load/soak.sh [postgres|sqlite]       # builds (release), then runs this

Starts the server as the load harness does (a fresh PostgreSQL database migrated by
kagami-migrate, or a fresh data directory), creates an admin key, and runs
`soak BASE PID DURATION [RATE]`, which prints one CSV line per minute (requests, errors,
p50/p99/max latency, server RSS) and a summary with the RSS slope. Fails when any request
failed.

Environment: SOAK_S (default 1800), RATE (req/s; default: half the capacity measured first
over CAPACITY_S, 30 s), TARGET (release|debug), DATABASE_URL.
"""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import BIN, Server  # noqa: E402  (one way to start the server)


def main():
    store = sys.argv[1] if len(sys.argv) > 1 else "postgres"
    if store not in ("sqlite", "postgres"):
        sys.exit("usage: soak.sh [postgres|sqlite]")
    work = tempfile.mkdtemp(prefix=f"kagami-soak-{store}-")
    server = Server(store, work)
    try:
        args = [os.path.join(BIN, "soak"), server.base, str(server.process.pid),
                os.environ.get("SOAK_S", "1800")]
        if os.environ.get("RATE"):
            args.append(os.environ["RATE"])
        subprocess.run(args, env=dict(os.environ, KAGAMI_API_KEY=server.key), check=True)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
