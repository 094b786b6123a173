//! The store conformance suite: every case is written once against the `Store` trait and run
//! on both backends, the embedded SQLite store and a real PostgreSQL database.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test cases assert by unwrapping and panicking"
)]

mod cases;
mod detect;
mod fixtures;
mod ledger;
mod races;
#[cfg(unix)]
mod tls;

/// Generates, for each case in `cases`, one test on SQLite and one on PostgreSQL.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = kagami_tests::TestSqlite::new();
                    crate::cases::$case(db.store()).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = kagami_tests::TestPostgres::new().await else { return };
                    crate::cases::$case(db.store()).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

conformance!(
    registering_the_same_registry_identity_twice_conflicts,
    agents_are_found_by_uuid_and_by_registry_identity,
    status_changes_persist_and_unknown_agents_are_not_found,
    money_round_trips_exactly,
    stake_cannot_be_set_below_what_is_slashed,
    first_manifest_has_no_flip_and_replay_returns_the_original,
    used_and_lower_nonces_are_rejected_without_writing,
    nonces_of_expired_manifests_stay_used,
    replacement_records_one_scored_flip,
    replacement_before_the_activation_delay_is_rejected,
    revocation_is_idempotent_and_scoped_to_the_agent,
    publishing_for_an_unknown_agent_is_not_found,
    endpoint_flip_during_a_time_lock_disputes_the_commitment_and_slashes,
    recording_a_chain_locks_stake_on_each_destination,
    locked_stake_follows_expiry_and_release_across_writes,
    replayed_receipt_returns_the_original_record,
    another_receipt_with_a_used_destination_nonce_conflicts,
    closing_a_cycle_settles_it_atomically,
    recording_into_a_settled_root_is_refused,
    forward_rule_violations_write_nothing,
    destination_without_enough_stake_is_refused,
    paying_an_agent_twice_settles_an_extraction_loop,
    reported_evidence_settles_with_a_bounty,
    report_without_a_loop_writes_nothing,
    commitments_move_through_their_states_only_in_order,
    mev_incident_slashes_twice_the_extraction_up_to_available,
    api_keys_are_stored_looked_up_and_revoked,
    flip_metrics_count_what_happened,
    racing_receipts_closing_one_cycle_settle_it_exactly_once,
    racing_publishes_for_one_agent_keep_nonces_in_order,
    racing_hops_for_one_destination_never_overcommit_its_stake,
    reported_evidence_is_stored_once_and_another_roots_evidence_is_refused,
    a_receipt_citing_an_unknown_manifest_writes_nothing,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trips_per_use_case_are_as_documented() {
        let Some(db) = kagami_tests::TestPostgres::new().await else {
            return;
        };
        crate::cases::round_trips_per_use_case_are_as_documented(db.store()).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audit_functions_exist_after_migration() {
        let Some(db) = kagami_tests::TestPostgres::new().await else {
            return;
        };
        crate::detect::audit_functions_exist_after_migration(&db).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_settled_cycle_is_evidence_not_a_valid_cycle() {
        let Some(db) = kagami_tests::TestPostgres::new().await else {
            return;
        };
        crate::detect::a_settled_cycle_is_evidence_not_a_valid_cycle(&db).await;
        db.cleanup().await;
    }
}

/// Generates, for each race in `races`, one test per backend with the interloper that backend
/// needs.
macro_rules! races {
    ($($race:ident),* $(,)?) => {
        mod sqlite_races {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $race() {
                    let db = kagami_tests::TestSqlite::new();
                    let hold = |_agent| -> futures::future::BoxFuture<'_, kagami_tests::Interloper> {
                        Box::pin(async { kagami_tests::Interloper::sqlite(&db) })
                    };
                    crate::races::$race(db.store(), &hold).await;
                }
            )*
        }

        mod postgres_races {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $race() {
                    let Some(db) = kagami_tests::TestPostgres::new().await else { return };
                    let hold = |agent| -> futures::future::BoxFuture<'_, kagami_tests::Interloper> {
                        Box::pin(kagami_tests::Interloper::postgres(&db, agent))
                    };
                    crate::races::$race(db.store(), &hold).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

races!(
    revoke_vs_record,
    suspend_vs_publish,
    suspend_vs_record,
    publish_vs_dispute,
);

mod ledger_properties {
    use proptest::prelude::*;

    use crate::fixtures::runtime;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn sqlite_ledger_balances_and_no_stake_goes_below_zero(ops in crate::ledger::ops()) {
            runtime().block_on(async {
                let db = kagami_tests::TestSqlite::new();
                crate::ledger::run(db.store(), db.direct(), ops).await;
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        #[test]
        fn postgres_ledger_balances_and_no_stake_goes_below_zero(ops in crate::ledger::ops()) {
            runtime().block_on(async {
                let Some(db) = kagami_tests::TestPostgres::new().await else { return };
                crate::ledger::run(db.store(), db.direct(), ops).await;
                db.cleanup().await;
            });
        }
    }
}

mod detect_properties {
    use proptest::prelude::*;

    use crate::fixtures::runtime;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn audit_functions_agree_with_the_graph_rules(payment in crate::detect::payments()) {
            runtime().block_on(async {
                let Some(db) = kagami_tests::TestPostgres::new().await else { return };
                crate::detect::run(&db, payment).await;
                db.cleanup().await;
            });
        }
    }
}
