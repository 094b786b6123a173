//! A test-only CA and server certificate, installed in the local PostgreSQL cluster so that
//! the TLS tests can connect with every `sslmode`.
//!
//! The files live under the cluster's data directory (`kagami-test-tls/<id>/`, owned by the
//! server's OS user, the key mode 0600), not in `/tmp`: a cluster restarted with `ssl = on`
//! and its certificate gone would not start. The set is generated once and reused by every
//! later test process while the server still points at it; a new set gets a new directory
//! and the server is only reloaded, so connections made with an older set are never broken
//! in the middle of a run. An exclusive lock on `kagami-test-tls/lock` serialises test
//! processes; a process-wide cell, the tests of one process. `ssl = on` is left in place:
//! plaintext connections keep working with the default `host` lines of `pg_hba.conf`.

#![cfg(unix)]

use std::{
    fs::File,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    str::FromStr,
    time::{Duration, Instant},
};

use kagami_store::{Store, postgres::PostgresConfig};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::sync::OnceCell;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::{database_url, in_ci};

/// The host names the test server certificate is valid for.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The installed test certificates: the CA that signed the server's certificate, and an
/// unrelated CA.
#[derive(Debug)]
pub struct PostgresTls {
    ca_file: PathBuf,
    wrong_ca_file: PathBuf,
}

static INSTALLED: OnceCell<Option<PostgresTls>> = OnceCell::const_new();

impl PostgresTls {
    /// Installs (or finds installed) the test certificate and `ssl = on` in the local cluster.
    /// `None` only outside CI when PostgreSQL is unreachable (announced on stderr).
    ///
    /// # Panics
    /// When PostgreSQL is unreachable in CI, when its data directory is not on this machine,
    /// or when the server does not take the certificate within 15 s.
    pub async fn installed() -> Option<&'static Self> {
        INSTALLED.get_or_init(install).await.as_ref()
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The PEM file of a CA that signed nothing the server presents.
    pub fn wrong_ca_file(&self) -> &Path {
        &self.wrong_ca_file
    }

    /// A libpq `key=value` connection string to database `dbname` of the test cluster (user,
    /// password and port from [`database_url`]), naming `host` and, when given, connecting
    /// to `hostaddr` instead of resolving `host`; `sslmode` and the optional CA file as given.
    pub fn conninfo(
        &self,
        host: &str,
        hostaddr: Option<&str>,
        dbname: &str,
        sslmode: &str,
        ca_file: Option<&Path>,
    ) -> String {
        let base = tokio_postgres::Config::from_str(&database_url())
            .unwrap_or_else(|e| panic!("DATABASE_URL is not usable: {e}"));
        let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
        let mut parts = vec![
            format!("host={}", quote(host)),
            format!("port={}", base.get_ports().first().copied().unwrap_or(5432)),
            format!("user={}", quote(base.get_user().unwrap_or("postgres"))),
            format!("dbname={}", quote(dbname)),
            format!("sslmode={sslmode}"),
        ];
        if let Some(addr) = hostaddr {
            parts.push(format!("hostaddr={addr}"));
        }
        if let Some(password) = base.get_password() {
            parts.push(format!(
                "password={}",
                quote(&String::from_utf8_lossy(password))
            ));
        }
        if let Some(ca) = ca_file {
            parts.push(format!("sslrootcert={}", quote(&ca.display().to_string())));
        }
        parts.join(" ")
    }
}

async fn install() -> Option<PostgresTls> {
    let client = match admin().await {
        Ok(client) => client,
        Err(e) if !in_ci() => {
            eprintln!(
                "\n*** PostgreSQL unreachable at {} ({e}); SKIPPING the PostgreSQL TLS tests. Set CI=true to make this a failure. ***\n",
                database_url()
            );
            return None;
        }
        Err(e) => panic!("PostgreSQL unreachable at {} in CI: {e}", database_url()),
    };
    let data_dir = PathBuf::from(show(&client, "data_directory").await);
    let owner = std::fs::metadata(&data_dir).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL's data directory {} is not readable here ({e}); the TLS tests need the local cluster, run as root",
            data_dir.display()
        )
    });
    let (uid, gid) = (owner.uid(), owner.gid());
    let root = data_dir.join("kagami-test-tls");
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
    std::os::unix::fs::chown(&root, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", root.display()));

    let lock_path = root.join("lock");
    let _lock = tokio::task::spawn_blocking(move || {
        let file = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
        file.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
        file
    })
    .await
    .unwrap_or_else(|e| panic!("lock task: {e}"));

    let current = std::fs::read_to_string(root.join("current"))
        .ok()
        .map(|id| root.join(id.trim()));
    let in_use = match &current {
        Some(dir) => {
            ["ca.crt", "server.crt", "server.key"]
                .iter()
                .all(|f| dir.join(f).is_file())
                && show(&client, "ssl").await == "on"
                && Path::new(&show(&client, "ssl_cert_file").await) == dir.join("server.crt")
        }
        None => false,
    };
    let dir = match current {
        Some(dir) if in_use => dir,
        _ => {
            let dir = generate(&root, uid, gid);
            for sql in [
                format!(
                    "ALTER SYSTEM SET ssl_cert_file = '{}'",
                    dir.join("server.crt").display()
                ),
                format!(
                    "ALTER SYSTEM SET ssl_key_file = '{}'",
                    dir.join("server.key").display()
                ),
                "ALTER SYSTEM SET ssl = on".to_owned(),
                "SELECT pg_reload_conf()".to_owned(),
            ] {
                client
                    .batch_execute(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            }
            wait_for_certificate(&dir.join("ca.crt")).await;
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let pointer = root.join(format!("current.{name}"));
            std::fs::write(&pointer, &name)
                .and_then(|()| std::fs::rename(&pointer, root.join("current")))
                .unwrap_or_else(|e| panic!("write {}: {e}", root.join("current").display()));
            remove_other_sets(&root, &dir);
            dir
        }
    };
    drop(client);

    let wrong_ca = CertifiedIssuer::self_signed(ca_params("Kagami wrong test CA"), key())
        .unwrap_or_else(|e| panic!("wrong CA: {e}"));
    let wrong_ca_file =
        std::env::temp_dir().join(format!("kagami-wrong-ca-{}.pem", Uuid::new_v4().simple()));
    std::fs::write(&wrong_ca_file, wrong_ca.pem())
        .unwrap_or_else(|e| panic!("write {}: {e}", wrong_ca_file.display()));
    Some(PostgresTls {
        ca_file: dir.join("ca.crt"),
        wrong_ca_file,
    })
}

/// A superuser connection to the maintenance database, plaintext.
async fn admin() -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn show(client: &Client, setting: &str) -> String {
    client
        .query_one(&format!("SHOW {setting}"), &[])
        .await
        .unwrap_or_else(|e| panic!("SHOW {setting}: {e:?}"))
        .get(0)
}

fn key() -> KeyPair {
    KeyPair::generate().unwrap_or_else(|e| panic!("generate a key: {e}"))
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Writes a new CA and a server certificate it signed (for [`SERVER_NAMES`]) to a new
/// directory under `root`, owned by the server's OS user.
fn generate(root: &Path, uid: u32, gid: u32) -> PathBuf {
    let ca = CertifiedIssuer::self_signed(ca_params("Kagami test CA"), key())
        .unwrap_or_else(|e| panic!("test CA: {e}"));
    let mut params = CertificateParams::new(SERVER_NAMES.map(str::to_owned).to_vec())
        .unwrap_or_else(|e| panic!("server certificate names: {e}"));
    params
        .distinguished_name
        .push(DnType::CommonName, "kagami test postgres");
    let server_key = key();
    let server = params
        .signed_by(&server_key, &ca)
        .unwrap_or_else(|e| panic!("server certificate: {e}"));

    let dir = root.join(Uuid::new_v4().simple().to_string());
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    for (name, contents, mode) in [
        ("ca.crt", ca.pem(), 0o644),
        ("server.crt", server.pem(), 0o644),
        ("server.key", server_key.serialize_pem(), 0o600),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, contents)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .and_then(|()| std::os::unix::fs::chown(&path, Some(uid), Some(gid)))
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .and_then(|()| std::os::unix::fs::chown(&dir, Some(uid), Some(gid)))
        .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
    dir
}

/// Waits until new connections are served the certificate `ca_file` verifies (the reload is
/// asynchronous).
async fn wait_for_certificate(ca_file: &Path) {
    let mut config = PostgresConfig::from_url(&database_url())
        .unwrap_or_else(|e| panic!("DATABASE_URL is not usable: {e:?}"))
        .with_database("postgres");
    config.ssl_mode = kagami_store::postgres::SslMode::VerifyCa;
    config.ssl_root_cert = Some(ca_file.to_owned());
    config.pool_min_size = 1;
    config.pool_max_size = 1;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match Store::connect_postgres(&config).await {
            Ok(store) => {
                store.close();
                return;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!(
                "PostgreSQL still does not present the test certificate after reloading: {e:?}; see its log for the SSL error"
            ),
        }
    }
}

/// Removes certificate sets other than `keep` (the server no longer points at them).
fn remove_other_sets(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path != keep {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}
