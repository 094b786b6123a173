//! PgTx: ForwardRows.

use super::*;

impl<C: GenericClient + Sync> ForwardRows for PgTx<'_, C> {
    async fn receipt_by_hash(&self, hash: &Hash32) -> Result<Option<ReceiptRecord>> {
        self.one(
            concat!(
                "SELECT ",
                receipt_columns!(),
                " FROM erc8004_forward_receipts WHERE receipt_hash = $1"
            ),
            &[&hash.to_string()],
            sql::receipt,
        )
        .await
    }

    async fn values_used(
        &self,
        dest: Uuid,
        receipt_nonce: u64,
        source: Uuid,
        order: Option<(&Hash32, u64)>,
    ) -> Result<ValuesUsed> {
        let (order_hash, order_nonce) = match order {
            Some((hash, nonce)) => (Some(hash.to_string()), Some(to_i64(nonce, "order nonce")?)),
            None => (None, None),
        };
        let receipt_nonce = to_i64(receipt_nonce, "receipt nonce")?;
        self.one(
            "SELECT EXISTS (SELECT 1 FROM erc8004_forward_receipts \
                             WHERE dest_agent_uuid = $1 AND receipt_nonce = $2) AS receipt_nonce, \
                    EXISTS (SELECT 1 FROM erc8004_forward_receipts \
                             WHERE order_hash = $3) AS order_used, \
                    EXISTS (SELECT 1 FROM erc8004_forward_receipts \
                             WHERE source_agent_uuid = $4 AND order_nonce = $5) AS order_nonce",
            &[&dest, &receipt_nonce, &order_hash, &source, &order_nonce],
            |row| {
                Ok(ValuesUsed {
                    receipt_nonce: get(row, "receipt_nonce")?,
                    order: get(row, "order_used")?,
                    order_nonce: get(row, "order_nonce")?,
                })
            },
        )
        .await?
        .ok_or_else(|| StoreError::internal("a SELECT of EXISTS answered no row"))
    }

    async fn receipts_of_root(&self, root: &Hash32) -> Result<Vec<ReceiptRecord>> {
        self.all(
            concat!(
                "SELECT ",
                receipt_columns!(),
                " FROM erc8004_forward_receipts WHERE root_tx_hash = $1 \
                 ORDER BY hop, created_at, id"
            ),
            &[&root.to_string()],
            sql::receipt,
        )
        .await
    }

    async fn receipts_page(
        &self,
        root: &Hash32,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ReceiptRecord>> {
        let root = root.to_string();
        match after {
            None => {
                self.all(
                    concat!(
                        "SELECT ",
                        receipt_columns!(),
                        " FROM erc8004_forward_receipts WHERE root_tx_hash = $1 \
                         ORDER BY hop, created_at, id LIMIT $2"
                    ),
                    &[&root, &i64::from(limit)],
                    sql::receipt,
                )
                .await
            }
            Some(after) => {
                self.all(
                    concat!(
                        "SELECT ",
                        receipt_columns!(),
                        " FROM erc8004_forward_receipts WHERE root_tx_hash = $1 \
                         AND (hop, created_at, id) > \
                             (SELECT hop, created_at, id FROM erc8004_forward_receipts \
                              WHERE id = $2 AND root_tx_hash = $1) \
                         ORDER BY hop, created_at, id LIMIT $3"
                    ),
                    &[&root, &after, &i64::from(limit)],
                    sql::receipt,
                )
                .await
            }
        }
    }

    async fn insert_receipt(&self, record: &ReceiptRecord) -> Result<()> {
        let r = &record.receipt;
        self.execute(
            "INSERT INTO erc8004_forward_receipts (id, root_tx_hash, hop, source_agent_uuid, \
             dest_agent_uuid, manifest_id, manifest_hash, next_hop_hash, receipt_nonce, \
             receipt_hash, signature, chain, is_valid, invalidated_at, invalidation_reason, \
             hop_irrational, computational_cost, created_at, order_hash, order_nonce, \
             order_signature, amount) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $17::bigint * 0.000001, $18, $19, $20, $21, $22::bigint * 0.000001)",
            &[
                &record.id,
                &r.root_tx.to_string(),
                &i32::try_from(r.hop).map_err(StoreError::internal)?,
                &r.source,
                &r.dest,
                &r.manifest_id,
                &r.manifest_hash.to_string(),
                &r.next_hop.map(|h| h.to_string()),
                &to_i64(r.nonce, "receipt nonce")?,
                &r.receipt_hash.to_string(),
                &r.signature.to_string(),
                &r.chain.as_str(),
                &record.is_valid,
                &record.invalidated_at.map(ts),
                &record.invalidation_reason.map(LoopKind::reason),
                &r.hop_irrational,
                &r.computational_cost.micros(),
                &ts(record.created_at),
                &r.order.map(|o| o.hash.to_string()),
                &r.order
                    .map(|o| to_i64(o.nonce, "order nonce"))
                    .transpose()?,
                &r.order.map(|o| o.signature.to_string()),
                &r.order.map(|o| o.amount.micros()),
            ],
        )
        .await
        .map(drop)
    }

    async fn invalidate_receipts(
        &self,
        root: &Hash32,
        hashes: &[Hash32],
        kind: LoopKind,
        now: Timestamp,
    ) -> Result<()> {
        let hashes: Vec<String> = hashes.iter().map(ToString::to_string).collect();
        self.execute(
            "UPDATE erc8004_forward_receipts \
             SET is_valid = false, invalidated_at = $3, invalidation_reason = $4 \
             WHERE root_tx_hash = $1 AND is_valid AND receipt_hash = ANY($2)",
            &[&root.to_string(), &hashes, &ts(now), &kind.reason()],
        )
        .await
        .map(drop)
    }

    async fn settlement_of(&self, root: &Hash32) -> Result<Option<Settlement>> {
        self.one(
            concat!(
                "SELECT ",
                settlement_columns!(),
                " FROM erc8004_settlements WHERE root_tx_hash = $1"
            ),
            &[&root.to_string()],
            sql::settlement,
        )
        .await
    }

    async fn insert_settlement(&self, s: &Settlement) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_settlements (id, root_tx_hash, kind, cycle_agents, depth, \
             total_slashed, reporter_address, bounty, status, created_at, liable_agents, \
             closing_receipt_hash) \
             VALUES ($1, $2, $3, $4, $5, $6::bigint * 0.000001, $7, $8::bigint * 0.000001, \
                     $9, $10, $11, $12)",
            &[
                &s.id,
                &s.root_tx.to_string(),
                &s.kind.as_str(),
                &s.cycle_agents,
                &i32::try_from(s.depth).map_err(StoreError::internal)?,
                &s.total_slashed.micros(),
                &s.reporter.map(|r| r.to_string()),
                &s.bounty.map(Usdc::micros),
                &s.status.as_str(),
                &ts(s.created_at),
                &s.liable,
                &s.closing_receipt.map(|h| h.to_string()),
            ],
        )
        .await
        .map(drop)
    }
}
