//! The audit log's append throughput and time-to-integrate, through the real write path's log
//! part (entry encoding, leaf hash, `INSERT` in a committed transaction) and the real
//! sequencer; then inclusion-proof reads from the database at growing tree sizes.
//!
//! ```text
//! log_append postgres|sqlite WRITERS SECONDS [FILL_TO]
//! ```
//!
//! `WRITERS` tasks each commit one-entry transactions for `SECONDS` while a sequencer
//! integrates every 500 ms (on PostgreSQL two sequencers race, as two replicas would: one
//! integrates, the other skips). Prints appends/s and the time from an entry's commit to the
//! end of the sequencer run that integrated it (p50, p99, max; entries are integrated in
//! commit order). With `FILL_TO`, the log is then filled (1,000 entries per transaction) and
//! the median time of an inclusion proof read (`Store::log_inclusion`) is printed at
//! 10^3, 10^4, … up to `FILL_TO` entries.
//!
//! PostgreSQL: a database of its own (`kagami_bench_log_<random>`) on `DATABASE_URL`
//! (default the local cluster), dropped at the end. SQLite: a temporary directory.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use kagami_benches::quantile;
use kagami_core::crypto::{Timestamp, Uuid};
use kagami_store::{Store, postgres::PostgresConfig};
use kagami_tlog::SignerKey;

const INTERVAL: Duration = Duration::from_millis(500);

#[expect(
    clippy::expect_used,
    reason = "the system clock is within years 1970..=9999"
)]
fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp::from_unix(i64::try_from(seconds).unwrap_or(0)).expect("clock within range")
}

/// The database of this run and how to drop it.
enum Database {
    Postgres { admin: String, name: String },
    Sqlite(std::path::PathBuf),
}

async fn admin_execute(url: &str, sql: &str) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connect to PostgreSQL (DATABASE_URL)")?;
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.context(sql.to_owned())?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

async fn open(backend: &str) -> anyhow::Result<(Store, Database)> {
    match backend {
        "postgres" => {
            let admin = std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
            let name = format!("kagami_bench_log_{}", Uuid::new_v4().simple());
            admin_execute(&admin, &format!("CREATE DATABASE {name}")).await?;
            let mut config = PostgresConfig::from_url(&admin)?.with_database(&name);
            config.pool_max_size = 40;
            kagami_store::postgres::migrate(&config).await?;
            let store = Store::connect_postgres(&config).await?;
            Ok((store, Database::Postgres { admin, name }))
        }
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("kagami-bench-log-{}", Uuid::new_v4()));
            let store = Store::open_sqlite(&dir.join("kagami.db"))?;
            Ok((store, Database::Sqlite(dir)))
        }
        other => bail!("unknown backend {other:?}: postgres or sqlite"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (backend, writers, seconds, fill_to) = match args.as_slice() {
        [b, w, s] => (b.clone(), w.parse::<usize>()?, s.parse::<u64>()?, None),
        [b, w, s, f] => (b.clone(), w.parse()?, s.parse()?, Some(f.parse::<u64>()?)),
        _ => bail!("usage: log_append postgres|sqlite WRITERS SECONDS [FILL_TO]"),
    };
    let (store, database) = open(&backend).await?;
    let result = run(&store, &backend, writers, seconds, fill_to).await;
    store.close();
    drop(store);
    match database {
        Database::Postgres { admin, name } => {
            admin_execute(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await?;
        }
        Database::Sqlite(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

async fn run(
    store: &Store,
    backend: &str,
    writers: usize,
    seconds: u64,
    fill_to: Option<u64>,
) -> anyhow::Result<()> {
    let signer = SignerKey::from_seed("kagami.bench/log", &[1; 32])?;
    store.integrate_log(signer.clone(), 10_000, now()).await?;
    let committed: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (store, committed) = (store.clone(), committed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                store.bench_append_log(1, now()).await?;
                if let Ok(mut done) = committed.lock() {
                    done.push(Instant::now());
                }
            }
            anyhow::Ok(())
        }));
    }
    let sequencers = if backend == "postgres" { 2 } else { 1 };
    let integrated: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let mut runs = Vec::new();
    for _ in 0..sequencers {
        let (store, signer, integrated) = (store.clone(), signer.clone(), integrated.clone());
        runs.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(INTERVAL);
            loop {
                ticker.tick().await;
                let head = store.integrate_log(signer.clone(), 10_000, now()).await?;
                if let (Some(head), Ok(mut done)) = (head, integrated.lock()) {
                    done.push((Instant::now(), head.size));
                }
                if Instant::now() > deadline + Duration::from_secs(10) {
                    return anyhow::Ok(());
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let commits = committed.lock().map(|c| c.clone()).unwrap_or_default();
    let total = commits.len() as u64;
    // Wait for the sequencers to integrate the last entries.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while integrated
        .lock()
        .map(|i| i.iter().map(|(_, s)| *s).max().unwrap_or(0) < total)
        .unwrap_or(false)
        && Instant::now() < wait_until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for run in runs {
        run.abort();
    }
    let mut runs = integrated.lock().map(|i| i.clone()).unwrap_or_default();
    runs.sort_by_key(|(at, _)| *at);
    let mut latencies = Vec::with_capacity(commits.len());
    let mut run = runs.iter().peekable();
    for (index, at) in (0u64..).zip(&commits) {
        while run.peek().is_some_and(|(_, size)| *size <= index) {
            run.next();
        }
        if let Some((done, _)) = run.peek() {
            latencies.push(done.saturating_duration_since(*at));
        }
    }
    latencies.sort_unstable();
    #[expect(clippy::cast_precision_loss, reason = "a rate for a report")]
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "{backend}: {writers} writers, {total} appends in {:.1} s = {rate:.0} appends/s; \
         {} sequencer runs; time to integrate p50 {:?} p99 {:?} max {:?} ({} of {total} integrated)",
        elapsed.as_secs_f64(),
        runs.len(),
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        latencies.len(),
    );
    if let Some(fill_to) = fill_to {
        proofs(store, &signer, fill_to).await?;
    }
    Ok(())
}

/// Fills the log to each power of ten up to `fill_to` and times inclusion-proof reads.
async fn proofs(store: &Store, signer: &SignerKey, fill_to: u64) -> anyhow::Result<()> {
    let mut size = store.log_head().await?.map_or(0, |h| h.size);
    let mut target = 1_000;
    while target <= fill_to {
        let started = Instant::now();
        while size < target {
            let batch = u32::try_from((target - size).min(1_000))?;
            store.bench_append_log(batch, now()).await?;
            size = store
                .integrate_log(signer.clone(), 10_000, now())
                .await?
                .map_or(size, |h| h.size);
        }
        let fill = started.elapsed();
        let entries = store.log_entries(0, size.min(1_000)).await?;
        let mut times = Vec::new();
        for round in 0..5 {
            for entry in &entries {
                let at = Instant::now();
                let proof = store.log_inclusion(entry.leaf_hash, Some(size)).await?;
                if round > 0 {
                    times.push(at.elapsed());
                }
                if proof.is_none() {
                    bail!("no proof for an integrated entry");
                }
            }
        }
        times.sort_unstable();
        println!(
            "  tree of {size} entries (filled in {:.1} s): inclusion proof read p50 {:?} p99 {:?}",
            fill.as_secs_f64(),
            quantile(&times, 0.5),
            quantile(&times, 0.99)
        );
        target *= 10;
    }
    Ok(())
}
