//! Drives the real `kagami-server` binary: who creates the first admin API key, where it goes,
//! and that it happens once. stdout is a pipe here, as under a service manager or in a
//! container, never a terminal.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod reporting;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::Command,
};

use kagami_tests::ServerProcess;

/// `kagami-server` with a clean environment plus `vars`, stdout and stderr piped.
fn server(data_dir: &Path, vars: &[(&str, &str)]) -> Command {
    kagami_tests::server_command(
        Path::new(env!("CARGO_BIN_EXE_kagami-server")),
        data_dir,
        vars,
    )
}

/// A running server, and what it printed.
struct Running {
    process: ServerProcess,
    address: String,
}

impl Running {
    /// Starts the server and waits (up to 60 s) for its "kagami listening" log line.
    fn start(data_dir: &Path, vars: &[(&str, &str)]) -> Self {
        let process = ServerProcess::start(server(data_dir, vars));
        let address = process.address().to_owned();
        Self { process, address }
    }

    /// The status code of `POST /api/v1/agents` (an admin endpoint) with `{}` and this key:
    /// 401/403 for a bad key, 400 for an admin key (the body is validated after the key).
    fn register_status(&self, key: &str) -> u16 {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "POST /api/v1/agents HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            self.address
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"))
    }

    /// Stops the server with SIGTERM; returns its stdout and its whole log.
    fn stop(self) -> (String, Vec<String>) {
        self.process.stop()
    }
}

/// `kagami-server api-key …` with the same environment; its stdout, asserting success.
fn api_key(data_dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> String {
    let output = server(data_dir, vars)
        .arg("api-key")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "api-key {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn embedded_first_start_off_a_terminal_writes_the_key_to_a_private_file_and_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(dir.path(), &[]);
    let file = dir.path().join("admin_key");
    let key = std::fs::read_to_string(&file).unwrap();
    let key = key.trim();
    assert!(key.starts_with("kgm_"), "{key:?}");
    assert_eq!(
        running.register_status(key),
        400,
        "the file holds an admin key"
    );
    assert_eq!(running.register_status("kgm_not-a-key"), 401);
    let (stdout, log) = running.stop();

    assert_eq!(stdout, "", "nothing on stdout");
    assert!(
        log.iter().all(|line| !line.contains(key)),
        "the key is never logged"
    );
    assert!(
        log.iter()
            .any(|line| line.contains(&file.display().to_string())),
        "the file's path is logged: {log:#?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn embedded_second_start_mints_no_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let (first_stdout, _) = Running::start(dir.path(), &[]).stop();
    assert_eq!(first_stdout, "");
    let key = std::fs::read_to_string(dir.path().join("admin_key")).unwrap();

    let running = Running::start(dir.path(), &[]);
    assert_eq!(
        running.register_status(key.trim()),
        400,
        "still the admin key"
    );
    let (stdout, log) = running.stop();
    assert_eq!(stdout, "");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin_key")).unwrap(),
        key,
        "the file is not rewritten"
    );
    assert!(
        log.iter().any(|line| line.contains("store it elsewhere")),
        "a reminder that the file is still there: {log:#?}"
    );
    let keys = api_key(dir.path(), &[], &["list"]);
    assert_eq!(keys.lines().count(), 1, "{keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_start_with_no_keys_mints_nothing_and_says_how_to_create_one() {
    let Some(db) = kagami_tests::TestPostgres::new().await else {
        return;
    };
    let admin_url = kagami_tests::database_url();
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let url = format!("{base}/{}", db.name());
    let vars = [
        ("DATABASE_URL", url.as_str()),
        ("API_KEY_SALT", "server-binary-test-salt"),
        ("DB_POOL_MIN_SIZE", "1"),
        ("DB_POOL_MAX_SIZE", "4"),
    ];
    let dir = tempfile::tempdir().unwrap();

    let (stdout, log) = tokio::task::block_in_place(|| Running::start(dir.path(), &vars).stop());
    assert_eq!(stdout, "", "no key printed");
    assert!(
        db.store().list_api_keys().await.unwrap().is_empty(),
        "no key stored"
    );
    assert!(!dir.path().join("admin_key").exists(), "no key file");
    let hint: Vec<&String> = log
        .iter()
        .filter(|line| line.contains("api-key create --role admin"))
        .collect();
    assert_eq!(hint.len(), 1, "one line says how to bootstrap: {log:#?}");

    // The operator bootstraps; the next start is quiet about it.
    let created = tokio::task::block_in_place(|| {
        api_key(
            dir.path(),
            &vars,
            &["create", "--role", "admin", "--label", "ops"],
        )
    });
    assert!(created.trim().starts_with("kgm_"), "{created}");
    assert_eq!(created.lines().count(), 1, "the key alone: {created}");
    let (stdout, log) = tokio::task::block_in_place(|| Running::start(dir.path(), &vars).stop());
    assert_eq!(stdout, "");
    assert!(
        log.iter().all(|line| !line.contains("api-key create")),
        "{log:#?}"
    );
    assert_eq!(db.store().list_api_keys().await.unwrap().len(), 1);
    db.cleanup().await;
}
