//! A soak: a mixed load held at a fixed rate for a long time against a running server, to see
//! whether anything drifts — errors, latency, the server's memory.
//!
//! ```text
//! KAGAMI_API_KEY=kgm_… soak http://127.0.0.1:8000 SERVER_PID DURATION_S [RATE]
//! ```
//!
//! Without `RATE` (requests per second) it first measures the capacity of the mix with 32
//! closed-loop workers for `CAPACITY_S` seconds (default 30) and holds half of it. The mix,
//! per ten operations: four verify-forward (public), three record-forward (a new hop S→D on a
//! root of its own, signed here), one forward-trail read of a recent root, one agent read, and
//! one onboarding (register, stake and publish a new agent: three admin/client writes),
//! spread over eight payer/destination pairs S→D. The
//! load is open-loop: requests start on the clock, whether or not earlier ones have
//! answered, so a slow server shows up as latency rather than as a lower rate.
//!
//! Every minute it prints the requests, errors (any non-2xx or transport error), p50/p99/max
//! latency and the server's RSS; at the end, the RSS slope (least squares over the samples
//! after the first five minutes, MiB per hour) and the spread of the per-minute p99. Exits
//! non-zero when any request failed.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use kagami_benches::{
    load::{LoadFixture, first_manifest},
    quantile,
};
use kagami_client::{KagamiClient, PrivateKeySigner, verify_forward_request};

/// Closed-loop workers of the capacity measurement, and the bound on requests in flight.
const WORKERS: u64 = 32;
const IN_FLIGHT: usize = 1024;

/// Latencies and errors of the current minute.
#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    errors: u64,
    first_errors: Vec<String>,
}

/// Payer/destination pairs the load is spread over: recording a hop locks both agents, so
/// one hot pair serialises every record (the load harness measures that ceiling).
const PAIRS: u64 = 8;

struct Soak {
    fixtures: Vec<LoadFixture>,
    next: AtomicU64,
    window: Mutex<Window>,
}

impl Soak {
    /// Sends request number `n` of the mix; records its latency or its error.
    async fn one(&self, n: u64) {
        let started = Instant::now();
        let result = self.send(n).await;
        let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => window.latencies_us.push(elapsed),
            Err(e) => {
                window.errors += 1;
                if window.first_errors.len() < 3 {
                    window.first_errors.push(format!("request {n}: {e:#}"));
                }
            }
        }
    }

    async fn send(&self, n: u64) -> anyhow::Result<()> {
        // Each block of ten requests goes to one pair, so a trail read finds its block's hop.
        let f = &self.fixtures[usize::try_from((n / 10) % PAIRS)?];
        match n % 10 {
            0..=3 => {
                let request = verify_forward_request(f.root("verify"), &f.payer, &f.dest_manifest)?;
                let verdict = f.client.verify_forward(&request).await?;
                if !verdict.safe {
                    bail!("verify-forward said unsafe: {:?}", verdict.reason);
                }
            }
            4..=6 => {
                // Nonce 1 is the template hop's.
                let pair = f.pair(f.root(&format!("soak-{n}")), n + 2)?;
                f.client.record_forward(&pair).await?;
            }
            7 => {
                // A recorded root of an earlier record (n - 3 is one, for n ≥ 10).
                let root = if n >= 10 {
                    f.root(&format!("soak-{}", n - 3))
                } else {
                    f.root("template")
                };
                f.client.forward_trail(&root).await?;
            }
            8 => {
                f.client.agent(f.payer.parse()?).await?;
            }
            _ => {
                let owner = PrivateKeySigner::random();
                let agent = f.register(2 + n, &owner, "1000").await?;
                f.client
                    .publish_manifest(&first_manifest(
                        &agent,
                        &owner,
                        &PrivateKeySigner::random(),
                    )?)
                    .await?;
            }
        }
        Ok(())
    }

    fn take_window(&self) -> Window {
        std::mem::take(&mut *self.window.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The server's resident set size in MiB, from `/proc/<pid>/status`.
fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status (is the server running?)"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .context("no VmRSS line")?
        .parse()?;
    Ok(kib / 1024.0)
}

/// The least-squares slope of `(x, y)` points.
fn slope(points: &[(f64, f64)]) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "a count of samples")]
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    if den == 0.0 { 0.0 } else { num / den }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (base, pid, duration, rate) = match args.as_slice() {
        [base, pid, duration] => (base, pid, duration, None),
        [base, pid, duration, rate] => (base, pid, duration, Some(rate)),
        _ => bail!("usage: soak BASE_URL SERVER_PID DURATION_S [RATE]"),
    };
    let pid: u32 = pid.parse().context("SERVER_PID")?;
    let duration = Duration::from_secs(duration.parse().context("DURATION_S")?);
    let key = std::env::var("KAGAMI_API_KEY").context("KAGAMI_API_KEY")?;
    // No retries: a failure is counted, not hidden.
    let client = KagamiClient::builder(base.as_str())
        .api_key(key)
        .timeout(Duration::from_secs(30))
        .max_retries(0)
        .build()?;
    let mut fixtures = Vec::new();
    for _ in 0..PAIRS {
        fixtures.push(LoadFixture::prepare(client.clone(), "1000", "1000000000000").await?);
    }
    let soak = Arc::new(Soak {
        fixtures,
        next: AtomicU64::new(0),
        window: Mutex::default(),
    });

    let rate = match rate {
        Some(rate) => rate.parse::<f64>().context("RATE")?,
        None => {
            let seconds: u64 = std::env::var("CAPACITY_S").map_or(Ok(30), |s| s.parse())?;
            let until = Instant::now() + Duration::from_secs(seconds);
            let workers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let soak = soak.clone();
                    tokio::spawn(async move {
                        while Instant::now() < until {
                            let n = soak.next.fetch_add(1, Ordering::Relaxed);
                            soak.one(n).await;
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.await?;
            }
            let window = soak.take_window();
            if window.errors > 0 {
                bail!(
                    "{} errors at capacity: {:?}",
                    window.errors,
                    window.first_errors
                );
            }
            #[expect(clippy::cast_precision_loss, reason = "a count of requests")]
            let capacity = window.latencies_us.len() as f64 / seconds as f64;
            eprintln!(
                "capacity of the mix: {capacity:.0} operations/s ({WORKERS} closed-loop workers, {seconds} s); holding half"
            );
            capacity / 2.0
        }
    };
    eprintln!(
        "soak: {rate:.0} operations/s for {} s, open loop, server pid {pid}",
        duration.as_secs()
    );
    println!("minute,operations,errors,p50_ms,p99_ms,max_ms,rss_mib");

    let in_flight = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut rss = vec![(0.0, rss_mib(pid)?)];
    let mut p99s = Vec::new();
    let (mut total, mut errors) = (0_u64, 0_u64);
    let mut next_sample = started + Duration::from_secs(10);
    let mut next_minute = started + Duration::from_secs(60);
    let mut minute = 0;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while started.elapsed() < duration {
        tick.tick().await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            // More than IN_FLIGHT requests unanswered: the server is not keeping up.
            soak.window.lock().unwrap_or_else(|e| e.into_inner()).errors += 1;
            continue;
        };
        let n = soak.next.fetch_add(1, Ordering::Relaxed);
        let request = soak.clone();
        tokio::spawn(async move {
            request.one(n).await;
            drop(permit);
        });
        let now = Instant::now();
        if now >= next_sample {
            rss.push((started.elapsed().as_secs_f64() / 3600.0, rss_mib(pid)?));
            next_sample += Duration::from_secs(10);
        }
        if now >= next_minute {
            minute += 1;
            next_minute += Duration::from_secs(60);
            let mut window = soak.take_window();
            window.latencies_us.sort_unstable();
            let ms = |us: u64| us as f64 / 1000.0;
            let p99 = ms(quantile(&window.latencies_us, 0.99));
            p99s.push(p99);
            total += window.latencies_us.len() as u64 + window.errors;
            errors += window.errors;
            println!(
                "{minute},{},{},{:.2},{p99:.2},{:.2},{:.1}",
                window.latencies_us.len() as u64 + window.errors,
                window.errors,
                ms(quantile(&window.latencies_us, 0.5)),
                ms(window.latencies_us.last().copied().unwrap_or(0)),
                rss.last().map_or(0.0, |(_, r)| *r),
            );
            for e in &window.first_errors {
                eprintln!("  {e}");
            }
        }
    }
    // Let the last requests answer.
    let _ = in_flight.acquire_many(u32::try_from(IN_FLIGHT)?).await?;
    let window = soak.take_window();
    total += window.latencies_us.len() as u64 + window.errors;
    errors += window.errors;

    let settled: Vec<(f64, f64)> = rss
        .iter()
        .copied()
        .filter(|(h, _)| *h >= 5.0 / 60.0)
        .collect();
    let (first, last) = (rss[0].1, rss.last().map_or(0.0, |(_, r)| *r));
    let p99_min = p99s.iter().copied().fold(f64::INFINITY, f64::min);
    let p99_max = p99s.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "soak done: {total} operations at {rate:.0}/s, {errors} errors; per-minute p99 {p99_min:.2}–{p99_max:.2} ms; \
         RSS {first:.1} → {last:.1} MiB, slope after minute 5: {:.2} MiB/h ({} samples)",
        if settled.len() >= 2 {
            slope(&settled)
        } else {
            f64::NAN
        },
        settled.len()
    );
    if errors > 0 {
        bail!("{errors} of {total} requests failed");
    }
    Ok(())
}
