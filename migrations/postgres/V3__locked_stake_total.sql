-- The stake an agent has locked is kept as a running total on its stake row, so that
-- recording a forward costs the same whatever the agent's history (it used to sum every
-- active lock, a scan that grew with each recorded hop).
--
-- Invariant: erc8004_agent_stakes.locked = sum(amount) of the agent's locks WHERE counted.
-- A lock is counted from its insertion until a writer holding the agent's stake row finds it
-- released or expired and takes it off the total (once: counted goes true -> false, never
-- back). A reader subtracts what is counted but no longer active; that backlog is bounded by
-- what lapsed since the agent's last write, found through the partial indexes below.

ALTER TABLE erc8004_agent_stakes
    ADD COLUMN locked numeric(20,6) NOT NULL DEFAULT 0,
    ADD CONSTRAINT ck_stakes_locked CHECK (locked >= 0);

ALTER TABLE erc8004_stake_utilization
    ADD COLUMN counted boolean NOT NULL DEFAULT false;

UPDATE erc8004_stake_utilization SET counted = true
WHERE released_at IS NULL AND expires_at > now();

UPDATE erc8004_agent_stakes s SET locked = u.total
FROM (SELECT agent_uuid, sum(amount) AS total
      FROM erc8004_stake_utilization WHERE counted GROUP BY agent_uuid) u
WHERE s.agent_uuid = u.agent_uuid;

DROP INDEX idx_stake_utilization_agent;
CREATE INDEX idx_stake_utilization_counted ON erc8004_stake_utilization (agent_uuid, expires_at)
    WHERE counted;
CREATE INDEX idx_stake_utilization_counted_released ON erc8004_stake_utilization (agent_uuid)
    WHERE counted AND released_at IS NOT NULL;

-- A root's own active locks are looked up by root and agent, never by walking the agent's.
DROP INDEX idx_stake_utilization_root;
CREATE INDEX idx_stake_utilization_root ON erc8004_stake_utilization (root_tx_hash, agent_uuid)
    WHERE released_at IS NULL;
