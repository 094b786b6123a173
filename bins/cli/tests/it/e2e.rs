//! End to end: the real `kagami-server` binary on a random port with an embedded store in a
//! temporary directory, driven through the `kagami` binary as an agent developer would.
//!
//! The server binary comes from [`kagami_tests::server_binary`]: `KAGAMI_SERVER_BIN`, or
//! built from this workspace on first use.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use kagami_client::{KagamiClient, wire::SetStakeRequest};
use kagami_core::{
    crypto::{Timestamp, Uuid},
    wire::{ForwardOrderRequest, ForwardTrailResponse, PublishManifestRequest},
};
use kagami_tests::server_binary;
use predicates::prelude::*;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{kagami, stderr, stdout};

/// A running `kagami-server` on the embedded store; killed on drop.
struct Server {
    child: Child,
    url: String,
    admin_key: String,
    client_key: String,
    dir: TempDir,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Server::start`] with extra environment variables.
    fn start_with(vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let admin_key = Self::create_key(&data, vars, "admin");
        let client_key = Self::create_key(&data, vars, "client");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = File::create(dir.path().join("server.log")).unwrap();
        let child = Self::command(&data)
            .env("KAGAMI_BIND", format!("127.0.0.1:{port}"))
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            admin_key,
            client_key,
            dir,
        };
        server.wait_until_healthy();
        server
    }

    /// `kagami-server` on the embedded store in `data`, whatever the developer's shell has
    /// configured.
    fn command(data: &Path) -> Command {
        kagami_tests::server_command(server_binary(), data, &[("LOG_LEVEL", "warn")])
    }

    fn create_key(data: &Path, vars: &[(&str, &str)], role: &str) -> String {
        let output = Self::command(data)
            .envs(vars.iter().copied())
            .args(["api-key", "create", "--role", role, "--label", "cli-e2e"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "api-key create: {}",
            stderr(&output)
        );
        let key = stdout(&output).trim().to_owned();
        assert!(key.starts_with("kgm_"), "unexpected key output");
        key
    }

    fn wait_until_healthy(&mut self) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = KagamiClient::builder(&self.url)
            .max_retries(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kagami-server exited ({status}):\n{}", self.log());
            }
            if runtime
                .block_on(client.health())
                .is_ok_and(|h| h.status == "healthy")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kagami-server not healthy within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `kagami` pointed at this server with the client key.
    fn kagami(&self) -> assert_cmd::Command {
        let mut cmd = kagami();
        cmd.env("KAGAMI_SERVER", &self.url)
            .env("KAGAMI_API_KEY", &self.client_key);
        cmd
    }

    /// Registers agents (agent id, owner address) with `kagami agents import`, through a
    /// JSON-lines file in `dir`; returns their Kagami ids in order.
    fn import(&self, dir: &Path, agents: &[(u64, &str)]) -> Vec<String> {
        let file = dir.join(format!("agents-{}.jsonl", agents[0].0));
        let lines: String = agents
            .iter()
            .map(|(id, owner)| registration(*id, owner) + "\n")
            .collect();
        std::fs::write(&file, lines).unwrap();
        let report = json_of(
            self.kagami()
                .env("KAGAMI_API_KEY", &self.admin_key)
                .args(["agents", "import", "--output", "json"])
                .arg(&file),
            0,
        );
        (0..agents.len())
            .map(|i| {
                report["registered"][i]["agent_uuid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// Mirrors an on-chain stake (an operator's job; the CLI has no command for it).
    fn stake(&self, agent: &str, amount: &str) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = KagamiClient::builder(&self.url)
            .api_key(&self.admin_key)
            .build()
            .unwrap();
        let agent: Uuid = agent.parse().unwrap();
        runtime
            .block_on(client.set_stake(
                agent,
                &SetStakeRequest {
                    staked_amount_usdc: amount.to_owned(),
                },
            ))
            .unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd`, asserts its exit status, returns stdout parsed as JSON.
fn json_of(cmd: &mut assert_cmd::Command, code: i32) -> Value {
    let output = cmd.output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A new key file in `dir`; returns its path and address.
fn new_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let output = kagami()
        .args(["key", "new", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    (path, stdout(&output).trim().to_owned())
}

fn registration(agent_id: u64, owner: &str) -> String {
    json!({
        "agent_id": agent_id,
        "chain": "base",
        "registry_address": "0x8004000000000000000000000000000000008004",
        "owner_address": owner,
    })
    .to_string()
}

const ROOT: &str = "0x5e1f0c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
const REPORTED_ROOT: &str = "0x9c1f0c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
const CYCLE_ROOT: &str = "0x7a1f0c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
const COMMITMENT_ROOT: &str = "0x3c1f0c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";

#[test]
fn an_agent_goes_from_nothing_to_a_recorded_forward_with_the_cli() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let (payer_key, payer_owner) = new_key(work.path(), "payer.key");
    let (dest_key, dest_owner) = new_key(work.path(), "dest.key");

    // Import: two agents and a deliberately bad line; the bad line is reported, not fatal.
    let agents = work.path().join("agents.jsonl");
    std::fs::write(
        &agents,
        format!(
            "{}\n{{\"agent_id\": \"not a number\"}}\n\n{}\n",
            registration(1, &payer_owner),
            registration(2, &dest_owner)
        ),
    )
    .unwrap();
    let report = json_of(
        server
            .kagami()
            .env("KAGAMI_API_KEY", &server.admin_key)
            .args(["agents", "import", "--output", "json"])
            .arg(&agents),
        1,
    );
    assert_eq!(
        report["registered"].as_array().unwrap().len(),
        2,
        "{report}"
    );
    assert_eq!(report["failed"][0]["line"], 2, "{report}");
    let payer = report["registered"][0]["agent_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let dest = report["registered"][1]["agent_uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    // Re-running is safe: both are already registered, nothing is duplicated.
    server
        .kagami()
        .env("KAGAMI_API_KEY", &server.admin_key)
        .args(["agents", "import"])
        .arg(&agents)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "0 registered, 2 already registered, 1 failed",
        ))
        .stdout(predicate::str::contains("line 2:"));
    // Without an admin key the import stops at once with one line.
    server
        .kagami()
        .args(["agents", "import"])
        .arg(&agents)
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "error: the service refused the import",
        ));
    server.stake(&dest, "1000");
    server.stake(&payer, "1000");

    // Sign, then publish the signed body (twice: the second is an identical replay).
    let signed = work.path().join("manifest.json");
    let output = server
        .kagami()
        .args(["manifest", "sign", "--agent", &dest])
        .args(["--endpoint", "http://127.0.0.1:9/x402", "--nonce", "auto"])
        .args(["--valid-for", "1h", "--key-file"])
        .arg(&dest_key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::write(&signed, &output.stdout).unwrap();
    let body: PublishManifestRequest = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body.nonce, 1, "auto picks 1 for a first manifest");
    let published = json_of(
        server
            .kagami()
            .args(["manifest", "publish", "--output", "json", "--body"])
            .arg(&signed),
        0,
    );
    assert_eq!(published["outcome"], "created", "{published}");
    let manifest_hash = published["manifest_hash"].as_str().unwrap().to_owned();
    server
        .kagami()
        .args(["manifest", "publish", "--body"])
        .arg(&signed)
        .assert()
        .success()
        .stdout(predicate::str::contains("already published"));

    // Verify before paying.
    server
        .kagami()
        .args([
            "forward",
            "verify",
            "--root-tx",
            ROOT,
            "--from",
            &payer,
            "--to",
            &dest,
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "safe: pay http://127.0.0.1:9/x402",
        ));

    // The payer signs its order (the destination's effective manifest, looked up) ...
    let order = work.path().join("order.json");
    let output = server
        .kagami()
        .args(["forward", "order", "--root-tx", ROOT, "--hop", "0"])
        .args(["--from", &payer, "--to", &dest, "--amount", "12.5"])
        .args(["--nonce", "1", "--key-file"])
        .arg(&payer_key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::write(&order, &output.stdout).unwrap();
    let order_body: ForwardOrderRequest = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(order_body.manifest_hash, manifest_hash);
    assert_eq!(order_body.amount_usdc, "12.500000");
    // ... and the destination acknowledges it and records the pair; the same pair again is
    // a replay.
    let record = |cmd: &mut assert_cmd::Command| {
        cmd.args(["forward", "record", "--order"])
            .arg(&order)
            .args(["--terminal", "--nonce", "1", "--key-file"])
            .arg(&dest_key)
            .assert()
    };
    record(&mut server.kagami())
        .success()
        .stdout(predicate::str::starts_with("recorded receipt 0x"))
        .stdout(predicate::str::contains("12.500000 USDC"));
    record(&mut server.kagami())
        .success()
        .stdout(predicate::str::contains("already recorded"));
    // A bare v1 receipt is not a pair: refused before anything is sent.
    let v1 = work.path().join("v1.json");
    std::fs::write(
        &v1,
        json!({
            "root_tx_hash": ROOT, "source_agent_uuid": payer, "dest_agent_uuid": dest,
            "hop": 0, "manifest_hash": manifest_hash, "next_hop_hash": null,
            "receipt_nonce": 9, "signature": format!("0x{}1b", "11".repeat(64)), "chain": "base"
        })
        .to_string(),
    )
    .unwrap();
    server
        .kagami()
        .args(["forward", "record", "--body"])
        .arg(&v1)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a valid request body"));

    // The trail, as a tree and as JSON.
    server
        .kagami()
        .args(["trace", ROOT])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "hop 0  {payer} → {dest}  valid"
        )))
        .stdout(predicate::str::contains(&manifest_hash))
        .stdout(predicate::str::contains("12.500000 USDC"));
    let trail: ForwardTrailResponse =
        serde_json::from_value(json_of(server.kagami().args(["trace", ROOT, "--json"]), 0))
            .unwrap();
    assert_eq!(trail.receipts.len(), 1);
    assert!(trail.receipts[0].is_valid);
    assert_eq!(trail.receipts[0].amount_usdc.as_deref(), Some("12.500000"));
    assert!(trail.receipts[0].order_hash.is_some());
    assert!(trail.settlement.is_none());

    // Revoked: paying the agent is no longer safe (exit status 1).
    server
        .kagami()
        .args([
            "manifest",
            "revoke",
            "--agent",
            &dest,
            "--manifest",
            &manifest_hash,
        ])
        .arg("--key-file")
        .arg(&dest_key)
        .assert()
        .success()
        .stdout(predicate::str::contains("revoked manifest"));
    server
        .kagami()
        .args([
            "forward",
            "verify",
            "--root-tx",
            ROOT,
            "--from",
            &payer,
            "--to",
            &dest,
        ])
        .args(["--manifest", &manifest_hash])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("unsafe: "));

    // The payer's key cannot publish for the destination: one line, the server's reason.
    let output = server
        .kagami()
        .args(["manifest", "publish", "--agent", &dest])
        .args(["--endpoint", "http://127.0.0.1:9/x402", "--nonce", "auto"])
        .args(["--valid-for", "1h", "--key-file"])
        .arg(&payer_key)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid_signature"), "{err}");
}

#[test]
fn a_receipt_that_closes_a_cycle_is_reported_with_its_settlement() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let (a_key, a_owner) = new_key(work.path(), "a.key");
    let (b_key, b_owner) = new_key(work.path(), "b.key");
    let ids = server.import(work.path(), &[(11, &a_owner), (12, &b_owner)]);
    let (a, b) = (ids[0].clone(), ids[1].clone());
    for (agent, key) in [(&a, &a_key), (&b, &b_key)] {
        server.stake(agent, "1000");
        server
            .kagami()
            .args(["manifest", "publish", "--agent", agent])
            .args([
                "--endpoint",
                "https://agent.example/x402",
                "--nonce",
                "auto",
            ])
            .args(["--valid-for", "1h", "--key-file"])
            .arg(key)
            .assert()
            .success();
    }

    // A orders a payment to B; B acknowledges it, committing to forward to A ...
    let pair = |root: &str, hop: &str, payer: (&str, &Path), dest: (&str, &Path), next: &[&str]| {
        let order = work.path().join(format!("order-{root}-{hop}.json"));
        let output = server
            .kagami()
            .args(["forward", "order", "--root-tx", root, "--hop", hop])
            .args(["--from", payer.0, "--to", dest.0, "--amount", "5"])
            .args(["--nonce", "auto", "--key-file"])
            .arg(payer.1)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::write(&order, &output.stdout).unwrap();
        let output = server
            .kagami()
            .args(["receipt", "sign", "--order"])
            .arg(&order)
            .args(next)
            .args(["--nonce", "auto", "--key-file"])
            .arg(dest.1)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let path = work.path().join(format!("pair-{root}-{hop}.json"));
        std::fs::write(&path, &output.stdout).unwrap();
        path
    };
    let record = |path: &Path| {
        server
            .kagami()
            .args(["forward", "record", "--body"])
            .arg(path)
            .assert()
    };
    record(&pair(
        CYCLE_ROOT,
        "0",
        (&a, &a_key),
        (&b, &b_key),
        &["--next-agent", &a],
    ))
    .success();
    // ... and verify-forward refuses the hop that would close the cycle.
    server
        .kagami()
        .args([
            "forward",
            "verify",
            "--root-tx",
            CYCLE_ROOT,
            "--from",
            &b,
            "--to",
            &a,
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("unsafe: "));
    // B orders it to A anyway and A acknowledges: recorded, the hop is stored as evidence
    // and the cycle settled — exit status 1, not an error.
    record(&pair(
        CYCLE_ROOT,
        "1",
        (&b, &b_key),
        (&a, &a_key),
        &["--terminal"],
    ))
    .code(1)
    .stdout(predicate::str::starts_with("payment cycle detected"))
    .stdout(predicate::str::contains("settlement "));
    server
        .kagami()
        .args(["trace", CYCLE_ROOT])
        .assert()
        .success()
        .stdout(predicate::str::contains("INVALID"))
        .stdout(predicate::str::contains("5.000000 USDC"))
        .stdout(predicate::str::contains("settlement "))
        .stdout(predicate::str::contains("liable: "))
        // Each receipt's place in the audit log: an index, or pending integration.
        .stdout(predicate::str::contains("audit log"));
    // What was slashed is accounted for: the ledger balances (exit status 0).
    let ledger = json_of(server.kagami().args(["ledger", "--output", "json"]), 0);
    assert_eq!(ledger["balanced"], true, "{ledger}");
    assert_ne!(ledger["total_slashed_usdc"], "0.000000", "{ledger}");
    server
        .kagami()
        .arg("ledger")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("balanced: slashed "));

    // A watcher holding the unrecorded cycle-closing hop reports it and earns the bounty.
    let (watcher_key, watcher) = new_key(work.path(), "watcher.key");
    record(&pair(
        REPORTED_ROOT,
        "0",
        (&a, &a_key),
        (&b, &b_key),
        &["--next-agent", &a],
    ))
    .success();
    let evidence = pair(
        REPORTED_ROOT,
        "1",
        (&b, &b_key),
        (&a, &a_key),
        &["--terminal"],
    );
    let report = |cmd: &mut assert_cmd::Command| {
        cmd.args(["cycle", "report", "--root-tx", REPORTED_ROOT, "--evidence"])
            .arg(&evidence)
            .arg("--key-file")
            .arg(&watcher_key)
            .assert()
    };
    report(&mut server.kagami())
        .success()
        .stdout(predicate::str::starts_with("cycle reported: settlement "))
        .stdout(predicate::str::contains(format!("USDC to {watcher}")));
    report(&mut server.kagami())
        .code(2)
        .stderr(predicate::str::contains("already_settled"));
    server
        .kagami()
        .args(["trace", REPORTED_ROOT])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("reported by {watcher}")));
    let ledger = json_of(server.kagami().args(["ledger", "--output", "json"]), 0);
    assert_eq!(ledger["balanced"], true, "{ledger}");
    assert_ne!(ledger["total_bounties_usdc"], "0.000000", "{ledger}");
}

#[test]
fn a_high_value_commitment_is_signed_by_both_parties_and_created() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let (payer_key, payer_owner) = new_key(work.path(), "payer.key");
    let (hop_key, hop_owner) = new_key(work.path(), "hop.key");
    let ids = server.import(work.path(), &[(21, &payer_owner), (22, &hop_owner)]);
    let (payer, first_hop) = (ids[0].clone(), ids[1].clone());
    server.stake(&first_hop, "1000");
    server
        .kagami()
        .args(["manifest", "publish", "--agent", &first_hop])
        .args([
            "--endpoint",
            "https://agent.example/x402",
            "--nonce",
            "auto",
        ])
        .args(["--valid-for", "1h", "--key-file"])
        .arg(&hop_key)
        .assert()
        .success();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let lock_until = Timestamp::from_unix(i64::try_from(now).unwrap() + 3600)
        .unwrap()
        .to_string();
    let fields = [
        "--root-tx",
        COMMITMENT_ROOT,
        "--payer",
        &payer,
        "--first-hop",
        &first_hop,
        "--routing",
        ROOT,
        "--amount",
        "25000",
        "--lock-until",
        &lock_until,
    ];
    // Each party signs the same commitment with its own key ...
    let sign = |key: &Path| {
        let output = server
            .kagami()
            .args(["commitment", "sign"])
            .args(fields)
            .arg("--key-file")
            .arg(key)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output).trim().to_owned()
    };
    let payer_signature = sign(&payer_key);
    let first_hop_signature = sign(&hop_key);
    // ... the signatures swapped are not the agents' signatures: the service refuses.
    server
        .kagami()
        .args(["commitment", "create"])
        .args(fields)
        .args(["--payer-signature", &first_hop_signature])
        .args(["--first-hop-signature", &payer_signature])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("signature"));
    let created = json_of(
        server
            .kagami()
            .args(["commitment", "create", "--output", "json"])
            .args(fields)
            .args(["--payer-signature", &payer_signature])
            .args(["--first-hop-signature", &first_hop_signature]),
        0,
    );
    assert_eq!(created["amount_usdc"], "25000.000000", "{created}");
    assert_eq!(created["payer_agent_uuid"], payer.as_str(), "{created}");
    assert_eq!(
        created["payer_signature"],
        payer_signature.as_str(),
        "{created}"
    );
}

/// The newest checkpoint's size once it has stopped growing (the sequencer runs every 100 ms
/// here).
fn settled_log_size(server: &Server) -> u64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = KagamiClient::new(&server.url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut last, mut since) = (None, Instant::now());
    loop {
        if let Ok(text) = runtime.block_on(client.log_checkpoint()) {
            let size = kagami_tlog::SignedCheckpoint::parse(&text)
                .unwrap()
                .unverified_checkpoint()
                .size();
            if last != Some(size) {
                (last, since) = (Some(size), Instant::now());
            } else if since.elapsed() > Duration::from_millis(600) {
                return size;
            }
        }
        assert!(Instant::now() < deadline, "the log never settled");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How an intruder with database access rewrites evidence on one backend: each statement
/// set first lifts the protection (the append-only triggers), then rewrites.
struct Intruder<'a> {
    /// Runs SQL on the server's database; `Err` with the database's message when refused.
    execute: &'a dyn Fn(&str) -> Result<(), String>,
    /// Rewrites the bytes of entry 1 (`agent.example` becomes `evil.example`).
    rewrite_entry: &'a str,
    /// Rewrites the stored hash at index 2 (the node over entries 0 and 1) to zeros.
    rewrite_hash: &'a str,
}

#[test]
fn the_audit_log_proves_objects_offline_and_the_monitor_catches_tampering() {
    let server = Server::start_with(&[("KAGAMI_LOG_INTERVAL_MS", "100")]);
    let db = rusqlite::Connection::open(server.dir.path().join("data/kagami.db")).unwrap();
    let execute = |sql: &str| db.execute_batch(sql).map_err(|e| e.to_string());
    audit_log_scenario(
        &server,
        &Intruder {
            execute: &execute,
            rewrite_entry: "DROP TRIGGER tg_log_entries_no_rewrite; \
                UPDATE kagami_log_entries SET entry = CAST(replace(CAST(entry AS TEXT), \
                'agent.example', 'evil.example') AS BLOB) WHERE leaf_index = 1;",
            rewrite_hash: "DROP TRIGGER tg_log_hashes_no_update; \
                UPDATE kagami_log_hashes SET hash = zeroblob(32) WHERE idx = 2;",
        },
    );
}

#[test]
fn on_postgres_the_audit_log_proves_objects_offline_and_the_monitor_catches_tampering() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(kagami_tests::TestPostgres::new()) else {
        return;
    };
    let admin = kagami_tests::database_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{}", db.name());
    let server = Server::start_with(&[
        ("KAGAMI_LOG_INTERVAL_MS", "100"),
        ("DATABASE_URL", &url),
        ("API_KEY_SALT", "an e2e salt of 16+ chars"),
        ("DB_POOL_MIN_SIZE", "1"),
    ]);
    let client = runtime.block_on(db.client());
    let execute = |sql: &str| {
        runtime
            .block_on(client.batch_execute(sql))
            .map_err(|e| format!("{e:?}"))
    };
    audit_log_scenario(
        &server,
        &Intruder {
            execute: &execute,
            rewrite_entry: "ALTER TABLE kagami_log_entries DISABLE TRIGGER USER; \
                UPDATE kagami_log_entries SET entry = convert_to(replace(convert_from(entry, \
                'UTF8'), 'agent.example', 'evil.example'), 'UTF8') WHERE leaf_index = 1;",
            rewrite_hash: "ALTER TABLE kagami_log_hashes DISABLE TRIGGER USER; \
                UPDATE kagami_log_hashes SET hash = decode(repeat('00', 32), 'hex') \
                WHERE idx = 2;",
        },
    );
    drop(server);
    drop(client);
    runtime.block_on(db.cleanup());
}

/// Two manifests published; every entry's proof verifies offline with the CLI and fails
/// when forged; the monitor accepts the log; the database refuses rewrites; a rewritten entry
/// and a rewritten tree hash are each caught by the monitor.
fn audit_log_scenario(server: &Server, intruder: &Intruder<'_>) {
    let work = tempfile::tempdir().unwrap();
    let publish = |agent_id: u64| {
        let (key, owner) = new_key(work.path(), &format!("{agent_id}.key"));
        let agent = server.import(work.path(), &[(agent_id, &owner)]).remove(0);
        server
            .kagami()
            .args(["manifest", "publish", "--agent", &agent])
            .args([
                "--endpoint",
                "https://agent.example/x402",
                "--nonce",
                "auto",
            ])
            .args(["--valid-for", "1h", "--key-file"])
            .arg(&key)
            .assert()
            .success();
    };
    publish(21);
    publish(22);
    let size = settled_log_size(server);
    assert_eq!(size, 2, "one entry per manifest");

    // The operator's published key; every object's proof verifies offline with it.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = KagamiClient::new(&server.url).unwrap();
    let log_key = runtime
        .block_on(client.log_key())
        .unwrap()
        .trim()
        .to_owned();
    let entries = runtime
        .block_on(client.log_entries(0, size))
        .unwrap()
        .entries;
    for entry in &entries {
        let proof = work.path().join(format!("{}.proof", entry.index));
        server
            .kagami()
            .args(["log", "proof", &entry.kind, &entry.key, "--out"])
            .arg(&proof)
            .assert()
            .success();
        kagami()
            .args(["log", "verify-proof"])
            .arg(&proof)
            .args(["--log-key", &log_key])
            .assert()
            .success()
            .stdout(predicate::str::starts_with(format!(
                "valid: {} {} is entry {}",
                entry.kind, entry.key, entry.index
            )));
        // One changed character of the carried entry, or another log's key: invalid.
        let text = std::fs::read_to_string(&proof).unwrap();
        let extra = text.lines().nth(1).unwrap();
        let forged_extra = format!("extra {}", {
            let mut bytes = base64_decode(extra.strip_prefix("extra ").unwrap());
            bytes[10] ^= 1;
            base64_encode(&bytes)
        });
        let forged = work.path().join("forged.proof");
        std::fs::write(&forged, text.replacen(extra, &forged_extra, 1)).unwrap();
        kagami()
            .args(["log", "verify-proof"])
            .arg(&forged)
            .args(["--log-key", &log_key])
            .assert()
            .code(1)
            .stdout(predicate::str::starts_with("INVALID: "));
        let other = kagami_tlog::SignerKey::from_seed("kagami.local/log", &[9; 32])
            .unwrap()
            .verifier()
            .to_string();
        kagami()
            .args(["log", "verify-proof"])
            .arg(&proof)
            .args(["--log-key", &other])
            .assert()
            .code(1);
    }

    // The monitor accepts the log as it is ...
    let state = work.path().join("monitor.json");
    let monitor = |state: &Path| {
        server
            .kagami()
            .args(["log", "monitor", "--state"])
            .arg(state)
            .args(["--log-key", &log_key])
            .assert()
    };
    monitor(&state)
        .success()
        .stdout(predicate::str::starts_with("consistent: 2 entries checked"));

    // ... and the database itself refuses to rewrite evidence.
    for sql in [
        "DELETE FROM kagami_log_entries",
        "UPDATE kagami_log_entries SET kind = 'forged'",
        "UPDATE kagami_log_entries SET leaf_index = leaf_index + 100",
        "UPDATE kagami_log_hashes SET idx = idx + 1000000",
        "DELETE FROM kagami_log_checkpoints",
        "UPDATE erc8004_endpoint_manifests SET endpoint_uri = 'https://evil.example/'",
        "DELETE FROM erc8004_endpoint_manifests",
    ] {
        let refused = (intruder.execute)(sql).unwrap_err();
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }

    // An intruder who drops the triggers and rewrites an integrated entry is caught by any
    // monitor that reads it ...
    (intruder.execute)(intruder.rewrite_entry).unwrap();
    monitor(&work.path().join("fresh.json"))
        .code(1)
        .stdout(predicate::str::contains(
            "INCONSISTENT: the entries do not hash",
        ));

    // ... and one who rewrites the tree's stored hashes (here the node over entries 0 and 1,
    // stored at index 2, which the next entry merges with) is caught by the consistency
    // proof the next checkpoint owes the monitor's last one.
    assert_eq!(kagami_tlog::stored_hash_index(1, 0), 2);
    (intruder.execute)(intruder.rewrite_hash).unwrap();
    publish(23);
    assert_eq!(settled_log_size(server), 3);
    monitor(&state)
        .code(1)
        .stdout(predicate::str::contains("INCONSISTENT: "));
    // The state did not move on.
    let kept: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept["size"], 2, "{kept}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
