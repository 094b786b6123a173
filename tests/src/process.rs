//! The real `kagami-server` binary in a child process: started with a clean environment,
//! found listening through its log, stopped with SIGTERM or killed with SIGKILL.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{OnceLock, mpsc},
    time::Duration,
};

/// The environment variables the server reads, cleared so the developer's own do not leak in.
const SERVER_VARIABLES: &[&str] = &[
    "KAGAMI_BIND",
    "KAGAMI_DATA_DIR",
    "DATABASE_URL",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_SSLMODE",
    "POSTGRES_SSL_ROOT_CERT",
    "DB_POOL_MIN_SIZE",
    "DB_POOL_MAX_SIZE",
    "DB_COMMAND_TIMEOUT_SECONDS",
    "API_KEY_SALT",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "RUST_LOG",
    "SENTRY_DSN",
    "REDIS_URL",
    "KAGAMI_LOG_SIGNING_KEY",
    "KAGAMI_LOG_NAME",
    "KAGAMI_LOG_INTERVAL_MS",
    "KAGAMI_LOG_BATCH",
];

/// The path of a `kagami-server` binary built from this workspace, for test binaries of other
/// packages (a test of the server's own package has `env!("CARGO_BIN_EXE_kagami-server")`).
///
/// Taken from `KAGAMI_SERVER_BIN` when set; otherwise built on first use with `cargo build
/// --workspace --bins --tests` into the calling test's target directory. That command
/// resolves features exactly as `cargo test --workspace` does, so under the CI's test command
/// everything but the final link is already fresh (a `cargo build -p kagami-server` would
/// resolve features differently and rebuild most of the server's dependencies), and a test
/// run never uses a server older than the code; when the binary is up to date it costs a
/// second.
///
/// # Panics
/// When the build fails.
pub fn server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("KAGAMI_SERVER_BIN") {
            return PathBuf::from(path);
        }
        // A test runs from <target>/<profile>/deps/; the server lands in <target>/<profile>/.
        let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or_else(|| panic!("no profile directory above {}", exe.display()))
            .to_path_buf();
        let target_dir = profile_dir
            .parent()
            .unwrap_or_else(|| panic!("no target directory above {}", profile_dir.display()));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "--workspace", "--bins", "--tests"])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        // Cargo sets these for the running test. Build scripts that track them (ring's does)
        // would see a different environment than in the developer's shell and rebuild, back
        // and forth between the two, so the nested build gets the shell's environment.
        for (name, _) in std::env::vars_os() {
            let set_for_tests = name.to_str().is_some_and(|name| {
                name.starts_with("CARGO_PKG_")
                    || name.starts_with("CARGO_BIN_")
                    || name.starts_with("CARGO_CFG_")
                    || matches!(
                        name,
                        "CARGO_MANIFEST_DIR"
                            | "CARGO_MANIFEST_PATH"
                            | "CARGO_MANIFEST_LINKS"
                            | "CARGO_CRATE_NAME"
                            | "CARGO_PRIMARY_PACKAGE"
                            | "CARGO_TARGET_TMPDIR"
                            | "CARGO_RUSTC_CURRENT_DIR"
                            | "OUT_DIR"
                    )
            });
            if set_for_tests {
                build.env_remove(name);
            }
        }
        let status = build
            .status()
            .unwrap_or_else(|e| panic!("run cargo build: {e}"));
        assert!(status.success(), "cannot build kagami-server: {status}");
        profile_dir.join(format!("kagami-server{}", std::env::consts::EXE_SUFFIX))
    })
}

/// `binary` with a clean environment plus `KAGAMI_DATA_DIR=data_dir`, an ephemeral port,
/// JSON logs and `vars`; stdin closed, stdout and stderr piped.
pub fn server_command(binary: &Path, data_dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary);
    for name in SERVER_VARIABLES {
        command.env_remove(name);
    }
    command
        .env("KAGAMI_DATA_DIR", data_dir)
        .env("KAGAMI_BIND", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running server, and what it logged. Dropping it kills the process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    address: String,
    log: Vec<String>,
    rest_of_log: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Spawns `command` (see [`server_command`]) and waits, up to 60 s, for its
    /// `kagami listening` log line.
    ///
    /// # Panics
    /// When it cannot be spawned or does not log that it listens.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
        let stderr = child.stderr.take();
        let (lines, rest_of_log) = mpsc::channel();
        // Owned from here on, so that a failing assertion still stops the process (Drop).
        let mut running = Self {
            child,
            address: String::new(),
            log: Vec::new(),
            rest_of_log,
        };
        let Some(stderr) = stderr else {
            panic!("the server's stderr is not piped")
        };
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        while running.address.is_empty() {
            let line = running
                .rest_of_log
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|e| {
                    panic!(
                        "no \"kagami listening\" line ({e}); log: {:#?}",
                        running.log
                    )
                });
            if line.contains("\"kagami listening\"") {
                let json: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
                json["http.address"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no http.address: {line}"))
                    .clone_into(&mut running.address);
            }
            running.log.push(line);
        }
        running
    }

    /// `host:port` it listens on.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with SIGTERM (which may arrive before its handler is installed: how it exits
    /// is not what this is about); returns its stdout and its whole log.
    ///
    /// # Panics
    /// When it cannot be waited for.
    pub fn stop(mut self) -> (String, Vec<String>) {
        let terminated = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !terminated {
            let _ = self.child.kill();
        }
        self.finish()
    }

    /// Kills it with SIGKILL: no handler runs, nothing is flushed, in-flight requests are cut
    /// off. Returns its stdout and its whole log.
    ///
    /// # Panics
    /// When it cannot be killed or waited for.
    pub fn kill(mut self) -> (String, Vec<String>) {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("SIGKILL {}: {e}", self.child.id()));
        self.finish()
    }

    fn finish(&mut self) -> (String, Vec<String>) {
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("wait for the server: {e}"));
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        let mut log = std::mem::take(&mut self.log);
        log.extend(self.rest_of_log.try_iter());
        (stdout, log)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
