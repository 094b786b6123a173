#!/usr/bin/env python3
"""Generates vectors.json for kagami-tlog from the specifications alone.

An independent implementation, sharing no code with the Rust crate: the Merkle tree is the
naive recursive definition of RFC 6962 / RFC 9162 §2.1 (MTH, PATH, PROOF/SUBPROOF over the
list of entries, no stored-hash layout), checked here against the RFC 9162 §2.1.3.2 and
§2.1.4.2 verification algorithms; notes, checkpoints and proof bundles are built by hand from
c2sp.org/signed-note, c2sp.org/tlog-checkpoint and c2sp.org/tlog-proof, and signed with the
`cryptography` package's Ed25519 (RFC 8032, deterministic). The Rust tests reproduce every
value byte for byte.

    pip install cryptography==48.0.0
    python3 crates/tlog/testdata/gen_vectors.py > crates/tlog/testdata/vectors.json
"""

import base64
import hashlib
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def sha256(data):
    return hashlib.sha256(data).digest()


def b64(data):
    return base64.b64encode(data).decode()


# --- RFC 9162 §2.1.1: the Merkle Tree Hash and its proofs, by definition -----------------

def leaf_hash(entry):
    return sha256(b"\x00" + entry)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def split(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def mth(entries):
    n = len(entries)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hash(entries[0])
    k = split(n)
    return node_hash(mth(entries[:k]), mth(entries[k:]))


def path(m, entries):
    """PATH(m, D_n): the inclusion proof of entry m, leaf's sibling first."""
    n = len(entries)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return path(m, entries[:k]) + [mth(entries[k:])]
    return path(m - k, entries[k:]) + [mth(entries[:k])]


def subproof(m, entries, whole):
    n = len(entries)
    if m == n:
        return [] if whole else [mth(entries)]
    k = split(n)
    if m <= k:
        return subproof(m, entries[:k], whole) + [mth(entries[k:])]
    return subproof(m - k, entries[k:], False) + [mth(entries[:k])]


def proof(m, entries):
    """PROOF(m, D_n) for 0 < m <= n; empty when m == n."""
    return subproof(m, entries, True)


# --- RFC 9162 §2.1.3.2 and §2.1.4.2, to check the proofs above ---------------------------

def verify_inclusion(leaf, index, size, inclusion_path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in inclusion_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, consistency_path, first_hash, second_hash):
    if first == second:
        return not consistency_path and first_hash == second_hash
    if not consistency_path:
        return False
    if first & (first - 1) == 0:
        consistency_path = [first_hash] + consistency_path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = consistency_path[0]
    for c in consistency_path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


# --- c2sp.org/signed-note with Ed25519 -----------------------------------------------------

ED25519 = b"\x01"  # the signature type byte


class Key:
    def __init__(self, name, seed):
        self.name = name
        self.seed = seed
        self.private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = sha256(name.encode() + b"\n" + ED25519 + self.public)[:4]

    def verifier_key(self):
        return f"{self.name}+{self.key_id.hex()}+{b64(ED25519 + self.public)}"

    def signer_key(self):
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64(ED25519 + self.seed)}"

    def signature_line(self, text):
        signature = self.private.sign(text.encode())
        return f"\u2014 {self.name} {b64(self.key_id + signature)}\n"

    def describe(self):
        return {
            "name": self.name,
            "seed": self.seed.hex(),
            "public_key": self.public.hex(),
            "key_id": self.key_id.hex(),
            "verifier_key": self.verifier_key(),
            "signer_key": self.signer_key(),
        }


def signed_note(text, keys):
    assert text.endswith("\n")
    return text + "\n" + "".join(key.signature_line(text) for key in keys)


# --- c2sp.org/tlog-checkpoint and c2sp.org/tlog-proof --------------------------------------

def checkpoint_text(origin, size, root, extensions=()):
    return "".join(line + "\n" for line in [origin, str(size), b64(root), *extensions])


def tlog_proof(index, inclusion_path, signed_checkpoint, extra=None):
    lines = ["c2sp.org/tlog-proof@v1"]
    if extra is not None:
        lines.append("extra " + b64(extra))
    lines.append(f"index {index}")
    lines += [b64(h) for h in inclusion_path]
    return "".join(line + "\n" for line in lines) + "\n" + signed_checkpoint


# --- the vectors ---------------------------------------------------------------------------

SIZES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128,
         129, 255, 256, 257, 300, 333]
ENTRIES = [f"kagami tlog vector entry {i}".encode() for i in range(max(SIZES))]


def indices(size):
    """Several entry indices per size: both ends, the middle, and a spread in between."""
    picks = {0, 1, size // 2, size - 2, size - 1, (size * 7) // 13, (size * 11) // 17}
    return sorted(i for i in picks if 0 <= i < size)


def old_sizes(size):
    """Several old sizes per new size, including 1 and the size itself."""
    picks = {1, 2, 3, size // 2, size // 2 + 1, size - 1, size, (size * 5) // 9}
    return sorted(m for m in picks if 1 <= m <= size)


def main():
    roots = [{"size": n, "root": mth(ENTRIES[:n]).hex()} for n in SIZES]

    inclusion = []
    for n in SIZES:
        root = mth(ENTRIES[:n])
        for i in indices(n):
            p = path(i, ENTRIES[:n])
            assert verify_inclusion(leaf_hash(ENTRIES[i]), i, n, p, root)
            inclusion.append({"size": n, "index": i, "proof": [h.hex() for h in p]})

    consistency = []
    for n in SIZES:
        root = mth(ENTRIES[:n])
        for m in old_sizes(n):
            p = proof(m, ENTRIES[:n])
            old_root = mth(ENTRIES[:m])
            assert verify_consistency(m, n, p, old_root, root)
            consistency.append({"size1": m, "size2": n, "root1": old_root.hex(),
                                "root2": root.hex(), "proof": [h.hex() for h in p]})

    log = Key("log.kagami.example/vectors", sha256(b"kagami tlog vector log key"))
    witness = Key("witness.example/w1", sha256(b"kagami tlog vector witness key"))

    size, index = 300, 123
    root = mth(ENTRIES[:size])
    text = checkpoint_text(log.name, size, root)
    signed = signed_note(text, [log])
    cosigned = signed_note(text, [log, witness])
    with_extension = checkpoint_text(log.name, size, root, ["kagami: extension line"])
    empty = checkpoint_text(log.name, 0, sha256(b""))
    checkpoints = [
        {"size": size, "root": root.hex(), "extensions": [], "text": text,
         "signed_by": ["log"], "note": signed},
        {"size": size, "root": root.hex(), "extensions": [], "text": text,
         "signed_by": ["log", "witness"], "note": cosigned},
        {"size": size, "root": root.hex(), "extensions": ["kagami: extension line"],
         "text": with_extension, "signed_by": ["log"],
         "note": signed_note(with_extension, [log])},
        {"size": 0, "root": sha256(b"").hex(), "extensions": [], "text": empty,
         "signed_by": ["log"], "note": signed_note(empty, [log])},
    ]

    inclusion_path = path(index, ENTRIES[:size])
    bundles = [
        {"entry": ENTRIES[index].hex(), "index": index, "extra": None,
         "proof": [h.hex() for h in inclusion_path],
         "text": tlog_proof(index, inclusion_path, signed)},
        {"entry": ENTRIES[index].hex(), "index": index,
         "extra": b64(b"kagami: opaque extra data"),
         "proof": [h.hex() for h in inclusion_path],
         "text": tlog_proof(index, inclusion_path, cosigned, b"kagami: opaque extra data")},
        {"entry": ENTRIES[0].hex(), "index": 0, "extra": None, "proof": [],
         "text": tlog_proof(0, [], signed_note(checkpoint_text(log.name, 1, mth(ENTRIES[:1])),
                                                [log]))},
    ]

    print(json.dumps({
        "description": "kagami-tlog known-answer vectors; see gen_vectors.py",
        "entries": [e.hex() for e in ENTRIES],
        "leaf_hashes": [{"data": d.hex(), "hash": leaf_hash(d).hex()}
                        for d in [b"", b"\x00", b"\x01" * 64, ENTRIES[0]]],
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "keys": {"log": log.describe(), "witness": witness.describe()},
        "checkpoints": checkpoints,
        "bundles": bundles,
    }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
