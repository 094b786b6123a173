-- Protocol v2: payer-signed forward orders, co-signed commitments, the ledger of money
-- movements, idempotent MEV incidents on signed evidence.

-- ---- forward orders ---------------------------------------------------------------------

-- A receipt v2 is stored with the order it acknowledges; a v1 receipt has none (readable
-- evidence, never an edge of the settlement graph).
ALTER TABLE erc8004_forward_receipts
    ADD COLUMN order_hash      text          NULL CHECK (order_hash ~ '^0x[0-9a-f]{64}$'),
    ADD COLUMN order_nonce     bigint        NULL CHECK (order_nonce >= 0),
    ADD COLUMN order_signature text          NULL CHECK (order_signature ~ '^0x[0-9a-f]{130}$'),
    ADD COLUMN amount          numeric(20,6) NULL CHECK (amount >= 0),
    ADD CONSTRAINT ck_receipts_order
        CHECK (num_nulls(order_hash, order_nonce, order_signature, amount) IN (0, 4));

CREATE UNIQUE INDEX uq_receipts_order ON erc8004_forward_receipts (order_hash)
    WHERE order_hash IS NOT NULL;
CREATE UNIQUE INDEX uq_receipts_source_order_nonce
    ON erc8004_forward_receipts (source_agent_uuid, order_nonce) WHERE order_nonce IS NOT NULL;

-- ---- settlements: who was liable, which receipt closed the loop ------------------------------

ALTER TABLE erc8004_settlements
    ADD COLUMN liable_agents        uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN closing_receipt_hash text   NULL
        CHECK (closing_receipt_hash ~ '^0x[0-9a-f]{64}$');

-- Before v2 every agent of a loop was slashed.
UPDATE erc8004_settlements SET liable_agents = cycle_agents;

-- ---- the ledger -------------------------------------------------------------------------------

-- What became of slashed money: a bounty to a reporter, or retained. For every cause (a
-- settlement, a disputed commitment, an MEV incident) the slashes (erc8004_slashes) equal the
-- payouts; the view kagami_ledger lists both sides.
CREATE TABLE kagami_payouts (
    id               uuid          PRIMARY KEY,
    seq              bigint        GENERATED ALWAYS AS IDENTITY,
    kind             text          NOT NULL CHECK (kind IN ('bounty', 'retained')),
    settlement_id    uuid          NULL
                                   CONSTRAINT fk_payouts_settlement REFERENCES erc8004_settlements (id),
    incident_id      uuid          NULL
                                   CONSTRAINT fk_payouts_incident REFERENCES erc8004_mev_incidents (id),
    commitment_id    uuid          NULL
                                   CONSTRAINT fk_payouts_commitment
                                   REFERENCES erc8004_onchain_commitments (id),
    reporter_address text          NULL CHECK (reporter_address ~ '^0x[0-9a-f]{40}$'),
    amount           numeric(20,6) NOT NULL CHECK (amount > 0),
    created_at       timestamptz   NOT NULL,
    CONSTRAINT ck_payouts_one_cause CHECK (num_nonnulls(settlement_id, incident_id, commitment_id) = 1),
    CONSTRAINT ck_payouts_bounty CHECK ((kind = 'bounty') = (reporter_address IS NOT NULL))
);

CREATE INDEX idx_payouts_settlement ON kagami_payouts (settlement_id) WHERE settlement_id IS NOT NULL;

-- Settlements made before v2 could pay a bounty above what they slashed (minted money): the
-- ledger pays at most the slashes, and the settlement's bounty says so.
UPDATE erc8004_settlements SET bounty = LEAST(bounty, total_slashed) WHERE bounty IS NOT NULL;

INSERT INTO kagami_payouts (id, kind, settlement_id, reporter_address, amount, created_at)
SELECT gen_random_uuid(), 'bounty', id, reporter_address, bounty, created_at
FROM erc8004_settlements WHERE bounty > 0;

INSERT INTO kagami_payouts (id, kind, settlement_id, amount, created_at)
SELECT gen_random_uuid(), 'retained', s.id, sum(x.amount) - coalesce(s.bounty, 0), s.created_at
FROM erc8004_settlements s JOIN erc8004_slashes x ON x.settlement_id = s.id
GROUP BY s.id, s.bounty, s.created_at
HAVING sum(x.amount) - coalesce(s.bounty, 0) > 0;

INSERT INTO kagami_payouts (id, kind, incident_id, amount, created_at)
SELECT gen_random_uuid(), 'retained', incident_id, amount, created_at
FROM erc8004_slashes WHERE incident_id IS NOT NULL;

INSERT INTO kagami_payouts (id, kind, commitment_id, amount, created_at)
SELECT gen_random_uuid(), 'retained', commitment_id, amount, created_at
FROM erc8004_slashes WHERE commitment_id IS NOT NULL;

CREATE VIEW kagami_ledger AS
SELECT id, 'slash' AS entry, agent_uuid, NULL::text AS reporter_address, amount, settlement_id,
       incident_id, commitment_id, created_at
FROM erc8004_slashes
UNION ALL
SELECT id, kind, NULL, reporter_address, amount, settlement_id, incident_id, commitment_id,
       created_at
FROM kagami_payouts;

-- ---- co-signed commitments ------------------------------------------------------------------

ALTER TABLE erc8004_onchain_commitments
    ADD COLUMN payer_agent               uuid NULL
                                         CONSTRAINT fk_commitments_payer REFERENCES erc8004_agents (id),
    ADD COLUMN payer_signature           text NULL CHECK (payer_signature ~ '^0x[0-9a-f]{130}$'),
    ADD COLUMN first_hop_signature       text NULL
                                         CHECK (first_hop_signature ~ '^0x[0-9a-f]{130}$'),
    ADD COLUMN first_hop_manifest_hash   text NULL
                                         CHECK (first_hop_manifest_hash ~ '^0x[0-9a-f]{64}$'),
    ADD COLUMN disputed_by_manifest_hash text NULL
                                         CHECK (disputed_by_manifest_hash ~ '^0x[0-9a-f]{64}$'),
    ADD CONSTRAINT ck_commitments_cosigned
        CHECK (num_nulls(payer_agent, payer_signature, first_hop_signature,
                         first_hop_manifest_hash) IN (0, 4));

CREATE INDEX idx_commitments_open ON erc8004_onchain_commitments (first_hop_agent)
    WHERE status IN ('pending', 'confirmed') AND first_hop_signature IS NOT NULL;

-- ---- MEV incidents on signed evidence ------------------------------------------------------------

ALTER TABLE erc8004_mev_incidents
    ADD COLUMN attack_tx_hash text NULL CHECK (attack_tx_hash ~ '^0x[0-9a-f]{64}$'),
    ADD COLUMN attack_tx      text NULL CHECK (attack_tx ~ '^0x[0-9a-f]+$'),
    ADD COLUMN attack_signer  text NULL CHECK (attack_signer ~ '^0x[0-9a-f]{40}$');

CREATE UNIQUE INDEX uq_mev_attack_tx ON erc8004_mev_incidents (attack_tx_hash)
    WHERE attack_tx_hash IS NOT NULL;
