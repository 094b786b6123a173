#!/usr/bin/env python3
"""Kagami's load harness: every hot endpoint against its ceiling, measured in one run.

    benches/load/run.sh [sqlite|postgres|both]      # builds, installs wrk, then runs this

For each store it starts the built server on a free port (a fresh data directory, or a fresh
PostgreSQL database migrated by kagami-migrate), creates an admin key, prepares agents,
manifests and pre-signed bodies with `load_prep` (the project's own signer), and runs wrk
against GET /health, verify-forward, publish and record-forward. Record-forward runs once per
history size in FILL: before each, the destination's history is filled to that many receipts
(each with its active stake lock) in the real row shape, copied from a receipt the server
stored. Every write body is sent once; any non-2xx answer fails the run. pgbench (single-row
INSERT, indexed SELECT, synchronous commit) runs against the same cluster in the same run,
and the table prints each figure as a ratio to its ceiling, with server and PostgreSQL CPU
per request.

Environment: DURATION (s, default 15), CONNECTIONS (32), THREADS (2), PGBENCH_CLIENTS (16),
FILL ("1000 1000000"), BODIES (write bodies per wrk run, 40000), TARGET (release|debug),
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), SMOKE=1 (CI: seconds,
small counts, the checks but no figures worth reading).
"""

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "benches", "load")
SMOKE = os.environ.get("SMOKE") == "1"
DURATION = int(os.environ.get("DURATION", "2" if SMOKE else "15"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "4" if SMOKE else "32"))
THREADS = int(os.environ.get("THREADS", "2"))
PGBENCH_CLIENTS = int(os.environ.get("PGBENCH_CLIENTS", "4" if SMOKE else "16"))
FILL = [int(n) for n in os.environ.get("FILL", "1000" if SMOKE else "1000 1000000").split()]
BODIES = int(os.environ.get("BODIES", "300" if SMOKE else "40000"))
TARGET = os.environ.get("TARGET", "debug" if SMOKE else "release")
ADMIN_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), TARGET)
SALT = "load-harness-salt-0123456789"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def cpu_seconds(pids, children=False):
    """utime + stime of these processes, in seconds; with `children`, also that of their
    exited children they waited for (cutime + cstime)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            if children:
                total += int(fields[13]) + int(fields[14])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / ticks


def postgres_cpu_seconds():
    """CPU of the whole PostgreSQL cluster so far: every live process, plus the backends that
    exited, which the postmaster reaped into its children's time. (Summing a list of pids
    taken before a run lost the backends that exited during it: negative figures.)"""
    return cpu_seconds(postgres_pids(), children=True)


def postgres_pids():
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "postgres":
                        pids.append(int(pid))
            except OSError:
                pass
    return pids


class Server:
    """The built kagami-server on a free port, on one store."""

    def __init__(self, store, work):
        self.store = store
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, KAGAMI_BIND=f"127.0.0.1:{self.port}", API_KEY_SALT=SALT,
                        LOG_LEVEL="warn", RUST_LOG="warn",
                        # One client drives all the load: measure the work, not the limiter.
                        RATE_LIMIT_PUBLIC_READ_PER_SECOND="0", RATE_LIMIT_VERIFY_PER_SECOND="0",
                        RATE_LIMIT_WRITE_PER_SECOND="0", RATE_LIMIT_ADMIN_PER_SECOND="0")
        self.env.pop("DATABASE_URL", None)
        if store == "postgres":
            self.db = "kagami_load_" + uuid.uuid4().hex[:12]
            psql(ADMIN_URL, f"CREATE DATABASE {self.db}")
            self.url = re.sub(r"/[^/?]*(\?|$)", f"/{self.db}\\1", ADMIN_URL.split("://", 1)[1], 1)
            self.url = ADMIN_URL.split("://", 1)[0] + "://" + self.url
            self.env["DATABASE_URL"] = self.url
            subprocess.run([os.path.join(BIN, "kagami-migrate")], env=self.env, check=True,
                           stdout=subprocess.DEVNULL)
        else:
            self.data = os.path.join(work, "data")
            self.env["KAGAMI_DATA_DIR"] = self.data
        key = subprocess.run([os.path.join(BIN, "kagami-server"), "api-key", "create", "--role",
                              "admin", "--label", "load harness"], env=self.env, check=True,
                             capture_output=True, text=True)
        self.key = key.stdout.strip()
        self.process = subprocess.Popen([os.path.join(BIN, "kagami-server")], env=self.env,
                                        stdout=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the {store} server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        if self.store == "postgres":
            psql(ADMIN_URL, f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")

    def fill(self, prep, level):
        """Fills the destination's history to `level` receipts, each with its active lock."""
        dest = prep["dest"]
        if self.store == "postgres":
            have = int(psql(self.url, f"SELECT count(*) FROM erc8004_forward_receipts "
                                      f"WHERE dest_agent_uuid = '{dest}'"))
            if have >= level:
                return
            first, last = have, level - 1
            h = lambda tag: f"'0x' || encode(sha256(('{tag}-' || g)::bytea), 'hex')"
            psql(self.url, f"""
                INSERT INTO erc8004_forward_receipts
                    (id, root_tx_hash, hop, source_agent_uuid, dest_agent_uuid, manifest_id,
                     manifest_hash, next_hop_hash, receipt_nonce, receipt_hash, signature, chain,
                     is_valid, hop_irrational, computational_cost, created_at, order_hash,
                     order_nonce, order_signature, amount)
                SELECT gen_random_uuid(), {h('fill-root')}, t.hop, t.source_agent_uuid,
                       t.dest_agent_uuid, t.manifest_id, t.manifest_hash, t.next_hop_hash,
                       1000000000000 + g, {h('fill-receipt')}, t.signature, t.chain, true,
                       t.hop_irrational, t.computational_cost, now(), {h('fill-order')},
                       1000000000000 + g, t.order_signature, t.amount
                FROM (SELECT * FROM erc8004_forward_receipts
                      WHERE dest_agent_uuid = '{dest}' LIMIT 1) t,
                     generate_series({first}, {last}) g;
                INSERT INTO erc8004_stake_utilization
                    (id, agent_uuid, root_tx_hash, amount, created_at, expires_at, counted)
                SELECT gen_random_uuid(), '{dest}', {h('fill-root')}, 1, now(),
                       now() + interval '1 hour', true
                FROM generate_series({first}, {last}) g;
                UPDATE erc8004_agent_stakes SET locked = locked + {last - first + 1}
                WHERE agent_uuid = '{dest}';
                ANALYZE;""")
        else:
            db = sqlite3.connect(os.path.join(self.data, "kagami.db"), timeout=60)
            db.row_factory = sqlite3.Row
            have = db.execute("SELECT count(*) FROM erc8004_forward_receipts "
                              "WHERE dest_agent_uuid = ?", (dest,)).fetchone()[0]
            if have >= level:
                return
            t = dict(db.execute("SELECT * FROM erc8004_forward_receipts "
                                "WHERE dest_agent_uuid = ? LIMIT 1", (dest,)).fetchone())
            h = lambda tag, g: "0x" + hashlib.sha256(f"{tag}-{g}".encode()).hexdigest()
            now = int(time.time())
            cols = list(t)

            def receipts():
                for g in range(have, level):
                    row = dict(t, id=str(uuid.uuid4()), root_tx_hash=h("fill-root", g),
                               receipt_nonce=10**12 + g, receipt_hash=h("fill-receipt", g),
                               order_hash=h("fill-order", g), order_nonce=10**12 + g,
                               created_at=now)
                    yield tuple(row[c] for c in cols)

            def locks():
                for g in range(have, level):
                    yield (str(uuid.uuid4()), dest, h("fill-root", g), now, now + 3600)

            with db:
                db.executemany(f"INSERT INTO erc8004_forward_receipts ({', '.join(cols)}) "
                               f"VALUES ({', '.join('?' * len(cols))})", receipts())
                db.executemany("INSERT INTO erc8004_stake_utilization (id, agent_uuid, "
                               "root_tx_hash, amount, created_at, expires_at, counted) "
                               "VALUES (?, ?, ?, 1000000, ?, ?, 1)", locks())
                db.execute("UPDATE erc8004_agent_stakes SET locked = locked + ? "
                           "WHERE agent_uuid = ?", ((level - have) * 1000000, dest))
            db.execute("ANALYZE")
            db.close()


def wrk(server, path, body_file=None, bodies=None, key=None, errors_expected=False):
    """One wrk run; returns req/s, p50 and p99 (ms), the requests and the CPU per request."""
    env = dict(os.environ, KAGAMI_THREADS=str(THREADS))
    script = []
    if bodies:
        env["KAGAMI_BODIES"] = bodies
        script = ["-s", os.path.join(HERE, "bodies.lua")]
        if key:
            env["KAGAMI_API_KEY"] = key
    elif body_file:
        env["KAGAMI_BODY"] = body_file
        script = ["-s", os.path.join(HERE, "verify_forward.lua")]
    pg = server.store == "postgres"
    before = (cpu_seconds([server.process.pid]), postgres_cpu_seconds() if pg else 0)
    out = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{DURATION}s",
                          "--latency", *script, server.base + path],
                         env=env, capture_output=True, text=True, check=True)
    after = (cpu_seconds([server.process.pid]), postgres_cpu_seconds() if pg else 0)
    text = out.stdout
    if out.stderr.strip():
        log(out.stderr.strip())
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) and not errors_expected:
        raise RuntimeError(f"{server.store} {path}: {m.group(1)} answers were not 2xx\n{text}")
    if m := re.search(r"kagami: sent=(\d+) non2xx=(\d+) exhausted=(\d+)", text):
        if int(m.group(2)):
            raise RuntimeError(f"{server.store} {path}: {m.group(2)} answers were not 2xx")
        if int(m.group(3)) and not SMOKE:
            raise RuntimeError(f"{server.store} {path}: ran out of bodies; raise BODIES")

    def ms(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"rate": rate, "p50": ms(50), "p99": ms(99), "requests": requests,
            "server_us": (after[0] - before[0]) * 1e6 / max(requests, 1),
            "pg_us": (after[1] - before[1]) * 1e6 / max(requests, 1) if pg else None}


def pgbench(kind):
    """pgbench tps (PGBENCH_CLIENTS clients, synchronous commit) on a scratch table of the
    cluster: one single-row INSERT, or one SELECT by primary key, per transaction."""
    db = "kagami_pgbench_" + uuid.uuid4().hex[:12]
    psql(ADMIN_URL, f"CREATE DATABASE {db}")
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    try:
        psql(url, "CREATE TABLE t (id bigserial PRIMARY KEY, payload text NOT NULL, "
                  "created_at timestamptz NOT NULL DEFAULT now());"
                  "INSERT INTO t (payload) SELECT md5(g::text) FROM generate_series(1, 100000) g;"
                  "ANALYZE t;")
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
            if kind == "insert":
                f.write("INSERT INTO t (payload) VALUES (md5(random()::text));\n")
            else:
                f.write("\\set k random(1, 100000)\nSELECT payload FROM t WHERE id = :k;\n")
        out = subprocess.run(["pgbench", "-n", "-c", str(PGBENCH_CLIENTS), "-j", str(THREADS),
                              "-T", str(DURATION), "-f", f.name, url],
                             capture_output=True, text=True, check=True).stdout
        os.unlink(f.name)
        # (pgbench's backends exit with it, so their CPU is not read here.)
        return {"rate": float(re.search(r"tps = ([\d.]+)", out).group(1))}
    finally:
        psql(ADMIN_URL, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def run_store(store, ceilings):
    work = tempfile.mkdtemp(prefix=f"kagami-load-{store}-")
    server = Server(store, work)
    rows = []
    try:
        bodies = os.path.join(work, "bodies")
        os.mkdir(bodies)
        prep = subprocess.run([os.path.join(BIN, "load_prep"), server.base, bodies,
                               str(BODIES), str(BODIES), str(len(FILL))],
                              env=dict(os.environ, KAGAMI_API_KEY=server.key),
                              capture_output=True, text=True, check=True)
        prep = json.loads(prep.stdout.strip().splitlines()[-1])
        health = wrk(server, "/health")
        rows.append((store, "GET /health", health, None))
        missing = wrk(server, "/api/v1/no-such-route", errors_expected=True)
        rows.append((store, "GET unknown route (404)", missing, ("/health", health)))
        verify = wrk(server, "/api/v1/agents/manifests/verify-forward",
                     body_file=os.path.join(bodies, "verify_forward.json"))
        rows.append((store, "verify-forward", verify,
                     ceilings.get("select") if store == "postgres" else ("/health", health)))
        publish = wrk(server, "/api/v1/agents/manifests/publish",
                      bodies=os.path.join(bodies, "publish.jsonl"), key=server.key)
        rows.append((store, "publish", publish,
                     ceilings.get("insert") if store == "postgres" else ("/health", health)))
        first = None
        for k, level in enumerate(FILL):
            server.fill(prep, level)
            record = wrk(server, "/api/v1/agents/manifests/record-forward",
                         bodies=os.path.join(bodies, f"record-{k}.jsonl"), key=server.key)
            ceiling = ceilings.get("insert") if store == "postgres" else ("/health", health)
            rows.append((store, f"record-forward, history {level:,}", record, ceiling))
            if first is None:
                first = record
            else:
                rows.append((store, f"  record-forward {level:,} vs {FILL[0]:,}", record,
                             (f"history {FILL[0]:,}", first)))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main():
    stores = {"both": ["sqlite", "postgres"]}.get(sys.argv[1] if len(sys.argv) > 1 else "both",
                                                 [sys.argv[1] if len(sys.argv) > 1 else ""])
    if not set(stores) <= {"sqlite", "postgres"}:
        sys.exit("usage: run.sh [sqlite|postgres|both]")
    log(f"load harness: {stores}, {DURATION}s per run, wrk -t{THREADS} -c{CONNECTIONS}, "
        f"pgbench -c{PGBENCH_CLIENTS}, fill {FILL}, {TARGET} build")
    ceilings = {}
    if "postgres" in stores:
        ceilings["insert"] = ("pgbench INSERT", pgbench("insert"))
        ceilings["select"] = ("pgbench SELECT", pgbench("select"))
    rows = []
    for store in stores:
        rows += run_store(store, ceilings)
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {TARGET} build, "
          f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s, pgbench -c{PGBENCH_CLIENTS} -T{DURATION}\n")
    print("| store | endpoint | req/s | p50 ms | p99 ms | ceiling | ratio | server CPU µs/req | PostgreSQL CPU µs/req |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, c in ceilings.values():
        print(f"| postgres | {name} | {c['rate']:,.0f} | | | | | | |")
    for store, what, r, ceiling in rows:
        ratio, against = "", ""
        if ceiling:
            against = f"{ceiling[0]} {ceiling[1]['rate']:,.0f}"
            ratio = f"{r['rate'] / ceiling[1]['rate']:.3f}"
        pg = f"{r['pg_us']:.0f}" if r.get("pg_us") is not None else ""
        print(f"| {store} | {what} | {r['rate']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{against} | {ratio} | {r['server_us']:.0f} | {pg} |")


if __name__ == "__main__":
    main()
