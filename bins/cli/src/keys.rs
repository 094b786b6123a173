//! The signing key: generated into a private file, loaded from a file or the environment,
//! never printed.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow, bail};
use kagami_crypto::{EthAddress, PrivateKeySigner};

/// The environment variable holding the key itself, or the path of a key file.
pub(crate) const KEY_ENV: &str = "KAGAMI_PRIVATE_KEY";

/// Loads the signing key from `key_file`, else from `KAGAMI_PRIVATE_KEY`.
///
/// Error messages name where the key came from, never its contents.
pub(crate) fn load(key_file: Option<&Path>) -> Result<PrivateKeySigner> {
    if let Some(path) = key_file {
        return from_file(path);
    }
    match std::env::var(KEY_ENV) {
        // Anything shaped like a key is treated as one, so a mistyped key is never echoed
        // back as a "file name" in an error.
        Ok(value) if meant_as_key(&value) => parse_key(&value).ok_or_else(|| {
            anyhow!("{KEY_ENV} does not hold a valid private key (expected 0x followed by 64 hex digits)")
        }),
        Ok(value) if !value.trim().is_empty() => from_file(Path::new(value.trim()))
            .with_context(|| format!("{KEY_ENV} is neither a private key nor a key file")),
        _ => bail!(
            "no signing key: pass --key-file FILE or set {KEY_ENV} (create a key with `kagami key new --out FILE`)"
        ),
    }
}

/// The key's address, in canonical (lowercase) form.
pub(crate) fn address(key: &PrivateKeySigner) -> EthAddress {
    EthAddress::from(key.address())
}

/// Generates a key and writes it to `path` as `0x` + 64 hex digits and a newline, readable
/// and writable by the owner only (mode 0600). Refuses to replace an existing file unless
/// `force`.
pub(crate) fn create(path: &Path, force: bool) -> Result<PrivateKeySigner> {
    let key = PrivateKeySigner::random();
    if force && path.exists() {
        fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow!(
                "{} already exists; refusing to overwrite a key (use --force to replace it)",
                path.display()
            )
        } else {
            anyhow!(e).context(format!("cannot create {}", path.display()))
        }
    })?;
    let text = format!(
        "{}\n",
        alloy_primitives::hex::encode_prefixed(key.to_bytes())
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

fn from_file(path: &Path) -> Result<PrivateKeySigner> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    warn_if_readable_by_others(path);
    parse_key(&text).ok_or_else(|| {
        anyhow!(
            "key file {} does not hold a private key (expected 0x followed by 64 hex digits)",
            path.display()
        )
    })
}

/// Whether `text` was meant as a key rather than a path: `0x`-prefixed, or a long run of
/// hex digits.
fn meant_as_key(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("0x") || (text.len() >= 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `0x` + 64 hex digits (or the 64 digits alone), surrounding whitespace ignored.
fn looks_like_key(text: &str) -> bool {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_key(text: &str) -> Option<PrivateKeySigner> {
    if !looks_like_key(text) {
        return None;
    }
    let text = text.trim();
    text.strip_prefix("0x").unwrap_or(text).parse().ok()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: key file {} is accessible by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Where `key new` writes: `--out`, else `--key-file`.
pub(crate) fn new_key_path(out: Option<PathBuf>, key_file: Option<&Path>) -> Result<PathBuf> {
    out.or_else(|| key_file.map(Path::to_path_buf))
        .ok_or_else(|| {
            anyhow!("key new needs --out FILE (or --key-file): the private key is never printed")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_with_or_without_prefix_and_whitespace() {
        let key = PrivateKeySigner::random();
        let hex = alloy_primitives::hex::encode(key.to_bytes());
        for text in [format!("0x{hex}\n"), format!("  {hex} ")] {
            assert_eq!(parse_key(&text).map(|k| k.address()), Some(key.address()));
        }
        assert!(parse_key("0x1234").is_none());
        assert!(parse_key(&"0".repeat(64)).is_none(), "zero is not a key");
    }

    #[test]
    fn created_keys_are_private_and_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let key = create(&path, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(from_file(&path).unwrap().address(), key.address());
        let error = create(&path, false).unwrap_err().to_string();
        assert!(error.contains("already exists"), "{error}");
        let replaced = create(&path, true).unwrap();
        assert_ne!(replaced.address(), key.address());
    }
}
