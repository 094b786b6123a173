//! TLS to PostgreSQL with each `sslmode`, against the local cluster serving a test-only
//! certificate (`kagami_tests::PostgresTls`): the outcome is read from the server's own
//! `pg_stat_ssl`, a refusal from the error the store returns.

use kagami_store::{Store, StoreError, postgres::PostgresConfig};
use kagami_tests::PostgresTls;

/// Where the test certificate is not valid: a name its SAN lacks, reached at 127.0.0.1.
const WRONG_NAME: &str = "wrong-name.kagami.invalid";

async fn connect(conninfo: &str) -> Result<Store, StoreError> {
    let mut config = PostgresConfig::from_url(conninfo).unwrap();
    config.pool_min_size = 1;
    config.pool_max_size = 2;
    Store::connect_postgres(&config).await
}

/// Whether the store's connection is encrypted, as the server sees it.
async fn encrypted(store: &Store) -> bool {
    let encrypted = store
        .as_postgres()
        .unwrap()
        .connection_encrypted()
        .await
        .unwrap();
    store.close();
    encrypted
}

/// An error and its causes on one line.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    let Some(tls) = PostgresTls::installed().await else {
        return;
    };
    // The certificate is not valid for this name and no CA is given: require does not care.
    let store = connect(&tls.conninfo(WRONG_NAME, Some("127.0.0.1"), "postgres", "require", None))
        .await
        .unwrap();
    assert!(encrypted(&store).await);
}

#[tokio::test]
async fn prefer_encrypts_when_the_server_offers_tls() {
    let Some(tls) = PostgresTls::installed().await else {
        return;
    };
    let store = connect(&tls.conninfo("127.0.0.1", None, "postgres", "prefer", None))
        .await
        .unwrap();
    assert!(encrypted(&store).await);
}

#[tokio::test]
async fn disable_is_plaintext() {
    let Some(tls) = PostgresTls::installed().await else {
        return;
    };
    let store = connect(&tls.conninfo("127.0.0.1", None, "postgres", "disable", None))
        .await
        .unwrap();
    assert!(!encrypted(&store).await);
}

#[tokio::test]
async fn verify_full_accepts_the_right_ca_and_host_name() {
    let Some(tls) = PostgresTls::installed().await else {
        return;
    };
    for host in kagami_tests::SERVER_NAMES {
        let store =
            connect(&tls.conninfo(host, None, "postgres", "verify-full", Some(tls.ca_file())))
                .await
                .unwrap_or_else(|e| panic!("{host}: {}", causes(&e)));
        assert!(encrypted(&store).await, "{host}");
    }
}

#[tokio::test]
async fn verify_full_refuses_a_host_name_the_certificate_lacks() {
    let Some(tls) = PostgresTls::installed().await else {
        return;
    };
    let err = connect(&tls.conninfo(
        WRONG_NAME,
        Some("127.0.0.1"),
        "postgres",
        "verify-full",
        Some(tls.ca_file()),
    ))
    .await
    .unwrap_err();
    let message = causes(&err);
    assert!(
        message.contains("certificate not valid for name") && message.contains(WRONG_NAME),
        "{message}"
    );
}

#[tokio::test]
async fn verify_ca_accepts_a_host_name_the_certificate_lacks() {
    let Some(tls) = PostgresTls::installed().await else {
        return;
    };
    let store = connect(&tls.conninfo(
        WRONG_NAME,
        Some("127.0.0.1"),
        "postgres",
        "verify-ca",
        Some(tls.ca_file()),
    ))
    .await
    .unwrap();
    assert!(encrypted(&store).await);
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_from_another_ca() {
    let Some(tls) = PostgresTls::installed().await else {
        return;
    };
    for mode in ["verify-full", "verify-ca", "require"] {
        // require with a CA file checks the chain, as libpq does.
        let err = connect(&tls.conninfo(
            "localhost",
            None,
            "postgres",
            mode,
            Some(tls.wrong_ca_file()),
        ))
        .await
        .unwrap_err();
        let message = causes(&err);
        assert!(message.contains("UnknownIssuer"), "{mode}: {message}");
    }
}
