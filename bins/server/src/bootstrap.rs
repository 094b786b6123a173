//! The first admin API key, created exactly once.
//!
//! On PostgreSQL several replicas start against the same database, so none of them mints a
//! key (each would print its own into the shipped logs): the operator creates the first one
//! with `kagami-server api-key create --role admin`, and a replica that finds no admin key
//! logs how. The embedded store belongs to one process, which creates the key on its first
//! start (an empty key table) and hands it over where only the operator sees it: on stdout
//! when that is a terminal, else in `<KAGAMI_DATA_DIR>/admin_key` (mode 0600), whose path is
//! logged, never the key.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use kagami_api::{Secret, auth};
use kagami_core::crypto::Timestamp;
use kagami_store::{Role, Store};

/// The label of the key minted on the embedded store's first start.
pub(crate) const FIRST_ADMIN_LABEL: &str = "first admin";

/// The file the embedded store's first admin key is written to when stdout is not a terminal.
pub(crate) const ADMIN_KEY_FILE: &str = "admin_key";

/// What the start-up did about the first admin key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An active admin key exists; nothing to do.
    Present,
    /// No active admin key; the operator was told how to create one.
    Missing,
    /// Minted and printed on the terminal.
    Printed,
    /// Minted and written to this file.
    Written(PathBuf),
}

/// Where the start-up runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend<'a> {
    /// Shared PostgreSQL: never mint.
    Postgres,
    /// The embedded store in this data directory.
    Embedded {
        /// `KAGAMI_DATA_DIR`.
        data_dir: &'a Path,
        /// Whether stdout is an interactive terminal.
        stdout_is_terminal: bool,
    },
}

/// Ensures the operator can get an admin key (see the module docs); `stdout` receives the key
/// only on a terminal.
///
/// # Errors
/// The store's errors, or the key file cannot be written (then no key is stored).
pub(crate) async fn first_admin_key(
    store: &Store,
    salt: &Secret,
    backend: Backend<'_>,
    now: Timestamp,
    stdout: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let keys = store.list_api_keys().await?;
    if keys
        .iter()
        .any(|k| k.role == Role::Admin && k.revoked_at.is_none())
    {
        if let Backend::Embedded { data_dir, .. } = backend {
            let file = data_dir.join(ADMIN_KEY_FILE);
            if file.exists() {
                tracing::warn!(
                    file.path = %file.display(),
                    "the first admin API key is still in this file; store it elsewhere and delete the file"
                );
            }
        }
        return Ok(Outcome::Present);
    }
    let (data_dir, stdout_is_terminal) = match backend {
        Backend::Embedded {
            data_dir,
            stdout_is_terminal,
        } if keys.is_empty() => (data_dir, stdout_is_terminal),
        _ => {
            tracing::warn!(
                "no active admin API key; create the first one with `kagami-server api-key create --role admin --label NAME` (same environment), it is printed once on stdout"
            );
            return Ok(Outcome::Missing);
        }
    };
    let key = auth::ApiKey::generate();
    let outcome = if stdout_is_terminal {
        Outcome::Printed
    } else {
        let path = data_dir.join(ADMIN_KEY_FILE);
        write_key_file(&path, key.expose()).with_context(|| {
            format!("cannot write the first admin API key to {}", path.display())
        })?;
        Outcome::Written(path)
    };
    let stored = store
        .create_api_key(
            auth::key_hmac(salt, key.expose()),
            Role::Admin,
            FIRST_ADMIN_LABEL,
            now,
        )
        .await;
    let record = match stored {
        Ok(record) => record,
        Err(e) => {
            if let Outcome::Written(path) = &outcome {
                // The key never became valid; do not leave it lying around.
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    match &outcome {
        Outcome::Written(path) => tracing::info!(
            api_key.id = %record.id,
            file.path = %path.display(),
            "created the first admin API key; it is in this file (mode 0600): store it elsewhere and delete the file"
        ),
        _ => {
            writeln!(stdout, "{}", key.expose())?;
            writeln!(
                stdout,
                "# ^ the first admin API key (id {}); it is shown once: store it, e.g. export KAGAMI_API_KEY=...",
                record.id
            )?;
            stdout.flush()?;
        }
    }
    Ok(outcome)
}

/// Writes `key` to `path` with mode 0600, through a temporary file renamed into place (so a
/// stale file from an earlier, deleted database is replaced whole).
fn write_key_file(path: &Path, key: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    crate::settings::write_private(&temporary, &format!("{key}\n"))?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {

    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Self {
            Self(std::env::temp_dir().join(format!(
                "kagami-bootstrap-{}",
                uuid::Uuid::new_v4().simple()
            )))
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn salt() -> Secret {
        Secret::new("bootstrap-test-salt".to_owned())
    }

    fn now() -> Timestamp {
        Timestamp::from_unix(1_700_000_000).unwrap()
    }

    fn store(dir: &Dir) -> Store {
        Store::open_sqlite(&dir.0.join("kagami.db")).unwrap()
    }

    async fn start(store: &Store, dir: &Dir, terminal: bool) -> (Outcome, String) {
        let mut stdout = Vec::new();
        let backend = Backend::Embedded {
            data_dir: &dir.0,
            stdout_is_terminal: terminal,
        };
        let outcome = first_admin_key(store, &salt(), backend, now(), &mut stdout)
            .await
            .unwrap();
        (outcome, String::from_utf8(stdout).unwrap())
    }

    async fn is_admin_key(store: &Store, key: &str) -> bool {
        store
            .api_key_by_hmac(&auth::key_hmac(&salt(), key))
            .await
            .unwrap()
            .is_some_and(|k| k.role == Role::Admin)
    }

    #[tokio::test]
    async fn on_a_terminal_the_first_key_is_printed_and_no_file_is_written() {
        let dir = Dir::new();
        let store = store(&dir);
        let (outcome, printed) = start(&store, &dir, true).await;
        assert_eq!(outcome, Outcome::Printed);
        let key = printed.lines().next().unwrap();
        assert!(key.starts_with(auth::KEY_PREFIX), "{printed}");
        assert!(is_admin_key(&store, key).await);
        assert!(!dir.0.join(ADMIN_KEY_FILE).exists());
    }

    #[tokio::test]
    async fn off_a_terminal_the_first_key_goes_to_a_private_file_and_not_to_stdout() {
        let dir = Dir::new();
        let store = store(&dir);
        let (outcome, printed) = start(&store, &dir, false).await;
        let path = dir.0.join(ADMIN_KEY_FILE);
        assert_eq!(outcome, Outcome::Written(path.clone()));
        assert_eq!(printed, "");
        let key = std::fs::read_to_string(&path).unwrap();
        assert!(is_admin_key(&store, key.trim()).await);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn later_starts_mint_nothing_even_after_the_admin_keys_are_revoked() {
        let dir = Dir::new();
        let store = store(&dir);
        let (first, _) = start(&store, &dir, false).await;
        assert!(matches!(first, Outcome::Written(_)));
        let written = std::fs::read_to_string(dir.0.join(ADMIN_KEY_FILE)).unwrap();

        assert_eq!(
            start(&store, &dir, true).await,
            (Outcome::Present, String::new())
        );
        assert_eq!(store.list_api_keys().await.unwrap().len(), 1);

        let id = store.list_api_keys().await.unwrap()[0].id;
        store.revoke_api_key(id, now()).await.unwrap();
        assert_eq!(
            start(&store, &dir, true).await,
            (Outcome::Missing, String::new())
        );
        assert_eq!(store.list_api_keys().await.unwrap().len(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.0.join(ADMIN_KEY_FILE)).unwrap(),
            written
        );
    }

    #[tokio::test]
    async fn a_stale_key_file_of_an_earlier_database_is_replaced() {
        let dir = Dir::new();
        std::fs::create_dir_all(&dir.0).unwrap();
        std::fs::write(dir.0.join(ADMIN_KEY_FILE), "kgm_stale\n").unwrap();
        let store = store(&dir);
        let (outcome, _) = start(&store, &dir, false).await;
        assert!(matches!(outcome, Outcome::Written(_)));
        let key = std::fs::read_to_string(dir.0.join(ADMIN_KEY_FILE)).unwrap();
        assert_ne!(key, "kgm_stale\n");
        assert!(is_admin_key(&store, key.trim()).await);
    }

    #[tokio::test]
    async fn the_shared_backend_mints_nothing_even_on_an_empty_key_table() {
        let dir = Dir::new();
        let store = store(&dir);
        let mut stdout = Vec::new();
        let outcome = first_admin_key(&store, &salt(), Backend::Postgres, now(), &mut stdout)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Missing);
        assert!(stdout.is_empty());
        assert!(store.list_api_keys().await.unwrap().is_empty());
    }
}
