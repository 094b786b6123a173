#!/usr/bin/env python3
"""Generates vectors_v1.json from docs/PROTOCOL.md alone, independently of the Rust code.

It builds every canonical message by hand, hashes with hashlib and signs with eth-account
(EIP-191 personal_sign, RFC 6979), so the Rust test that reproduces the file is a
cross-implementation check rather than a snapshot of itself.

    pip install eth-account==0.14.0
    python3 crates/crypto/testdata/gen_vectors.py > crates/crypto/testdata/vectors_v1.json
"""

import hashlib
import json

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys import keys

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def key(label):
    return "0x" + hashlib.sha256(("kagami vector key " + label).encode()).hexdigest()


def message(tag, fields):
    return "\n".join([tag] + [f"{k}: {v}" for k, v in fields])


def sha256_id(text):
    return "0x" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def sign(text, private_key, v_form):
    signed = Account.sign_message(encode_defunct(text=text), private_key=private_key)
    r, s, v = signed.r, signed.s, signed.v
    if s > N // 2:  # EIP-2: only low-s is valid
        s, v = N - s, 55 - v
    if v_form == "0/1":
        v -= 27
    return "0x" + r.to_bytes(32, "big").hex() + s.to_bytes(32, "big").hex() + bytes([v]).hex()


def pubkeys(label):
    pk = keys.PrivateKey(bytes.fromhex(key(label)[2:]))
    return {
        "address": pk.public_key.to_checksum_address().lower(),
        "compressed": "0x" + pk.public_key.to_compressed_bytes().hex(),
        "uncompressed": "0x04" + pk.public_key.to_bytes().hex(),
    }


def next_hop_id(root_tx, to):
    return sha256_id(message("Kagami next hop v1", [("root-tx", root_tx), ("to", to)]))


ROOT_A = "0x" + hashlib.sha256(b"root tx a").hexdigest()
ROOT_B = "0x" + hashlib.sha256(b"root tx b").hexdigest()
AGENT_A = "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b"
AGENT_B = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
AGENT_C = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
MANIFEST_B = sha256_id("manifest of b")  # any 32-byte value: only the format matters here
MANIFEST_C = sha256_id("manifest of c")

KINDS = {
    "endpoint_manifest": (
        "Kagami endpoint manifest v1",
        ["chain", "agent", "endpoint", "pubkey", "nonce", "valid-from", "valid-until"],
        [
            ("base", AGENT_A, "https://agent-a.example/x402/forward", pubkeys("hot a")["address"],
             "1", "2026-01-16T00:00:00Z", "2026-01-17T00:00:00Z"),
            ("base-sepolia", AGENT_B, "https://agent.例え.jp/支払い?q=ü&x=1#frag",
             pubkeys("hot b")["compressed"], "42", "2026-02-28T23:59:59Z", "2026-03-01T12:00:00Z"),
            ("eth-mainnet-1", AGENT_C, "http://127.0.0.1:8080/pay", pubkeys("hot c")["uncompressed"],
             "9223372036854775807", "2038-01-19T03:14:07Z", "2038-01-20T03:14:07Z"),
        ],
    ),
    "forward_receipt": (
        "Kagami forward receipt v1",
        ["chain", "root-tx", "hop", "from", "to", "manifest", "next-hop", "nonce"],
        [
            ("base", ROOT_A, "0", AGENT_A, AGENT_B, MANIFEST_B, next_hop_id(ROOT_A, AGENT_C), "1"),
            ("base", ROOT_A, "1", AGENT_B, AGENT_C, MANIFEST_C, "none", "7"),
            ("base-sepolia", ROOT_B, "10", AGENT_C, AGENT_A, MANIFEST_B, next_hop_id(ROOT_B, AGENT_B),
             "9223372036854775807"),
        ],
    ),
    "next_hop": (
        "Kagami next hop v1",
        ["root-tx", "to"],
        [(ROOT_A, AGENT_C), (ROOT_B, AGENT_B), ("0x" + "00" * 32, AGENT_A)],
    ),
    "cycle_report": (
        "Kagami cycle report v1",
        ["chain", "root-tx", "reporter"],
        [("base", ROOT_A, None), ("base-sepolia", ROOT_B, None), ("a", "0x" + "ff" * 32, None)],
    ),
    "manifest_revocation": (
        "Kagami manifest revocation v1",
        ["chain", "agent", "manifest"],
        [("base", AGENT_A, MANIFEST_B), ("base-sepolia", AGENT_B, MANIFEST_C),
         ("0-chain", AGENT_C, "0x" + "ab" * 32)],
    ),
}


def vectors():
    out = {}
    for kind, (tag, keys_, cases) in KINDS.items():
        rows = []
        for i, values in enumerate(cases):
            signer_key = key(f"{kind} {i}")
            signer = Account.from_key(signer_key).address.lower()
            if kind == "cycle_report":  # the reporter signs its own report
                values = values[:2] + (signer,)
            fields = list(zip(keys_, values))
            text = message(tag, fields)
            v_form = "0/1" if i == 1 else "27/28"
            rows.append({
                "fields": dict(fields),
                "message": text,
                "id": sha256_id(text),
                "private_key": signer_key,
                "signer": signer,
                "v_form": v_form,
                "signature": sign(text, signer_key, v_form),
            })
        out[kind] = rows
    return out


def rejections(vs):
    base = vs["endpoint_manifest"][0]
    sig = bytes.fromhex(base["signature"][2:])
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high_s = "0x" + r.hex() + (N - s).to_bytes(32, "big").hex() + bytes([55 - v]).hex()
    other = vs["endpoint_manifest"][1]
    return [
        {"case": "high-s twin of a valid signature", "message": base["message"], "signature": high_s,
         "error": "high_s"},
        {"case": "64 bytes", "message": base["message"], "signature": base["signature"][:-2],
         "error": "signature_length"},
        {"case": "not hex", "message": base["message"], "signature": base["signature"][:-2] + "zz",
         "error": "signature_hex"},
        {"case": "v = 29", "message": base["message"], "signature": base["signature"][:-2] + "1d",
         "error": "invalid_recovery_id"},
        {"case": "valid signature by another key", "message": base["message"],
         "signature": other["signature"], "expected_signer": base["signer"], "error": "wrong_signer"},
        {"case": "message tampered after signing", "message": base["message"].replace("nonce: 1", "nonce: 2"),
         "signature": base["signature"], "expected_signer": base["signer"], "error": "wrong_signer"},
    ]


CANONICAL_FORMS = [
    {"type": "uuid", "input": "0B6F2A1C-3D4E-4F50-8A9B-0C1D2E3F4A5B", "canonical": AGENT_A},
    {"type": "address", "input": "0x52908400098527886E0F7030069857D2E4169EE7",
     "canonical": "0x52908400098527886e0f7030069857d2e4169ee7"},
    {"type": "address", "input": "0x52908400098527886E0F7030069857D2E4169Ee7", "error": "bad_checksum"},
    {"type": "hash", "input": ROOT_A.upper().replace("0X", "0x"), "canonical": ROOT_A},
    {"type": "timestamp", "input": "2026-01-16T02:00:00+02:00", "canonical": "2026-01-16T00:00:00Z"},
    {"type": "timestamp", "input": "2026-01-16T00:00:00.000Z", "canonical": "2026-01-16T00:00:00Z"},
    {"type": "timestamp", "input": "2026-01-16T00:00:00.5Z", "error": "fractional_seconds"},
    {"type": "integer", "input": "007", "error": "invalid_integer"},
    {"type": "chain", "input": "Base", "error": "invalid_chain"},
    {"type": "free_string", "input": "https://a.example/\nnonce: 9", "error": "control_character"},
]


if __name__ == "__main__":
    vs = vectors()
    doc = {
        "protocol": "Kagami v1",
        "spec": "docs/PROTOCOL.md",
        "generator": "crates/crypto/testdata/gen_vectors.py (eth-account, independent of the Rust code)",
        "vectors": vs,
        "rejections": rejections(vs),
        "canonical_forms": CANONICAL_FORMS,
    }
    print(json.dumps(doc, indent=2, ensure_ascii=False))
