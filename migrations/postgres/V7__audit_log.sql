-- The verifiable audit log (docs/PROTOCOL.md §14). Every accepted object becomes one entry,
-- written in the transaction that accepts it (leaf_index NULL: pending); the sequencer gives
-- pending entries their leaf index in batches, stores the tree's hashes (RFC 9162, laid out
-- as kagami_tlog::stored_hash_index) and signs a checkpoint of each new size.

CREATE TABLE kagami_log_entries (
    seq           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text        NOT NULL CHECK (kind ~ '^[a-z_]{1,32}$'),
    object_key    text        NOT NULL CHECK (object_key <> ''),
    entry         bytea       NOT NULL,
    leaf_hash     bytea       NOT NULL CHECK (octet_length(leaf_hash) = 32),
    created_at    timestamptz NOT NULL,
    leaf_index    bigint      NULL CHECK (leaf_index >= 0),
    integrated_at timestamptz NULL,
    CONSTRAINT uq_log_leaf_index UNIQUE (leaf_index),
    CONSTRAINT ck_log_integrated CHECK ((leaf_index IS NULL) = (integrated_at IS NULL))
);

-- What the sequencer integrates next, oldest first.
CREATE INDEX idx_log_pending ON kagami_log_entries (seq) WHERE leaf_index IS NULL;
-- Proofs by leaf hash, bundles by object.
CREATE INDEX idx_log_leaf_hash ON kagami_log_entries (leaf_hash);
CREATE INDEX idx_log_object ON kagami_log_entries (kind, object_key, seq);

CREATE TABLE kagami_log_hashes (
    idx  bigint PRIMARY KEY CHECK (idx >= 0),
    hash bytea  NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE TABLE kagami_log_checkpoints (
    tree_size  bigint      PRIMARY KEY CHECK (tree_size >= 0),
    root       bytea       NOT NULL CHECK (octet_length(root) = 32),
    checkpoint text        NOT NULL,
    created_at timestamptz NOT NULL
);

-- ---- append-only evidence ---------------------------------------------------------------------
-- Refuses DELETE, TRUNCATE, and any UPDATE that changes a column other than those named as the
-- trigger's arguments (the state that legitimately changes beside the signed evidence).
CREATE FUNCTION kagami_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - TG_ARGV) = (to_jsonb(OLD) - TG_ARGV) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'kagami: % of evidence in % refused (append-only)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'KG001';
END
$$;

-- A log entry's leaf index is set once, when it is integrated.
CREATE FUNCTION kagami_refuse_reindex() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.leaf_index IS NOT NULL THEN
        RAISE EXCEPTION 'kagami: log entry % is integrated; its index is fixed (append-only)', OLD.seq
            USING ERRCODE = 'KG001';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tg_log_entries_append_only BEFORE UPDATE OR DELETE ON kagami_log_entries
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite('leaf_index', 'integrated_at');
CREATE TRIGGER tg_log_entries_index_once BEFORE UPDATE ON kagami_log_entries
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_reindex();
CREATE TRIGGER tg_log_hashes_append_only BEFORE UPDATE OR DELETE ON kagami_log_hashes
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite();
CREATE TRIGGER tg_log_checkpoints_append_only BEFORE UPDATE OR DELETE ON kagami_log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite();

CREATE TRIGGER tg_manifests_append_only BEFORE UPDATE OR DELETE ON erc8004_endpoint_manifests
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite('status', 'revoked_at');
CREATE TRIGGER tg_receipts_append_only BEFORE UPDATE OR DELETE ON erc8004_forward_receipts
    FOR EACH ROW EXECUTE FUNCTION
    kagami_refuse_rewrite('is_valid', 'invalidated_at', 'invalidation_reason');
CREATE TRIGGER tg_settlements_append_only BEFORE UPDATE OR DELETE ON erc8004_settlements
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite('status');
CREATE TRIGGER tg_slashes_append_only BEFORE UPDATE OR DELETE ON erc8004_slashes
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite();
CREATE TRIGGER tg_payouts_append_only BEFORE UPDATE OR DELETE ON kagami_payouts
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite();
CREATE TRIGGER tg_incidents_append_only BEFORE UPDATE OR DELETE ON erc8004_mev_incidents
    FOR EACH ROW EXECUTE FUNCTION kagami_refuse_rewrite();
CREATE TRIGGER tg_commitments_append_only BEFORE UPDATE OR DELETE ON erc8004_onchain_commitments
    FOR EACH ROW EXECUTE FUNCTION
    kagami_refuse_rewrite('status', 'onchain_tx_hash', 'disputed_by_manifest_hash', 'updated_at');

CREATE FUNCTION kagami_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'kagami: TRUNCATE of evidence in % refused (append-only)', TG_TABLE_NAME
        USING ERRCODE = 'KG001';
END
$$;

CREATE TRIGGER tg_log_entries_no_truncate BEFORE TRUNCATE ON kagami_log_entries
    FOR EACH STATEMENT EXECUTE FUNCTION kagami_refuse_truncate();
CREATE TRIGGER tg_log_hashes_no_truncate BEFORE TRUNCATE ON kagami_log_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION kagami_refuse_truncate();
CREATE TRIGGER tg_log_checkpoints_no_truncate BEFORE TRUNCATE ON kagami_log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION kagami_refuse_truncate();
