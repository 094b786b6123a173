//! SqliteTx: AgentRows.

use super::*;

impl AgentRows for SqliteTx<'_> {
    async fn insert_agent(&self, agent: &Agent) -> Result<()> {
        let registration = agent
            .registration_file
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(StoreError::internal)?;
        self.execute(
            "INSERT INTO erc8004_agents (id, agent_id, chain, registry_address, owner_address, \
                 token_uri, registration_file, status, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                agent.uuid.to_string(),
                to_i64(agent.agent_id)?,
                agent.chain.as_str(),
                agent.registry_address.to_string(),
                agent.owner_address.to_string(),
                agent.token_uri,
                registration,
                agent.status.as_str(),
                agent.created_at.unix(),
                agent.updated_at.unix(),
            ],
        )?;
        self.execute(
            "INSERT INTO erc8004_agent_stakes (agent_uuid, staked, slashed, updated_at) \
             VALUES (?1, 0, 0, ?2)",
            params![agent.uuid.to_string(), agent.created_at.unix()],
        )
        .map(drop)
    }

    async fn agent(&self, uuid: Uuid) -> Result<Option<Agent>> {
        self.one(
            &format!("SELECT {AGENT_COLUMNS} FROM erc8004_agents WHERE id = ?1"),
            params![uuid.to_string()],
            agent_row,
        )
    }

    async fn agents(&self, uuids: &[Uuid]) -> Result<Vec<Agent>> {
        // In-process lookups: one statement per id costs no round trip.
        let mut found = Vec::with_capacity(uuids.len());
        for uuid in uuids {
            found.extend(self.agent(*uuid).await?);
        }
        Ok(found)
    }

    async fn agent_by_registry(
        &self,
        chain: &Chain,
        registry: &EthAddress,
        agent_id: u64,
    ) -> Result<Option<Agent>> {
        let Ok(agent_id) = i64::try_from(agent_id) else {
            // Above every storable id: no such agent.
            return Ok(None);
        };
        self.one(
            &format!(
                "SELECT {AGENT_COLUMNS} FROM erc8004_agents \
                 WHERE chain = ?1 AND registry_address = ?2 AND agent_id = ?3"
            ),
            params![chain.as_str(), registry.to_string(), agent_id],
            agent_row,
        )
    }

    async fn set_agent_status(
        &self,
        uuid: Uuid,
        status: AgentStatus,
        now: Timestamp,
    ) -> Result<()> {
        let rows = self.execute(
            "UPDATE erc8004_agents SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![uuid.to_string(), status.as_str(), now.unix()],
        )?;
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
        let mut accounts = Vec::with_capacity(agents.len());
        for agent in agents {
            if for_update {
                // The writer holds the database: take what was released or lapsed off the
                // running total. Each condition on its own partial index: an OR of the two
                // would walk every counted lock of the agent.
                self.execute(
                    "UPDATE erc8004_agent_stakes SET locked = locked \
                        - (SELECT coalesce(sum(u.amount), 0) FROM erc8004_stake_utilization u \
                            WHERE u.agent_uuid = ?1 AND u.counted = 1 \
                              AND u.released_at IS NOT NULL) \
                        - (SELECT coalesce(sum(u.amount), 0) FROM erc8004_stake_utilization u \
                            WHERE u.agent_uuid = ?1 AND u.counted = 1 \
                              AND u.released_at IS NULL AND u.expires_at <= ?2) \
                     WHERE agent_uuid = ?1",
                    params![agent.to_string(), now.unix()],
                )?;
                self.execute(
                    "UPDATE erc8004_stake_utilization SET counted = 0 \
                     WHERE agent_uuid = ?1 AND counted = 1 AND released_at IS NOT NULL",
                    params![agent.to_string()],
                )?;
                self.execute(
                    "UPDATE erc8004_stake_utilization SET counted = 0 \
                     WHERE agent_uuid = ?1 AND counted = 1 AND released_at IS NULL \
                       AND expires_at <= ?2",
                    params![agent.to_string(), now.unix()],
                )?;
            }
            // The running total, less what is counted but no longer active, less this root's
            // own active locks: index lookups, whatever the agent's history (the root's locks
            // by root and agent: without statistics SQLite would walk the agent's active locks).
            let account = self.one(
                "SELECT s.staked, s.slashed, s.locked \
                        - (SELECT coalesce(sum(u.amount), 0) FROM erc8004_stake_utilization u \
                            WHERE u.agent_uuid = s.agent_uuid AND u.counted = 1 \
                              AND u.released_at IS NOT NULL) \
                        - (SELECT coalesce(sum(u.amount), 0) FROM erc8004_stake_utilization u \
                            WHERE u.agent_uuid = s.agent_uuid AND u.counted = 1 \
                              AND u.released_at IS NULL AND u.expires_at <= ?2) \
                        - (SELECT coalesce(sum(u.amount), 0) \
                             FROM erc8004_stake_utilization u INDEXED BY idx_stake_utilization_root \
                            WHERE u.root_tx_hash = ?3 AND u.agent_uuid = s.agent_uuid \
                              AND u.counted = 1 AND u.released_at IS NULL \
                              AND u.expires_at > ?2) \
                 FROM erc8004_agent_stakes s WHERE s.agent_uuid = ?1",
                params![agent.to_string(), now.unix(), root],
                |row| {
                    Ok(StakeAccount {
                        staked: usdc(row, 0)?,
                        slashed: usdc(row, 1)?,
                        locked: usdc(row, 2)?,
                    })
                },
            )?;
            accounts.extend(account.map(|a| (*agent, a)));
        }
        Ok(accounts)
    }

    async fn set_staked(&self, uuid: Uuid, staked: Usdc, now: Timestamp) -> Result<()> {
        let rows = self.execute(
            "UPDATE erc8004_agent_stakes SET staked = ?2, updated_at = ?3 WHERE agent_uuid = ?1",
            params![uuid.to_string(), staked.micros(), now.unix()],
        )?;
        touched(rows, Entity::Agent)
    }

    async fn insert_slash(&self, slash: &SlashRecord) -> Result<()> {
        let rows = self.execute(
            "UPDATE erc8004_agent_stakes SET slashed = slashed + ?2, updated_at = ?3 \
             WHERE agent_uuid = ?1",
            params![
                slash.agent.to_string(),
                slash.amount.micros(),
                slash.created_at.unix()
            ],
        )?;
        touched(rows, Entity::Agent)?;
        let (settlement, incident, commitment) = cause_columns(slash.cause);
        self.execute(
            "INSERT INTO erc8004_slashes (id, agent_uuid, amount, reason, settlement_id, \
                 incident_id, commitment_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                slash.id.to_string(),
                slash.agent.to_string(),
                slash.amount.micros(),
                slash.reason.as_str(),
                settlement,
                incident,
                commitment,
                slash.created_at.unix(),
            ],
        )
        .map(drop)
    }

    async fn insert_payout(&self, payout: &Payout) -> Result<()> {
        let (settlement, incident, commitment) = cause_columns(payout.cause);
        let (kind, reporter) = match payout.kind {
            PayoutKind::Bounty { reporter } => ("bounty", Some(reporter.to_string())),
            PayoutKind::Retained => ("retained", None),
        };
        self.execute(
            "INSERT INTO kagami_payouts (id, kind, settlement_id, incident_id, commitment_id, \
                 reporter_address, amount, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                payout.id.to_string(),
                kind,
                settlement,
                incident,
                commitment,
                reporter,
                payout.amount.micros(),
                payout.created_at.unix(),
            ],
        )
        .map(drop)
    }

    async fn ledger_totals(&self) -> Result<LedgerTotals> {
        let (slashed, bounties, retained) = self
            .one(
                &format!(
                    "SELECT {}, {}, {} FROM kagami_ledger",
                    wide_sum("amount", "entry = 'slash'"),
                    wide_sum("amount", "entry = 'bounty'"),
                    wide_sum("amount", "entry = 'retained'"),
                ),
                [],
                |row| Ok((usdc_sum(row, 0)?, usdc_sum(row, 2)?, usdc_sum(row, 4)?)),
            )?
            .unwrap_or_default();
        let unbalanced = self.all(
            &format!(
                "SELECT settlement_id, incident_id, commitment_id FROM kagami_ledger \
                 GROUP BY settlement_id, incident_id, commitment_id \
                 HAVING {} \
                 ORDER BY 1, 2, 3",
                wide_sums_differ("amount", "entry = 'slash'", "entry <> 'slash'")
            ),
            [],
            |row| cause(row, 0),
        )?;
        Ok(LedgerTotals {
            slashed,
            bounties,
            retained,
            unbalanced,
        })
    }

    async fn ledger_entries(&self, limit: u32, after: Option<Uuid>) -> Result<Vec<LedgerEntry>> {
        match after {
            None => self.all(
                "SELECT id, entry, agent_uuid, reporter_address, amount, settlement_id, \
                        incident_id, commitment_id, created_at \
                 FROM kagami_ledger ORDER BY created_at DESC, entry, id LIMIT ?1",
                params![i64::from(limit)],
                ledger_row,
            ),
            Some(after) => self.all(
                "WITH c AS (SELECT created_at, entry, id FROM kagami_ledger WHERE id = ?2) \
                 SELECT l.id, l.entry, l.agent_uuid, l.reporter_address, l.amount, \
                        l.settlement_id, l.incident_id, l.commitment_id, l.created_at \
                 FROM kagami_ledger l, c \
                 WHERE l.created_at < c.created_at \
                    OR (l.created_at = c.created_at AND (l.entry, l.id) > (c.entry, c.id)) \
                 ORDER BY l.created_at DESC, l.entry, l.id LIMIT ?1",
                params![i64::from(limit), after.to_string()],
                ledger_row,
            ),
        }
    }

    async fn slashes_of_agent(&self, uuid: Uuid) -> Result<Vec<SlashRecord>> {
        self.all(
            &format!(
                "SELECT {SLASH_COLUMNS} FROM erc8004_slashes WHERE agent_uuid = ?1 \
                 ORDER BY created_at, rowid"
            ),
            params![uuid.to_string()],
            slash_row,
        )
    }

    async fn slashes_of_settlement(&self, settlement: Uuid) -> Result<Vec<SlashRecord>> {
        self.all(
            &format!(
                "SELECT {SLASH_COLUMNS} FROM erc8004_slashes WHERE settlement_id = ?1 \
                 ORDER BY created_at, rowid"
            ),
            params![settlement.to_string()],
            slash_row,
        )
    }

    async fn insert_stake_lock(
        &self,
        agent: Uuid,
        root: &Hash32,
        amount: Usdc,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_stake_utilization (id, agent_uuid, root_tx_hash, amount, \
                 created_at, expires_at, released_at, counted) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 1)",
            params![
                Uuid::new_v4().to_string(),
                agent.to_string(),
                root.to_string(),
                amount.micros(),
                now.unix(),
                expires_at.unix(),
            ],
        )?;
        self.execute(
            "UPDATE erc8004_agent_stakes SET locked = locked + ?2 WHERE agent_uuid = ?1",
            params![agent.to_string(), amount.micros()],
        )
        .map(drop)
    }

    async fn release_root_locks(&self, root: &Hash32, now: Timestamp) -> Result<()> {
        self.execute(
            "UPDATE erc8004_stake_utilization SET released_at = ?2 \
             WHERE root_tx_hash = ?1 AND released_at IS NULL AND expires_at > ?2",
            params![root.to_string(), now.unix()],
        )
        .map(drop)
    }
}
