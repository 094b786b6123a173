//! `kagami log`: the audit log from the outside. `verify-proof` checks a proof bundle with no
//! server; `monitor` re-computes the log from its entries and proves every new checkpoint
//! consistent with the last one it accepted.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use kagami_client::KagamiClient;
use kagami_tlog::{
    Hash, ProofBundle, SignedCheckpoint, VerifierKey, append_batch_from_stored,
    append_batch_indexes, leaf_hash, stored_hash_count, tree_hash_from_stored, tree_hash_indexes,
    verify_consistency,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Status, output::Printer};

/// Entries fetched per request (the service's maximum).
const PAGE: u64 = 1000;

fn verifier(text: &str) -> Result<VerifierKey> {
    VerifierKey::parse(text.trim()).context("--log-key is not a verifier key (name+id+key)")
}

/// `kagami log verify-proof FILE --log-key KEY`: the bundle's checkpoint is signed by the
/// log key and its entry (the `extra` line) is in that tree. Exit status 1 when not.
pub(crate) fn verify_proof(file: &Path, log_key: &str, out: &Printer) -> Result<Status> {
    let key = verifier(log_key)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bundle: ProofBundle = match text.parse() {
        Ok(bundle) => bundle,
        Err(e) => return negative(out, &format!("not a tlog proof: {e}"), Value::Null),
    };
    let Some(entry) = bundle.extra.clone() else {
        return negative(out, "the bundle carries no entry (extra line)", Value::Null);
    };
    let document: Value = serde_json::from_slice(&entry).unwrap_or(Value::Null);
    match bundle.verify(&entry, &key) {
        Ok(checkpoint) => {
            let kind = document["kind"].as_str().unwrap_or("?").to_owned();
            let object = document["key"].as_str().unwrap_or("?").to_owned();
            let (index, size) = (bundle.index, checkpoint.size());
            out.emit(
                &json!({
                    "valid": true,
                    "index": index,
                    "tree_size": size,
                    "origin": checkpoint.origin(),
                    "entry": document,
                }),
                || {
                    format!(
                        "valid: {kind} {object} is entry {index} of the log {} at size {size}",
                        checkpoint.origin()
                    )
                },
            )?;
            Ok(Status::Ok)
        }
        Err(e) => negative(out, &e.to_string(), document),
    }
}

fn negative(out: &Printer, reason: &str, entry: Value) -> Result<Status> {
    out.emit(
        &json!({ "valid": false, "reason": reason, "entry": entry }),
        || format!("INVALID: {reason}"),
    )?;
    Ok(Status::Negative)
}

/// What the monitor remembers: the last checkpoint it accepted and the tree's right edge
/// (the stored hashes a new entry merges with), so it can extend the tree itself.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MonitorState {
    size: u64,
    root: String,
    /// The hashes at `kagami_tlog::append_batch_indexes(size)`, standard base64.
    frontier: Vec<String>,
}

fn decode_hash(text: &str) -> Result<Hash> {
    Hash::from_base64(text).with_context(|| format!("{text:?} is not a base64 hash"))
}

/// `kagami log monitor --state FILE --log-key KEY`: fetches the newest checkpoint, checks
/// its signature, proves it consistent with the state's, and recomputes its root from the
/// entries added since (every entry, on the first run). Exit status 1, with the reason,
/// on any inconsistency; the state moves on only when everything checks.
pub(crate) async fn monitor(
    client: &KagamiClient,
    state_file: &Path,
    log_key: &str,
    out: &Printer,
) -> Result<Status> {
    let key = verifier(log_key)?;
    let state: MonitorState = match std::fs::read_to_string(state_file) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a monitor state", state_file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => MonitorState::default(),
        Err(e) => return Err(e).context(format!("cannot read {}", state_file.display())),
    };
    let text = client.log_checkpoint().await?;
    let signed = match SignedCheckpoint::parse(&text) {
        Ok(signed) => signed,
        Err(e) => return inconsistent(out, &format!("the checkpoint does not parse: {e}")),
    };
    let checkpoint = match signed.verify(&key) {
        Ok(checkpoint) => checkpoint.clone(),
        Err(e) => {
            return inconsistent(
                out,
                &format!("the checkpoint's signature does not verify: {e}"),
            );
        }
    };
    let (old, new) = (state.size, checkpoint.size());
    let old_root = if old == 0 {
        Hash::EMPTY_ROOT
    } else {
        decode_hash(&state.root)?
    };
    if new < old {
        return inconsistent(out, &format!("the log shrank from {old} to {new} entries"));
    }
    if old > 0 {
        let proof = client.log_consistency(old, new).await?;
        let hashes = proof
            .hashes
            .iter()
            .map(|h| decode_hash(h))
            .collect::<Result<Vec<_>>>()?;
        if let Err(e) = verify_consistency(old, new, &hashes, &old_root, checkpoint.root()) {
            return inconsistent(
                out,
                &format!("checkpoint {new} is not consistent with checkpoint {old}: {e}"),
            );
        }
    }
    let mut leaves = Vec::new();
    let mut next = old;
    while next < new {
        let end = new.min(next + PAGE);
        let page = client.log_entries(next, end).await?;
        for entry in page.entries {
            if entry.index != next {
                return inconsistent(
                    out,
                    &format!("entry {next} is missing (the log served {})", entry.index),
                );
            }
            let bytes = STANDARD
                .decode(&entry.entry)
                .with_context(|| format!("entry {next} is not base64"))?;
            leaves.push(leaf_hash(&bytes));
            next += 1;
        }
        if next < end {
            return inconsistent(out, &format!("entry {next} is missing"));
        }
    }
    let frontier = state
        .frontier
        .iter()
        .map(|h| decode_hash(h))
        .collect::<Result<Vec<_>>>()?;
    let written = append_batch_from_stored(old, &leaves, &frontier)
        .context("the state's right edge does not match its size")?;
    let old_indexes = append_batch_indexes(old)?;
    let base = stored_hash_count(old);
    let lookup = |index: u64| -> Result<Hash> {
        let hash = match index.checked_sub(base) {
            Some(offset) => usize::try_from(offset).ok().and_then(|i| written.get(i)),
            None => old_indexes
                .iter()
                .position(|&i| i == index)
                .and_then(|i| frontier.get(i)),
        };
        hash.copied()
            .with_context(|| format!("stored hash {index} is not on the tree's edge"))
    };
    let roots = tree_hash_indexes(new)?
        .into_iter()
        .map(lookup)
        .collect::<Result<Vec<_>>>()?;
    let root = tree_hash_from_stored(new, &roots)?;
    if &root != checkpoint.root() {
        return inconsistent(
            out,
            &format!(
                "the entries do not hash to checkpoint {new}'s root: an entry was changed or removed"
            ),
        );
    }
    let next_state = MonitorState {
        size: new,
        root: root.to_base64(),
        frontier: append_batch_indexes(new)?
            .into_iter()
            .map(|i| lookup(i).map(|h| h.to_base64()))
            .collect::<Result<_>>()?,
    };
    let tmp = state_file.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&next_state)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, state_file)
        .with_context(|| format!("cannot write {}", state_file.display()))?;
    out.emit(
        &json!({ "consistent": true, "from": old, "to": new, "root": root.to_base64() }),
        || {
            format!(
                "consistent: {} entries checked, tree size {old} -> {new}",
                new - old
            )
        },
    )?;
    Ok(Status::Ok)
}

fn inconsistent(out: &Printer, reason: &str) -> Result<Status> {
    out.emit(&json!({ "consistent": false, "reason": reason }), || {
        format!("INCONSISTENT: {reason}")
    })?;
    Ok(Status::Negative)
}

/// `kagami log proof KIND KEY`: the object's proof bundle, verbatim (to a file with `--out`).
pub(crate) async fn proof(
    client: &KagamiClient,
    kind: &str,
    key: &str,
    out_file: Option<&Path>,
) -> Result<Status> {
    let bundle = client.log_proof(kind, key).await?;
    match out_file {
        Some(path) => std::fs::write(path, &bundle)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => crate::output::print(&bundle)?,
    }
    Ok(Status::Ok)
}

/// `kagami log checkpoint`: the newest signed checkpoint, verbatim.
pub(crate) async fn checkpoint(client: &KagamiClient) -> Result<Status> {
    crate::output::print(&client.log_checkpoint().await?)?;
    Ok(Status::Ok)
}

/// Refuses a state file path that is a directory (a common slip) before any request.
pub(crate) fn check_state_path(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("--state {} is a directory; name a file", path.display());
    }
    Ok(())
}
