//! Black-box tests of the service: each test starts the real server (`kagami_api::Application`)
//! on `127.0.0.1:0` in-process and drives it over HTTP with `reqwest`, asserting status codes
//! and JSON bodies only. Every scenario runs twice, on the embedded SQLite store and on a
//! fresh PostgreSQL database; the database-outage and connection-cut tests run on PostgreSQL
//! only, and the rate limit tests (which do not depend on the store) on SQLite, with the
//! local Redis.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test cases assert by unwrapping and panicking"
)]

mod app;
mod attacks;
mod bounds;
mod crash;
mod cut;
mod fixtures;
mod log;
mod ops;
mod outage;
mod ratelimit;
mod rejections;
mod story;

/// Generates, for each scenario, one test on SQLite and one on PostgreSQL. A scenario is an
/// `async fn(&TestApp)` in one of the scenario modules; `with f` adjusts the server's
/// configuration first (`fn(&mut ApiConfig)`).
macro_rules! on_both_stores {
    ($($module:ident :: $case:ident $(with $setup:path)?),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = kagami_tests::TestSqlite::new();
                    let app = crate::app::TestApp::spawn_with(db.store(), |_config| { $($setup(_config);)? }).await;
                    crate::$module::$case(&app).await;
                    app.stop().await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = kagami_tests::TestPostgres::new().await else { return };
                    let app = crate::app::TestApp::spawn_with(db.store(), |_config| { $($setup(_config);)? }).await;
                    crate::$module::$case(&app).await;
                    app.stop().await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

on_both_stores!(
    attacks::cycle_framing_without_the_framed_agents_order_fails,
    attacks::an_honest_forwarder_routed_into_a_cycle_is_not_liable,
    attacks::extraction_framing_without_the_victims_orders_fails,
    attacks::only_the_agent_that_signed_a_second_receipt_is_liable,
    attacks::bounties_never_exceed_what_others_lost,
    attacks::commitments_the_first_hop_did_not_sign_cannot_cost_it with crate::attacks::fast_routing_changes,
    attacks::a_routing_change_costs_at_most_half_the_available_stake with crate::attacks::fast_routing_changes,
    attacks::revoking_first_or_scheduling_ahead_does_not_escape_a_dispute with crate::attacks::fast_routing_changes,
    attacks::racing_revocations_and_suspensions_serialize,
    attacks::concurrent_duplicates_of_a_closing_pair_all_get_the_settlement,
    attacks::mev_incidents_need_the_attackers_transaction_and_slash_once,
    attacks::a_forged_root_order_cannot_make_anyone_the_root_payer,
    story::the_whole_story_from_registration_to_settlement_and_bounty,
    story::replaying_a_cycle_closing_receipt_answers_the_settlement_again,
    rejections::signatures_that_do_not_match_are_rejected,
    rejections::manifests_outside_their_window_cannot_back_a_receipt,
    rejections::revoked_manifest_is_not_effective,
    rejections::forward_rule_violations_answer_their_codes_and_write_nothing,
    rejections::malformed_bodies_answer_the_json_envelope,
    rejections::api_keys_and_roles_are_enforced,
    rejections::authorization_is_decided_before_the_body_is_validated,
    rejections::registration_and_publication_preconditions_answer_their_codes,
    rejections::money_is_a_decimal_string_and_commitments_start_at_ten_thousand with crate::attacks::fast_routing_changes,
    rejections::a_registration_file_with_nul_is_a_400_on_every_store,
    bounds::manifest_pages_walk_the_whole_history_once_in_order with crate::bounds::no_activation_delay,
    bounds::a_history_longer_than_a_page_still_verifies_exactly with crate::bounds::no_activation_delay,
    bounds::page_limits_and_cursors_are_typed_400s,
    bounds::trail_pages_walk_every_receipt_once,
    bounds::ledger_pages_walk_every_line_once,
    bounds::report_cycle_evidence_has_a_maximum,
    log::every_accepted_object_is_provably_in_the_log,
    log::log_queries_are_typed_and_bounded,
    ops::request_ids_are_echoed,
    ops::health_and_readiness_report_the_database,
    ops::openapi_document_lists_every_route_the_server_answers,
    ops::metrics_use_route_templates_and_describe_series,
    ops::agent_labels_beyond_the_cap_fold_into_other with crate::ops::one_agent_label,
    ops::every_metric_label_stays_bounded_under_a_flood with crate::ops::three_agent_labels,
);

mod sqlite_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn aggregates_beyond_i64_are_exact() {
        let db = kagami_tests::TestSqlite::new();
        let app = crate::app::TestApp::spawn_with(db.store(), |_| {}).await;
        crate::bounds::aggregates_beyond_i64_are_exact(&app).await;
        app.stop().await;
    }
}

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn database_outage_answers_503_and_recovers_without_restart() {
        crate::outage::database_outage_answers_503_and_recovers_without_restart().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_cut_inside_a_transaction_answers_503_and_commits_nothing() {
        crate::cut::a_connection_cut_inside_a_transaction_answers_503_and_commits_nothing().await;
    }
}

/// The real server process, killed with SIGKILL under load and started again.
mod crash_consistency {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_server_killed_at_random_moments_loses_no_acknowledged_write() {
        let db = crate::crash::Database::Sqlite(kagami_tests::TestSqlite::new());
        crate::crash::a_server_killed_at_random_moments_loses_no_acknowledged_write(&db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_server_killed_at_random_moments_loses_no_acknowledged_write() {
        let Some(db) = kagami_tests::TestPostgres::new().await else {
            return;
        };
        let db = crate::crash::Database::Postgres(Box::new(db));
        crate::crash::a_server_killed_at_random_moments_loses_no_acknowledged_write(&db).await;
        if let crate::crash::Database::Postgres(db) = db {
            db.cleanup().await;
        }
    }
}

mod rate_limits {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_in_process_limiter_answers_429_after_the_burst() {
        crate::ratelimit::the_in_process_limiter_answers_429_after_the_burst().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_on_one_redis_share_one_budget() {
        crate::ratelimit::replicas_on_one_redis_share_one_budget().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_outage_fails_open_and_limits_return_with_it() {
        crate::ratelimit::a_redis_outage_fails_open_and_limits_return_with_it().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        crate::ratelimit::the_forwarded_address_counts_only_behind_a_trusted_proxy().await;
    }
}
