//! Request spans with request ids, HTTP metrics, the product's metric series and their
//! descriptions, and the cap on unbounded label values.

use std::{
    collections::HashSet,
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};
use kagami_core::Usdc;
use tracing::Instrument;

/// Echoed on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The label value that absorbs values beyond the cap, and methods outside [`HTTP_METHODS`].
pub const OTHER: &str = "other";

/// The values the `method` label of the HTTP series takes besides [`OTHER`]: HTTP lets clients
/// send any token as a method, so only these standard ones become labels.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The `route` label of requests no route matched (never the raw path).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Caps the distinct values of an unbounded label (agent ids, reporters): the first `limit`
/// values are kept, later ones become `"other"`, so a flood of fake agents cannot blow up the
/// metrics server.
#[derive(Debug)]
pub struct LabelLimiter {
    limit: usize,
    seen: Mutex<HashSet<String>>,
}

impl LabelLimiter {
    /// A limiter keeping at most `limit` distinct values.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// The label to use for `value`.
    pub fn label(&self, value: &str) -> String {
        let Ok(mut seen) = self.seen.lock() else {
            return OTHER.to_owned();
        };
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.limit {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        OTHER.to_owned()
    }
}

/// What kind of series a [`Series`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// One metric series: its name, kind and description, defined once here and used by every
/// recorder call, the description registration, and the shipped alert rules and dashboard
/// (which CI checks against [`SERIES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Series {
    /// The Prometheus name. All start with `kagami_` except the four whose names the original
    /// design fixes (`forward_path_churn_total`, `forward_path_suspicious_flips_total`,
    /// `cycle_reports_total`, `manifest_verification_duration_seconds`).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: SeriesKind,
    /// Its unit, when it has one.
    pub unit: Option<metrics::Unit>,
    /// The `# HELP` text.
    pub help: &'static str,
}

/// Manifest replacements (flips), by `agent_uuid`.
pub const FORWARD_PATH_CHURN: Series = Series {
    name: "forward_path_churn_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "Manifest replacements (flips) per agent",
};
/// Flips scoring 70 or more, by `agent_uuid`.
pub const FORWARD_PATH_SUSPICIOUS_FLIPS: Series = Series {
    name: "forward_path_suspicious_flips_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "Manifest flips scoring 70 or more, per agent",
};
/// Cycle reports that settled a loop, by `reporter`.
pub const CYCLE_REPORTS: Series = Series {
    name: "cycle_reports_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "Cycle reports that led to a settlement, per reporter address",
};
/// Signature verification time.
pub const MANIFEST_VERIFICATION_DURATION: Series = Series {
    name: "manifest_verification_duration_seconds",
    kind: SeriesKind::Histogram,
    unit: Some(metrics::Unit::Seconds),
    help: "Time to verify a manifest signature (message build, EIP-191 hash, recovery, comparison)",
};
/// HTTP requests, by `method`, `route` and `status`.
pub const HTTP_REQUESTS: Series = Series {
    name: "kagami_http_requests_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "HTTP requests by method, route template and status",
};
/// HTTP request duration, by `route`.
pub const HTTP_REQUEST_DURATION: Series = Series {
    name: "kagami_http_request_duration_seconds",
    kind: SeriesKind::Histogram,
    unit: Some(metrics::Unit::Seconds),
    help: "HTTP request duration by route template",
};
/// Pool connections, by `state`.
pub const DB_POOL_CONNECTIONS: Series = Series {
    name: "kagami_db_pool_connections",
    kind: SeriesKind::Gauge,
    unit: None,
    help: "Database pool connections by state (open, idle, in_use)",
};
/// Loop settlements.
pub const SETTLEMENTS: Series = Series {
    name: "kagami_settlements_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "Loop settlements (cycles and extraction loops)",
};
/// Slashed micro-USDC.
pub const SLASHED_USDC: Series = Series {
    name: "kagami_slashed_usdc_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "USDC slashed, counted exactly in micro-USDC (1 USDC = 1000000); the slash ledger is authoritative",
};

/// The ledger's totals in micro-USDC, by `entry` (`slash`, `bounty`, `retained`), read from the
/// store (so every replica reports the same authoritative figures, whichever wrote them).
pub const LEDGER_USDC: Series = Series {
    name: "kagami_ledger_usdc",
    kind: SeriesKind::Gauge,
    unit: None,
    help: "Ledger totals in micro-USDC by entry (slash, bounty, retained), read from the store; slash = bounty + retained",
};
/// 1 when the ledger balances (in total and per cause), 0 when it does not.
pub const LEDGER_BALANCED: Series = Series {
    name: "kagami_ledger_balanced",
    kind: SeriesKind::Gauge,
    unit: None,
    help: "1 when every slash is accounted for by bounties and retained money, in total and per cause; 0 otherwise",
};

/// Requests refused with 429, by route `class` (`public_read`, `verify`, `write`, `admin`).
pub const RATE_LIMITED: Series = Series {
    name: "kagami_rate_limited_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "Requests refused with 429 by the rate limiter, by route class (public_read, verify, write, admin)",
};
/// Rate limit checks that could not reach Redis, so the request went ahead unlimited.
pub const RATE_LIMIT_BACKEND_ERRORS: Series = Series {
    name: "kagami_rate_limit_backend_errors_total",
    kind: SeriesKind::Counter,
    unit: None,
    help: "Rate limit checks that failed in Redis (unreachable, timeout, error); each request went ahead unlimited (fail open)",
};

/// Entries in the audit log's newest signed checkpoint, as this replica's sequencer last saw
/// it: flat while writes are accepted means the sequencer is stalled.
pub const LOG_TREE_SIZE: Series = Series {
    name: "kagami_log_tree_size",
    kind: SeriesKind::Gauge,
    unit: None,
    help: "Entries in the audit log's newest signed checkpoint, after this replica's last sequencer run",
};

/// Every series the service records.
pub const SERIES: &[Series] = &[
    FORWARD_PATH_CHURN,
    FORWARD_PATH_SUSPICIOUS_FLIPS,
    CYCLE_REPORTS,
    MANIFEST_VERIFICATION_DURATION,
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    DB_POOL_CONNECTIONS,
    SETTLEMENTS,
    SLASHED_USDC,
    LEDGER_USDC,
    LEDGER_BALANCED,
    RATE_LIMITED,
    RATE_LIMIT_BACKEND_ERRORS,
    LOG_TREE_SIZE,
];

/// Registers the description of every series (call after the recorder is installed).
pub fn describe_metrics() {
    for series in SERIES {
        let (name, help) = (series.name, series.help);
        match (series.kind, series.unit) {
            (SeriesKind::Counter, None) => metrics::describe_counter!(name, help),
            (SeriesKind::Counter, Some(unit)) => metrics::describe_counter!(name, unit, help),
            (SeriesKind::Gauge, None) => metrics::describe_gauge!(name, help),
            (SeriesKind::Gauge, Some(unit)) => metrics::describe_gauge!(name, unit, help),
            (SeriesKind::Histogram, None) => metrics::describe_histogram!(name, help),
            (SeriesKind::Histogram, Some(unit)) => metrics::describe_histogram!(name, unit, help),
        }
    }
}

/// Records a settlement and its slashes.
pub fn record_settlement(settlement: &kagami_store::Settlement) {
    metrics::counter!(SETTLEMENTS.name).increment(1);
    record_slash(settlement.total_slashed);
}

/// Records a slash outside a settlement (MEV incidents).
pub fn record_slash(amount: Usdc) {
    // The counter is a u64 of micro-USDC (1.8e13 USDC) and wraps on overflow: keep the
    // process's total here and set it, saturating, so a huge slash never turns it into a
    // small number (Prometheus would read that as a counter reset).
    static TOTAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let micros = u64::try_from(amount.micros()).unwrap_or(0);
    let add = |total: u64| Some(total.saturating_add(micros));
    let before = TOTAL
        .fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            add,
        )
        .unwrap_or(u64::MAX);
    metrics::counter!(SLASHED_USDC.name).absolute(before.saturating_add(micros));
}

/// Sets the ledger gauges from the store's totals.
#[expect(
    clippy::cast_precision_loss,
    reason = "a gauge is f64; micro-USDC totals below 2^53 (9e9 USDC) are exact"
)]
pub fn record_ledger(totals: &kagami_store::LedgerTotals) {
    for (entry, amount) in [
        ("slash", totals.slashed),
        ("bounty", totals.bounties),
        ("retained", totals.retained),
    ] {
        metrics::gauge!(LEDGER_USDC.name, "entry" => entry).set(amount.micros() as f64);
    }
    metrics::gauge!(LEDGER_BALANCED.name).set(if totals.balanced() { 1.0 } else { 0.0 });
}

/// Records the size of the audit log's newest checkpoint.
pub fn record_log_size(size: u64) {
    #[expect(
        clippy::cast_precision_loss,
        reason = "a gauge; exact below 2^53 entries"
    )]
    metrics::gauge!(LOG_TREE_SIZE.name).set(size as f64);
}

/// Logs the commitments of `agent` just disputed (their slashes are in the ledger).
pub fn log_disputes(agent: kagami_core::crypto::Uuid, disputed: &[kagami_store::Commitment]) {
    for c in disputed {
        tracing::warn!(
            agent.uuid = %agent,
            commitment.id = %c.id,
            commitment.disputed_by = ?c.disputed_by.map(|h| h.to_string()),
            "commitment_disputed"
        );
    }
}

/// Updates the pool gauges from `(size, available)`.
pub fn record_pool(size: usize, available: usize) {
    let gauge = |state: &'static str, v: usize| {
        metrics::gauge!(DB_POOL_CONNECTIONS.name, "state" => state).set(v as f64)
    };
    gauge("open", size);
    gauge("idle", available);
    gauge("in_use", size.saturating_sub(available));
}

/// Counts a request refused by the rate limiter.
pub fn record_rate_limited(class: crate::ratelimit::RouteClass) {
    metrics::counter!(RATE_LIMITED.name, "class" => class.name()).increment(1);
}

/// Counts a rate limit check that failed in the backend (the request went ahead).
pub fn record_rate_limit_backend_error() {
    metrics::counter!(RATE_LIMIT_BACKEND_ERRORS.name).increment(1);
}

/// Records a signature verification's duration.
pub fn record_verification(elapsed: Duration) {
    metrics::histogram!(MANIFEST_VERIFICATION_DURATION.name).record(elapsed.as_secs_f64());
}

/// The `method` label of a request method: itself when it is one of [`HTTP_METHODS`], else
/// [`OTHER`].
fn method_label(method: &str) -> &'static str {
    HTTP_METHODS
        .iter()
        .copied()
        .find(|known| *known == method)
        .unwrap_or(OTHER)
}

fn valid_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| text.to_owned())
}

/// Middleware: one span per request carrying its id (the client's `X-Request-ID` when it is
/// a short safe token, else a fresh UUID), echoed in the response; HTTP metrics by route
/// template (never the raw path: [`UNMATCHED_ROUTE`] when no route matched), standard method
/// (else [`OTHER`]) and status code, so every label has a bounded set of values; one
/// completion event.
///
/// # Errors
/// Whatever the inner service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(valid_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "http.request",
        request.id = %request_id,
        http.method = %method,
        http.route = tracing::field::Empty,
        http.status = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let elapsed = started.elapsed();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let status = res.status().as_u16();
    span.record("http.route", route.as_str());
    span.record("http.status", status);
    metrics::counter!(HTTP_REQUESTS.name, "method" => method_label(&method), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION.name, "route" => route).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            http.duration_ms = elapsed.as_millis() as u64,
            "request completed"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

#[cfg(test)]
mod shipped;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_beyond_the_limit_fold_into_other() {
        let limiter = LabelLimiter::new(2);
        assert_eq!(limiter.label("a"), "a");
        assert_eq!(limiter.label("b"), "b");
        assert_eq!(limiter.label("c"), OTHER);
        assert_eq!(limiter.label("a"), "a", "known values keep their label");
    }

    #[test]
    fn standard_methods_keep_their_label_and_invented_ones_fold_into_other() {
        for method in HTTP_METHODS {
            assert_eq!(method_label(method), *method);
        }
        for invented in ["FOO1", "get", "PROPFIND", "CONNECT", "TRACE", ""] {
            assert_eq!(method_label(invented), OTHER, "{invented:?}");
        }
    }

    #[test]
    fn request_ids_from_clients_must_be_short_safe_tokens() {
        assert_eq!(
            valid_request_id(&HeaderValue::from_static("abc-123_x.y")).as_deref(),
            Some("abc-123_x.y")
        );
        assert_eq!(
            valid_request_id(&HeaderValue::from_static("has space")),
            None
        );
        assert_eq!(
            valid_request_id(&HeaderValue::from_str(&"a".repeat(65)).unwrap()),
            None
        );
    }
}
