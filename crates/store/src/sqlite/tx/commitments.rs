//! SqliteTx: CommitmentRows.

use super::*;

impl CommitmentRows for SqliteTx<'_> {
    async fn insert_commitment(&self, c: &Commitment) -> Result<()> {
        let n = &c.commitment;
        self.execute(
            "INSERT INTO erc8004_onchain_commitments (id, root_tx_hash, commitment_hash, chain, \
                 first_hop_agent, routing_hash, amount, time_lock_until, status, \
                 onchain_tx_hash, created_at, updated_at, payer_agent, payer_signature, \
                 first_hop_signature, first_hop_manifest_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15)",
            params![
                c.id.to_string(),
                n.root_tx.to_string(),
                n.commitment_hash.to_string(),
                n.chain.as_str(),
                n.first_hop_agent.to_string(),
                n.routing_hash.to_string(),
                n.amount.micros(),
                n.time_lock_until.unix(),
                c.status.as_str(),
                c.onchain_tx_hash.map(|h| h.to_string()),
                c.created_at.unix(),
                n.cosigned.map(|s| s.payer.to_string()),
                n.cosigned.map(|s| s.payer_signature.to_string()),
                n.cosigned.map(|s| s.first_hop_signature.to_string()),
                n.cosigned.map(|s| s.first_hop_manifest.to_string()),
            ],
        )
        .map(drop)
    }

    async fn commitment(&self, id: Uuid, _for_update: bool) -> Result<Option<Commitment>> {
        self.one(
            &format!("SELECT {COMMITMENT_COLUMNS} FROM erc8004_onchain_commitments WHERE id = ?1"),
            params![id.to_string()],
            commitment_row,
        )
    }

    async fn update_commitment(&self, c: &Commitment, now: Timestamp) -> Result<()> {
        let rows = self.execute(
            "UPDATE erc8004_onchain_commitments \
             SET status = ?2, onchain_tx_hash = ?3, updated_at = ?4, \
                 disputed_by_manifest_hash = ?5 WHERE id = ?1",
            params![
                c.id.to_string(),
                c.status.as_str(),
                c.onchain_tx_hash.map(|h| h.to_string()),
                now.unix(),
                c.disputed_by.map(|h| h.to_string()),
            ],
        )?;
        touched(rows, Entity::Commitment)
    }

    async fn open_commitments_of(&self, agent: Uuid, _for_update: bool) -> Result<Vec<Commitment>> {
        self.all(
            &format!(
                "SELECT {COMMITMENT_COLUMNS} FROM erc8004_onchain_commitments \
                 WHERE first_hop_agent = ?1 AND status IN ('pending', 'confirmed') \
                   AND first_hop_signature IS NOT NULL \
                 ORDER BY created_at, id"
            ),
            params![agent.to_string()],
            commitment_row,
        )
    }

    async fn agents_with_open_commitments(&self) -> Result<Vec<Uuid>> {
        self.all(
            "SELECT DISTINCT first_hop_agent FROM erc8004_onchain_commitments \
             WHERE status IN ('pending', 'confirmed') AND first_hop_signature IS NOT NULL \
             ORDER BY first_hop_agent",
            [],
            |row| parsed(row, 0),
        )
    }

    async fn insert_incident(&self, incident: &MevIncident) -> Result<()> {
        let i = &incident.incident;
        self.execute(
            "INSERT INTO erc8004_mev_incidents (id, root_tx_hash, attack_type, \
                 attacker_agent_uuid, victim_agent_uuid, extracted_value, block_number, tx_index, \
                 evidence_hash, slashed_amount, created_at, attack_tx_hash, attack_tx, \
                 attack_signer) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                incident.id.to_string(),
                i.root_tx.to_string(),
                i.attack_type.as_str(),
                i.attacker.to_string(),
                i.victim.map(|v| v.to_string()),
                i.extracted_value.micros(),
                to_i64(i.block_number)?,
                i64::from(i.tx_index),
                i.evidence_hash.to_string(),
                incident.slashed_amount.micros(),
                incident.created_at.unix(),
                i.attack_tx.hash.to_string(),
                i.attack_tx.to_hex(),
                i.attack_tx.signer.to_string(),
            ],
        )
        .map(drop)
    }

    async fn incident_by_attack_tx(&self, hash: &Hash32) -> Result<Option<MevIncident>> {
        self.one(
            &format!(
                "SELECT {INCIDENT_COLUMNS} FROM erc8004_mev_incidents WHERE attack_tx_hash = ?1"
            ),
            params![hash.to_string()],
            incident_row,
        )
    }

    async fn mev_summary(&self) -> Result<Vec<MevSummaryRow>> {
        self.all(
            &format!(
                "SELECT attack_type, count(*), {}, {} \
                 FROM erc8004_mev_incidents GROUP BY attack_type ORDER BY attack_type",
                wide_sum("extracted_value", "TRUE"),
                wide_sum("slashed_amount", "TRUE"),
            ),
            [],
            |row| {
                Ok(MevSummaryRow {
                    attack_type: named(row, 0, AttackType::parse)?,
                    incidents: unsigned(row, 1)?,
                    extracted_value: usdc_sum(row, 2)?,
                    slashed_amount: usdc_sum(row, 4)?,
                })
            },
        )
    }
}
