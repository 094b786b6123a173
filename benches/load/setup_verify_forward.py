#!/usr/bin/env python3
"""Prepares a running Kagami server for the verify-forward load test and writes the request
body wrk replays (verify_forward.json).

    KAGAMI_API_KEY=kgm_... python3 benches/load/setup_verify_forward.py http://127.0.0.1:8000
    wrk -t2 -c32 -d20s -s benches/load/verify_forward.lua http://127.0.0.1:8000

Signs with eth-account (pip install eth-account), independently of the Rust code.
"""

import datetime
import hashlib
import json
import os
import sys
import urllib.request
import uuid

from eth_account import Account
from eth_account.messages import encode_defunct

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
KEY = os.environ["KAGAMI_API_KEY"]


def call(method, path, body=None):
    req = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("Authorization", "Bearer " + KEY)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def sign(text, key):
    return "0x" + Account.sign_message(encode_defunct(text=text), private_key=key).signature.hex().removeprefix("0x")


run = uuid.uuid4().int % 10**12
agents = []
for i in range(2):
    owner = Account.create()
    agent = call("POST", "/api/v1/agents", {
        "agent_id": run * 10 + i + 1, "chain": "base",
        "registry_address": "0x8004000000000000000000000000000000008004",
        "owner_address": owner.address,
    })
    call("PUT", f"/api/v1/agents/{agent['agent_uuid']}/stake", {"staked_amount_usdc": "1000"})
    agents.append((agent["agent_uuid"], owner))

dest, owner = agents[1]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fields = [
    ("chain", "base"), ("agent", dest), ("endpoint", "https://b.example/x402"),
    ("pubkey", Account.create().address.lower()), ("nonce", "1"),
    ("valid-from", (now - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ("valid-until", (now + datetime.timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")),
]
text = "\n".join(["Kagami endpoint manifest v1"] + [f"{k}: {v}" for k, v in fields])
signature = sign(text, owner.key)
published = call("POST", "/api/v1/agents/manifests/publish", {
    "agent_uuid": dest, "endpoint_uri": fields[2][1], "pubkey": fields[3][1], "nonce": 1,
    "valid_from": fields[5][1], "valid_until": fields[6][1], "signature": signature, "chain": "base",
})
body = {
    "root_tx_hash": "0x" + hashlib.sha256(str(run).encode()).hexdigest(),
    "source_agent_uuid": agents[0][0], "dest_agent_uuid": dest,
    "manifest_hash": published["manifest_hash"], "manifest_nonce": 1, "manifest_signature": signature,
}
verdict = call("POST", "/api/v1/agents/manifests/verify-forward", body)
assert verdict["safe"], verdict
with open(os.path.join(os.path.dirname(__file__), "verify_forward.json"), "w") as f:
    json.dump(body, f)
print("ready: verify-forward answers safe; body in benches/load/verify_forward.json")
