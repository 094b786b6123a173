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
use kagami_benches::load::{LoadFixture, first_manifest};
use kagami_client::{KagamiClient, PrivateKeySigner, verify_forward_request};

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
    let fixture = LoadFixture::prepare(client, "1000", "1000000000").await?;
    let verify = verify_forward_request(
        fixture.root("verify"),
        &fixture.payer,
        &fixture.dest_manifest,
    )?;
    std::fs::write(
        out.join("verify_forward.json"),
        serde_json::to_string(&verify)?,
    )?;

    for set in 0..sets {
        let mut lines = String::new();
        for i in 0..record {
            let nonce = 2 + set * record + i;
            let body = fixture.pair(fixture.root(&format!("record-{set}-{i}")), nonce)?;
            writeln!(lines, "{}", serde_json::to_string(&body)?)?;
        }
        std::fs::write(out.join(format!("record-{set}.jsonl")), lines)?;
    }

    // Publishers: registered 16 at a time.
    let publishers: Vec<String> = stream::iter(0..publish)
        .map(|n| {
            let fixture = &fixture;
            async move {
                let owner = PrivateKeySigner::random();
                let agent = fixture.register(2 + n, &owner, "1000").await?;
                let body = first_manifest(&agent, &owner, &PrivateKeySigner::random())?;
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
        "payer": fixture.payer,
        "dest": fixture.dest,
        "dest_manifest_hash": fixture.dest_manifest.manifest_hash,
        "first_free_nonce": 2 + sets * record,
    });
    std::fs::write(out.join("prep.json"), serde_json::to_string_pretty(&prep)?)?;
    println!("{prep}");
    Ok(())
}
