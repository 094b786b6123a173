//! Helpers shared by the CLI tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The `kagami` binary with a clean environment: no server, key or API key inherited from
/// the developer's shell.
pub(crate) fn kagami() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("kagami");
    for var in [
        "KAGAMI_SERVER",
        "KAGAMI_API_KEY",
        "KAGAMI_KEY_FILE",
        "KAGAMI_PRIVATE_KEY",
        "KAGAMI_CHAIN",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Writes `key` (0x + 64 hex) to `dir/name` with mode 0600.
pub(crate) fn key_file(dir: &Path, name: &str, key: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{key}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// `crates/crypto/testdata/vectors_v1.json`.
pub(crate) fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../crates/crypto/testdata/vectors_v1.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `crates/crypto/testdata/vectors_v2.json` (protocol v2: orders, v2 receipts, commitments).
pub(crate) fn vectors_v2() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../crates/crypto/testdata/vectors_v2.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A stdout that must be UTF-8.
pub(crate) fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A stderr that must be UTF-8.
pub(crate) fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}
