//! SqliteTx: ForwardRows.

use super::*;

impl ForwardRows for SqliteTx<'_> {
    async fn receipt_by_hash(&self, hash: &Hash32) -> Result<Option<ReceiptRecord>> {
        self.one(
            &format!(
                "SELECT {RECEIPT_COLUMNS} FROM erc8004_forward_receipts WHERE receipt_hash = ?1"
            ),
            params![hash.to_string()],
            receipt_row,
        )
    }

    async fn values_used(
        &self,
        dest: Uuid,
        receipt_nonce: u64,
        source: Uuid,
        order: Option<(&Hash32, u64)>,
    ) -> Result<ValuesUsed> {
        let (order_hash, order_nonce) = match order {
            Some((hash, nonce)) => (Some(hash.to_string()), Some(to_i64(nonce)?)),
            None => (None, None),
        };
        self.one(
            "SELECT EXISTS (SELECT 1 FROM erc8004_forward_receipts \
                             WHERE dest_agent_uuid = ?1 AND receipt_nonce = ?2), \
                    EXISTS (SELECT 1 FROM erc8004_forward_receipts WHERE order_hash = ?3), \
                    EXISTS (SELECT 1 FROM erc8004_forward_receipts \
                             WHERE source_agent_uuid = ?4 AND order_nonce = ?5)",
            params![
                dest.to_string(),
                to_i64(receipt_nonce)?,
                order_hash,
                source.to_string(),
                order_nonce
            ],
            |row| {
                Ok(ValuesUsed {
                    receipt_nonce: row.get(0)?,
                    order: row.get(1)?,
                    order_nonce: row.get(2)?,
                })
            },
        )?
        .ok_or_else(|| StoreError::internal("a SELECT of EXISTS answered no row"))
    }

    async fn receipts_of_root(&self, root: &Hash32) -> Result<Vec<ReceiptRecord>> {
        self.all(
            &format!(
                "SELECT {RECEIPT_COLUMNS} FROM erc8004_forward_receipts WHERE root_tx_hash = ?1 \
                 ORDER BY hop, created_at, id"
            ),
            params![root.to_string()],
            receipt_row,
        )
    }

    async fn receipts_page(
        &self,
        root: &Hash32,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ReceiptRecord>> {
        let root = root.to_string();
        match after {
            None => self.all(
                &format!(
                    "SELECT {RECEIPT_COLUMNS} FROM erc8004_forward_receipts \
                     WHERE root_tx_hash = ?1 ORDER BY hop, created_at, id LIMIT ?2"
                ),
                params![root, i64::from(limit)],
                receipt_row,
            ),
            Some(after) => self.all(
                &format!(
                    "SELECT {RECEIPT_COLUMNS} FROM erc8004_forward_receipts \
                     WHERE root_tx_hash = ?1 AND (hop, created_at, id) > \
                         (SELECT hop, created_at, id FROM erc8004_forward_receipts \
                          WHERE id = ?2 AND root_tx_hash = ?1) \
                     ORDER BY hop, created_at, id LIMIT ?3"
                ),
                params![root, after.to_string(), i64::from(limit)],
                receipt_row,
            ),
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                     ?18, ?19, ?20, ?21, ?22)",
            params![
                record.id.to_string(),
                r.root_tx.to_string(),
                i64::from(r.hop),
                r.source.to_string(),
                r.dest.to_string(),
                r.manifest_id.to_string(),
                r.manifest_hash.to_string(),
                r.next_hop.map(|h| h.to_string()),
                to_i64(r.nonce)?,
                r.receipt_hash.to_string(),
                r.signature.to_string(),
                r.chain.as_str(),
                record.is_valid,
                record.invalidated_at.map(|t| t.unix()),
                record.invalidation_reason.map(LoopKind::reason),
                r.hop_irrational,
                r.computational_cost.micros(),
                record.created_at.unix(),
                r.order.map(|o| o.hash.to_string()),
                r.order.map(|o| to_i64(o.nonce)).transpose()?,
                r.order.map(|o| o.signature.to_string()),
                r.order.map(|o| o.amount.micros()),
            ],
        )
        .map(drop)
    }

    async fn invalidate_receipts(
        &self,
        root: &Hash32,
        hashes: &[Hash32],
        kind: LoopKind,
        now: Timestamp,
    ) -> Result<()> {
        for hash in hashes {
            self.execute(
                "UPDATE erc8004_forward_receipts \
                 SET is_valid = 0, invalidated_at = ?3, invalidation_reason = ?4 \
                 WHERE root_tx_hash = ?1 AND receipt_hash = ?2 AND is_valid = 1",
                params![
                    root.to_string(),
                    hash.to_string(),
                    now.unix(),
                    kind.reason()
                ],
            )?;
        }
        Ok(())
    }

    async fn settlement_of(&self, root: &Hash32) -> Result<Option<Settlement>> {
        self.one(
            &format!(
                "SELECT {SETTLEMENT_COLUMNS} FROM erc8004_settlements WHERE root_tx_hash = ?1"
            ),
            params![root.to_string()],
            settlement_row,
        )
    }

    async fn insert_settlement(&self, s: &Settlement) -> Result<()> {
        self.execute(
            "INSERT INTO erc8004_settlements (id, root_tx_hash, kind, cycle_agents, depth, \
                 total_slashed, reporter_address, bounty, status, created_at, liable_agents, \
                 closing_receipt_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                s.id.to_string(),
                s.root_tx.to_string(),
                s.kind.as_str(),
                serde_json::to_string(&s.cycle_agents).map_err(StoreError::internal)?,
                i64::from(s.depth),
                s.total_slashed.micros(),
                s.reporter.map(|r| r.to_string()),
                s.bounty.map(Usdc::micros),
                s.status.as_str(),
                s.created_at.unix(),
                serde_json::to_string(&s.liable).map_err(StoreError::internal)?,
                s.closing_receipt.map(|h| h.to_string()),
            ],
        )
        .map(drop)
    }
}
