#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into fuzz/corpus/<target>/.

Seeds come from the protocol's known-answer vectors (crates/crypto/testdata/vectors_v1.json
and, for protocol v2, vectors_v2.json) and the README's request bodies. Run from the repository root, then minimise with
`cargo fuzz cmin` (see fuzz/README.md). File names are the SHA-1 of the contents, as
libFuzzer names its own corpus entries, so re-running is idempotent.
"""
import hashlib
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "crates/crypto/testdata/vectors_v1.json").read_text())
V2 = json.loads((ROOT / "crates/crypto/testdata/vectors_v2.json").read_text())
CORPUS = ROOT / "fuzz/corpus"


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


# canonical_values: selector byte (see fuzz_targets/canonical_values.rs) + text.
SELECTOR = {"timestamp": 0, "address": 1, "uuid": 2, "hash": 3, "chain": 4,
            "free_string": 5, "pubkey": 6, "signature": 7, "integer": 8}
FIELD_TYPE = {"chain": "chain", "agent": "uuid", "from": "uuid", "to": "uuid",
              "endpoint": "free_string", "pubkey": "pubkey", "nonce": "integer",
              "hop": "integer", "valid-from": "timestamp", "valid-until": "timestamp",
              "root-tx": "hash", "manifest": "hash", "next-hop": "hash",
              "reporter": "address", "order": "hash", "payer": "uuid", "first-hop": "uuid",
              "routing": "hash", "lock-until": "timestamp"}


def value(kind, text):
    write("canonical_values", bytes([SELECTOR[kind]]) + text.encode())


for case in VECTORS["canonical_forms"]:
    value(case["type"], case["input"])
for kind, cases in VECTORS["vectors"].items():
    for case in cases:
        for field, text in case["fields"].items():
            value(FIELD_TYPE[field], text)
        value("signature", case["signature"])
        value("address", case["signer"])
for case in VECTORS["rejections"]:
    value("signature", case["signature"])
for case in V2["canonical_forms"]:
    if case["type"] in SELECTOR:
        value(case["type"], case["input"])
for text in ["2026-01-16t00:00:00z", "2026-01-16T00:00:00-23:59", "9999-12-31T23:59:59Z",
             "0000-01-01T00:00:00Z", "2016-12-31T23:59:60Z", "2026-01-16T00:00:00.000000000Z"]:
    value("timestamp", text)
for text in ["0x52908400098527886E0F7030069857D2E4169EE7",
             "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"]:
    value("address", text)
    value("pubkey", text)
value("integer", "18446744073709551615")
value("integer", "0")

# usdc: the amount text.
for text in ["0", "100", "1000", "1500.25", "12.5", "0.000001", "10000.000000",
             "9223372036854.775807", "9223372036854.775808", "1.0000001", "-1", "1e6"]:
    write("usdc", text)

# parse_message: every vector message, v1 and v2.
for vectors in (VECTORS, V2):
    for kind, cases in vectors["vectors"].items():
        for case in cases:
            write("parse_message", case["message"])

# message_roundtrip: arbitrary bytes; deterministic pseudo-random seeds of a few sizes.
for i, size in enumerate([16, 64, 256, 1024]):
    data = b"".join(hashlib.sha256(f"{i}:{j}".encode()).digest() for j in range(size // 32 + 1))
    write("message_roundtrip", data[:size])

# wire_requests: selector byte (see fuzz_targets/wire_requests.rs) + JSON body.
def body(selector, obj):
    write("wire_requests", bytes([selector]) + json.dumps(obj, ensure_ascii=False).encode())


for case in VECTORS["vectors"]["endpoint_manifest"]:
    f = case["fields"]
    body(0, {"agent_uuid": f["agent"], "endpoint_uri": f["endpoint"], "pubkey": f["pubkey"],
             "nonce": int(f["nonce"]), "valid_from": f["valid-from"],
             "valid_until": f["valid-until"], "signature": case["signature"],
             "chain": f["chain"]})
receipts = []
for case in VECTORS["vectors"]["forward_receipt"]:
    f = case["fields"]
    receipt = {"root_tx_hash": f["root-tx"], "source_agent_uuid": f["from"],
               "dest_agent_uuid": f["to"], "hop": int(f["hop"]),
               "manifest_hash": f["manifest"],
               "next_hop_hash": None if f["next-hop"] == "none" else f["next-hop"],
               "receipt_nonce": int(f["nonce"]), "signature": case["signature"],
               "chain": f["chain"]}
    receipts.append(receipt)
    body(1, receipt)
# README walkthrough.
body(2, {"agent_id": 1, "chain": "base",
         "registry_address": "0x8004000000000000000000000000000000008004",
         "owner_address": "0x89d3b8ff32a887f50304fd0e0fea9559ec13b80c"})
body(2, {"agent_id": 2, "chain": "base-sepolia",
         "registry_address": "0x8004000000000000000000000000000000008004",
         "owner_address": "0x89d3b8ff32a887f50304fd0e0fea9559ec13b80c",
         "token_uri": "ipfs://agent", "registration_file": {"name": "bob", "x402": [1.5, True]}})
body(3, {"staked_amount_usdc": "1000"})
body(4, {"status": "suspended"})
revocation = VECTORS["vectors"]["manifest_revocation"][0]
body(5, {"agent_uuid": revocation["fields"]["agent"],
         "manifest_hash": revocation["fields"]["manifest"],
         "signature": revocation["signature"]})
manifest = VECTORS["vectors"]["endpoint_manifest"][0]
body(6, {"root_tx_hash": receipts[0]["root_tx_hash"],
         "source_agent_uuid": receipts[0]["source_agent_uuid"],
         "dest_agent_uuid": manifest["fields"]["agent"], "manifest_hash": manifest["id"],
         "manifest_nonce": 1, "manifest_signature": manifest["signature"]})
report = VECTORS["vectors"]["cycle_report"][0]
body(7, {"root_tx_hash": report["fields"]["root-tx"],
         "reporter_address": report["fields"]["reporter"], "signature": report["signature"],
         "chain": report["fields"]["chain"], "evidence": receipts[:2]})
body(8, {"root_tx_hash": receipts[0]["root_tx_hash"],
         "first_hop_agent_uuid": receipts[0]["dest_agent_uuid"],
         "routing_hash": manifest["id"], "amount_usdc": "10000", "chain": "base"})
body(9, {"onchain_tx_hash": manifest["id"]})
body(10, {"root_tx_hash": receipts[0]["root_tx_hash"], "attack_type": "sandwich",
          "attacker_agent_uuid": receipts[0]["dest_agent_uuid"], "victim_agent_uuid": None,
          "extracted_value_usdc": "12.5", "block_number": 1, "tx_index": 0,
          "evidence_hash": manifest["id"]})

# Protocol v2: record-forward pairs (selector 11), a report with pair evidence (7), a co-signed
# commitment (8) and an MEV incident on a signed transaction (10; EIP-155 example of
# crates/crypto/src/transaction.rs).
def order_body(case):
    f = case["fields"]
    return {"chain": f["chain"], "root_tx_hash": f["root-tx"], "hop": int(f["hop"]),
            "source_agent_uuid": f["from"], "dest_agent_uuid": f["to"],
            "manifest_hash": f["manifest"], "amount_usdc": f["amount"],
            "order_nonce": int(f["nonce"]), "signature": case["signature"]}


def receipt_v2_body(case):
    f = case["fields"]
    return {"root_tx_hash": f["root-tx"], "source_agent_uuid": f["from"],
            "dest_agent_uuid": f["to"], "hop": int(f["hop"]), "manifest_hash": f["manifest"],
            "order_hash": f["order"],
            "next_hop_hash": None if f["next-hop"] == "none" else f["next-hop"],
            "receipt_nonce": int(f["nonce"]), "signature": case["signature"],
            "chain": f["chain"]}


pairs = []
for hop in V2["hops"]:
    pair = {"order": order_body(V2["vectors"]["forward_order"][hop["order"]]),
            "receipt": receipt_v2_body(V2["vectors"]["forward_receipt_v2"][hop["receipt"]])}
    pairs.append(pair)
    body(11, pair)
body(7, {"root_tx_hash": report["fields"]["root-tx"],
         "reporter_address": report["fields"]["reporter"], "signature": report["signature"],
         "chain": report["fields"]["chain"], "evidence": pairs[:3]})
for case in V2["vectors"]["commitment"]:
    f = case["fields"]
    body(8, {"chain": f["chain"], "root_tx_hash": f["root-tx"], "payer_agent_uuid": f["payer"],
             "first_hop_agent_uuid": f["first-hop"], "routing_hash": f["routing"],
             "amount_usdc": f["amount"], "lock_until": f["lock-until"],
             "payer_signature": case["signatures"]["payer"]["signature"],
             "first_hop_signature": case["signatures"]["first-hop"]["signature"]})
body(10, {"root_tx_hash": pairs[0]["order"]["root_tx_hash"], "attack_type": "frontrun",
          "attacker_agent_uuid": pairs[0]["order"]["dest_agent_uuid"],
          "victim_agent_uuid": None, "extracted_value_usdc": "100.000000",
          "block_number": 19000000, "tx_index": 4, "evidence_hash": manifest["id"],
          "attack_tx": "0xf86c098504a817c800825208943535353535353535353535353535353535353535"
                       "880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c"
                       "71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc"
                       "64214b297fb1966a3b6d83"})
