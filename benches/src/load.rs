//! The agents and signed request bodies the load tools send (`load_prep` for wrk, `soak`),
//! built with the project's own client exactly as an agent would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use kagami_client::{
    KagamiClient, ManifestBuilder, OrderBuilder, PrivateKeySigner, ReceiptBuilder,
    crypto::{Hash32, Timestamp, sha256},
    wire::{
        ForwardPairRequest, ManifestResponse, PublishManifestRequest, RegisterAgentRequest,
        SetStakeRequest,
    },
};

const REGISTRY: &str = "0x8004000000000000000000000000000000008004";

/// A payer S and a destination D with a published manifest, and the template hop S→D
/// recorded: what every load run starts from.
#[derive(Debug)]
pub struct LoadFixture {
    /// The client every request goes through.
    pub client: KagamiClient,
    /// The payer's Kagami id.
    pub payer: String,
    /// The destination's Kagami id.
    pub dest: String,
    /// The destination's manifest, as the service stores it.
    pub dest_manifest: ManifestResponse,
    run: u64,
    payer_key: PrivateKeySigner,
    dest_hot: PrivateKeySigner,
}

impl LoadFixture {
    /// Registers S (staked `payer_stake`) and D (staked `dest_stake`, enough for every lock
    /// the run takes), publishes D's manifest and records the template hop S→D.
    ///
    /// # Errors
    /// Any refusal or transport error of those requests.
    pub async fn prepare(
        client: KagamiClient,
        payer_stake: &str,
        dest_stake: &str,
    ) -> anyhow::Result<Self> {
        // Agent ids of their own, so that runs against one database never collide.
        let run = u64::from_be_bytes(
            sha256(&[
                &std::process::id().to_be_bytes(),
                format!("{:?}", SystemTime::now()).as_bytes(),
            ])[..8]
                .try_into()?,
        ) % 1_000_000_000;
        let (payer_key, dest_key, dest_hot) = (
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
            PrivateKeySigner::random(),
        );
        let payer = register(&client, run, 0, &payer_key, payer_stake).await?;
        let dest = register(&client, run, 1, &dest_key, dest_stake).await?;
        let (published, _) = client
            .publish_manifest(&first_manifest(&dest, &dest_key, &dest_hot)?)
            .await?;
        let dest_manifest = client.manifest(&published.manifest_hash.parse()?).await?;
        let fixture = Self {
            client,
            payer,
            dest,
            dest_manifest,
            run,
            payer_key,
            dest_hot,
        };
        fixture
            .client
            .record_forward(&fixture.pair(fixture.root("template"), 1)?)
            .await?;
        Ok(fixture)
    }

    /// Registers agent number `n` of this run (`n` ≥ 2: 0 and 1 are S and D), owned by
    /// `owner`, and stakes it; returns its Kagami id.
    ///
    /// # Errors
    /// Any refusal or transport error.
    pub async fn register(
        &self,
        n: u64,
        owner: &PrivateKeySigner,
        stake: &str,
    ) -> anyhow::Result<String> {
        register(&self.client, self.run, n, owner, stake).await
    }

    /// A root transaction hash of this run, named by `tag`.
    pub fn root(&self, tag: &str) -> Hash32 {
        Hash32::from(sha256(&[format!("{}-{tag}", self.run).as_bytes()]))
    }

    /// The hop-0 pair S→D on `root`: S's order and D's terminal receipt, both with `nonce`
    /// (use each nonce once; 1 is the template's).
    ///
    /// # Errors
    /// Only when signing fails.
    pub fn pair(&self, root: Hash32, nonce: u64) -> anyhow::Result<ForwardPairRequest> {
        let order = OrderBuilder::new()
            .chain("base")
            .root_tx(root)
            .hop(0)
            .from(&self.payer)
            .to(&self.dest)
            .manifest(&self.dest_manifest.manifest_hash)
            .amount("1")
            .nonce(nonce)
            .sign(&self.payer_key)?;
        Ok(ReceiptBuilder::acknowledging(&order)?
            .terminal()
            .nonce(nonce)
            .sign(&self.dest_hot)?)
    }
}

/// The first manifest of `agent`: nonce 1, naming `hot`, in force from a minute ago for 23
/// hours, signed by `owner`.
///
/// # Errors
/// Only when the clock is unreadable or signing fails.
pub fn first_manifest(
    agent: &str,
    owner: &PrivateKeySigner,
    hot: &PrivateKeySigner,
) -> anyhow::Result<PublishManifestRequest> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
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
}

async fn register(
    client: &KagamiClient,
    run: u64,
    n: u64,
    owner: &PrivateKeySigner,
    stake: &str,
) -> anyhow::Result<String> {
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
            agent.agent_uuid.parse().context("agent_uuid")?,
            &SetStakeRequest {
                staked_amount_usdc: stake.to_owned(),
            },
        )
        .await?;
    Ok(agent.agent_uuid)
}
