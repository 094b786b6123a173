-- The agent's counted locks that are still unreleased — the ones a writer takes off the
-- running total once they expire — get an index whose predicate is exactly that condition,
-- keyed by agent and expiry.
--
-- Found by the soak: before the planner had statistics for erc8004_stake_utilization it
-- answered "this agent's counted, unreleased locks that expired" through
-- idx_stake_utilization_root (partial on released_at IS NULL) with agent_uuid as a
-- non-leading key, a walk of every unreleased lock of every agent: the buffers read per
-- stake read grew from 260 to 4,000 in eight minutes at 232 requests/s, and the latency
-- with them. With this index the lookup is one descent whatever the table holds; the
-- root's own locks are found by root alone (see STAKE_ACCOUNTS in the store).

DROP INDEX idx_stake_utilization_counted;
CREATE INDEX idx_stake_utilization_active ON erc8004_stake_utilization (agent_uuid, expires_at)
    WHERE counted AND released_at IS NULL;
