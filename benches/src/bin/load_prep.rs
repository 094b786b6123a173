//! Prepares a running Kagami server for the load harness (`benches/load/run.py`) and writes
//! the request bodies wrk sends, each signed with the project's own client.
//!
//! ```text
//! KAGAMI_API_KEY=kgm_… load_prep http://127.0.0.1:8000 OUT_DIR PUBLISH_BODIES RECORD_BODIES RECORD_SETS
//! ```
//!
//! Registers a payer S and a destination D (staked enough for every lock the run takes),
//! publishes D's manifest and records one template hop S→D, then writes into `OUT_DIR`:
//! - `verify_forward.json`: one verify-forward body for the hop S→D (a safe verdict);
//! - `publish.jsonl`: one signed first manifest per line, each for an agent of its own
//!   (registered here), so every line is a new publish;
//! - `record-<k>.jsonl` for k in 0..RECORD_SETS: hop-0 pairs S→D on roots of their own,
//!   each order and receipt nonce used once, so every line is a new record;
//! - `prep.json`: the ids the history fill needs.

use std::{fmt::Write as _, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use kagami_client::{
    KagamiClient, ManifestBuilder, OrderBuilder, PrivateKeySigner, ReceiptBuilder,
    crypto::{Hash32, Timestamp, sha256},
    verify_forward_request,
    wire::{ForwardPairRequest, RegisterAgentRequest, SetStakeRequest},
};

const REGISTRY: &str = "0x8004000000000000000000000000000000008004";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, out, publish, record, sets] = args.as_slice() else {
        bail!("usage: load_prep BASE_URL OUT_DIR PUBLISH_BODIES RECORD_BODIES RECORD_SETS");
    };
    let out = PathBuf::from(out);
    let publish: u64 = publish.parse().context("PUBLISH_BODIES")?;
    let record: u64 = record.parse().context("RECORD_BODIES")?;
    let sets: u64 = sets.parse().context("RECORD_SETS")?;
    let key = std::env::var("KAGAMI_API_KEY").context("KAGAMI_API_KEY")?;
    let client = KagamiClient::builder(base.as_str())
        .api_key(key)
        .timeout(Duration::from_secs(30))
        .build()?;
    // Agent ids of their own, so that runs against one database never collide.
    let run = u64::from_be_bytes(
        sha256(&[
            &std::process::id().to_be_bytes(),
            format!("{:?}", std::time::SystemTime::now()).as_bytes(),
        ])[..8]
            .try_into()?,
    ) % 1_000_000_000;
    let register = async |n: u64, owner: &PrivateKeySigner, stake: &str| {
        let agent = client
            .register_agent(&RegisterAgentRequest {
                agent_id: run * 1_000_000 + n + 1,
                chain: "base".to_owned(),
                registry_address: REGISTRY.to_owned(),
                owner_address: owner.address().to_string(),
                token_uri: None,
                registration_file: None,
            })
            .await?;
        client
            .set_stake(
                agent.agent_uuid.parse()?,
                &SetStakeRequest {
                    staked_amount_usdc: stake.to_owned(),
                },
            )
            .await?;
        anyhow::Ok(agent.agent_uuid)
    };
    let manifest = |agent: &str, owner: &PrivateKeySigner, hot: &PrivateKeySigner| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let from = Timestamp::from_unix(i64::try_from(now)? - 60)?;
        ManifestBuilder::new()
            .agent(agent)
            .chain("base")
            .endpoint(format!("https://{agent}.example/x402"))
            .pubkey_of(hot)
            .nonce(1)
            .valid_from(from)
            .valid_for(Duration::from_secs(23 * 3600))
            .sign(owner)
            .map_err(anyhow::Error::from)
    };

    let (payer_key, dest_key, dest_hot) = (
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
        PrivateKeySigner::random(),
    );
    let payer = register(0, &payer_key, "1000").await?;
    let dest = register(1, &dest_key, "1000000000").await?;
    let (published, _) = client
        .publish_manifest(&manifest(&dest, &dest_key, &dest_hot)?)
        .await?;
    let dest_manifest = client.manifest(&published.manifest_hash.parse()?).await?;
    let pair = |root: Hash32, nonce: u64| -> anyhow::Result<ForwardPairRequest> {
        let order = OrderBuilder::new()
            .chain("base")
            .root_tx(root)
            .hop(0)
            .from(&payer)
            .to(&dest)
            .manifest(&dest_manifest.manifest_hash)
            .amount("1")
            .nonce(nonce)
            .sign(&payer_key)?;
        Ok(ReceiptBuilder::acknowledging(&order)?
            .terminal()
            .nonce(nonce)
            .sign(&dest_hot)?)
    };
    let root = |tag: String| Hash32::from(sha256(&[format!("{run}-{tag}").as_bytes()]));
    client
        .record_forward(&pair(root("template".into()), 1)?)
        .await?;
    let verify = verify_forward_request(root("verify".into()), &payer, &dest_manifest)?;
    std::fs::write(
        out.join("verify_forward.json"),
        serde_json::to_string(&verify)?,
    )?;

    for set in 0..sets {
        let mut lines = String::new();
        for i in 0..record {
            let nonce = 2 + set * record + i;
            let body = pair(root(format!("record-{set}-{i}")), nonce)?;
            writeln!(lines, "{}", serde_json::to_string(&body)?)?;
        }
        std::fs::write(out.join(format!("record-{set}.jsonl")), lines)?;
    }

    // Publishers: registered 16 at a time.
    let publishers: Vec<String> = stream::iter(0..publish)
        .map(|n| {
            let register = &register;
            let manifest = &manifest;
            async move {
                let owner = PrivateKeySigner::random();
                let agent = register(2 + n, &owner, "1000").await?;
                let body = manifest(&agent, &owner, &PrivateKeySigner::random())?;
                anyhow::Ok(serde_json::to_string(&body)?)
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let mut lines = publishers.join("\n");
    lines.push('\n');
    std::fs::write(out.join("publish.jsonl"), lines)?;

    let prep = serde_json::json!({
        "payer": payer,
        "dest": dest,
        "dest_manifest_hash": dest_manifest.manifest_hash,
        "first_free_nonce": 2 + sets * record,
    });
    std::fs::write(out.join("prep.json"), serde_json::to_string_pretty(&prep)?)?;
    println!("{prep}");
    Ok(())
}
