//! The commands that build, sign and send protocol objects.

use std::{
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, anyhow, bail};
use kagami_client::{
    CommitmentBuilder, ManifestBuilder, OrderBuilder, Outcome, ReceiptBuilder, RecordOutcome,
    sign_cycle_report, sign_revocation, verify_forward_request,
    wire::{
        ForwardOrderRequest, ForwardPairRequest, LedgerResponse, PublishManifestRequest,
        VerifyForwardResponse,
    },
};
use kagami_crypto::{Hash32, PrivateKeySigner, Signable, parse_uuid};
use serde_json::{Value, json};

use crate::{
    Context as Ctx, Status,
    cli::{
        CommitmentArgs, CreateCommitmentArgs, CycleReportArgs, LedgerArgs, ManifestArgs, NonceArg,
        OrderArgs, PublishArgs, ReceiptArgs, RecordArgs, RevokeArgs, TraceArgs, VerifyForwardArgs,
    },
    keys, output, trace,
};

// --- key ---------------------------------------------------------------------------------

pub(crate) fn key_new(ctx: &Ctx, out: Option<PathBuf>, force: bool) -> Result<Status> {
    let path = keys::new_key_path(out, ctx.global.key_file.as_deref())?;
    let key = keys::create(&path, force)?;
    let address = keys::address(&key);
    ctx.out.emit(
        &json!({ "address": address.to_string(), "key_file": path.display().to_string() }),
        || address.to_string(),
    )?;
    if !ctx.out.is_json() {
        eprintln!("wrote the private key to {} (mode 0600)", path.display());
    }
    Ok(Status::Ok)
}

pub(crate) fn key_address(ctx: &Ctx) -> Result<Status> {
    let address = keys::address(&ctx.key()?);
    ctx.out
        .emit(&json!({ "address": address.to_string() }), || {
            address.to_string()
        })?;
    Ok(Status::Ok)
}

// --- manifest ----------------------------------------------------------------------------

/// The builder for `args`; `key` supplies the default pubkey. Resolves `--nonce auto` on
/// the service.
async fn manifest_builder(
    ctx: &Ctx,
    args: &ManifestArgs,
    key: Option<&PrivateKeySigner>,
) -> Result<ManifestBuilder> {
    let agent = parse_uuid(&args.agent).context("invalid --agent")?;
    let nonce = match args.nonce {
        NonceArg::Value(n) => n,
        NonceArg::Auto => ctx
            .client()?
            .next_manifest_nonce(agent)
            .await
            .context("cannot pick the next nonce (--nonce auto asks the service)")?,
    };
    let mut builder = ManifestBuilder::new()
        .agent(agent)
        .chain(&args.chain)
        .endpoint(&args.endpoint)
        .nonce(nonce);
    builder = match (&args.pubkey, key) {
        (Some(pubkey), _) => builder.pubkey(pubkey),
        (None, Some(key)) => builder.pubkey_of(key),
        (None, None) => bail!("--pubkey is required when no signing key is given"),
    };
    if let Some(from) = &args.valid_from {
        builder = builder.valid_from(from);
    }
    builder = match (&args.valid_until, args.valid_for) {
        (Some(until), _) => builder.valid_until(until),
        (None, Some(duration)) => builder.valid_for(duration),
        (None, None) => bail!("pass --valid-for DURATION or --valid-until TIME"),
    };
    Ok(builder)
}

pub(crate) async fn manifest_message(ctx: &Ctx, args: &ManifestArgs) -> Result<Status> {
    // The default pubkey comes from the key when one is configured; the message needs no key.
    let key = if args.pubkey.is_none() {
        Some(ctx.key()?)
    } else {
        None
    };
    let manifest = manifest_builder(ctx, args, key.as_ref())
        .await?
        .manifest()?;
    let message = manifest.message();
    ctx.out.emit(
        &json!({ "message": message.as_str(), "id": message.id().to_string() }),
        || message.as_str().to_owned(),
    )?;
    Ok(Status::Ok)
}

async fn signed_manifest(ctx: &Ctx, args: &ManifestArgs) -> Result<PublishManifestRequest> {
    let key = ctx.key()?;
    Ok(manifest_builder(ctx, args, Some(&key)).await?.sign(&key)?)
}

pub(crate) async fn manifest_sign(ctx: &Ctx, args: &ManifestArgs) -> Result<Status> {
    output::json(&signed_manifest(ctx, args).await?)?;
    Ok(Status::Ok)
}

pub(crate) async fn manifest_publish(ctx: &Ctx, args: &PublishArgs) -> Result<Status> {
    let request: PublishManifestRequest = match (&args.body, &args.fields) {
        (Some(path), _) => read_json(path)?,
        (None, Some(fields)) => signed_manifest(ctx, fields).await?,
        (None, None) => {
            bail!("pass the manifest flags (--agent, --endpoint, --nonce, ...) or --body FILE")
        }
    };
    let (manifest, outcome) = ctx.client()?.publish_manifest(&request).await?;
    ctx.out.emit(&with_outcome(&manifest, outcome)?, || {
        let mut text = match outcome {
            Outcome::Created => format!("published manifest {}", manifest.manifest_hash),
            Outcome::Replayed => format!(
                "manifest {} was already published (identical; nothing changed)",
                manifest.manifest_hash
            ),
        };
        text.push_str(&format!(
            "\n  agent {}  status {}  valid {} → {}",
            request.agent_uuid, manifest.status, manifest.valid_from, manifest.valid_until
        ));
        if let Some(flip) = &manifest.flip {
            text.push_str(&format!(
                "\n  replaces the previous manifest: suspicion score {}{} (endpoint changed: {}, key changed: {}, {} s after it)",
                flip.suspicion_score,
                if flip.suspicion_score >= 70 { ", SUSPICIOUS" } else { "" },
                flip.endpoint_changed,
                flip.pubkey_changed,
                flip.time_delta_seconds
            ));
        }
        if !manifest.disputed_commitments.is_empty() {
            text.push_str(&format!(
                "\n  disputed commitments: {}",
                manifest.disputed_commitments.join(", ")
            ));
        }
        text
    })?;
    Ok(Status::Ok)
}

pub(crate) async fn manifest_revoke(ctx: &Ctx, args: &RevokeArgs) -> Result<Status> {
    let key = ctx.key()?;
    let request = sign_revocation(&args.chain, &args.agent, &args.manifest, &key)?;
    let manifest = ctx.client()?.revoke_manifest(&request).await?;
    ctx.out.emit(&manifest, || {
        format!(
            "revoked manifest {} of agent {} (status {})",
            manifest.manifest_hash, manifest.agent_uuid, manifest.status
        )
    })?;
    Ok(Status::Ok)
}

// --- forward -----------------------------------------------------------------------------

pub(crate) async fn forward_verify(ctx: &Ctx, args: &VerifyForwardArgs) -> Result<Status> {
    let client = ctx.client()?;
    let to = parse_uuid(&args.to).context("invalid --to")?;
    let manifest = match &args.manifest {
        Some(hash) => {
            let hash: Hash32 = hash.parse().context("invalid --manifest")?;
            client.manifest(&hash).await?
        }
        None => client.agent(to).await?.effective_manifest.ok_or_else(|| {
            anyhow!("agent {to} has no effective manifest: it cannot be paid safely")
        })?,
    };
    let request = verify_forward_request(&args.root_tx, &args.from, &manifest)?;
    let verdict = client.verify_forward(&request).await?;
    ctx.out.emit(&verdict, || render_verdict(&verdict))?;
    Ok(if verdict.safe {
        Status::Ok
    } else {
        Status::Negative
    })
}

fn render_verdict(verdict: &VerifyForwardResponse) -> String {
    if verdict.safe {
        let mut text = format!(
            "safe: pay {} (hop {})",
            verdict.endpoint_uri.as_deref().unwrap_or("?"),
            verdict
                .hop
                .map_or_else(|| "?".to_owned(), |h| h.to_string())
        );
        text.push_str(&format!(
            "\n  manifest {} (nonce {}), receipts signed by {}, valid until {}",
            verdict.manifest_hash.as_deref().unwrap_or("?"),
            verdict
                .manifest_nonce
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            verdict.pubkey.as_deref().unwrap_or("?"),
            verdict.valid_until.as_deref().unwrap_or("?")
        ));
        text
    } else {
        let mut text = format!(
            "unsafe: {}",
            verdict.reason.map_or("no reason given", |r| r.as_str())
        );
        if let Some(message) = &verdict.message {
            text.push_str(&format!(" — {message}"));
        }
        for (key, value) in &verdict.details {
            text.push_str(&format!("\n  {key}: {}", compact(value)));
        }
        text
    }
}

/// A JSON value on one line, strings without quotes.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(compact).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// The order for `args`, signed with the payer's `key`. A missing `--manifest` is the
/// destination's effective manifest, looked up on the service.
async fn signed_order(
    ctx: &Ctx,
    args: &OrderArgs,
    key: &PrivateKeySigner,
) -> Result<ForwardOrderRequest> {
    let manifest = match &args.manifest {
        Some(hash) => hash.clone(),
        None => {
            let to = parse_uuid(&args.to).context("invalid --to")?;
            ctx.client()?
                .agent(to)
                .await
                .context("cannot look up the destination's manifest (pass --manifest HASH)")?
                .effective_manifest
                .ok_or_else(|| {
                    anyhow!("agent {to} has no effective manifest: it cannot be paid safely")
                })?
                .manifest_hash
        }
    };
    Ok(OrderBuilder::new()
        .chain(&args.chain)
        .root_tx(&args.root_tx)
        .hop(args.hop)
        .from(&args.from)
        .to(&args.to)
        .manifest(manifest)
        .amount(&args.amount)
        .nonce(nonce(args.nonce)?)
        .sign(key)?)
}

pub(crate) async fn forward_order(ctx: &Ctx, args: &OrderArgs) -> Result<Status> {
    let key = ctx.key()?;
    output::json(&signed_order(ctx, args, &key).await?)?;
    Ok(Status::Ok)
}

/// The receipt of the order in `args.order`, signed with the destination's `key`, with the
/// order: one hop.
fn signed_pair(args: &ReceiptArgs, key: &PrivateKeySigner) -> Result<ForwardPairRequest> {
    let order: ForwardOrderRequest = read_json(&args.order)?;
    let mut builder = ReceiptBuilder::acknowledging(&order)
        .map_err(|e| anyhow!("{} is not a valid order: {e}", args.order.display()))?
        .nonce(nonce(args.nonce)?);
    builder = match (&args.next_agent, &args.next_hop, args.terminal) {
        (Some(agent), None, false) => builder.next_agent(agent),
        (None, Some(hash), false) => builder.next_hop_hash(hash),
        (None, None, true) => builder.terminal(),
        (None, None, false) => bail!(
            "say where the payment goes next: --next-agent UUID, --next-hop HASH or --terminal"
        ),
        _ => bail!("pass only one of --next-agent, --next-hop and --terminal"),
    };
    Ok(builder.sign(key)?)
}

/// A nonce from the flag: the number, or the current Unix time in milliseconds for `auto`.
fn nonce(arg: NonceArg) -> Result<u64> {
    match arg {
        NonceArg::Value(n) => Ok(n),
        NonceArg::Auto => unix_millis(),
    }
}

fn unix_millis() -> Result<u64> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| anyhow!("the system clock is before 1970"))?
        .as_millis();
    Ok(u64::try_from(millis)?)
}

pub(crate) fn receipt_sign(ctx: &Ctx, args: &ReceiptArgs) -> Result<Status> {
    let key = ctx.key()?;
    output::json(&signed_pair(args, &key)?)?;
    Ok(Status::Ok)
}

pub(crate) async fn forward_record(ctx: &Ctx, args: &RecordArgs) -> Result<Status> {
    let request: ForwardPairRequest = match (&args.body, &args.fields) {
        (Some(path), _) => read_json(path)?,
        (None, Some(fields)) => signed_pair(fields, &ctx.key()?)?,
        (None, None) => {
            bail!(
                "pass --order FILE with the receipt flags (--terminal, --nonce, ...) or --body FILE"
            )
        }
    };
    let order = &request.order;
    match ctx.client()?.record_forward(&request).await? {
        RecordOutcome::Recorded { receipt, outcome } => {
            ctx.out.emit(&with_outcome(&receipt, outcome)?, || {
                let mut text = match outcome {
                    Outcome::Created => format!("recorded receipt {}", receipt.receipt_hash),
                    Outcome::Replayed => format!(
                        "receipt {} was already recorded (identical; nothing changed)",
                        receipt.receipt_hash
                    ),
                };
                text.push_str(&format!(
                    "\n  hop {}  {} → {}  {} USDC  cost {} USDC",
                    order.hop,
                    order.source_agent_uuid,
                    order.dest_agent_uuid,
                    receipt.amount_usdc.as_deref().unwrap_or(&order.amount_usdc),
                    receipt.computational_cost_usdc
                ));
                if let Some(order_hash) = &receipt.order_hash {
                    text.push_str(&format!("\n  order {order_hash}"));
                }
                if receipt.hop_irrational {
                    text.push_str("\n  warning: this hop is beyond the rational hop depth");
                }
                text
            })?;
            Ok(Status::Ok)
        }
        RecordOutcome::LoopSettled(settlement) => {
            ctx.out.emit(&settlement.envelope, || {
                let kind = match settlement.kind {
                    kagami_core::LoopKind::Cycle => "payment cycle",
                    kagami_core::LoopKind::ExtractionLoop => "extraction loop",
                };
                let mut text = format!(
                    "{kind} detected: the receipt was stored as evidence and the loop settled"
                );
                if let Some(first) = settlement.agents.first() {
                    let mut path = settlement.agents.join(" → ");
                    if settlement.kind == kagami_core::LoopKind::Cycle {
                        path.push_str(&format!(" → {first}"));
                    }
                    text.push_str(&format!("\n  path: {path}"));
                }
                if let Some(id) = &settlement.settlement_id {
                    text.push_str(&format!("\n  settlement {id}"));
                }
                if let Some(slashed) = &settlement.slashed_usdc {
                    text.push_str(&format!("\n  slashed {slashed} USDC"));
                }
                text.push_str(&format!("\n  see `kagami trace {}`", order.root_tx_hash));
                text
            })?;
            Ok(Status::Negative)
        }
    }
}

// --- cycle -------------------------------------------------------------------------------

pub(crate) async fn cycle_report(ctx: &Ctx, args: &CycleReportArgs) -> Result<Status> {
    let key = ctx.key()?;
    let mut evidence = Vec::new();
    for path in &args.evidence {
        evidence.extend(read_pairs(path)?);
    }
    let request = sign_cycle_report(&args.chain, &args.root_tx, evidence, &key)?;
    let report = ctx.client()?.report_cycle(&request).await?;
    ctx.out.emit(&report, || {
        format!(
            "cycle reported: settlement {}, bounty {} USDC to {}\n  agents: {} ({} slashed, {} USDC)",
            report.settlement_id,
            report.bounty_usdc,
            request.reporter_address,
            report.cycle_agents.join(" → "),
            report.cycle_depth,
            report.slashed_usdc
        )
    })?;
    Ok(Status::Ok)
}

/// Signed hops from a file holding one record-forward body, a JSON array of them, or one per
/// line.
fn read_pairs(path: &Path) -> Result<Vec<ForwardPairRequest>> {
    let bytes = crate::read_input(path)?;
    let context = || format!("{} does not hold record-forward bodies", path.display());
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        return match value {
            Value::Array(_) => serde_json::from_value(value).with_context(context),
            _ => Ok(vec![serde_json::from_value(value).with_context(context)?]),
        };
    }
    let text = String::from_utf8(bytes).with_context(context)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "{} line {}: not a record-forward body",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

// --- commitment --------------------------------------------------------------------------

fn commitment_builder(args: &CommitmentArgs) -> CommitmentBuilder {
    CommitmentBuilder::new()
        .chain(&args.chain)
        .root_tx(&args.root_tx)
        .payer(&args.payer)
        .first_hop(&args.first_hop)
        .routing(&args.routing)
        .amount(&args.amount)
        .lock_until(&args.lock_until)
}

pub(crate) fn commitment_message(ctx: &Ctx, args: &CommitmentArgs) -> Result<Status> {
    let message = commitment_builder(args).commitment()?.message();
    ctx.out.emit(
        &json!({ "message": message.as_str(), "id": message.id().to_string() }),
        || message.as_str().to_owned(),
    )?;
    Ok(Status::Ok)
}

pub(crate) fn commitment_sign(ctx: &Ctx, args: &CommitmentArgs) -> Result<Status> {
    let key = ctx.key()?;
    let builder = commitment_builder(args);
    let signature = builder.sign(&key)?;
    let id = builder.commitment()?.message().id();
    let signer = keys::address(&key);
    ctx.out.emit(
        &json!({
            "signature": signature.to_string(),
            "signer": signer.to_string(),
            "commitment_hash": id.to_string(),
        }),
        || signature.to_string(),
    )?;
    Ok(Status::Ok)
}

pub(crate) async fn commitment_create(ctx: &Ctx, args: &CreateCommitmentArgs) -> Result<Status> {
    let request = commitment_builder(&args.fields)
        .request(&args.payer_signature, &args.first_hop_signature)?;
    let commitment = ctx.client()?.create_commitment(&request).await?;
    ctx.out.emit(&commitment, || {
        format!(
            "created commitment {} ({})\n  hash {}\n  {} USDC  {} → {}  locked until {}",
            commitment.commitment_id,
            commitment.status,
            commitment.commitment_hash,
            commitment.amount_usdc,
            commitment.payer_agent_uuid.as_deref().unwrap_or("?"),
            commitment.first_hop_agent_uuid,
            commitment.time_lock_until
        )
    })?;
    Ok(Status::Ok)
}

// --- ledger ------------------------------------------------------------------------------

pub(crate) async fn ledger(ctx: &Ctx, args: &LedgerArgs) -> Result<Status> {
    let ledger = ctx.client()?.ledger(Some(args.limit)).await?;
    ctx.out.emit(&ledger, || render_ledger(&ledger))?;
    Ok(if ledger.balanced {
        Status::Ok
    } else {
        Status::Negative
    })
}

fn render_ledger(ledger: &LedgerResponse) -> String {
    let mut text = format!(
        "{}: slashed {} USDC = bounties {} USDC + retained {} USDC",
        if ledger.balanced {
            "balanced"
        } else {
            "NOT BALANCED"
        },
        ledger.total_slashed_usdc,
        ledger.total_bounties_usdc,
        ledger.total_retained_usdc
    );
    if !ledger.unbalanced_causes.is_empty() {
        text.push_str(&format!(
            "\n  unbalanced: {}",
            ledger.unbalanced_causes.join(", ")
        ));
    }
    if ledger.entries.is_empty() {
        text.push_str("\n  no entries");
    }
    for entry in &ledger.entries {
        let who = entry
            .agent_uuid
            .as_deref()
            .or(entry.reporter_address.as_deref())
            .unwrap_or("-");
        text.push_str(&format!(
            "\n  {}  {:<8} {:>20} USDC  {} {}  {who}",
            entry.created_at, entry.entry, entry.amount_usdc, entry.cause, entry.cause_id
        ));
    }
    text
}

// --- trace -------------------------------------------------------------------------------

pub(crate) async fn trace(ctx: &Ctx, args: &TraceArgs) -> Result<Status> {
    let root: Hash32 = args.root_tx.trim().parse().context("invalid ROOT_TX")?;
    let client = ctx.client()?;
    let trail = client.forward_trail(&root).await?;
    if args.json || ctx.out.is_json() {
        output::json(&trail)?;
    } else {
        // Each receipt's place in the audit log; a server without the log, or any other
        // failure, just leaves the line out.
        let mut log = std::collections::HashMap::new();
        for receipt in &trail.receipts {
            let hash = &receipt.receipt_hash;
            let logged = match client.log_proof("forward", hash).await {
                Ok(text) => text
                    .parse::<kagami_tlog::ProofBundle>()
                    .ok()
                    .map(|b| trace::Logged::At(b.index)),
                Err(kagami_client::Error::Api { details, .. })
                    if details.get("pending") == Some(&serde_json::Value::Bool(true)) =>
                {
                    Some(trace::Logged::Pending)
                }
                Err(_) => None,
            };
            if let Some(logged) = logged {
                log.insert(hash.clone(), logged);
            }
        }
        output::print(&trace::render_with_log(&trail, &log))?;
    }
    Ok(Status::Ok)
}

// --- helpers -----------------------------------------------------------------------------

/// A JSON body from a file (`-` for stdin).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = crate::read_input(path)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid request body", path.display()))
}

/// `value`'s JSON object with an `"outcome": "created" | "replayed"` field added.
fn with_outcome<T: serde::Serialize>(value: &T, outcome: Outcome) -> Result<Value> {
    let mut value = serde_json::to_value(value)?;
    if let Value::Object(map) = &mut value {
        map.insert("outcome".into(), outcome.as_str().into());
    }
    Ok(value)
}
