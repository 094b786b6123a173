-- Protocol v2: payer-signed forward orders, co-signed commitments, the ledger of money
-- movements, idempotent MEV incidents on signed evidence. (The PostgreSQL migration of the
-- same name explains each change.)

ALTER TABLE erc8004_forward_receipts ADD COLUMN order_hash TEXT
    CHECK (order_hash IS NULL OR (length(order_hash) = 66 AND order_hash GLOB '0x*'
                                  AND substr(order_hash, 3) NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE erc8004_forward_receipts ADD COLUMN order_nonce INTEGER
    CHECK (order_nonce IS NULL OR order_nonce >= 0);
ALTER TABLE erc8004_forward_receipts ADD COLUMN order_signature TEXT
    CHECK (order_signature IS NULL OR (length(order_signature) = 132
                                       AND order_signature GLOB '0x*'
                                       AND substr(order_signature, 3) NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE erc8004_forward_receipts ADD COLUMN amount INTEGER
    CHECK (amount IS NULL OR amount >= 0);

CREATE UNIQUE INDEX uq_receipts_order ON erc8004_forward_receipts (order_hash)
    WHERE order_hash IS NOT NULL;
CREATE UNIQUE INDEX uq_receipts_source_order_nonce
    ON erc8004_forward_receipts (source_agent_uuid, order_nonce) WHERE order_nonce IS NOT NULL;

CREATE TRIGGER ck_receipts_order BEFORE INSERT ON erc8004_forward_receipts
WHEN (NEW.order_hash IS NULL) + (NEW.order_nonce IS NULL) + (NEW.order_signature IS NULL)
     + (NEW.amount IS NULL) NOT IN (0, 4)
BEGIN
    SELECT RAISE(ABORT, 'ck_receipts_order: an order is stored whole or not at all');
END;

ALTER TABLE erc8004_settlements ADD COLUMN liable_agents TEXT NOT NULL DEFAULT '[]';
ALTER TABLE erc8004_settlements ADD COLUMN closing_receipt_hash TEXT
    CHECK (closing_receipt_hash IS NULL
           OR (length(closing_receipt_hash) = 66 AND closing_receipt_hash GLOB '0x*'
               AND substr(closing_receipt_hash, 3) NOT GLOB '*[^0-9a-f]*'));
UPDATE erc8004_settlements SET liable_agents = cycle_agents;

CREATE TABLE kagami_payouts (
    id               TEXT    NOT NULL PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('bounty', 'retained')),
    settlement_id    TEXT    REFERENCES erc8004_settlements (id),
    incident_id      TEXT    REFERENCES erc8004_mev_incidents (id),
    commitment_id    TEXT    REFERENCES erc8004_onchain_commitments (id),
    reporter_address TEXT
                     CHECK (reporter_address IS NULL
                            OR (length(reporter_address) = 42 AND reporter_address GLOB '0x*'
                                AND substr(reporter_address, 3) NOT GLOB '*[^0-9a-f]*')),
    amount           INTEGER NOT NULL CHECK (amount > 0),
    created_at       INTEGER NOT NULL,
    CHECK ((settlement_id IS NOT NULL) + (incident_id IS NOT NULL)
           + (commitment_id IS NOT NULL) = 1),
    CHECK ((kind = 'bounty') = (reporter_address IS NOT NULL))
);

CREATE INDEX idx_payouts_settlement ON kagami_payouts (settlement_id)
    WHERE settlement_id IS NOT NULL;

UPDATE erc8004_settlements SET bounty = min(bounty, total_slashed) WHERE bounty IS NOT NULL;

INSERT INTO kagami_payouts (id, kind, settlement_id, reporter_address, amount, created_at)
SELECT lower(hex(randomblob(16))), 'bounty', id, reporter_address, bounty, created_at
FROM erc8004_settlements WHERE bounty > 0;

INSERT INTO kagami_payouts (id, kind, settlement_id, amount, created_at)
SELECT lower(hex(randomblob(16))), 'retained', s.id, sum(x.amount) - coalesce(s.bounty, 0),
       s.created_at
FROM erc8004_settlements s JOIN erc8004_slashes x ON x.settlement_id = s.id
GROUP BY s.id
HAVING sum(x.amount) - coalesce(s.bounty, 0) > 0;

INSERT INTO kagami_payouts (id, kind, incident_id, amount, created_at)
SELECT lower(hex(randomblob(16))), 'retained', incident_id, amount, created_at
FROM erc8004_slashes WHERE incident_id IS NOT NULL;

INSERT INTO kagami_payouts (id, kind, commitment_id, amount, created_at)
SELECT lower(hex(randomblob(16))), 'retained', commitment_id, amount, created_at
FROM erc8004_slashes WHERE commitment_id IS NOT NULL;

CREATE VIEW kagami_ledger AS
SELECT id, 'slash' AS entry, agent_uuid, NULL AS reporter_address, amount, settlement_id,
       incident_id, commitment_id, created_at
FROM erc8004_slashes
UNION ALL
SELECT id, kind, NULL, reporter_address, amount, settlement_id, incident_id, commitment_id,
       created_at
FROM kagami_payouts;

ALTER TABLE erc8004_onchain_commitments ADD COLUMN payer_agent TEXT
    REFERENCES erc8004_agents (id);
ALTER TABLE erc8004_onchain_commitments ADD COLUMN payer_signature TEXT
    CHECK (payer_signature IS NULL OR (length(payer_signature) = 132
                                       AND payer_signature GLOB '0x*'
                                       AND substr(payer_signature, 3) NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE erc8004_onchain_commitments ADD COLUMN first_hop_signature TEXT
    CHECK (first_hop_signature IS NULL
           OR (length(first_hop_signature) = 132 AND first_hop_signature GLOB '0x*'
               AND substr(first_hop_signature, 3) NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE erc8004_onchain_commitments ADD COLUMN first_hop_manifest_hash TEXT
    CHECK (first_hop_manifest_hash IS NULL
           OR (length(first_hop_manifest_hash) = 66 AND first_hop_manifest_hash GLOB '0x*'
               AND substr(first_hop_manifest_hash, 3) NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE erc8004_onchain_commitments ADD COLUMN disputed_by_manifest_hash TEXT
    CHECK (disputed_by_manifest_hash IS NULL
           OR (length(disputed_by_manifest_hash) = 66 AND disputed_by_manifest_hash GLOB '0x*'
               AND substr(disputed_by_manifest_hash, 3) NOT GLOB '*[^0-9a-f]*'));

CREATE TRIGGER ck_commitments_cosigned BEFORE INSERT ON erc8004_onchain_commitments
WHEN (NEW.payer_agent IS NULL) + (NEW.payer_signature IS NULL)
     + (NEW.first_hop_signature IS NULL) + (NEW.first_hop_manifest_hash IS NULL) NOT IN (0, 4)
BEGIN
    SELECT RAISE(ABORT, 'ck_commitments_cosigned: a commitment is co-signed whole or not at all');
END;

CREATE INDEX idx_commitments_open ON erc8004_onchain_commitments (first_hop_agent)
    WHERE status IN ('pending', 'confirmed') AND first_hop_signature IS NOT NULL;

ALTER TABLE erc8004_mev_incidents ADD COLUMN attack_tx_hash TEXT
    CHECK (attack_tx_hash IS NULL OR (length(attack_tx_hash) = 66 AND attack_tx_hash GLOB '0x*'
                                      AND substr(attack_tx_hash, 3) NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE erc8004_mev_incidents ADD COLUMN attack_tx TEXT
    CHECK (attack_tx IS NULL OR (attack_tx GLOB '0x*'
                                 AND substr(attack_tx, 3) NOT GLOB '*[^0-9a-f]*'));
ALTER TABLE erc8004_mev_incidents ADD COLUMN attack_signer TEXT
    CHECK (attack_signer IS NULL OR (length(attack_signer) = 42 AND attack_signer GLOB '0x*'
                                     AND substr(attack_signer, 3) NOT GLOB '*[^0-9a-f]*'));

CREATE UNIQUE INDEX uq_mev_attack_tx ON erc8004_mev_incidents (attack_tx_hash)
    WHERE attack_tx_hash IS NOT NULL;
