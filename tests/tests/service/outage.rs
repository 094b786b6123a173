//! The database goes away and comes back: the server answers 503 meanwhile, keeps running,
//! and recovers by itself, with nothing half-written.
//!
//! The server's pool connects to PostgreSQL through a TCP proxy run by the test
//! ([`kagami_tests::Proxy`]), which can cut every proxied connection and turn new ones away
//! until it is switched on again.

use std::{
    str::FromStr,
    time::{Duration, Instant},
};

use kagami_core::crypto::PrivateKeySigner;
use kagami_store::{
    Store,
    postgres::{PostgresConfig, SslMode},
};
use kagami_tests::{Proxy, TestPostgres, database_url};
use serde_json::{Value, json};
use tokio_postgres::config::Host;

use crate::{
    app::{Auth, TestApp},
    fixtures::registration,
};

/// The real server's address and credentials, from `DATABASE_URL` (or the local default).
fn upstream() -> (String, String, Option<String>) {
    let config = tokio_postgres::Config::from_str(&database_url()).unwrap();
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let password = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    (format!("{host}:{port}"), user, password)
}

/// Counts the agents straight in the database, bypassing the proxy.
async fn count_agents(db: &TestPostgres) -> i64 {
    db.direct()
        .count("SELECT count(*) FROM erc8004_agents")
        .await
}

/// A store on `db` whose every connection goes through a new [`Proxy`], with short timeouts
/// so that a cut connection is noticed quickly, in plaintext so that the proxy can read the
/// protocol (a cut inside a transaction).
pub(crate) async fn proxied(db: &TestPostgres) -> (Proxy, Store) {
    let (address, user, password) = upstream();
    let proxy = Proxy::start(address).await;
    let mut config =
        PostgresConfig::from_parts("127.0.0.1", proxy.port(), db.name(), &user, password);
    config.pool_min_size = 1;
    config.pool_max_size = 4;
    config.connect_timeout = Duration::from_secs(1);
    config.command_timeout = Duration::from_secs(5);
    config.ssl_mode = SslMode::Disable;
    let store = Store::connect_postgres(&config).await.unwrap();
    (proxy, store)
}

/// Retries `attempt` until it answers `status` or `within` passes; returns the last answer.
async fn eventually<F, Fut>(within: Duration, status: u16, mut attempt: F) -> crate::app::Reply
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::app::Reply>,
{
    let deadline = Instant::now() + within;
    loop {
        let reply = attempt().await;
        if reply.status.as_u16() == status || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn database_outage_answers_503_and_recovers_without_restart() {
    let Some(db) = TestPostgres::new().await else {
        return;
    };
    let (proxy, store) = proxied(&db).await;
    let app = TestApp::spawn(store.clone()).await;

    let owner = PrivateKeySigner::random();
    app.post("/api/v1/agents", Auth::Admin, &registration(1, &owner))
        .await
        .expect(201);
    app.get("/ready").await.expect(200);

    proxy.set(false);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let write = app
        .post("/api/v1/agents", Auth::Admin, &registration(2, &owner))
        .await;
    write.expect_error(503, "store_unavailable");
    assert!(
        !write.text.contains("postgres") && !write.text.contains("connection"),
        "nothing internal leaks: {}",
        write.text
    );
    let ready = app.get("/ready").await.expect(503);
    assert_eq!(
        (&ready["ready"], &ready["redis_ping"]),
        (&Value::from(false), &Value::from("disabled")),
        "{ready}"
    );
    let health = app.get("/health").await.expect(503);
    assert_eq!(
        health,
        json!({ "status": "unhealthy", "db": "unreachable", "redis": "disabled" })
    );
    // Reads fail the same way; the process itself keeps serving what needs no database.
    app.get(&format!("/api/v1/forwards/0x{}", "0".repeat(64)))
        .await
        .expect_error(503, "store_unavailable");
    app.get("/openapi.json").await.expect(200);
    assert_eq!(app.get("/metrics").await.status.as_u16(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "outage answers are bounded by the pool timeouts"
    );
    assert_eq!(
        count_agents(&db).await,
        1,
        "nothing was written during the outage"
    );

    proxy.set(true);
    let body = registration(2, &owner);
    let recovered = eventually(Duration::from_secs(10), 201, || {
        app.post("/api/v1/agents", Auth::Admin, &body)
    })
    .await;
    let agent = recovered.expect(201);
    assert_eq!(agent["agent_id"], 2);
    assert_eq!(app.get("/ready").await.expect(200)["ready"], true);
    app.get("/health").await.expect(200);
    // The registration refused during the outage left nothing behind: the same identity was
    // registered exactly once, after the recovery.
    assert_eq!(count_agents(&db).await, 2);
    app.post("/api/v1/agents", Auth::Admin, &registration(2, &owner))
        .await
        .expect_error(409, "agent_already_registered");

    app.stop().await;
    store.close();
    db.cleanup().await;
}
