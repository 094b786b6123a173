//! Check-then-act races, with the interleaving forced: another writer (`Interloper`) holds
//! the agent's writers' lock, the use case starts and queues behind it, the other writer
//! commits the change the use case depends on, and the use case runs. Its checks must see
//! the change — they are made inside its transaction, under the lock revoke, status changes,
//! publish and record all take.

use kagami_core::{AgentStatus, ManifestRecord, ManifestStatus, crypto::Uuid};
use kagami_store::{CommitmentStatus, Rejection, Store, StoreError};
use kagami_tests::Interloper;

use crate::fixtures::*;

/// Opens an interloper holding one agent's lock, on the test's database.
pub(crate) type Hold<'a> = &'a dyn Fn(Uuid) -> futures::future::BoxFuture<'a, Interloper>;

fn rejected(result: Result<impl std::fmt::Debug, StoreError>) -> Rejection {
    match result {
        Err(StoreError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Starts `work` and returns it once it waits for the lock `held` holds, asserting that it
/// does wait (`failure` says which use case did not).
async fn behind<T: Send + 'static>(
    held: &Interloper,
    failure: &str,
    work: impl Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let task = tokio::spawn(work);
    held.wait_for_a_waiter().await;
    assert!(!task.is_finished(), "{failure}");
    task
}

/// Revoke vs record: the manifest a pair cites is revoked while the record waits.
pub(crate) async fn revoke_vs_record(store: Store, hold: Hold<'_>) {
    let a = agent(&store, 1, "1000").await;
    let b = agent(&store, 2, "1000").await;
    let mb = published(&store, &b).await;
    let root = hash("race-revoke");
    let held = hold(b.uuid).await;
    let pair = receipt(root, 0, &a, &b, &mb, None, 1);
    let recording = behind(&held, "the record did not wait for the lock", {
        let store = store.clone();
        async move { store.record_forward(pair, now(), &policy()).await }
    })
    .await;
    held.revoke_manifest(&mb.hash, now()).await;
    held.commit().await;
    assert_eq!(
        rejected(recording.await.unwrap()),
        Rejection::ManifestNotEffective {
            status: ManifestStatus::Revoked
        }
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
        kagami_core::Usdc::ZERO
    );
}

/// Suspend vs publish: the agent is suspended while its publication waits.
pub(crate) async fn suspend_vs_publish(store: Store, hold: Hold<'_>) {
    let a = agent(&store, 1, "0").await;
    let held = hold(a.uuid).await;
    let m = manifest(&a, 1, "https://a.example/x402", t(-60), t(3600));
    let publishing = behind(&held, "the publication did not wait for the lock", {
        let store = store.clone();
        async move { store.publish_manifest(m, now(), &policy()).await }
    })
    .await;
    held.set_agent_status(a.uuid, "suspended").await;
    held.commit().await;
    assert_eq!(
        rejected(publishing.await.unwrap()),
        Rejection::AgentNotActive {
            status: AgentStatus::Suspended
        }
    );
    assert!(store.manifests_of(a.uuid).await.unwrap().is_empty());
}

/// Suspend vs record: the destination is suspended while a pair paying it waits.
pub(crate) async fn suspend_vs_record(store: Store, hold: Hold<'_>) {
    let a = agent(&store, 1, "1000").await;
    let b = agent(&store, 2, "1000").await;
    let mb = published(&store, &b).await;
    let root = hash("race-suspend");
    let held = hold(b.uuid).await;
    let pair = receipt(root, 0, &a, &b, &mb, None, 1);
    let recording = behind(&held, "the record did not wait for the lock", {
        let store = store.clone();
        async move { store.record_forward(pair, now(), &policy()).await }
    })
    .await;
    held.set_agent_status(b.uuid, "suspended").await;
    held.commit().await;
    assert_eq!(
        rejected(recording.await.unwrap()),
        Rejection::DestinationNotActive {
            status: AgentStatus::Suspended
        }
    );
    assert!(
        store
            .forward_trail(&root)
            .await
            .unwrap()
            .receipts
            .is_empty()
    );
}

/// A manifest of `agent` with a new endpoint, in force from `now()`, as publishing it would
/// have stored it.
fn moved(agent: &kagami_store::Agent, nonce: u64) -> ManifestRecord {
    let signed = manifest(agent, nonce, "https://moved.example/x402", now(), t(7200));
    let m = signed.manifest.value();
    ManifestRecord {
        id: Uuid::new_v4(),
        agent: m.agent,
        chain: m.chain.clone(),
        endpoint: signed.endpoint.clone(),
        pubkey: m.pubkey.clone(),
        nonce: m.nonce,
        valid_from: m.valid_from,
        valid_until: m.valid_until,
        hash: signed.manifest.id(),
        signature: *signed.manifest.signature(),
        created_at: now(),
        revoked_at: None,
    }
}

/// Publish vs dispute: a routing change commits while a dispute evaluation of the agent
/// waits — the evaluation sees it and disputes the commitment, once; and a commitment created
/// while a routing change commits holds the new routing, so it is not disputed for it.
pub(crate) async fn publish_vs_dispute(store: Store, hold: Hold<'_>) {
    let payer = agent(&store, 1, "0").await;
    let v = agent(&store, 2, "1000").await;
    published(&store, &v).await;
    let c = store
        .create_commitment(
            commitment(&payer, &v, "race-c1", "10000", t(3600)),
            now(),
            &policy(),
        )
        .await
        .unwrap();

    let held = hold(v.uuid).await;
    let evaluating = behind(&held, "the evaluation did not wait for the lock", {
        let store = store.clone();
        async move { store.touch_agent(v.uuid, now()).await }
    })
    .await;
    held.insert_manifest(&moved(&v, 2)).await;
    held.commit().await;
    let disputed = evaluating.await.unwrap().unwrap();
    assert_eq!(
        disputed.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![c.id]
    );
    assert_eq!(
        store.commitment(c.id).await.unwrap().unwrap().status,
        CommitmentStatus::Disputed
    );
    assert!(
        store.touch_agent(v.uuid, now()).await.unwrap().is_empty(),
        "disputed once"
    );
    assert_eq!(store.slashes_of(v.uuid).await.unwrap().len(), 1);

    // A commitment co-signed while the routing moves again holds the routing it finds.
    let held = hold(v.uuid).await;
    let creating = behind(&held, "the creation did not wait for the lock", {
        let store = store.clone();
        let cosigned = commitment(&payer, &v, "race-c2", "10000", t(3600));
        async move { store.create_commitment(cosigned, now(), &policy()).await }
    })
    .await;
    let third = moved(&v, 3);
    held.insert_manifest(&ManifestRecord {
        endpoint: kagami_core::EndpointUri::parse("https://third.example/x402", &policy()).unwrap(),
        hash: hash("third manifest"),
        ..third
    })
    .await;
    held.commit().await;
    let created = creating.await.unwrap().unwrap();
    assert_eq!(
        created.commitment.cosigned.unwrap().first_hop_manifest,
        hash("third manifest")
    );
    assert!(store.touch_agent(v.uuid, now()).await.unwrap().is_empty());
    assert_eq!(store.slashes_of(v.uuid).await.unwrap().len(), 1);
    let (totals, _) = store.ledger(0, None).await.unwrap();
    assert!(totals.balanced());
}
