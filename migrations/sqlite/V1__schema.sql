-- Kagami schema for the embedded SQLite backend: the PostgreSQL schema mirrored, same table and
-- column names. Conventions:
--   * ids and agent references: canonical lowercase hyphenated uuid TEXT;
--   * money: INTEGER micro-USDC (exact; never REAL);
--   * times: INTEGER unix seconds (whole seconds, always the service's `now`);
--   * hashes (0x + 64 hex) and addresses (0x + 40 hex): canonical lowercase TEXT;
--   * booleans: INTEGER 0/1.
-- Tables are STRICT, so a column of the wrong type is refused rather than coerced. The CHECKs
-- repeat the domain invariants so a bug in the Rust code hits a constraint instead of
-- corrupting data. Unique constraints carry the PostgreSQL names in comments; the store maps
-- SQLite's "UNIQUE constraint failed: table.columns" messages to those names.

CREATE TABLE erc8004_agents (
    id                TEXT    NOT NULL PRIMARY KEY
                      CHECK (length(id) = 36 AND id GLOB '????????-????-????-????-????????????'
                             AND id NOT GLOB '*[^0-9a-f-]*'),
    agent_id          INTEGER NOT NULL CHECK (agent_id > 0),
    chain             TEXT    NOT NULL
                      CHECK (length(chain) BETWEEN 1 AND 50 AND chain NOT GLOB '*[^a-z0-9-]*'),
    registry_address  TEXT    NOT NULL
                      CHECK (length(registry_address) = 42 AND registry_address GLOB '0x*'
                             AND substr(registry_address, 3) NOT GLOB '*[^0-9a-f]*'),
    owner_address     TEXT    NOT NULL
                      CHECK (length(owner_address) = 42 AND owner_address GLOB '0x*'
                             AND substr(owner_address, 3) NOT GLOB '*[^0-9a-f]*'),
    token_uri         TEXT,
    registration_file TEXT    CHECK (registration_file IS NULL OR json_valid(registration_file)),
    status            TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- uq_agents_registry
    CONSTRAINT uq_agents_registry UNIQUE (chain, registry_address, agent_id)
) STRICT;

CREATE TABLE erc8004_agent_stakes (
    agent_uuid TEXT    NOT NULL PRIMARY KEY REFERENCES erc8004_agents (id),
    staked     INTEGER NOT NULL,
    slashed    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CONSTRAINT ck_stakes_slashed CHECK (staked >= slashed AND slashed >= 0)
) STRICT;

CREATE TABLE erc8004_endpoint_manifests (
    id            TEXT    NOT NULL PRIMARY KEY
                  CHECK (length(id) = 36 AND id GLOB '????????-????-????-????-????????????'
                         AND id NOT GLOB '*[^0-9a-f-]*'),
    agent_uuid    TEXT    NOT NULL REFERENCES erc8004_agents (id),
    endpoint_uri  TEXT    NOT NULL CHECK (length(endpoint_uri) > 0),
    pubkey        TEXT    NOT NULL
                  CHECK (length(pubkey) IN (42, 68, 132) AND pubkey GLOB '0x*'
                         AND substr(pubkey, 3) NOT GLOB '*[^0-9a-f]*'),
    nonce         INTEGER NOT NULL CHECK (nonce >= 0),
    valid_from    INTEGER NOT NULL,
    valid_until   INTEGER NOT NULL,
    manifest_hash TEXT    NOT NULL
                  CHECK (length(manifest_hash) = 66 AND manifest_hash GLOB '0x*'
                         AND substr(manifest_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    signature     TEXT    NOT NULL
                  CHECK (length(signature) = 132 AND signature GLOB '0x*'
                         AND substr(signature, 3) NOT GLOB '*[^0-9a-f]*'),
    chain         TEXT    NOT NULL
                  CHECK (length(chain) BETWEEN 1 AND 50 AND chain NOT GLOB '*[^a-z0-9-]*'),
    status        TEXT    NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    CONSTRAINT uq_manifests_agent_nonce UNIQUE (agent_uuid, nonce),
    CONSTRAINT uq_manifests_hash UNIQUE (manifest_hash),
    CONSTRAINT ck_manifests_window CHECK (valid_until > valid_from),
    CONSTRAINT ck_manifests_revoked CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
) STRICT;

CREATE INDEX idx_manifests_agent ON erc8004_endpoint_manifests (agent_uuid);
CREATE INDEX idx_manifests_status ON erc8004_endpoint_manifests (status, valid_until DESC);
CREATE INDEX idx_manifests_hash ON erc8004_endpoint_manifests (manifest_hash);
CREATE INDEX idx_manifests_nonce ON erc8004_endpoint_manifests (agent_uuid, nonce DESC);

CREATE TABLE erc8004_manifest_flips (
    id                 TEXT    NOT NULL PRIMARY KEY,
    agent_uuid         TEXT    NOT NULL REFERENCES erc8004_agents (id),
    old_manifest_hash  TEXT    NOT NULL REFERENCES erc8004_endpoint_manifests (manifest_hash),
    new_manifest_hash  TEXT    NOT NULL REFERENCES erc8004_endpoint_manifests (manifest_hash),
    time_delta_seconds INTEGER NOT NULL,
    endpoint_changed   INTEGER NOT NULL CHECK (endpoint_changed IN (0, 1)),
    pubkey_changed     INTEGER NOT NULL CHECK (pubkey_changed IN (0, 1)),
    flip_hash          TEXT    NOT NULL
                       CHECK (length(flip_hash) = 66 AND flip_hash GLOB '0x*'
                              AND substr(flip_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    suspicion_score    INTEGER NOT NULL CHECK (suspicion_score BETWEEN 0 AND 100),
    alerted            INTEGER NOT NULL CHECK (alerted IN (0, 1)),
    created_at         INTEGER NOT NULL,
    CONSTRAINT ck_flips_distinct CHECK (old_manifest_hash <> new_manifest_hash)
) STRICT;

CREATE INDEX idx_flips_agent ON erc8004_manifest_flips (agent_uuid, created_at DESC);
-- A manifest replaces at most one other, so it is the new side of at most one flip.
CREATE UNIQUE INDEX idx_flips_new_manifest ON erc8004_manifest_flips (new_manifest_hash);

CREATE TABLE erc8004_forward_receipts (
    id                  TEXT    NOT NULL PRIMARY KEY,
    root_tx_hash        TEXT    NOT NULL
                        CHECK (length(root_tx_hash) = 66 AND root_tx_hash GLOB '0x*'
                               AND substr(root_tx_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    hop                 INTEGER NOT NULL CHECK (hop BETWEEN 0 AND 10),
    source_agent_uuid   TEXT    NOT NULL REFERENCES erc8004_agents (id),
    dest_agent_uuid     TEXT    NOT NULL REFERENCES erc8004_agents (id),
    manifest_id         TEXT    NOT NULL REFERENCES erc8004_endpoint_manifests (id),
    manifest_hash       TEXT    NOT NULL
                        CHECK (length(manifest_hash) = 66 AND manifest_hash GLOB '0x*'
                               AND substr(manifest_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    next_hop_hash       TEXT
                        CHECK (next_hop_hash IS NULL
                               OR (length(next_hop_hash) = 66 AND next_hop_hash GLOB '0x*'
                                   AND substr(next_hop_hash, 3) NOT GLOB '*[^0-9a-f]*')),
    receipt_nonce       INTEGER NOT NULL CHECK (receipt_nonce >= 0),
    receipt_hash        TEXT    NOT NULL
                        CHECK (length(receipt_hash) = 66 AND receipt_hash GLOB '0x*'
                               AND substr(receipt_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    signature           TEXT    NOT NULL
                        CHECK (length(signature) = 132 AND signature GLOB '0x*'
                               AND substr(signature, 3) NOT GLOB '*[^0-9a-f]*'),
    chain               TEXT    NOT NULL
                        CHECK (length(chain) BETWEEN 1 AND 50 AND chain NOT GLOB '*[^a-z0-9-]*'),
    is_valid            INTEGER NOT NULL CHECK (is_valid IN (0, 1)),
    invalidated_at      INTEGER,
    invalidation_reason TEXT,
    hop_irrational      INTEGER NOT NULL CHECK (hop_irrational IN (0, 1)),
    computational_cost  INTEGER NOT NULL CHECK (computational_cost >= 0),
    created_at          INTEGER NOT NULL,
    CONSTRAINT uq_receipts_hash UNIQUE (receipt_hash),
    CONSTRAINT uq_receipts_dest_nonce UNIQUE (dest_agent_uuid, receipt_nonce),
    CONSTRAINT ck_receipts_validity CHECK (is_valid = (invalidated_at IS NULL)),
    CONSTRAINT ck_receipts_reason CHECK ((invalidated_at IS NULL) = (invalidation_reason IS NULL))
) STRICT;

CREATE INDEX idx_receipts_root ON erc8004_forward_receipts (root_tx_hash, hop);

CREATE TABLE erc8004_settlements (
    id               TEXT    NOT NULL PRIMARY KEY,
    root_tx_hash     TEXT    NOT NULL
                     CHECK (length(root_tx_hash) = 66 AND root_tx_hash GLOB '0x*'
                            AND substr(root_tx_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    kind             TEXT    NOT NULL CHECK (kind IN ('cycle', 'extraction_loop')),
    -- JSON array of agent uuids, in path order.
    cycle_agents     TEXT    NOT NULL
                     CHECK (json_valid(cycle_agents) AND json_type(cycle_agents) = 'array'),
    depth            INTEGER NOT NULL CHECK (depth >= 0),
    total_slashed    INTEGER NOT NULL CHECK (total_slashed >= 0),
    reporter_address TEXT
                     CHECK (reporter_address IS NULL
                            OR (length(reporter_address) = 42 AND reporter_address GLOB '0x*'
                                AND substr(reporter_address, 3) NOT GLOB '*[^0-9a-f]*')),
    bounty           INTEGER CHECK (bounty IS NULL OR bounty >= 0),
    status           TEXT    NOT NULL CHECK (status IN ('provisional', 'final')),
    created_at       INTEGER NOT NULL,
    CONSTRAINT uq_settlements_root UNIQUE (root_tx_hash),
    CONSTRAINT ck_settlements_depth CHECK (depth = json_array_length(cycle_agents)),
    CONSTRAINT ck_settlements_bounty CHECK ((reporter_address IS NULL) = (bounty IS NULL))
) STRICT;

CREATE TABLE erc8004_onchain_commitments (
    id              TEXT    NOT NULL PRIMARY KEY,
    root_tx_hash    TEXT    NOT NULL
                    CHECK (length(root_tx_hash) = 66 AND root_tx_hash GLOB '0x*'
                           AND substr(root_tx_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    commitment_hash TEXT    NOT NULL
                    CHECK (length(commitment_hash) = 66 AND commitment_hash GLOB '0x*'
                           AND substr(commitment_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    chain           TEXT    NOT NULL
                    CHECK (length(chain) BETWEEN 1 AND 50 AND chain NOT GLOB '*[^a-z0-9-]*'),
    first_hop_agent TEXT    NOT NULL REFERENCES erc8004_agents (id),
    routing_hash    TEXT    NOT NULL
                    CHECK (length(routing_hash) = 66 AND routing_hash GLOB '0x*'
                           AND substr(routing_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    time_lock_until INTEGER NOT NULL,
    status          TEXT    NOT NULL
                    CHECK (status IN ('pending', 'confirmed', 'settled', 'disputed')),
    onchain_tx_hash TEXT
                    CHECK (onchain_tx_hash IS NULL
                           OR (length(onchain_tx_hash) = 66 AND onchain_tx_hash GLOB '0x*'
                               AND substr(onchain_tx_hash, 3) NOT GLOB '*[^0-9a-f]*')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CONSTRAINT uq_commitments_root UNIQUE (root_tx_hash),
    -- Confirmed and settled commitments were seen on chain; pending ones not yet.
    CONSTRAINT ck_commitments_onchain CHECK (
        (status IN ('confirmed', 'settled') AND onchain_tx_hash IS NOT NULL)
        OR (status = 'pending' AND onchain_tx_hash IS NULL)
        OR status = 'disputed')
) STRICT;

CREATE INDEX idx_commitments_first_hop ON erc8004_onchain_commitments (first_hop_agent, status);

CREATE TABLE erc8004_mev_incidents (
    id                  TEXT    NOT NULL PRIMARY KEY,
    root_tx_hash        TEXT    NOT NULL
                        CHECK (length(root_tx_hash) = 66 AND root_tx_hash GLOB '0x*'
                               AND substr(root_tx_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    attack_type         TEXT    NOT NULL
                        CHECK (attack_type IN ('frontrun', 'sandwich', 'timebandit',
                                               'extraction_loop')),
    attacker_agent_uuid TEXT    NOT NULL REFERENCES erc8004_agents (id),
    victim_agent_uuid   TEXT    REFERENCES erc8004_agents (id),
    extracted_value     INTEGER NOT NULL CHECK (extracted_value >= 0),
    block_number        INTEGER NOT NULL CHECK (block_number > 0),
    tx_index            INTEGER NOT NULL CHECK (tx_index >= 0),
    evidence_hash       TEXT    NOT NULL
                        CHECK (length(evidence_hash) = 66 AND evidence_hash GLOB '0x*'
                               AND substr(evidence_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    slashed_amount      INTEGER NOT NULL CHECK (slashed_amount >= 0),
    created_at          INTEGER NOT NULL
) STRICT;

CREATE INDEX idx_mev_incidents_attacker ON erc8004_mev_incidents (attacker_agent_uuid);
CREATE INDEX idx_mev_incidents_type ON erc8004_mev_incidents (attack_type);

-- Every change of an agent's `slashed` has one ledger row, tied to exactly one cause.
CREATE TABLE erc8004_slashes (
    id            TEXT    NOT NULL PRIMARY KEY,
    agent_uuid    TEXT    NOT NULL REFERENCES erc8004_agents (id),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    reason        TEXT    NOT NULL
                  CHECK (reason IN ('cycle_detected', 'extraction_loop_detected', 'mev_incident',
                                    'commitment_dispute')),
    settlement_id TEXT    REFERENCES erc8004_settlements (id),
    incident_id   TEXT    REFERENCES erc8004_mev_incidents (id),
    commitment_id TEXT    REFERENCES erc8004_onchain_commitments (id),
    created_at    INTEGER NOT NULL,
    CONSTRAINT ck_slashes_cause CHECK (
        (reason IN ('cycle_detected', 'extraction_loop_detected')
            AND settlement_id IS NOT NULL AND incident_id IS NULL AND commitment_id IS NULL)
        OR (reason = 'mev_incident'
            AND incident_id IS NOT NULL AND settlement_id IS NULL AND commitment_id IS NULL)
        OR (reason = 'commitment_dispute'
            AND commitment_id IS NOT NULL AND settlement_id IS NULL AND incident_id IS NULL))
) STRICT;

CREATE INDEX idx_slashes_agent ON erc8004_slashes (agent_uuid, created_at);
CREATE INDEX idx_slashes_settlement ON erc8004_slashes (settlement_id)
    WHERE settlement_id IS NOT NULL;

-- Stake locked per hop: active while `released_at IS NULL AND expires_at > now`.
CREATE TABLE erc8004_stake_utilization (
    id           TEXT    NOT NULL PRIMARY KEY,
    agent_uuid   TEXT    NOT NULL REFERENCES erc8004_agents (id),
    root_tx_hash TEXT    NOT NULL
                 CHECK (length(root_tx_hash) = 66 AND root_tx_hash GLOB '0x*'
                        AND substr(root_tx_hash, 3) NOT GLOB '*[^0-9a-f]*'),
    amount       INTEGER NOT NULL CHECK (amount >= 0),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    released_at  INTEGER
) STRICT;

CREATE INDEX idx_stake_utilization_agent ON erc8004_stake_utilization (agent_uuid, expires_at)
    WHERE released_at IS NULL;
CREATE INDEX idx_stake_utilization_root ON erc8004_stake_utilization (root_tx_hash)
    WHERE released_at IS NULL;

CREATE TABLE kagami_api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    key_hmac   BLOB    NOT NULL CHECK (length(key_hmac) = 32),
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'client')),
    label      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CONSTRAINT uq_api_keys_hmac UNIQUE (key_hmac)
) STRICT;

-- Forward-path churn over the last 24 hours, in hourly buckets (unix seconds of the hour's
-- start): manifests published, flips, and suspicious flips (score >= 70).
CREATE VIEW v_forward_path_churn_metrics AS
SELECT bucket,
       sum(manifest)   AS manifests_published,
       sum(flip)       AS flips,
       sum(suspicious) AS suspicious_flips
FROM (
    SELECT (created_at / 3600) * 3600 AS bucket, 1 AS manifest, 0 AS flip, 0 AS suspicious
    FROM erc8004_endpoint_manifests
    WHERE created_at >= unixepoch() - 86400
    UNION ALL
    SELECT (created_at / 3600) * 3600, 0, 1, (suspicion_score >= 70)
    FROM erc8004_manifest_flips
    WHERE created_at >= unixepoch() - 86400
)
GROUP BY bucket
ORDER BY bucket;
