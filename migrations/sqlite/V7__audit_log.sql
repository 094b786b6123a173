-- The verifiable audit log (docs/PROTOCOL.md §14); the same tables as PostgreSQL's V7.

CREATE TABLE kagami_log_entries (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    object_key    TEXT    NOT NULL CHECK (length(object_key) > 0),
    entry         BLOB    NOT NULL,
    leaf_hash     BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    created_at    INTEGER NOT NULL,
    leaf_index    INTEGER NULL UNIQUE CHECK (leaf_index >= 0),
    integrated_at INTEGER NULL,
    CHECK ((leaf_index IS NULL) = (integrated_at IS NULL))
);

CREATE INDEX idx_log_pending ON kagami_log_entries (seq) WHERE leaf_index IS NULL;
CREATE INDEX idx_log_leaf_hash ON kagami_log_entries (leaf_hash);
CREATE INDEX idx_log_object ON kagami_log_entries (kind, object_key, seq);

CREATE TABLE kagami_log_hashes (
    idx  INTEGER PRIMARY KEY CHECK (idx >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE kagami_log_checkpoints (
    tree_size  INTEGER PRIMARY KEY CHECK (tree_size >= 0),
    root       BLOB    NOT NULL CHECK (length(root) = 32),
    checkpoint TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

-- ---- append-only evidence ---------------------------------------------------------------------
-- DELETE refused; UPDATE refused for every column but the state that legitimately changes
-- beside the signed evidence.

CREATE TRIGGER tg_log_entries_no_delete BEFORE DELETE ON kagami_log_entries
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_log_entries_no_rewrite
BEFORE UPDATE OF seq, kind, object_key, entry, leaf_hash, created_at ON kagami_log_entries
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_log_entries_index_once
BEFORE UPDATE OF leaf_index, integrated_at ON kagami_log_entries WHEN OLD.leaf_index IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'kagami: an integrated log entry keeps its index (append-only)'); END;

CREATE TRIGGER tg_log_hashes_no_delete BEFORE DELETE ON kagami_log_hashes
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_log_hashes_no_update BEFORE UPDATE ON kagami_log_hashes
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_log_checkpoints_no_delete BEFORE DELETE ON kagami_log_checkpoints
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_log_checkpoints_no_update BEFORE UPDATE ON kagami_log_checkpoints
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;

CREATE TRIGGER tg_manifests_no_delete BEFORE DELETE ON erc8004_endpoint_manifests
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_manifests_no_rewrite
BEFORE UPDATE OF id, agent_uuid, endpoint_uri, pubkey, nonce, valid_from, valid_until,
                 manifest_hash, signature, chain, created_at ON erc8004_endpoint_manifests
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;

CREATE TRIGGER tg_receipts_no_delete BEFORE DELETE ON erc8004_forward_receipts
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_receipts_no_rewrite
BEFORE UPDATE OF id, root_tx_hash, hop, source_agent_uuid, dest_agent_uuid, manifest_id,
                 manifest_hash, next_hop_hash, receipt_nonce, receipt_hash, signature, chain,
                 order_hash, order_nonce, order_signature, amount, created_at
ON erc8004_forward_receipts
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;

CREATE TRIGGER tg_settlements_no_delete BEFORE DELETE ON erc8004_settlements
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_slashes_no_delete BEFORE DELETE ON erc8004_slashes
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_slashes_no_update BEFORE UPDATE ON erc8004_slashes
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_payouts_no_delete BEFORE DELETE ON kagami_payouts
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_payouts_no_update BEFORE UPDATE ON kagami_payouts
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_incidents_no_delete BEFORE DELETE ON erc8004_mev_incidents
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_incidents_no_update BEFORE UPDATE ON erc8004_mev_incidents
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
CREATE TRIGGER tg_commitments_no_delete BEFORE DELETE ON erc8004_onchain_commitments
BEGIN SELECT RAISE(ABORT, 'kagami: evidence is append-only'); END;
