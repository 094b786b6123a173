//! PgTx: AgentRows.

use super::*;

impl<C: GenericClient + Sync> AgentRows for PgTx<'_, C> {
    async fn insert_agent(&self, agent: &Agent) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_agents (id, agent_id, chain, registry_address, owner_address, \
             token_uri, registration_file, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &agent.uuid,
                &to_i64(agent.agent_id, "agent_id")?,
                &agent.chain.as_str(),
                &agent.registry_address.to_string(),
                &agent.owner_address.to_string(),
                &agent.token_uri,
                &agent.registration_file,
                &agent.status.as_str(),
                &ts(agent.created_at),
                &ts(agent.updated_at),
            ],
        )
        .await?;
        self.execute(
            "INSERT INTO erc8004_agent_stakes (agent_uuid, staked, slashed, updated_at) \
             VALUES ($1, 0, 0, $2)",
            &[&agent.uuid, &ts(agent.created_at)],
        )
        .await
        .map(drop)
    }

    async fn agent(&self, uuid: Uuid) -> Result<Option<Agent>> {
        self.one(
            concat!(
                "SELECT ",
                agent_columns!(),
                " FROM erc8004_agents WHERE id = $1"
            ),
            &[&uuid],
            sql::agent,
        )
        .await
    }

    async fn agents(&self, uuids: &[Uuid]) -> Result<Vec<Agent>> {
        self.all(
            concat!(
                "SELECT ",
                agent_columns!(),
                " FROM erc8004_agents WHERE id = ANY($1)"
            ),
            &[&uuids],
            sql::agent,
        )
        .await
    }

    async fn agent_by_registry(
        &self,
        chain: &Chain,
        registry: &EthAddress,
        agent_id: u64,
    ) -> Result<Option<Agent>> {
        let Ok(agent_id) = i64::try_from(agent_id) else {
            return Ok(None);
        };
        self.one(
            concat!(
                "SELECT ",
                agent_columns!(),
                " FROM erc8004_agents \
                 WHERE chain = $1 AND registry_address = $2 AND agent_id = $3"
            ),
            &[&chain.as_str(), &registry.to_string(), &agent_id],
            sql::agent,
        )
        .await
    }

    async fn set_agent_status(
        &self,
        uuid: Uuid,
        status: AgentStatus,
        now: Timestamp,
    ) -> Result<()> {
        let rows = self
            .execute(
                "UPDATE erc8004_agents SET status = $2, updated_at = $3 WHERE id = $1",
                &[&uuid, &status.as_str(), &ts(now)],
            )
            .await?;
        touched(rows, Entity::Agent)
    }

    async fn stake_accounts(
        &self,
        agents: &[Uuid],
        except_root: Option<&Hash32>,
        now: Timestamp,
        for_update: bool,
    ) -> Result<Vec<(Uuid, StakeAccount)>> {
        let root = except_root.map(ToString::to_string);
        let sql = if for_update {
            // The rows first, in a statement of their own: the reading statement's snapshot
            // then follows the lock, and sees every lock row and total that the previous
            // holder (a hop recorded for the same agent under a shared agent lock) committed.
            // Within one statement only the locked rows are re-read: the expiry sweep would
            // take locks the previous holder already took off the total off it again
            // (`racing_hops_for_one_destination_never_overcommit_its_stake`).
            self.execute(
                "SELECT 1 FROM erc8004_agent_stakes WHERE agent_uuid = ANY($1) \
                 ORDER BY agent_uuid FOR UPDATE",
                &[&agents],
            )
            .await?;
            STAKE_ACCOUNTS_FOR_UPDATE
        } else {
            STAKE_ACCOUNTS
        };
        let rows = self.query(sql, &[&agents, &ts(now), &root]).await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let agent: Uuid = get(row, "agent_uuid")?;
            let account = StakeAccount {
                staked: get_usdc(row, "staked")?,
                slashed: get_usdc(row, "slashed")?,
                locked: get_usdc(row, "locked")?,
            };
            found.push((agent, account));
        }
        Ok(agents
            .iter()
            .filter_map(|a| found.iter().find(|(f, _)| f == a).copied())
            .collect())
    }

    async fn set_staked(&self, uuid: Uuid, staked: Usdc, now: Timestamp) -> Result<()> {
        let rows = self
            .execute(
                "UPDATE erc8004_agent_stakes SET staked = $2::bigint * 0.000001, updated_at = $3 \
             WHERE agent_uuid = $1",
                &[&uuid, &staked.micros(), &ts(now)],
            )
            .await?;
        touched(rows, Entity::Agent)
    }

    async fn insert_slash(&self, slash: &SlashRecord) -> Result<()> {
        let rows = self
            .execute(
                "UPDATE erc8004_agent_stakes SET slashed = slashed + $2::bigint * 0.000001, \
             updated_at = $3 WHERE agent_uuid = $1",
                &[&slash.agent, &slash.amount.micros(), &ts(slash.created_at)],
            )
            .await?;
        touched(rows, Entity::Agent)?;
        let (settlement, incident, commitment) = sql::cause_columns(slash.cause);
        self.execute(
            "INSERT INTO erc8004_slashes (id, agent_uuid, amount, reason, settlement_id, \
             incident_id, commitment_id, created_at) \
             VALUES ($1, $2, $3::bigint * 0.000001, $4, $5, $6, $7, $8)",
            &[
                &slash.id,
                &slash.agent,
                &slash.amount.micros(),
                &slash.reason.as_str(),
                &settlement,
                &incident,
                &commitment,
                &ts(slash.created_at),
            ],
        )
        .await
        .map(drop)
    }

    async fn insert_payout(&self, payout: &Payout) -> Result<()> {
        let (settlement, incident, commitment) = sql::cause_columns(payout.cause);
        let (kind, reporter) = match payout.kind {
            PayoutKind::Bounty { reporter } => ("bounty", Some(reporter.to_string())),
            PayoutKind::Retained => ("retained", None),
        };
        self.execute(
            "INSERT INTO kagami_payouts (id, kind, settlement_id, incident_id, commitment_id, \
             reporter_address, amount, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7::bigint * 0.000001, $8)",
            &[
                &payout.id,
                &kind,
                &settlement,
                &incident,
                &commitment,
                &reporter,
                &payout.amount.micros(),
                &ts(payout.created_at),
            ],
        )
        .await
        .map(drop)
    }

    async fn ledger_totals(&self) -> Result<LedgerTotals> {
        let totals = self
            .query_opt(
                "SELECT (coalesce(sum(amount) FILTER (WHERE entry = 'slash'), 0) * 1000000) \
                        ::numeric(39,0)::text AS slashed, \
                        (coalesce(sum(amount) FILTER (WHERE entry = 'bounty'), 0) * 1000000) \
                        ::numeric(39,0)::text AS bounties, \
                        (coalesce(sum(amount) FILTER (WHERE entry = 'retained'), 0) * 1000000) \
                        ::numeric(39,0)::text AS retained \
                 FROM kagami_ledger",
                &[],
            )
            .await?
            .ok_or_else(|| StoreError::internal("the ledger totals returned no row"))?;
        let unbalanced = self
            .all(
                "SELECT settlement_id, incident_id, commitment_id FROM kagami_ledger \
                 GROUP BY settlement_id, incident_id, commitment_id \
                 HAVING coalesce(sum(amount) FILTER (WHERE entry = 'slash'), 0) \
                     <> coalesce(sum(amount) FILTER (WHERE entry <> 'slash'), 0) \
                 ORDER BY 1, 2, 3",
                &[],
                sql::cause,
            )
            .await?;
        Ok(LedgerTotals {
            slashed: get_usdc_sum(&totals, "slashed")?,
            bounties: get_usdc_sum(&totals, "bounties")?,
            retained: get_usdc_sum(&totals, "retained")?,
            unbalanced,
        })
    }

    async fn ledger_entries(&self, limit: u32, after: Option<Uuid>) -> Result<Vec<LedgerEntry>> {
        match after {
            None => {
                self.all(
                    "SELECT id, entry, agent_uuid, reporter_address, \
                            (amount * 1000000)::bigint AS amount, settlement_id, incident_id, \
                            commitment_id, created_at \
                     FROM kagami_ledger ORDER BY created_at DESC, entry, id LIMIT $1",
                    &[&i64::from(limit)],
                    sql::ledger_entry,
                )
                .await
            }
            Some(after) => {
                self.all(
                    "WITH c AS (SELECT created_at, entry, id FROM kagami_ledger WHERE id = $2) \
                     SELECT l.id, l.entry, l.agent_uuid, l.reporter_address, \
                            (l.amount * 1000000)::bigint AS amount, l.settlement_id, \
                            l.incident_id, l.commitment_id, l.created_at \
                     FROM kagami_ledger l, c \
                     WHERE l.created_at < c.created_at \
                        OR (l.created_at = c.created_at AND (l.entry, l.id) > (c.entry, c.id)) \
                     ORDER BY l.created_at DESC, l.entry, l.id LIMIT $1",
                    &[&i64::from(limit), &after],
                    sql::ledger_entry,
                )
                .await
            }
        }
    }

    async fn slashes_of_agent(&self, uuid: Uuid) -> Result<Vec<SlashRecord>> {
        self.all(
            concat!(
                "SELECT ",
                slash_columns!(),
                " FROM erc8004_slashes WHERE agent_uuid = $1 ORDER BY created_at, seq"
            ),
            &[&uuid],
            sql::slash,
        )
        .await
    }

    async fn slashes_of_settlement(&self, settlement: Uuid) -> Result<Vec<SlashRecord>> {
        self.all(
            concat!(
                "SELECT ",
                slash_columns!(),
                " FROM erc8004_slashes WHERE settlement_id = $1 ORDER BY created_at, seq"
            ),
            &[&settlement],
            sql::slash,
        )
        .await
    }

    async fn insert_stake_lock(
        &self,
        agent: Uuid,
        root: &Hash32,
        amount: Usdc,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        // The lock and the running total move together, in one statement.
        self.execute(
            "WITH lock AS (INSERT INTO erc8004_stake_utilization (id, agent_uuid, root_tx_hash, \
                               amount, created_at, expires_at, counted) \
                           VALUES ($1, $2, $3, $4::bigint * 0.000001, $5, $6, true) \
                           RETURNING agent_uuid, amount) \
             UPDATE erc8004_agent_stakes s SET locked = s.locked + lock.amount \
             FROM lock WHERE s.agent_uuid = lock.agent_uuid",
            &[
                &Uuid::new_v4(),
                &agent,
                &root.to_string(),
                &amount.micros(),
                &ts(now),
                &ts(expires_at),
            ],
        )
        .await
        .map(drop)
    }

    async fn release_root_locks(&self, root: &Hash32, now: Timestamp) -> Result<()> {
        self.execute(
            "UPDATE erc8004_stake_utilization SET released_at = $2 \
             WHERE root_tx_hash = $1 AND released_at IS NULL AND expires_at > $2",
            &[&root.to_string(), &ts(now)],
        )
        .await
        .map(drop)
    }
}

/// This root's own active locks, which never count against it: found by root alone (a root
/// has a handful of hops), materialised so the planner cannot turn the lookup into a walk of
/// the agent's active locks. Continues a `WITH`.
macro_rules! own_root_locks {
    () => {
        "own AS MATERIALIZED (SELECT agent_uuid, sum(amount) AS total \
                                FROM erc8004_stake_utilization \
                               WHERE root_tx_hash = $3 AND counted AND released_at IS NULL \
                                 AND expires_at > $2 GROUP BY agent_uuid)"
    };
}

/// The stake accounts of agents `$1` at `$2`, less root `$3`'s own locks: the running total,
/// less what is counted but no longer active (released, or expired since the agent's last
/// write), each an index lookup whose cost does not depend on the agent's history (held by
/// `stake_reads_cost_the_same_whatever_the_history`).
pub(in crate::postgres) const STAKE_ACCOUNTS: &str = concat!(
    "WITH ",
    own_root_locks!(),
    " SELECT s.agent_uuid, (s.staked * 1000000)::bigint AS staked, \
            (s.slashed * 1000000)::bigint AS slashed, \
            ((s.locked \
              - (SELECT coalesce(sum(u.amount), 0) FROM erc8004_stake_utilization u \
                  WHERE u.agent_uuid = s.agent_uuid AND u.counted \
                    AND u.released_at IS NOT NULL) \
              - (SELECT coalesce(sum(u.amount), 0) FROM erc8004_stake_utilization u \
                  WHERE u.agent_uuid = s.agent_uuid AND u.counted \
                    AND u.released_at IS NULL AND u.expires_at <= $2) \
              - coalesce((SELECT o.total FROM own o WHERE o.agent_uuid = s.agent_uuid), 0)) \
             * 1000000)::bigint AS locked \
       FROM erc8004_agent_stakes s WHERE s.agent_uuid = ANY($1)"
);

/// As [`STAKE_ACCOUNTS`], for a writer, in one statement: takes the stake rows in one order
/// (no deadlock between writers of overlapping agents), takes the locks released or expired
/// since the agents' last write off their running totals (each condition on its own partial
/// index; an OR would walk every counted lock), and answers from the new totals. Every lookup
/// is keyed by the agents (`= ANY`, an index condition: with `IN (SELECT …)` the planner
/// scanned every agent's released locks, and every stake row, and joined).
pub(in crate::postgres) const STAKE_ACCOUNTS_FOR_UPDATE: &str = concat!(
    "WITH held AS (SELECT agent_uuid, staked, slashed, locked \
                     FROM erc8004_agent_stakes WHERE agent_uuid = ANY($1) \
                    ORDER BY agent_uuid FOR UPDATE), \
          gone AS (UPDATE erc8004_stake_utilization SET counted = false \
                    WHERE id IN (SELECT id FROM erc8004_stake_utilization \
                                  WHERE agent_uuid = ANY(ARRAY(SELECT agent_uuid FROM held)) \
                                    AND counted AND released_at IS NOT NULL \
                                 UNION ALL \
                                 SELECT id FROM erc8004_stake_utilization \
                                  WHERE agent_uuid = ANY(ARRAY(SELECT agent_uuid FROM held)) \
                                    AND counted AND released_at IS NULL \
                                    AND expires_at <= $2) \
                    RETURNING agent_uuid, amount), \
          lapsed AS (SELECT agent_uuid, sum(amount) AS total FROM gone \
                      GROUP BY agent_uuid), \
          kept AS (UPDATE erc8004_agent_stakes t SET locked = t.locked - l.total \
                     FROM lapsed l \
                    WHERE t.agent_uuid = ANY($1) AND t.agent_uuid = l.agent_uuid), ",
    own_root_locks!(),
    " SELECT s.agent_uuid, (s.staked * 1000000)::bigint AS staked, \
            (s.slashed * 1000000)::bigint AS slashed, \
            ((s.locked - coalesce(l.total, 0) \
              - coalesce((SELECT o.total FROM own o WHERE o.agent_uuid = s.agent_uuid), 0)) \
             * 1000000)::bigint AS locked \
       FROM held s LEFT JOIN lapsed l ON l.agent_uuid = s.agent_uuid"
);
