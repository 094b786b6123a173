//! PgTx: CommitmentRows.

use super::*;

impl<C: GenericClient + Sync> CommitmentRows for PgTx<'_, C> {
    async fn insert_commitment(&self, c: &Commitment) -> Result<()> {
        let n = &c.commitment;
        self.execute(
            "INSERT INTO erc8004_onchain_commitments (id, root_tx_hash, commitment_hash, chain, \
             first_hop_agent, routing_hash, amount, time_lock_until, status, onchain_tx_hash, \
             created_at, updated_at, payer_agent, payer_signature, first_hop_signature, \
             first_hop_manifest_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7::bigint * 0.000001, $8, $9, $10, $11, $11, $12, \
                     $13, $14, $15)",
            &[
                &c.id,
                &n.root_tx.to_string(),
                &n.commitment_hash.to_string(),
                &n.chain.as_str(),
                &n.first_hop_agent,
                &n.routing_hash.to_string(),
                &n.amount.micros(),
                &ts(n.time_lock_until),
                &c.status.as_str(),
                &c.onchain_tx_hash.map(|h| h.to_string()),
                &ts(c.created_at),
                &n.cosigned.map(|s| s.payer),
                &n.cosigned.map(|s| s.payer_signature.to_string()),
                &n.cosigned.map(|s| s.first_hop_signature.to_string()),
                &n.cosigned.map(|s| s.first_hop_manifest.to_string()),
            ],
        )
        .await
        .map(drop)
    }

    async fn commitment(&self, id: Uuid, for_update: bool) -> Result<Option<Commitment>> {
        let sql = if for_update {
            concat!(
                "SELECT ",
                commitment_columns!(),
                " FROM erc8004_onchain_commitments WHERE id = $1 FOR UPDATE"
            )
        } else {
            concat!(
                "SELECT ",
                commitment_columns!(),
                " FROM erc8004_onchain_commitments WHERE id = $1"
            )
        };
        self.query_opt(sql, &[&id])
            .await?
            .as_ref()
            .map(sql::commitment)
            .transpose()
    }

    async fn update_commitment(&self, c: &Commitment, now: Timestamp) -> Result<()> {
        let rows = self
            .execute(
                "UPDATE erc8004_onchain_commitments \
             SET status = $2, onchain_tx_hash = $3, updated_at = $4, \
                 disputed_by_manifest_hash = $5 WHERE id = $1",
                &[
                    &c.id,
                    &c.status.as_str(),
                    &c.onchain_tx_hash.map(|h| h.to_string()),
                    &ts(now),
                    &c.disputed_by.map(|h| h.to_string()),
                ],
            )
            .await?;
        touched(rows, Entity::Commitment)
    }

    async fn open_commitments_of(&self, agent: Uuid, for_update: bool) -> Result<Vec<Commitment>> {
        macro_rules! open {
            ($suffix:literal) => {
                concat!(
                    "SELECT ",
                    commitment_columns!(),
                    " FROM erc8004_onchain_commitments \
                     WHERE first_hop_agent = $1 AND status IN ('pending', 'confirmed') \
                       AND first_hop_signature IS NOT NULL \
                     ORDER BY created_at, id",
                    $suffix
                )
            };
        }
        let sql = if for_update {
            open!(" FOR UPDATE")
        } else {
            open!("")
        };
        self.all(sql, &[&agent], sql::commitment).await
    }

    async fn agents_with_open_commitments(&self) -> Result<Vec<Uuid>> {
        self.all(
            "SELECT DISTINCT first_hop_agent FROM erc8004_onchain_commitments \
             WHERE status IN ('pending', 'confirmed') AND first_hop_signature IS NOT NULL \
             ORDER BY first_hop_agent",
            &[],
            |row| get(row, "first_hop_agent"),
        )
        .await
    }

    async fn insert_incident(&self, incident: &MevIncident) -> Result<()> {
        let i = &incident.incident;
        self.execute(
            "INSERT INTO erc8004_mev_incidents (id, root_tx_hash, attack_type, \
             attacker_agent_uuid, victim_agent_uuid, extracted_value, block_number, tx_index, \
             evidence_hash, slashed_amount, created_at, attack_tx_hash, attack_tx, attack_signer) \
             VALUES ($1, $2, $3, $4, $5, $6::bigint * 0.000001, $7, $8, $9, \
                     $10::bigint * 0.000001, $11, $12, $13, $14)",
            &[
                &incident.id,
                &i.root_tx.to_string(),
                &i.attack_type.as_str(),
                &i.attacker,
                &i.victim,
                &i.extracted_value.micros(),
                &to_i64(i.block_number, "block_number")?,
                &i64::from(i.tx_index),
                &i.evidence_hash.to_string(),
                &incident.slashed_amount.micros(),
                &ts(incident.created_at),
                &i.attack_tx.hash.to_string(),
                &i.attack_tx.to_hex(),
                &i.attack_tx.signer.to_string(),
            ],
        )
        .await
        .map(drop)
    }

    async fn incident_by_attack_tx(&self, hash: &Hash32) -> Result<Option<MevIncident>> {
        self.query_opt(
            concat!(
                "SELECT ",
                incident_columns!(),
                " FROM erc8004_mev_incidents WHERE attack_tx_hash = $1"
            ),
            &[&hash.to_string()],
        )
        .await?
        .as_ref()
        .map(sql::incident)
        .transpose()
    }

    async fn mev_summary(&self) -> Result<Vec<MevSummaryRow>> {
        self.query(
            "SELECT attack_type, count(*) AS incidents, \
                    (sum(extracted_value) * 1000000)::numeric(39,0)::text AS extracted_value, \
                    (sum(slashed_amount) * 1000000)::numeric(39,0)::text AS slashed_amount \
             FROM erc8004_mev_incidents GROUP BY attack_type \
             ORDER BY attack_type COLLATE \"C\"",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(MevSummaryRow {
                attack_type: sql::attack_type(row)?,
                incidents: get_u64(row, "incidents")?,
                extracted_value: get_usdc_sum(row, "extracted_value")?,
                slashed_amount: get_usdc_sum(row, "slashed_amount")?,
            })
        })
        .collect()
    }
}
