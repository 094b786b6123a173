//! The conformance cases. Each takes a fresh store and asserts observable behaviour only.

use kagami_core::{
    CommitmentStateError, ForwardViolation, LoopKind, ManifestRecord, ManifestStatus, PublishError,
    RecordRejection, StakeBelowSlashed, Usdc,
    crypto::{Hash32, Timestamp, Uuid},
    decide::flip_hash,
    wire::SignedPair,
};
use kagami_store::{
    Agent, AgentStatus, AttackType, Cause, CommitmentStatus, ConflictKind, Entity, RecordOutcome,
    Rejection, Role, SettlementStatus, Store, StoreError,
};

use crate::fixtures::*;

fn assert_conflict(err: StoreError, expected: ConflictKind) {
    match err {
        StoreError::Conflict(kind) => assert_eq!(kind, expected),
        other => panic!("expected conflict {expected:?}, got {other:?}"),
    }
}

fn rejection(err: StoreError) -> Rejection {
    match err {
        StoreError::Rejected(r) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ---- agents ----------------------------------------------------------------------------

pub(crate) async fn registering_the_same_registry_identity_twice_conflicts(store: Store) {
    store.register_agent(new_agent(1), now()).await.unwrap();
    assert_conflict(
        store.register_agent(new_agent(1), now()).await.unwrap_err(),
        ConflictKind::AgentRegistered,
    );
    store.register_agent(new_agent(2), now()).await.unwrap();
}

pub(crate) async fn agents_are_found_by_uuid_and_by_registry_identity(store: Store) {
    let a = agent(&store, 7, "0").await;
    let found = store.agent(a.uuid).await.unwrap().unwrap();
    assert_eq!(found, a);
    assert_eq!(found.status, AgentStatus::Active);
    assert_eq!(found.registration_file, new_agent(7).registration_file);
    let by_registry = store
        .agent_by_registry(&a.chain, &a.registry_address, 7)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_registry.uuid, a.uuid);
    assert!(store.agent(Uuid::new_v4()).await.unwrap().is_none());
    assert!(
        store
            .agent_by_registry(&a.chain, &a.registry_address, 8)
            .await
            .unwrap()
            .is_none()
    );
}

pub(crate) async fn status_changes_persist_and_unknown_agents_are_not_found(store: Store) {
    let a = agent(&store, 1, "0").await;
    let suspended = store
        .set_agent_status(a.uuid, AgentStatus::Suspended, t(5))
        .await
        .unwrap();
    assert_eq!(
        (suspended.status, suspended.updated_at),
        (AgentStatus::Suspended, t(5))
    );
    assert_eq!(
        store.agent(a.uuid).await.unwrap().unwrap().status,
        AgentStatus::Suspended
    );
    let err = store
        .set_agent_status(Uuid::new_v4(), AgentStatus::Active, t(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Agent)),
        "{err:?}"
    );
    let err = store
        .set_stake(Uuid::new_v4(), usdc("1"), t(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Agent)),
        "{err:?}"
    );
}

pub(crate) async fn money_round_trips_exactly(store: Store) {
    let a = agent(&store, 1, "0").await;
    for amount in ["0.000001", "123456789.123457", "9223372036854.775807", "0"] {
        store.set_stake(a.uuid, usdc(amount), now()).await.unwrap();
        let stake = store.stake(a.uuid, now()).await.unwrap().unwrap();
        assert_eq!(stake.staked, usdc(amount));
        assert_eq!(
            stake.staked.to_string().parse::<Usdc>().unwrap(),
            usdc(amount)
        );
    }
}

pub(crate) async fn stake_cannot_be_set_below_what_is_slashed(store: Store) {
    let a = agent(&store, 1, "1000").await;
    let incident = store
        .record_mev_incident(mev(&a, AttackType::Frontrun, "100", 1), now())
        .await
        .unwrap();
    assert_eq!(incident.incident.slashed_amount, usdc("200"));
    let err = store
        .set_stake(a.uuid, usdc("199.999999"), now())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::StakeBelowSlashed(StakeBelowSlashed {
            slashed: usdc("200")
        })
    );
    let stake = store.set_stake(a.uuid, usdc("200"), now()).await.unwrap();
    assert_eq!(
        (stake.staked, stake.slashed, stake.available()),
        (usdc("200"), usdc("200"), Usdc::ZERO)
    );
}

// ---- manifests -------------------------------------------------------------------------

pub(crate) async fn first_manifest_has_no_flip_and_replay_returns_the_original(store: Store) {
    let a = agent(&store, 1, "0").await;
    let m = manifest(&a, 1, "https://a.example/x402", t(-60), t(3600));
    let first = store
        .publish_manifest(m.clone(), now(), &policy())
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.flip, None);
    assert_ne!(first.manifest.id, Uuid::nil());
    assert_eq!(first.manifest.created_at, now());
    assert_eq!(first.manifest.hash, m.manifest.id());
    assert_eq!(first.manifest.signature, *m.manifest.signature());
    let replay = store.publish_manifest(m, t(30), &policy()).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.manifest, first.manifest);
    assert_eq!(
        store.manifests_of(a.uuid).await.unwrap(),
        vec![first.manifest.clone()]
    );
    assert_eq!(
        store.manifest_by_hash(&first.manifest.hash).await.unwrap(),
        Some(first.manifest)
    );
    assert_eq!(
        store.manifest_by_hash(&hash("nothing")).await.unwrap(),
        None
    );
}

pub(crate) async fn used_and_lower_nonces_are_rejected_without_writing(store: Store) {
    let a = agent(&store, 1, "0").await;
    store
        .publish_manifest(
            manifest(&a, 5, "https://a.example/1", t(-60), t(3600)),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    let reused = manifest(&a, 5, "https://a.example/2", t(60), t(3600));
    let err = store
        .publish_manifest(reused, t(60), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Publish(PublishError::NonceUsed { nonce: 5 })
    );
    let lower = manifest(&a, 3, "https://a.example/3", t(60), t(3600));
    let err = store
        .publish_manifest(lower, t(60), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Publish(PublishError::NonceNotIncreasing {
            nonce: 3,
            latest: 5
        })
    );
    assert_eq!(store.manifests_of(a.uuid).await.unwrap().len(), 1);
    assert!(store.flips_of(a.uuid).await.unwrap().is_empty());
}

/// Publishing reads only the manifests its decision needs (the one with its nonce, the
/// highest nonce, those still in force), never the expired history: an expired manifest's
/// nonce stays used, and its identical replay still answers the original.
pub(crate) async fn nonces_of_expired_manifests_stay_used(store: Store) {
    let a = agent(&store, 1, "0").await;
    let old = manifest(&a, 1, "https://a.example/old", t(-60), t(600));
    store
        .publish_manifest(old.clone(), now(), &policy())
        .await
        .unwrap();
    // Expired; then a later nonce, alone in force.
    store
        .publish_manifest(
            manifest(&a, 5, "https://a.example/new", t(700), t(4000)),
            t(700),
            &policy(),
        )
        .await
        .unwrap();
    let reused = manifest(&a, 1, "https://a.example/again", t(800), t(4000));
    let err = store
        .publish_manifest(reused, t(800), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Publish(PublishError::NonceUsed { nonce: 1 }),
        "the expired manifest's nonce is still used"
    );
    let lower = manifest(&a, 3, "https://a.example/3", t(800), t(4000));
    let err = store
        .publish_manifest(lower, t(800), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Publish(PublishError::NonceNotIncreasing {
            nonce: 3,
            latest: 5
        })
    );
    let replay = store
        .publish_manifest(old.clone(), t(800), &policy())
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.manifest.hash, old.manifest.id());
    assert_eq!(replay.status, ManifestStatus::Expired);
    // Revoking the expired one: revoked, and the newer one still in force.
    let (revoked, status) = store
        .revoke_manifest(
            a.uuid,
            &replay.manifest.hash,
            revocation(&a, &replay.manifest),
            t(900),
        )
        .await
        .unwrap();
    assert_eq!(
        (revoked.revoked_at, status),
        (Some(t(900)), ManifestStatus::Revoked)
    );
    assert_eq!(store.manifests_of(a.uuid).await.unwrap().len(), 2);
}

pub(crate) async fn replacement_records_one_scored_flip(store: Store) {
    let a = agent(&store, 1, "0").await;
    let m1 = store
        .publish_manifest(
            manifest(&a, 1, "https://a.example/1", t(-60), t(3600)),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    let m2 = manifest(&a, 2, "https://evil.example/1", t(30), t(3600));
    let out = store
        .publish_manifest(m2.clone(), t(30), &policy())
        .await
        .unwrap();
    let flip = out.flip.unwrap();
    assert_eq!(
        (flip.old_manifest, flip.new_manifest),
        (m1.manifest.hash, m2.manifest.id())
    );
    assert_eq!(
        flip.flip_hash,
        flip_hash(&m1.manifest.hash, &m2.manifest.id())
    );
    assert_eq!(flip.flip.suspicion_score, 70);
    assert!(flip.flip.endpoint_changed && !flip.flip.pubkey_changed);
    assert_eq!(flip.flip.time_delta_seconds, 30);
    assert!(flip.alerted);
    assert_eq!(flip.created_at, t(30));
    assert_eq!(store.flips_of(a.uuid).await.unwrap(), vec![flip]);
    let all = store.manifests_of(a.uuid).await.unwrap();
    assert_eq!(all.iter().map(|m| m.nonce).collect::<Vec<_>>(), vec![2, 1]);
}

pub(crate) async fn replacement_before_the_activation_delay_is_rejected(store: Store) {
    let a = agent(&store, 1, "0").await;
    store
        .publish_manifest(
            manifest(&a, 1, "https://a.example/1", t(-60), t(3600)),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    let early = manifest(&a, 2, "https://a.example/2", t(11), t(3600));
    let err = store
        .publish_manifest(early, t(5), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Publish(PublishError::ActivationTooSoon { earliest: t(12) })
    );
    let on_time = manifest(&a, 2, "https://a.example/2", t(12), t(3600));
    store
        .publish_manifest(on_time, t(5), &policy())
        .await
        .unwrap();
}

pub(crate) async fn revocation_is_idempotent_and_scoped_to_the_agent(store: Store) {
    let a = agent(&store, 1, "0").await;
    let b = agent(&store, 2, "0").await;
    let m = published(&store, &a).await;
    let err = store
        .revoke_manifest(b.uuid, &m.hash, revocation(&b, &m), t(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Manifest)),
        "{err:?}"
    );
    let (revoked, status) = store
        .revoke_manifest(a.uuid, &m.hash, revocation(&a, &m), t(10))
        .await
        .unwrap();
    assert_eq!(
        (revoked.revoked_at, status),
        (Some(t(10)), ManifestStatus::Revoked)
    );
    let (again, _) = store
        .revoke_manifest(a.uuid, &m.hash, revocation(&a, &m), t(20))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(t(10)));
    assert_eq!(
        store
            .manifest_by_hash(&m.hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t(10))
    );
}

pub(crate) async fn publishing_for_an_unknown_agent_is_not_found(store: Store) {
    let ghost = Agent {
        uuid: Uuid::new_v4(),
        ..agent(&store, 1, "0").await
    };
    let err = store
        .publish_manifest(
            manifest(&ghost, 1, "https://g.example/", t(-1), t(60)),
            now(),
            &policy(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Agent)),
        "{err:?}"
    );
}

pub(crate) async fn endpoint_flip_during_a_time_lock_disputes_the_commitment_and_slashes(
    store: Store,
) {
    let a = agent(&store, 1, "1000").await;
    store
        .publish_manifest(
            manifest(&a, 1, "https://a.example/1", t(-60), t(3600)),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    let payer = agent(&store, 2, "0").await;
    let c = store
        .create_commitment(
            commitment(&payer, &a, "root-1", "10000", t(300)),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    assert_eq!(c.status, CommitmentStatus::Pending);
    // Same endpoint, new key: not a routing change, no dispute.
    let rekey = manifest_with_key(&a, 2, "https://a.example/1", &hot_key(99), t(20), t(3600));
    assert!(
        store
            .publish_manifest(rekey, t(20), &policy())
            .await
            .unwrap()
            .disputed_commitments
            .is_empty()
    );
    let flip = manifest(&a, 3, "https://elsewhere.example/1", t(40), t(3600));
    let out = store
        .publish_manifest(flip, t(40), &policy())
        .await
        .unwrap();
    assert_eq!(out.disputed_commitments.len(), 1);
    assert_eq!(
        out.disputed_commitments[0].status,
        CommitmentStatus::Disputed
    );
    assert_eq!(
        store.commitment(c.id).await.unwrap().unwrap().status,
        CommitmentStatus::Disputed
    );
    // The first hop co-signed: it loses min(amount, half its available stake); the payer
    // loses nothing.
    let stake = store.stake(a.uuid, t(40)).await.unwrap().unwrap();
    assert_eq!(stake.slashed, usdc("500"));
    assert!(store.slashes_of(payer.uuid).await.unwrap().is_empty());
    let ledger = store.slashes_of(a.uuid).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].amount, ledger[0].reason.as_str(), ledger[0].cause),
        (usdc("500"), "commitment_dispute", Cause::Commitment(c.id))
    );
}

// ---- forwards --------------------------------------------------------------------------

/// Agents 1, 2, 3 (A, B, C) with 1000 USDC staked and published manifests.
async fn trio(store: &Store) -> [(Agent, ManifestRecord); 3] {
    let mut out = Vec::new();
    for n in 1..=3 {
        let a = agent(store, n, "1000").await;
        let m = published(store, &a).await;
        out.push((a, m));
    }
    out.try_into().unwrap()
}

/// Records A→B (committing to C) and B→C (committing to `c_next`).
async fn chain(
    store: &Store,
    root: Hash32,
    t3: &[(Agent, ManifestRecord); 3],
    c_next: Option<&Agent>,
) -> [SignedPair; 2] {
    let [(a, _), (b, mb), (c, mc)] = t3;
    let pairs = [
        receipt(root, 0, a, b, mb, Some(c), 1),
        receipt(root, 1, b, c, mc, c_next, 1),
    ];
    for r in pairs.clone() {
        let out = store.record_forward(r, now(), &policy()).await.unwrap();
        assert!(
            matches!(
                out,
                RecordOutcome::Recorded {
                    replayed: false,
                    ..
                }
            ),
            "{out:?}"
        );
    }
    pairs
}

pub(crate) async fn recording_a_chain_locks_stake_on_each_destination(store: Store) {
    let t3 = trio(&store).await;
    let root = hash("root");
    let [ab, _] = chain(&store, root, &t3, None).await;
    let [(a, _), (b, _), (c, _)] = &t3;
    for agent in [b, c] {
        assert_eq!(
            store
                .stake(agent.uuid, now())
                .await
                .unwrap()
                .unwrap()
                .locked,
            usdc("100")
        );
        assert_eq!(
            store
                .stake_for_root(agent.uuid, &root, now())
                .await
                .unwrap()
                .unwrap()
                .locked,
            Usdc::ZERO
        );
        // Locks expire after policy.stake_lock_seconds.
        assert_eq!(
            store
                .stake(agent.uuid, t(3600))
                .await
                .unwrap()
                .unwrap()
                .locked,
            Usdc::ZERO
        );
    }
    assert_eq!(
        store.stake(a.uuid, now()).await.unwrap().unwrap().locked,
        Usdc::ZERO
    );
    let trail = store.forward_trail(&root).await.unwrap();
    assert_eq!(
        trail
            .receipts
            .iter()
            .map(|r| (r.receipt.hop, r.is_valid))
            .collect::<Vec<_>>(),
        vec![(0, true), (1, true)]
    );
    assert_eq!(trail.receipts[0].receipt, as_stored(&ab, &t3[1].1));
    assert_eq!(trail.receipts[0].created_at, now());
    assert_eq!(trail.settlement, None);
}

/// The locked stake is kept as a running total: a lock that expired or was released leaves it
/// exactly once, whether a read or the agent's next write finds it first.
pub(crate) async fn locked_stake_follows_expiry_and_release_across_writes(store: Store) {
    let t3 = trio(&store).await;
    let [(a, ma), (b, mb), (c, mc)] = &t3;
    let locked =
        async |agent: &Agent, at| store.stake(agent.uuid, at).await.unwrap().unwrap().locked;
    // Root 1 at now(): B and C each lock 100 for an hour.
    chain(&store, hash("root1"), &t3, None).await;
    let later = t(3601);
    // An hour later a read sees the locks gone before any write took them off the totals.
    assert_eq!(locked(b, later).await, Usdc::ZERO);
    assert_eq!(locked(c, t(3599)).await, usdc("100"));
    // Root 2, later: A→B→C, then C→A closes a cycle. Each write on B and C takes the expired
    // root-1 lock off and adds its own; the settlement releases root 2's locks.
    let root2 = hash("root2");
    for r in [
        receipt(root2, 0, a, b, mb, Some(c), 2),
        receipt(root2, 1, b, c, mc, Some(a), 2),
    ] {
        let out = store.record_forward(r, later, &policy()).await.unwrap();
        assert!(matches!(out, RecordOutcome::Recorded { .. }), "{out:?}");
    }
    for agent in [b, c] {
        assert_eq!(locked(agent, later).await, usdc("100"), "root 2 only");
    }
    let out = store
        .record_forward(receipt(root2, 2, c, a, ma, None, 1), t(3602), &policy())
        .await
        .unwrap();
    assert!(matches!(out, RecordOutcome::Settled { .. }), "{out:?}");
    for agent in [a, b, c] {
        assert_eq!(locked(agent, t(3602)).await, Usdc::ZERO, "released");
    }
    // B's next write takes the released lock off; the new lock is all that counts, until it
    // expires in its turn.
    let out = store
        .record_forward(
            receipt(hash("root3"), 0, a, b, mb, None, 3),
            t(3603),
            &policy(),
        )
        .await
        .unwrap();
    assert!(matches!(out, RecordOutcome::Recorded { .. }), "{out:?}");
    assert_eq!(locked(b, t(3603)).await, usdc("100"));
    assert_eq!(locked(b, t(3603 + 3600)).await, Usdc::ZERO);
    assert_eq!(
        store
            .stake_for_root(b.uuid, &hash("root3"), t(3603))
            .await
            .unwrap()
            .unwrap()
            .locked,
        Usdc::ZERO,
        "a root's own locks do not count against it"
    );
}

pub(crate) async fn replayed_receipt_returns_the_original_record(store: Store) {
    let [(a, _), (b, mb), (c, _)] = trio(&store).await;
    let root = hash("root");
    let r = receipt(root, 0, &a, &b, &mb, Some(&c), 1);
    let RecordOutcome::Recorded {
        receipt: first,
        replayed: false,
    } = store
        .record_forward(r.clone(), now(), &policy())
        .await
        .unwrap()
    else {
        panic!("first record")
    };
    let RecordOutcome::Recorded {
        receipt: again,
        replayed: true,
    } = store.record_forward(r, t(10), &policy()).await.unwrap()
    else {
        panic!("replay")
    };
    assert_eq!(again, first);
    assert_eq!(store.forward_trail(&root).await.unwrap().receipts.len(), 1);
    assert_eq!(
        store.stake(b.uuid, now()).await.unwrap().unwrap().locked,
        usdc("100")
    );
}

pub(crate) async fn another_receipt_with_a_used_destination_nonce_conflicts(store: Store) {
    let [(a, _), (b, mb), (c, _)] = trio(&store).await;
    store
        .record_forward(
            receipt(hash("root-1"), 0, &a, &b, &mb, Some(&c), 1),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    let err = store
        .record_forward(
            receipt(hash("root-2"), 0, &a, &b, &mb, Some(&c), 1),
            now(),
            &policy(),
        )
        .await
        .unwrap_err();
    assert_conflict(err, ConflictKind::ReceiptNonce);
    assert!(
        store
            .forward_trail(&hash("root-2"))
            .await
            .unwrap()
            .receipts
            .is_empty()
    );
}

pub(crate) async fn closing_a_cycle_settles_it_atomically(store: Store) {
    let t3 = trio(&store).await;
    let root = hash("root");
    let [(a, ma), (b, _), (c, _)] = &t3;
    chain(&store, root, &t3, Some(a)).await;
    let closing = receipt(root, 2, c, a, ma, None, 1);
    let RecordOutcome::Settled {
        receipt,
        settlement,
        slashes,
        invalidated,
        replayed: false,
    } = store
        .record_forward(closing.clone(), t(5), &policy())
        .await
        .unwrap()
    else {
        panic!("expected a settlement")
    };
    assert!(!receipt.is_valid);
    assert_eq!(receipt.invalidation_reason, Some(LoopKind::Cycle));
    assert_eq!(settlement.kind, LoopKind::Cycle);
    assert_eq!(settlement.cycle_agents, vec![a.uuid, b.uuid, c.uuid]);
    assert_eq!(settlement.depth, 3);
    assert_eq!(
        (settlement.reporter, settlement.bounty, settlement.status),
        (None, None, SettlementStatus::Provisional)
    );
    // Only C, the payer of the closing hop, signed into the cycle: 30 % (depth 3) of its
    // 1000 available (its lock is on this root, so excluded). A and B lose nothing.
    assert_eq!(settlement.liable, vec![c.uuid]);
    assert_eq!(
        slashes
            .iter()
            .map(|s| (s.agent, s.amount))
            .collect::<Vec<_>>(),
        vec![(c.uuid, usdc("300"))]
    );
    assert_eq!(settlement.total_slashed, usdc("300"));
    assert_eq!(invalidated.len(), 3);
    assert!(invalidated.contains(&closing.receipt.id()));
    let trail = store.forward_trail(&root).await.unwrap();
    assert!(
        trail
            .receipts
            .iter()
            .all(|r| !r.is_valid && r.invalidated_at == Some(t(5)))
    );
    assert_eq!(trail.settlement.as_ref().map(|s| s.id), Some(settlement.id));
    assert_eq!(trail.slashes.len(), 1);
    for (agent, slashed) in [(a, "0"), (b, "0"), (c, "300")] {
        let stake = store.stake(agent.uuid, t(5)).await.unwrap().unwrap();
        assert_eq!(
            (stake.slashed, stake.locked),
            (usdc(slashed), Usdc::ZERO),
            "locks released"
        );
    }
    let ledger = store.slashes_of(c.uuid).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].cause, ledger[0].reason.as_str()),
        (Cause::Settlement(settlement.id), "cycle_detected")
    );
    assert_eq!(store.settlement_of(&root).await.unwrap(), Some(settlement));
}

pub(crate) async fn recording_into_a_settled_root_is_refused(store: Store) {
    let t3 = trio(&store).await;
    let root = hash("root");
    let [(a, ma), (b, mb), (c, _)] = &t3;
    chain(&store, root, &t3, Some(a)).await;
    let RecordOutcome::Settled { settlement, .. } = store
        .record_forward(receipt(root, 2, c, a, ma, None, 1), now(), &policy())
        .await
        .unwrap()
    else {
        panic!("settle")
    };
    let err = store
        .record_forward(receipt(root, 0, a, b, mb, None, 9), now(), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::AlreadySettled {
            settlement_id: settlement.id
        }
    );
}

pub(crate) async fn forward_rule_violations_write_nothing(store: Store) {
    let [(a, ma), (b, mb), (c, mc)] = trio(&store).await;
    let d = agent(&store, 4, "1000").await;
    let md = published(&store, &d).await;
    let root = hash("root");
    let err = store
        .record_forward(receipt(root, 1, &b, &c, &mc, None, 1), now(), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Record(RecordRejection::Forward(
            ForwardViolation::MissingPreviousHop { hop: 1 }
        ))
    );
    store
        .record_forward(receipt(root, 0, &a, &b, &mb, Some(&c), 1), now(), &policy())
        .await
        .unwrap();
    let err = store
        .record_forward(receipt(root, 1, &b, &d, &md, None, 1), now(), &policy())
        .await
        .unwrap_err();
    assert!(matches!(
        rejection(err),
        Rejection::Record(RecordRejection::Forward(
            ForwardViolation::NextHopMismatch { .. }
        ))
    ));
    let err = store
        .record_forward(receipt(root, 0, &a, &a, &ma, None, 1), now(), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Record(RecordRejection::Forward(ForwardViolation::SelfForward))
    );
    assert_eq!(store.forward_trail(&root).await.unwrap().receipts.len(), 1);
    assert_eq!(
        store.stake(d.uuid, now()).await.unwrap().unwrap().locked,
        Usdc::ZERO
    );
}

pub(crate) async fn destination_without_enough_stake_is_refused(store: Store) {
    let a = agent(&store, 1, "1000").await;
    let b = agent(&store, 2, "99.999999").await;
    let c = agent(&store, 3, "150").await;
    let (mb, mc) = (published(&store, &b).await, published(&store, &c).await);
    let err = store
        .record_forward(
            receipt(hash("r1"), 0, &a, &b, &mb, None, 1),
            now(),
            &policy(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Record(RecordRejection::InsufficientStake {
            available: usdc("99.999999"),
            required: usdc("100")
        })
    );
    // C can back one hop; its lock on r1 leaves 50 available for r2.
    store
        .record_forward(
            receipt(hash("r1"), 0, &a, &c, &mc, None, 1),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    let err = store
        .record_forward(
            receipt(hash("r2"), 0, &a, &c, &mc, None, 2),
            now(),
            &policy(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::Record(RecordRejection::InsufficientStake {
            available: usdc("50"),
            required: usdc("100")
        })
    );
    assert!(
        store
            .forward_trail(&hash("r2"))
            .await
            .unwrap()
            .receipts
            .is_empty()
    );
}

pub(crate) async fn paying_an_agent_twice_settles_an_extraction_loop(store: Store) {
    let [(a, _), (b, mb), (c, mc)] = trio(&store).await;
    let d = agent(&store, 4, "1000").await;
    let md = published(&store, &d).await;
    let root = hash("root");
    for r in [
        receipt(root, 0, &a, &b, &mb, Some(&d), 1),
        receipt(root, 0, &a, &c, &mc, Some(&d), 1),
        receipt(root, 1, &b, &d, &md, None, 1),
    ] {
        store.record_forward(r, now(), &policy()).await.unwrap();
    }
    let out = store
        .record_forward(receipt(root, 1, &c, &d, &md, None, 2), now(), &policy())
        .await
        .unwrap();
    let RecordOutcome::Settled {
        settlement,
        invalidated,
        ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(settlement.kind, LoopKind::ExtractionLoop);
    assert_eq!(settlement.cycle_agents, vec![b.uuid, c.uuid, d.uuid]);
    // D signed two receipts of one payment; the payers B and C each paid once.
    assert_eq!(settlement.liable, vec![d.uuid]);
    assert_eq!(invalidated.len(), 2);
    let trail = store.forward_trail(&root).await.unwrap();
    assert_eq!(trail.receipts.iter().filter(|r| !r.is_valid).count(), 2);
    assert_eq!(
        trail
            .receipts
            .iter()
            .filter(|r| r.invalidation_reason == Some(LoopKind::ExtractionLoop))
            .count(),
        2
    );
}

pub(crate) async fn reported_evidence_settles_with_a_bounty(store: Store) {
    let t3 = trio(&store).await;
    let root = hash("root");
    let [(a, ma), _, (c, _)] = &t3;
    chain(&store, root, &t3, Some(a)).await;
    let reporter = reporter_address(1);
    let evidence = receipt(root, 2, c, a, ma, None, 1);
    let (settlement, slashes) = store
        .report_cycle(report(root, vec![evidence.clone()]), t(7), &policy())
        .await
        .unwrap();
    assert_eq!(settlement.reporter, Some(reporter));
    // C alone is liable: 30 % of 1000. min(1000, 50 + 25 × 3 + 10 % × 300, 300) = 125 + 30.
    assert_eq!(settlement.bounty, Some(usdc("155")));
    assert_eq!(settlement.total_slashed, usdc("300"));
    assert_eq!(
        slashes.iter().map(|s| s.agent).collect::<Vec<_>>(),
        vec![c.uuid]
    );
    let trail = store.forward_trail(&root).await.unwrap();
    assert_eq!(trail.receipts.len(), 3);
    let stored = trail
        .receipts
        .iter()
        .find(|r| r.receipt.receipt_hash == evidence.receipt.id())
        .unwrap();
    assert_eq!(stored.receipt, as_stored(&evidence, ma));
    assert!(trail.receipts.iter().all(|r| !r.is_valid));
    let err = store
        .report_cycle(report(root, vec![evidence]), t(8), &policy())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::AlreadySettled {
            settlement_id: settlement.id
        }
    );
}

pub(crate) async fn report_without_a_loop_writes_nothing(store: Store) {
    let [(a, _), (b, mb), (c, mc)] = trio(&store).await;
    let root = hash("root");
    store
        .record_forward(receipt(root, 0, &a, &b, &mb, Some(&c), 1), now(), &policy())
        .await
        .unwrap();
    let err = store
        .report_cycle(
            report(root, vec![receipt(root, 1, &b, &c, &mc, None, 1)]),
            now(),
            &policy(),
        )
        .await
        .unwrap_err();
    assert_eq!(rejection(err), Rejection::NoLoop);
    assert_eq!(store.forward_trail(&root).await.unwrap().receipts.len(), 1);
    assert_eq!(store.settlement_of(&root).await.unwrap(), None);
}

// ---- commitments, MEV, keys, metrics ---------------------------------------------------

pub(crate) async fn commitments_move_through_their_states_only_in_order(store: Store) {
    let a = agent(&store, 1, "1000").await;
    published(&store, &a).await;
    let payer = agent(&store, 2, "0").await;
    let c = store
        .create_commitment(
            commitment(&payer, &a, "root", "10000.5", t(300)),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    assert_eq!(
        (c.status, c.commitment.amount, c.onchain_tx_hash),
        (CommitmentStatus::Pending, usdc("10000.5"), None)
    );
    let err = store.settle_commitment(c.id, now()).await.unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::CommitmentState(CommitmentStateError {
            actual: CommitmentStatus::Pending,
            expected: CommitmentStatus::Confirmed
        })
    );
    let confirmed = store
        .confirm_commitment(c.id, &hash("onchain"), now())
        .await
        .unwrap();
    assert_eq!(
        (confirmed.status, confirmed.onchain_tx_hash),
        (CommitmentStatus::Confirmed, Some(hash("onchain")))
    );
    let err = store
        .confirm_commitment(c.id, &hash("onchain"), now())
        .await
        .unwrap_err();
    assert_eq!(
        rejection(err),
        Rejection::CommitmentState(CommitmentStateError {
            actual: CommitmentStatus::Confirmed,
            expected: CommitmentStatus::Pending
        })
    );
    assert_eq!(
        store.settle_commitment(c.id, now()).await.unwrap().status,
        CommitmentStatus::Settled
    );
    assert_conflict(
        store
            .create_commitment(
                commitment(&payer, &a, "root", "20000", t(300)),
                now(),
                &policy(),
            )
            .await
            .unwrap_err(),
        ConflictKind::CommitmentRoot,
    );
    assert!(matches!(
        store
            .confirm_commitment(Uuid::new_v4(), &hash("x"), now())
            .await
            .unwrap_err(),
        StoreError::NotFound(Entity::Commitment)
    ));
    let ghost = Agent {
        uuid: Uuid::new_v4(),
        ..a
    };
    assert!(matches!(
        store
            .create_commitment(
                commitment(&payer, &ghost, "other", "20000", t(300)),
                now(),
                &policy()
            )
            .await
            .unwrap_err(),
        StoreError::NotFound(Entity::Agent)
    ));
}

pub(crate) async fn mev_incident_slashes_twice_the_extraction_up_to_available(store: Store) {
    let a = agent(&store, 1, "1000").await;
    let first = store
        .record_mev_incident(mev(&a, AttackType::Frontrun, "100", 1), now())
        .await
        .unwrap();
    assert_eq!(first.incident.slashed_amount, usdc("200"));
    let second = store
        .record_mev_incident(mev(&a, AttackType::Sandwich, "600", 2), now())
        .await
        .unwrap();
    assert_eq!(second.incident.slashed_amount, usdc("800"));
    assert_eq!(second.incident.incident.extracted_value, usdc("600"));
    assert_eq!(
        store.stake(a.uuid, now()).await.unwrap().unwrap().slashed,
        usdc("1000")
    );
    let ledger = store.slashes_of(a.uuid).await.unwrap();
    assert_eq!(
        ledger
            .iter()
            .map(|s| (s.amount, s.cause))
            .collect::<Vec<_>>(),
        vec![
            (usdc("200"), Cause::Incident(first.incident.id)),
            (usdc("800"), Cause::Incident(second.incident.id))
        ]
    );
    let summary = store.mev_summary().await.unwrap();
    assert_eq!(
        summary
            .iter()
            .map(|r| (
                r.attack_type,
                r.incidents,
                r.extracted_value,
                r.slashed_amount
            ))
            .collect::<Vec<_>>(),
        vec![
            (
                AttackType::Frontrun,
                1,
                usdc("100").into(),
                usdc("200").into()
            ),
            (
                AttackType::Sandwich,
                1,
                usdc("600").into(),
                usdc("800").into()
            )
        ]
    );
    let ghost = Agent {
        uuid: Uuid::new_v4(),
        ..a
    };
    assert!(matches!(
        store
            .record_mev_incident(mev(&ghost, AttackType::Timebandit, "1", 3), now())
            .await
            .unwrap_err(),
        StoreError::NotFound(Entity::Agent)
    ));
}

pub(crate) async fn api_keys_are_stored_looked_up_and_revoked(store: Store) {
    let admin = store
        .create_api_key([1; 32], Role::Admin, "ops", now())
        .await
        .unwrap();
    let client = store
        .create_api_key([2; 32], Role::Client, "agent sdk", t(1))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_api_key([1; 32], Role::Client, "dup", now())
            .await
            .unwrap_err(),
        ConflictKind::ApiKey,
    );
    assert_eq!(
        store.api_key_by_hmac(&[1; 32]).await.unwrap(),
        Some(admin.clone())
    );
    assert_eq!(store.api_key_by_hmac(&[3; 32]).await.unwrap(), None);
    let revoked = store.revoke_api_key(client.id, t(5)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(t(5)));
    assert_eq!(
        store
            .revoke_api_key(client.id, t(9))
            .await
            .unwrap()
            .revoked_at,
        Some(t(5))
    );
    assert_eq!(store.api_key_by_hmac(&[2; 32]).await.unwrap(), None);
    let listed = store.list_api_keys().await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|k| (k.role, k.label.as_str()))
            .collect::<Vec<_>>(),
        vec![(Role::Admin, "ops"), (Role::Client, "agent sdk")]
    );
    assert!(matches!(
        store
            .revoke_api_key(Uuid::new_v4(), now())
            .await
            .unwrap_err(),
        StoreError::NotFound(Entity::ApiKey)
    ));
}

pub(crate) async fn flip_metrics_count_what_happened(store: Store) {
    let a = agent(&store, 1, "0").await;
    store
        .publish_manifest(
            manifest(&a, 1, "https://a.example/1", t(-60), t(3600)),
            now(),
            &policy(),
        )
        .await
        .unwrap();
    // +50 endpoint, +20 rapid = 70 (suspicious).
    store
        .publish_manifest(
            manifest(&a, 2, "https://b.example/1", t(30), t(3600)),
            t(30),
            &policy(),
        )
        .await
        .unwrap();
    // +30 pubkey only, 170 s later = 30.
    let rekey = manifest_with_key(&a, 3, "https://b.example/1", &hot_key(77), t(200), t(3600));
    store
        .publish_manifest(rekey, t(200), &policy())
        .await
        .unwrap();
    store.refresh_flip_metrics().await.unwrap();
    let (metrics, _as_of) = store.flip_metrics(a.uuid, t(300)).await.unwrap();
    assert_eq!(
        (
            metrics.total_flips,
            metrics.rapid_flips_1min,
            metrics.endpoint_changes,
            metrics.high_suspicion_flips
        ),
        (2, 1, 1, 1)
    );
    assert!(
        (metrics.avg_suspicion_score - 50.0).abs() < 1e-9,
        "{}",
        metrics.avg_suspicion_score
    );
    assert_eq!(metrics.last_flip_at, Some(t(200)));
    let (none, _) = store.flip_metrics(Uuid::new_v4(), t(300)).await.unwrap();
    assert_eq!(none.total_flips, 0);
}

// ---- concurrency -----------------------------------------------------------------------

pub(crate) async fn racing_receipts_closing_one_cycle_settle_it_exactly_once(store: Store) {
    let t3 = trio(&store).await;
    let root = hash("root");
    chain(&store, root, &t3, Some(&t3[0].0)).await;
    let tasks: Vec<_> = (0..32u64)
        .map(|i| {
            let store = store.clone();
            let closing = receipt(root, 2, &t3[2].0, &t3[0].0, &t3[0].1, None, 100 + i);
            tokio::spawn(async move { store.record_forward(closing, now(), &policy()).await })
        })
        .collect();
    let mut settled = 0;
    for task in futures::future::join_all(tasks).await {
        match task.unwrap() {
            Ok(RecordOutcome::Settled { .. }) => settled += 1,
            Err(StoreError::Rejected(Rejection::AlreadySettled { .. })) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(settled, 1);
    // C, the payer of the closing hop, is slashed once; A and B not at all.
    for ((agent, _), (slashes, slashed)) in t3.iter().zip([(0, "0"), (0, "0"), (1, "300")]) {
        assert_eq!(
            store.slashes_of(agent.uuid).await.unwrap().len(),
            slashes,
            "slashed once, and only the liable agent"
        );
        assert_eq!(
            store
                .stake(agent.uuid, now())
                .await
                .unwrap()
                .unwrap()
                .slashed,
            usdc(slashed)
        );
    }
    assert_eq!(store.forward_trail(&root).await.unwrap().receipts.len(), 3);
}

/// Hops for one destination are recorded side by side (its lock is shared between them):
/// racing hops on roots of their own never lock more of its stake than it has, and one
/// receipt nonce is taken by one of them only.
pub(crate) async fn racing_hops_for_one_destination_never_overcommit_its_stake(store: Store) {
    let a = agent(&store, 1, "1000").await;
    // B can back exactly five hops of `min_stake_per_hop` (100).
    let b = agent(&store, 2, "500").await;
    let mb = published(&store, &b).await;
    let race = |pairs: Vec<SignedPair>, at: Timestamp| {
        let store = store.clone();
        async move {
            let tasks: Vec<_> = pairs
                .into_iter()
                .map(|pair| {
                    let store = store.clone();
                    tokio::spawn(async move { store.record_forward(pair, at, &policy()).await })
                })
                .collect();
            futures::future::join_all(tasks)
                .await
                .into_iter()
                .map(|task| task.unwrap())
                .collect::<Vec<_>>()
        }
    };
    // Twice: on a fresh stake, then an hour later, when every lock of the first wave has
    // expired and each racer's stake read first takes the expired locks off the total.
    let later = now().add_seconds(policy().stake_lock_seconds + 1);
    for (wave, at) in [now(), later].into_iter().enumerate() {
        let pairs = (0..24u64)
            .map(|i| {
                let root = hash(&format!("stake-{wave}-{i}"));
                receipt(root, 0, &a, &b, &mb, None, 100 * wave as u64 + i)
            })
            .collect();
        let mut recorded = 0;
        for outcome in race(pairs, at).await {
            match outcome {
                Ok(RecordOutcome::Recorded { .. }) => recorded += 1,
                Err(StoreError::Rejected(Rejection::Record(
                    RecordRejection::InsufficientStake { available, .. },
                ))) => assert!(
                    available < usdc("100"),
                    "refused with {available} available"
                ),
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!(recorded, 5, "wave {wave}: five hops fit in B's stake");
        let stake = store.stake(b.uuid, at).await.unwrap().unwrap();
        assert_eq!((stake.locked, stake.available()), (usdc("500"), usdc("0")));
    }

    // One receipt nonce of C on eight roots at once: one hop takes it.
    let c = agent(&store, 3, "1000").await;
    let mc = published(&store, &c).await;
    let pairs = (0..8u64)
        .map(|i| receipt(hash(&format!("nonce-{i}")), 0, &a, &c, &mc, None, 7))
        .collect();
    let mut recorded = 0;
    for outcome in race(pairs, now()).await {
        match outcome {
            Ok(RecordOutcome::Recorded { .. }) => recorded += 1,
            Ok(settled) => panic!("no loop here: {settled:?}"),
            Err(err) => assert_conflict(err, ConflictKind::ReceiptNonce),
        }
    }
    assert_eq!(recorded, 1, "a receipt nonce is used once");
    let stake = store.stake(c.uuid, now()).await.unwrap().unwrap();
    assert_eq!(stake.locked, usdc("100"));
}

pub(crate) async fn racing_publishes_for_one_agent_keep_nonces_in_order(store: Store) {
    let a = agent(&store, 1, "0").await;
    let tasks: Vec<_> = (1..=16u64)
        .map(|nonce| {
            let store = store.clone();
            let m = manifest(
                &a,
                nonce,
                &format!("https://a.example/{nonce}"),
                t(12),
                t(3600),
            );
            tokio::spawn(async move { store.publish_manifest(m, now(), &policy()).await })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        match task.unwrap() {
            Ok(_) => {}
            Err(StoreError::Rejected(Rejection::Publish(PublishError::NonceNotIncreasing {
                ..
            }))) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let mut accepted: Vec<ManifestRecord> = store.manifests_of(a.uuid).await.unwrap();
    accepted.reverse();
    assert!(
        accepted.last().is_some_and(|m| m.nonce == 16),
        "the highest nonce always wins"
    );
    // All were created at the same second, so order the flips by the nonce they introduced.
    let nonce_of = |hash: &Hash32| accepted.iter().find(|m| m.hash == *hash).map(|m| m.nonce);
    let mut flips = store.flips_of(a.uuid).await.unwrap();
    flips.sort_by_key(|f| nonce_of(&f.new_manifest));
    assert_eq!(flips.len(), accepted.len() - 1, "one flip per replacement");
    // Acceptance order is nonce order: every flip replaces the previously accepted manifest.
    for (flip, pair) in flips.iter().zip(accepted.windows(2)) {
        assert_eq!(
            (flip.old_manifest, flip.new_manifest),
            (pair[0].hash, pair[1].hash)
        );
    }
}

// ---- one behaviour on both backends (the backends used to differ here) -------------------

pub(crate) async fn reported_evidence_is_stored_once_and_another_roots_evidence_is_refused(
    store: Store,
) {
    let t3 = trio(&store).await;
    let root = hash("root");
    let [(a, ma), (b, mb), (c, _)] = &t3;
    chain(&store, root, &t3, Some(a)).await;
    let closing = receipt(root, 2, c, a, ma, None, 1);
    let elsewhere = receipt(hash("other root"), 0, a, b, mb, None, 7);
    let err = store
        .report_cycle(
            report(root, vec![closing.clone(), elsewhere]),
            t(5),
            &policy(),
        )
        .await
        .unwrap_err();
    let refused = rejection(err);
    assert!(
        matches!(
            refused,
            Rejection::InvalidEvidence {
                index: 1,
                field: "receipt.root_tx_hash",
                ..
            }
        ),
        "evidence of another root is refused, naming the item: {refused:?}"
    );
    assert_eq!(store.forward_trail(&root).await.unwrap().receipts.len(), 2);
    let (settlement, _) = store
        .report_cycle(
            report(root, vec![closing.clone(), closing.clone()]),
            t(6),
            &policy(),
        )
        .await
        .unwrap();
    let trail = store.forward_trail(&root).await.unwrap();
    assert_eq!(
        trail
            .receipts
            .iter()
            .filter(|r| r.receipt.receipt_hash == closing.receipt.id())
            .count(),
        1,
        "a receipt given twice as evidence is stored once"
    );
    assert_eq!(trail.settlement.map(|s| s.id), Some(settlement.id));
    assert!(trail.receipts.iter().all(|r| !r.is_valid));
}

pub(crate) async fn a_receipt_citing_an_unknown_manifest_writes_nothing(store: Store) {
    let [(a, _), (b, mb), (_, mc)] = trio(&store).await;
    let root = hash("root");
    let unknown = ManifestRecord {
        hash: hash("no such manifest"),
        ..mb.clone()
    };
    let err = store
        .record_forward(
            receipt(root, 0, &a, &b, &unknown, None, 1),
            now(),
            &policy(),
        )
        .await
        .unwrap_err();
    assert_eq!(rejection(err), Rejection::CitedManifestUnknown);
    let err = store
        .record_forward(receipt(root, 0, &a, &b, &mc, None, 1), now(), &policy())
        .await
        .unwrap_err();
    assert_eq!(rejection(err), Rejection::ManifestNotDestinations);
    let ghost = Agent {
        uuid: Uuid::new_v4(),
        ..a.clone()
    };
    let err = store
        .record_forward(receipt(root, 0, &ghost, &b, &mb, None, 1), now(), &policy())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Agent)),
        "{err:?}"
    );
    assert!(
        store
            .forward_trail(&root)
            .await
            .unwrap()
            .receipts
            .is_empty()
    );
    assert_eq!(
        store.stake(b.uuid, now()).await.unwrap().unwrap().locked,
        Usdc::ZERO
    );
}

// ---- round trips (PostgreSQL) ------------------------------------------------------------

/// The statements each hot use case sends to PostgreSQL, `BEGIN` and `COMMIT` included, as
/// `crates/store/README.md` documents them. A change here is a change of the hot paths' cost:
/// update the README with it.
pub(crate) async fn round_trips_per_use_case_are_as_documented(store: Store) {
    let pg = store.as_postgres().unwrap().clone();
    let cost = async |f: std::pin::Pin<Box<dyn Future<Output = ()> + '_>>| {
        let before = pg.round_trips();
        f.await;
        pg.round_trips() - before
    };
    let [(a, _), (b, mb), (c, _)] = trio(&store).await;
    let d = agent(&store, 4, "1000").await;
    let publish = cost(Box::pin(async {
        let m = manifest(&d, 1, "https://d.example/1", t(-10), t(3600));
        store.publish_manifest(m, now(), &policy()).await.unwrap();
    }))
    .await;
    let root = hash("root");
    let verify = cost(Box::pin(async {
        let query = kagami_core::verify::ForwardQuery {
            root,
            source: a.uuid,
            dest: b.uuid,
            manifest: mb.hash,
            nonce: mb.nonce,
            signature: mb.signature,
        };
        let verdict = store.verify_forward(query, now(), &policy()).await.unwrap();
        assert!(verdict.verdict.is_ok(), "{verdict:?}");
    }))
    .await;
    let record = cost(Box::pin(async {
        let r = receipt(root, 0, &a, &b, &mb, Some(&c), 1);
        let out = store.record_forward(r, now(), &policy()).await.unwrap();
        assert!(matches!(
            out,
            RecordOutcome::Recorded {
                replayed: false,
                ..
            }
        ));
    }))
    .await;
    assert_eq!(
        (publish, record, verify),
        (8, 18, 6),
        "(publish, record-forward, verify-forward) round trips"
    );
}
