-- Keyset pagination and bounded reads (issue 12): every list endpoint reads one page by an
-- index range scan, and a manifest's status reads only the manifests whose window has not
-- ended, never the agent's whole history.

-- The manifests that can be in force at a time (valid_until > t), and those that meet a
-- commitment's time lock.
CREATE INDEX idx_manifests_agent_until ON erc8004_endpoint_manifests (agent_uuid, valid_until);

-- A root's trail in (hop, recording time, id) order, from any receipt on.
CREATE INDEX idx_receipts_root_order ON erc8004_forward_receipts (root_tx_hash, hop, created_at, id);

-- The ledger (a view over slashes and payouts) newest first, from any line on.
CREATE INDEX idx_slashes_created ON erc8004_slashes (created_at DESC, id);
CREATE INDEX idx_payouts_created ON kagami_payouts (created_at DESC, kind, id);
