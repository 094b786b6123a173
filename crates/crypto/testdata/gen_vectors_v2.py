#!/usr/bin/env python3
"""Generates vectors_v2.json from docs/PROTOCOL.md (section 11) alone, independently of the Rust code.

Protocol v2 adds the forward order, the v2 forward receipt that names the order it
acknowledges, the commitment co-signed by the root payer and the first-hop agent, and the
canonical amount. The framing, ids and signatures are those of v1, so this script reuses the
v1 generator's helpers (gen_vectors.py beside it, itself written from the document) and
builds every v2 message by hand.

    pip install eth-account==0.14.0
    python3 crates/crypto/testdata/gen_vectors_v2.py > crates/crypto/testdata/vectors_v2.json
"""

import hashlib
import json
import os
import re
import sys

from eth_account import Account

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_vectors as v1  # noqa: E402  (the v1 helpers: message, sha256_id, sign, key, next_hop_id)

MAX_MICROS = 2**63 - 1
AMOUNT_SHAPE = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{6}")

ORDER_TAG = "Kagami forward order v1"
RECEIPT_V1_TAG = "Kagami forward receipt v1"
RECEIPT_V2_TAG = "Kagami forward receipt v2"
COMMITMENT_TAG = "Kagami commitment v1"

ORDER_KEYS = ["chain", "root-tx", "hop", "from", "to", "manifest", "amount", "nonce"]
RECEIPT_V1_KEYS = ["chain", "root-tx", "hop", "from", "to", "manifest", "next-hop", "nonce"]
RECEIPT_V2_KEYS = ["chain", "root-tx", "hop", "from", "to", "manifest", "order", "next-hop", "nonce"]
COMMITMENT_KEYS = ["chain", "root-tx", "payer", "first-hop", "routing", "amount", "lock-until"]
# The lines an order and the receipt that acknowledges it must agree on (section 11.5).
HOP_KEYS = ["chain", "root-tx", "hop", "from", "to", "manifest"]


def amount(micros):
    """The canonical text of an amount of micro-USDC: whole part, a dot, six decimals."""
    assert 0 <= micros <= MAX_MICROS
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def parse_amount(text):
    """Micro-units of a canonical amount, or the reason the text is not one."""
    if not AMOUNT_SHAPE.fullmatch(text):
        return None, "not digits, a dot and exactly six decimals without leading zeros"
    whole, fraction = text.split(".")
    micros = int(whole) * 1_000_000 + int(fraction)
    if micros > MAX_MICROS:
        return None, "above 2^63 - 1 micro-units"
    return micros, None


ROOT_A = v1.ROOT_A
ROOT_B = v1.ROOT_B
ROOT_C = "0x" + hashlib.sha256(b"root tx c").hexdigest()
AGENT_A, AGENT_B, AGENT_C = v1.AGENT_A, v1.AGENT_B, v1.AGENT_C
# Agent a's manifest is the real vector endpoint_manifest[0] of vectors_v1.json (agent a on
# base, hot key "hot a"), so receipts that agent a signs verify against the key it declares.
MANIFEST_A = v1.sha256_id(v1.message(
    "Kagami endpoint manifest v1",
    [("chain", "base"), ("agent", AGENT_A), ("endpoint", "https://agent-a.example/x402/forward"),
     ("pubkey", v1.pubkeys("hot a")["address"]), ("nonce", "1"),
     ("valid-from", "2026-01-16T00:00:00Z"), ("valid-until", "2026-01-17T00:00:00Z")]))
MANIFEST_B = v1.MANIFEST_B  # any 32-byte value: only the format matters here
MANIFEST_C = v1.MANIFEST_C
# Every agent signs with its operational ("hot") key, the one its v1 manifest vector declares.
HOT = {AGENT_A: v1.key("hot a"), AGENT_B: v1.key("hot b"), AGENT_C: v1.key("hot c")}

# (chain, root-tx, hop, from, to, manifest, amount, nonce); signed by `from`.
ORDERS = [
    ("base", ROOT_A, "0", AGENT_C, AGENT_A, MANIFEST_A, amount(12_500_000), "1"),
    ("base", ROOT_A, "1", AGENT_A, AGENT_B, MANIFEST_B, amount(12_250_000), "7"),
    ("base-sepolia", ROOT_B, "10", AGENT_B, AGENT_C, MANIFEST_C, amount(MAX_MICROS),
     "9223372036854775807"),
    ("base", ROOT_C, "0", AGENT_A, AGENT_C, MANIFEST_C, amount(0), "0"),
    ("eth-mainnet-1", ROOT_B, "3", AGENT_C, AGENT_B, MANIFEST_B, amount(1), "42"),
]


def order_message(values):
    return v1.message(ORDER_TAG, list(zip(ORDER_KEYS, values)))


ORDER_IDS = [v1.sha256_id(order_message(o)) for o in ORDERS]

# (chain, root-tx, hop, from, to, manifest, order, next-hop, nonce); signed by `to`.
# Receipts 0-3 acknowledge orders 0-3 line for line; receipt 4 names order 4 but not its `to`.
RECEIPTS = [
    ("base", ROOT_A, "0", AGENT_C, AGENT_A, MANIFEST_A, ORDER_IDS[0], v1.next_hop_id(ROOT_A, AGENT_B),
     "1"),
    ("base", ROOT_A, "1", AGENT_A, AGENT_B, MANIFEST_B, ORDER_IDS[1], "none", "7"),
    ("base-sepolia", ROOT_B, "10", AGENT_B, AGENT_C, MANIFEST_C, ORDER_IDS[2],
     v1.next_hop_id(ROOT_B, AGENT_A), "9223372036854775807"),
    ("base", ROOT_C, "0", AGENT_A, AGENT_C, MANIFEST_C, ORDER_IDS[3], "none", "0"),
    ("eth-mainnet-1", ROOT_B, "3", AGENT_C, AGENT_A, MANIFEST_B, ORDER_IDS[4], "none", "42"),
]

# (chain, root-tx, payer, first-hop, routing, amount, lock-until); signed by payer and first-hop.
COMMITMENTS = [
    ("base", ROOT_A, AGENT_C, AGENT_A, v1.sha256_id("route plan of root a"), amount(12_500_000),
     "2026-01-16T01:00:00Z"),
    ("base-sepolia", ROOT_B, AGENT_B, AGENT_C, v1.sha256_id("route plan of root b"),
     amount(MAX_MICROS), "9999-12-31T23:59:59Z"),
    ("base", ROOT_C, AGENT_A, AGENT_C, "0x" + "00" * 32, amount(1), "2026-02-28T23:59:59Z"),
    ("eth-mainnet-1", "0x" + "ff" * 32, AGENT_C, AGENT_B, v1.sha256_id("route plan of root d"),
     amount(1_000_000_000_000), "2038-01-19T03:14:08Z"),
]


def signature_entry(text, agent, v_form):
    private_key = HOT[agent]
    return {
        "private_key": private_key,
        "signer": Account.from_key(private_key).address.lower(),
        "v_form": v_form,
        "signature": v1.sign(text, private_key, v_form),
    }


def signed_row(tag, keys, values, signer_agent, v_form):
    fields = list(zip(keys, values))
    text = v1.message(tag, fields)
    return {"fields": dict(fields), "message": text, "id": v1.sha256_id(text),
            **signature_entry(text, signer_agent, v_form)}


def vectors():
    orders = [signed_row(ORDER_TAG, ORDER_KEYS, o, o[3], "0/1" if i == 1 else "27/28")
              for i, o in enumerate(ORDERS)]
    receipts = [signed_row(RECEIPT_V2_TAG, RECEIPT_V2_KEYS, r, r[4], "0/1" if i == 1 else "27/28")
                for i, r in enumerate(RECEIPTS)]
    commitments = []
    for i, c in enumerate(COMMITMENTS):
        fields = list(zip(COMMITMENT_KEYS, c))
        text = v1.message(COMMITMENT_TAG, fields)
        commitments.append({
            "fields": dict(fields), "message": text, "id": v1.sha256_id(text),
            "signatures": {
                "payer": signature_entry(text, c[2], "0/1" if i == 1 else "27/28"),
                "first-hop": signature_entry(text, c[3], "0/1" if i == 2 else "27/28"),
            },
        })
    return {"forward_order": orders, "forward_receipt_v2": receipts, "commitment": commitments}


def hops(vs):
    """Which (order, receipt) pairs are a hop of the settlement graph, and why not."""
    out = []
    for i, (order, receipt) in enumerate(zip(vs["forward_order"], vs["forward_receipt_v2"])):
        names_it = receipt["fields"]["order"] == order["id"]
        mismatched = [k for k in HOP_KEYS if order["fields"][k] != receipt["fields"][k]]
        row = {"order": i, "receipt": i, "is_hop": names_it and not mismatched}
        if mismatched:
            row["mismatched"] = mismatched
        out.append(row)
    return out


def rejections(vs):
    order = vs["forward_order"][0]
    receipt = vs["forward_receipt_v2"][0]
    commitment = vs["commitment"][0]

    # The v2 receipt's fields without its order line render the v1 receipt.
    as_v1 = {k: v for k, v in receipt["fields"].items() if k != "order"}
    as_v1_text = v1.message(RECEIPT_V1_TAG, [(k, as_v1[k]) for k in RECEIPT_V1_KEYS])

    # A v1 receipt by the same key, over the same hop: adding an order line makes it v2.
    plain = vs["forward_receipt_v2"][1]
    plain_v1 = {k: v for k, v in plain["fields"].items() if k != "order"}
    plain_v1_text = v1.message(RECEIPT_V1_TAG, [(k, plain_v1[k]) for k in RECEIPT_V1_KEYS])
    plain_v1_signature = v1.sign(plain_v1_text, plain["private_key"], "27/28")

    tampered = dict(order["fields"], amount=amount(13_500_000))
    tampered_text = v1.message(ORDER_TAG, [(k, tampered[k]) for k in ORDER_KEYS])

    # Signed by the right key, but over text no verifier rebuilds: "12.5" is not an amount.
    sloppy = dict(order["fields"], amount="12.5")
    sloppy_text = v1.message(ORDER_TAG, [(k, sloppy[k]) for k in ORDER_KEYS])
    assert parse_amount("12.5")[0] is None

    payer = commitment["signatures"]["payer"]
    first_hop = commitment["signatures"]["first-hop"]
    return [
        {"case": "v2 receipt signature checked as the v1 message of the same fields",
         "kind": "forward_receipt", "fields": as_v1, "message": as_v1_text,
         "signature": receipt["signature"], "expected_signer": receipt["signer"], "error": "wrong_signer"},
        {"case": "v1 receipt signature checked as the v2 message naming an order",
         "kind": "forward_receipt_v2", "fields": plain["fields"], "message": plain["message"],
         "signature": plain_v1_signature, "expected_signer": plain["signer"], "error": "wrong_signer"},
        {"case": "order amount changed after signing", "kind": "forward_order", "fields": tampered,
         "message": tampered_text, "signature": order["signature"], "expected_signer": order["signer"],
         "error": "wrong_signer"},
        {"case": "order signature presented for the receipt of the same hop",
         "kind": "forward_receipt_v2", "fields": receipt["fields"], "message": receipt["message"],
         "signature": order["signature"], "expected_signer": order["signer"], "error": "wrong_signer"},
        {"case": "commitment checked against the first-hop agent with only the payer's signature",
         "kind": "commitment", "fields": commitment["fields"], "message": commitment["message"],
         "signature": payer["signature"], "expected_signer": first_hop["signer"], "error": "wrong_signer"},
        {"case": "order text with a non-canonical amount, validly signed by the payer",
         "kind": "forward_order", "fields": sloppy, "message": sloppy_text,
         "signature": v1.sign(sloppy_text, order["private_key"], "27/28"),
         "expected_signer": order["signer"], "error": "invalid_amount"},
    ]


def canonical_forms():
    accepted = ["0.000000", "0.000001", "12.500000", "1000000.000000", amount(MAX_MICROS)]
    rejected = {
        "12.5": "fewer than six decimals",
        "012.500000": "leading zero in the whole part",
        "1.0000000": "more than six decimals",
        "-1.000000": "sign",
        "+1.000000": "sign",
        "1e3": "exponent, no decimals",
        ".500000": "no whole part",
        "1.": "no decimals",
        "12": "no dot and no decimals",
        "1,000.000000": "digit grouping",
        " 1.000000": "surrounding space",
        "9223372036854.775808": "one micro-unit above 2^63 - 1 micro-units",
        "18446744073709.551616": "2^64 micro-units, above 2^63 - 1",
    }
    out = []
    for text in accepted:
        micros, _ = parse_amount(text)
        assert amount(micros) == text
        out.append({"type": "amount", "input": text, "canonical": text, "micros": str(micros)})
    for text, reason in rejected.items():
        assert parse_amount(text)[0] is None, text
        out.append({"type": "amount", "input": text, "error": "invalid_amount", "reason": reason})
    return out


if __name__ == "__main__":
    vs = vectors()
    doc = {
        "protocol": "Kagami v2",
        "spec": "docs/PROTOCOL.md, section 11",
        "generator": "crates/crypto/testdata/gen_vectors_v2.py (eth-account, independent of the Rust code)",
        "vectors": vs,
        "hops": hops(vs),
        "rejections": rejections(vs),
        "canonical_forms": canonical_forms(),
    }
    print(json.dumps(doc, indent=2, ensure_ascii=False))
