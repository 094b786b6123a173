//! The real server process killed with SIGKILL at random moments under a mixed write load,
//! on each store, and started again on the same database. After every restart: each write the
//! server acknowledged (a 2xx, or the 409 that answers a settled cycle) is there, nothing is
//! half-written (a settlement without its slashes and ledger lines, a receipt without its
//! stake lock, …), and the money invariants hold.
//!
//! The load, all at once: a manifest publisher, a forwarder recording hops, a pair closing
//! cycles (settlement, slashes, ledger lines), a watcher reporting cycles (settlement,
//! bounty), a payer taking commitments through create, confirm and settle, and an admin
//! filing MEV incidents (a slash each). A request the kill cut off has no answer: it may or
//! may not have committed, and the checks allow both.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use kagami_core::{
    CommitmentStatus,
    crypto::{Hash32, PrivateKeySigner, Timestamp, Uuid},
};
use kagami_store::Store;
use kagami_tests::{Direct, ServerProcess, assert_ledger_invariants};
use serde_json::{Value, json};

use crate::{
    app::{Auth, Reply, TestApp, keys},
    fixtures::*,
};

/// How many times the server is killed per store.
const KILLS: u32 = 6;
/// Stake of every agent: enough for every slash a round can bring.
const STAKE: &str = "100000000";

/// The database a crash test runs on.
pub(crate) enum Database {
    Sqlite(kagami_tests::TestSqlite),
    Postgres(Box<kagami_tests::TestPostgres>),
}

impl Database {
    fn store(&self) -> Store {
        match self {
            Self::Sqlite(db) => db.store(),
            Self::Postgres(db) => db.store(),
        }
    }

    fn direct(&self) -> Direct {
        match self {
            Self::Sqlite(db) => db.direct(),
            Self::Postgres(db) => db.direct(),
        }
    }

    /// The server's environment for this database (beyond the data directory).
    fn server_vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("API_KEY_SALT", crate::app::salt().expose().to_owned()),
            // Entries written just before a kill are still pending: the next server
            // integrates them.
            ("KAGAMI_LOG_INTERVAL_MS", "200".to_owned()),
        ];
        // No rate limit: the load is the point.
        for name in [
            "RATE_LIMIT_WRITE_PER_SECOND",
            "RATE_LIMIT_ADMIN_PER_SECOND",
            "RATE_LIMIT_VERIFY_PER_SECOND",
            "RATE_LIMIT_PUBLIC_READ_PER_SECOND",
        ] {
            vars.push((name, "0".to_owned()));
        }
        if let Self::Postgres(db) = self {
            let admin_url = kagami_tests::database_url();
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(b, _)| b);
            vars.push(("DATABASE_URL", format!("{base}/{}", db.name())));
            vars.push(("DB_POOL_MIN_SIZE", "1".to_owned()));
            vars.push(("DB_POOL_MAX_SIZE", "8".to_owned()));
        }
        vars
    }

    fn data_dir(&self, scratch: &Path) -> std::path::PathBuf {
        match self {
            Self::Sqlite(db) => db.dir().to_owned(),
            Self::Postgres(_) => scratch.to_owned(),
        }
    }
}

/// What the server acknowledged, to be found after every restart.
#[derive(Debug, Default)]
struct Acks {
    agents: Vec<Uuid>,
    manifests: Vec<Hash32>,
    /// (root, source, destination, receipt nonce).
    receipts: Vec<(Hash32, Uuid, Uuid, u64)>,
    /// Roots whose cycle was settled, by a closing hop or a report.
    settlements: Vec<Hash32>,
    /// The furthest acknowledged status of each commitment.
    commitments: BTreeMap<Uuid, CommitmentStatus>,
    mev_incidents: u64,
    /// Requests the kill cut off (no answer).
    unanswered: u64,
    /// Refusals, by status and code (allowed, but reported: they should stay rare).
    refusals: BTreeMap<String, u64>,
}

impl Acks {
    fn merge(&mut self, other: Self) {
        self.agents.extend(other.agents);
        self.manifests.extend(other.manifests);
        self.receipts.extend(other.receipts);
        self.settlements.extend(other.settlements);
        for (id, status) in other.commitments {
            let entry = self.commitments.entry(id).or_insert(status);
            *entry = furthest(*entry, status);
        }
        self.mev_incidents += other.mev_incidents;
        self.unanswered += other.unanswered;
        for (refusal, n) in other.refusals {
            *self.refusals.entry(refusal).or_default() += n;
        }
    }

    /// Posts `body` to `path`: `None` when the request went unanswered (the server was
    /// killed; counted), otherwise the reply when it is the acknowledgement `ok` (see
    /// [`Self::acknowledged`]).
    async fn post(
        &mut self,
        app: &TestApp,
        (path, auth, body): (&str, Auth<'_>, &Value),
        (what, ok, code): (&str, u16, Option<&str>),
    ) -> Option<Option<Reply>> {
        let Ok(reply) = app.try_post(path, auth, body).await else {
            self.unanswered += 1;
            return None;
        };
        Some(self.acknowledged(what, &reply, ok, code).then_some(reply))
    }

    /// Whether `reply` is the acknowledgement `ok` (a status, and an error code for 4xx);
    /// counts a refusal otherwise. A server error fails the test: a crash elsewhere is never
    /// a reason for a 5xx.
    fn acknowledged(&mut self, what: &str, reply: &Reply, ok: u16, code: Option<&str>) -> bool {
        let status = reply.status.as_u16();
        assert!(status < 500, "{what}: {status} {}", reply.text);
        let error = serde_json::from_str::<Value>(&reply.text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        if status == ok && code.is_none_or(|c| error.as_deref() == Some(c)) {
            return true;
        }
        *self
            .refusals
            .entry(format!("{what}: {status} {}", error.unwrap_or_default()))
            .or_default() += 1;
        false
    }
}

/// Rank of a status on the happy path (a later status may follow an unanswered request).
fn furthest(a: CommitmentStatus, b: CommitmentStatus) -> CommitmentStatus {
    let rank = |s| match s {
        CommitmentStatus::Pending => 0,
        CommitmentStatus::Confirmed => 1,
        CommitmentStatus::Settled | CommitmentStatus::Disputed => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The agents of one round, registered before the load starts.
struct Round {
    app: TestApp,
    tag: String,
    publisher: (Agent, SignedManifest),
    forwarders: [(Agent, SignedManifest); 2],
    cyclers: [(Agent, SignedManifest); 2],
    reported: [(Agent, SignedManifest); 2],
}

static NEXT_AGENT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh registered, staked agent with its first manifest; its acknowledgements go to
/// `acks`.
async fn agent(app: &TestApp, acks: &mut Acks) -> (Agent, SignedManifest) {
    let (agent, manifest) =
        ready_agent(app, NEXT_AGENT_ID.fetch_add(1, Ordering::Relaxed), STAKE).await;
    acks.agents.push(agent.uuid);
    acks.manifests.push(manifest.hash());
    (agent, manifest)
}

impl Round {
    async fn register(app: TestApp, tag: String, acks: &mut Acks) -> Self {
        Self {
            publisher: agent(&app, acks).await,
            forwarders: [agent(&app, acks).await, agent(&app, acks).await],
            cyclers: [agent(&app, acks).await, agent(&app, acks).await],
            reported: [agent(&app, acks).await, agent(&app, acks).await],
            app,
            tag,
        }
    }

    /// Publishes the publisher's next manifests (each replacing the last after the activation
    /// delay) until a request goes unanswered.
    async fn publish(self: Arc<Self>) -> Acks {
        let mut acks = Acks::default();
        let (p, _) = &self.publisher;
        for nonce in 2.. {
            let m = manifest(p, nonce, &endpoint(p), from_now(60), from_now(20 * 3600));
            let request = ("/api/v1/agents/manifests/publish", Auth::Client, &m.body());
            let Some(answer) = acks.post(&self.app, request, ("publish", 201, None)).await else {
                break;
            };
            if answer.is_some() {
                acks.manifests.push(m.hash());
            }
        }
        acks
    }

    /// Records single hops on fresh roots (a receipt and a stake lock each).
    async fn forward(self: Arc<Self>) -> Acks {
        let mut acks = Acks::default();
        let [(a, _), (b, mb)] = &self.forwarders;
        for n in 1.. {
            let paid = root(&format!("{}-forward-{n}", self.tag));
            let hop = pair(paid, 0, a, b, mb, None, n);
            let Some(answer) = self
                .record(&mut acks, &hop, ("record-forward", 201, None))
                .await
            else {
                break;
            };
            if answer.is_some() {
                acks.receipts.push((paid, a.uuid, b.uuid, n));
            }
        }
        acks
    }

    /// Closes cycles A → B → A on fresh roots (settlement, slashes, ledger lines).
    async fn close_cycles(self: Arc<Self>) -> Acks {
        let mut acks = Acks::default();
        let [(a, ma), (b, mb)] = &self.cyclers;
        for n in 1.. {
            let paid = root(&format!("{}-cycle-{n}", self.tag));
            let opening = pair(paid, 0, a, b, mb, Some(a), n);
            let Some(answer) = self
                .record(&mut acks, &opening, ("record-forward", 201, None))
                .await
            else {
                break;
            };
            if answer.is_none() {
                continue;
            }
            acks.receipts.push((paid, a.uuid, b.uuid, n));
            let closing = pair(paid, 1, b, a, ma, None, n);
            let expected = (
                "record-forward closing a cycle",
                409,
                Some("circular_dependency"),
            );
            let Some(answer) = self.record(&mut acks, &closing, expected).await else {
                break;
            };
            if answer.is_some() {
                acks.settlements.push(paid);
            }
        }
        acks
    }

    /// Reports cycles C → D → C, never recorded, as a watcher (settlement, bounty).
    async fn report(self: Arc<Self>) -> Acks {
        let mut acks = Acks::default();
        let [(c, mc), (d, md)] = &self.reported;
        let watcher = PrivateKeySigner::random();
        for n in 1.. {
            let paid = root(&format!("{}-report-{n}", self.tag));
            let e1 = pair(paid, 0, c, d, md, Some(c), n);
            let e2 = pair(paid, 1, d, c, mc, None, n);
            let report = cycle_report(paid, &watcher, &watcher, &[&e1, &e2]);
            let request = (
                "/api/v1/agents/manifests/report-cycle",
                Auth::Client,
                &report,
            );
            let expected = ("report-cycle", 200, None);
            let Some(answer) = acks.post(&self.app, request, expected).await else {
                break;
            };
            if answer.is_some() {
                acks.settlements.push(paid);
            }
        }
        acks
    }

    /// Takes commitments of the forwarders through create, confirm and settle.
    async fn commit(self: Arc<Self>) -> Acks {
        let mut acks = Acks::default();
        let [(payer, _), (first_hop, _)] = &self.forwarders;
        'commitments: for n in 1.. {
            let paid = root(&format!("{}-commitment-{n}", self.tag));
            let c = commitment(paid, payer, first_hop, "10000.000000", from_now(300));
            let body = commitment_body(&c, &payer.hot, &first_hop.hot);
            let request = (
                "/api/v1/agents/manifests/onchain-commitment",
                Auth::Client,
                &body,
            );
            let expected = ("commitment create", 201, None);
            let Some(answer) = acks.post(&self.app, request, expected).await else {
                break;
            };
            let Some(reply) = answer else {
                continue;
            };
            let id: Uuid = reply.json()["commitment_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            acks.commitments.insert(id, CommitmentStatus::Pending);
            let onchain =
                json!({ "onchain_tx_hash": root(&format!("{paid}-onchain")).to_string() });
            for (step, body, status) in [
                ("confirm", onchain, CommitmentStatus::Confirmed),
                ("settle", json!({}), CommitmentStatus::Settled),
            ] {
                let path = format!("/api/v1/commitments/{id}/{step}");
                let request = (path.as_str(), Auth::Admin, &body);
                let Some(answer) = acks.post(&self.app, request, (step, 200, None)).await else {
                    break 'commitments;
                };
                if answer.is_none() {
                    continue 'commitments;
                }
                acks.commitments.insert(id, status);
            }
        }
        acks
    }

    /// Files MEV incidents against the reported pair's second agent (a slash each).
    async fn file_incidents(self: Arc<Self>) -> Acks {
        let mut acks = Acks::default();
        let (attacker, _) = &self.reported[1];
        for n in 1.. {
            let attack = kagami_tests::signed_transaction(&attacker.hot, n);
            let incident = mev_incident(attacker, "1.000000", &attack);
            let request = ("/api/v1/mev/incidents", Auth::Admin, &incident);
            let expected = ("MEV incident", 201, None);
            let Some(answer) = acks.post(&self.app, request, expected).await else {
                break;
            };
            if answer.is_some() {
                acks.mev_incidents += 1;
            }
        }
        acks
    }

    /// Records `pair`; as [`Acks::post`].
    async fn record(
        &self,
        acks: &mut Acks,
        pair: &SignedPair,
        expected: (&str, u16, Option<&str>),
    ) -> Option<Option<Reply>> {
        let body = pair.body();
        let request = (
            "/api/v1/agents/manifests/record-forward",
            Auth::Client,
            &body,
        );
        acks.post(&self.app, request, expected).await
    }
}

/// Checks, straight in the store, that every acknowledged write is there, that nothing is
/// partial, and that the ledger balances.
async fn check(store: &Store, direct: &Direct, acks: &Acks) {
    for uuid in &acks.agents {
        let stake = store
            .stake(*uuid, Timestamp::from_unix(now()).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged agent {uuid} is gone"));
        assert_eq!(stake.staked.to_string(), usdc(STAKE), "stake of {uuid}");
    }
    for hash in &acks.manifests {
        assert!(
            store.manifest_by_hash(*hash).await.unwrap().is_some(),
            "acknowledged manifest {hash} is gone"
        );
    }
    for (paid, source, dest, nonce) in &acks.receipts {
        let trail = store.forward_trail(*paid).await.unwrap();
        assert!(
            trail.receipts.iter().any(|r| r.receipt.source == *source
                && r.receipt.dest == *dest
                && r.receipt.nonce == *nonce),
            "acknowledged receipt {source} -> {dest} on {paid} is gone"
        );
    }
    for paid in &acks.settlements {
        assert!(
            store.settlement_of(*paid).await.unwrap().is_some(),
            "acknowledged settlement of {paid} is gone"
        );
    }
    for (id, acknowledged) in &acks.commitments {
        let status = store
            .commitment(*id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged commitment {id} is gone"))
            .status;
        assert_eq!(
            furthest(status, *acknowledged),
            status,
            "commitment {id} is {status:?}, behind the acknowledged {acknowledged:?}"
        );
    }
    let incidents: u64 = store
        .mev_summary()
        .await
        .unwrap()
        .iter()
        .map(|row| row.incidents)
        .sum();
    assert!(
        incidents >= acks.mev_incidents,
        "{incidents} MEV incidents stored, {} acknowledged",
        acks.mev_incidents
    );
    direct.assert_no_partial_state().await;
    assert_ledger_invariants(store, &acks.agents, Timestamp::from_unix(now()).unwrap()).await;
}

/// A pseudo-random delay in `200..1400` ms, printed so that a failing run can be told apart.
fn kill_delay() -> Duration {
    let random = Uuid::new_v4().as_u128();
    Duration::from_millis(200 + u64::try_from(random % 1200).unwrap())
}

pub(crate) async fn a_server_killed_at_random_moments_loses_no_acknowledged_write(db: &Database) {
    let store = db.store();
    let direct = db.direct();
    let keys = keys(&store).await;
    let scratch = tempfile_dir();
    let data_dir = db.data_dir(&scratch);
    let vars = db.server_vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let binary = kagami_tests::server_binary();
    let start = || {
        tokio::task::block_in_place(|| {
            ServerProcess::start(kagami_tests::server_command(binary, &data_dir, &vars))
        })
    };

    let mut all = Acks::default();
    let mut server = start();
    for kill in 0..KILLS {
        let app = TestApp::external(
            format!("http://{}", server.address()),
            keys.clone(),
            store.clone(),
        );
        let mut acks = Acks::default();
        let round = Arc::new(Round::register(app, format!("kill-{kill}"), &mut acks).await);
        let load = vec![
            tokio::spawn(round.clone().publish()),
            tokio::spawn(round.clone().forward()),
            tokio::spawn(round.clone().close_cycles()),
            tokio::spawn(round.clone().report()),
            tokio::spawn(round.clone().commit()),
            tokio::spawn(round.clone().file_incidents()),
        ];
        let delay = kill_delay();
        tokio::time::sleep(delay).await;
        let (_, log) = tokio::task::block_in_place(|| server.kill());
        for task in load {
            acks.merge(task.await.unwrap());
        }
        eprintln!(
            "kill {kill} after {delay:?}: {} manifests, {} receipts, {} settlements, {} commitments, \
             {} MEV incidents acknowledged; {} unanswered; refusals {:?}",
            acks.manifests.len(),
            acks.receipts.len(),
            acks.settlements.len(),
            acks.commitments.len(),
            acks.mev_incidents,
            acks.unanswered,
            acks.refusals,
        );
        assert!(
            log.iter().all(|line| !line.contains("\"level\":\"ERROR\"")),
            "the server logged an error before the kill: {log:#?}"
        );
        all.merge(acks);

        server = start();
        check(&store, &direct, &all).await;
    }
    // Every entry the killed servers wrote, pending or not, ends up in the log.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let [pending, total] = direct
            .counts(&[
                "SELECT count(*) FROM kagami_log_entries WHERE leaf_index IS NULL",
                "SELECT count(*) FROM kagami_log_entries",
            ])
            .await[..]
        else {
            unreachable!()
        };
        let size = store.log_head().await.unwrap().map_or(0, |h| h.size);
        if pending == 0 && u64::try_from(total).unwrap() == size {
            assert!(total > 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} of {total} log entries still pending, checkpoint at {size}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);

    // The load really ran into the kills: writes of every kind were acknowledged, and some
    // requests were cut off.
    assert!(all.unanswered >= u64::from(KILLS), "{all:?}");
    assert!(all.receipts.len() > all.agents.len(), "{all:?}");
    assert!(!all.settlements.is_empty(), "{all:?}");
    assert!(!all.commitments.is_empty(), "{all:?}");
    assert!(all.mev_incidents > 0, "{all:?}");
    let refused: u64 = all.refusals.values().sum();
    let acknowledged = all.manifests.len() + all.receipts.len() + all.settlements.len();
    assert!(
        refused < u64::try_from(acknowledged).unwrap(),
        "the load is mostly refused, so it tests little: {all:?}"
    );
}

/// A directory of its own for the server's data (PostgreSQL keeps nothing in it).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kagami-crash-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
