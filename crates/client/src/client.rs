//! [`KagamiClient`]: one typed async method per endpoint of the service.

use std::{fmt, time::Duration};

use kagami_core::{
    LoopKind,
    wire::{
        AgentDetailsResponse, AgentResponse, CommitmentRequest, CommitmentResponse,
        ConfirmCommitmentRequest, ConsistencyProofResponse, ErrorCode, ErrorResponse,
        FlipMetricsResponse, ForwardPairRequest, ForwardTrailResponse, HealthResponse,
        LedgerResponse, LogEntriesResponse, ManifestResponse, MevIncidentRequest,
        MevIncidentResponse, MevSummaryResponse, PublishManifestRequest, PublishManifestResponse,
        ReadyResponse, RecordForwardResponse, RegisterAgentRequest, ReportCycleRequest,
        ReportCycleResponse, RevokeManifestRequest, SetStakeRequest, StakeResponse,
        UpdateAgentRequest, VerifyForwardRequest, VerifyForwardResponse, page::MAX_PAGE_LIMIT,
    },
};
use kagami_crypto::{Hash32, Uuid};
use reqwest::{
    Method, Url,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, LINK, RETRY_AFTER},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{Error, Result, error::snippet};

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default number of retries of an idempotent call (so at most 3 attempts).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The default delay before the first retry; it doubles with each further retry.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// No single wait between retries is longer than this, whatever `Retry-After` says.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A typed client for the Kagami HTTP API (`/api/v1`, `/health`, `/ready`).
///
/// Cheap to clone (the connection pool is shared). Every method sends one request (plus
/// retries, see below) and returns the API's response type from `kagami_core::wire`.
///
/// **Retries.** Idempotent calls — every `GET`, the stake `PUT`, [`Self::publish_manifest`]
/// and [`Self::record_forward`] (both idempotent by design: the identical signed body is
/// answered with the original record) — are retried up to `max_retries` times, with
/// exponential backoff, on transport errors, timeouts and 502/503/504. A retry resends the
/// exact same bytes. Other calls are sent once: after a lost answer nobody knows whether they
/// took effect.
#[derive(Clone)]
pub struct KagamiClient {
    http: reqwest::Client,
    base: String,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    max_retries: u32,
    retry_backoff: Duration,
}

impl fmt::Debug for KagamiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KagamiClient")
            .field("base_url", &self.base)
            .field(
                "api_key",
                &self.authorization.as_ref().map(|_| "[REDACTED]"),
            )
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .finish_non_exhaustive()
    }
}

impl KagamiClient {
    /// A builder for a client of the service at `base_url` (e.g. `http://127.0.0.1:8000`;
    /// a path prefix is kept).
    pub fn builder(base_url: impl Into<String>) -> KagamiClientBuilder {
        KagamiClientBuilder {
            base_url: base_url.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
        }
    }

    /// A client with the default settings and no API key.
    ///
    /// # Errors
    /// See [`KagamiClientBuilder::build`].
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        Self::builder(base_url).build()
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    // --- agents -------------------------------------------------------------------------

    /// `POST /api/v1/agents` (admin): registers an agent. Sent once (not retried).
    ///
    /// # Errors
    /// [`Error::Api`] with status 409 when the (chain, registry, agent id) is already
    /// registered; 400 naming the invalid field; 401/403 without an admin key.
    pub async fn register_agent(&self, request: &RegisterAgentRequest) -> Result<AgentResponse> {
        self.call(Method::POST, "/api/v1/agents", Some(request), Retry::Once)
            .await?
            .expect(&[200, 201])
    }

    /// `GET /api/v1/agents/{agent_uuid}`: the agent, its stake and its effective manifest.
    ///
    /// # Errors
    /// [`Error::Api`] 404 for an unknown agent.
    pub async fn agent(&self, agent: Uuid) -> Result<AgentDetailsResponse> {
        self.get(&format!("/api/v1/agents/{agent}")).await
    }

    /// `PUT /api/v1/agents/{agent_uuid}/stake` (admin): mirrors the on-chain stake.
    /// Idempotent, so retried.
    ///
    /// # Errors
    /// [`Error::Api`] 400 when the amount is malformed or below what is already slashed.
    pub async fn set_stake(&self, agent: Uuid, request: &SetStakeRequest) -> Result<StakeResponse> {
        self.call(
            Method::PUT,
            &format!("/api/v1/agents/{agent}/stake"),
            Some(request),
            Retry::Idempotent,
        )
        .await?
        .expect(&[200])
    }

    /// `PATCH /api/v1/agents/{agent_uuid}` (admin): changes the agent's status.
    ///
    /// # Errors
    /// [`Error::Api`] 400 for an unknown status, 404 for an unknown agent.
    pub async fn update_agent(
        &self,
        agent: Uuid,
        request: &UpdateAgentRequest,
    ) -> Result<AgentResponse> {
        self.call(
            Method::PATCH,
            &format!("/api/v1/agents/{agent}"),
            Some(request),
            Retry::Once,
        )
        .await?
        .expect(&[200])
    }

    // --- manifests ----------------------------------------------------------------------

    /// `POST /api/v1/agents/manifests/publish`: publishes an owner-signed manifest (build
    /// one with [`crate::ManifestBuilder`]). Retried with the same body: the identical
    /// manifest is answered with the original record and [`Outcome::Replayed`].
    ///
    /// # Errors
    /// [`Error::Api`]: 400 `invalid_signature` or an invalid field, 404 unknown agent, 409
    /// used or non-increasing nonce, 422 activation too soon (the message gives the earliest
    /// allowed `valid_from`).
    pub async fn publish_manifest(
        &self,
        request: &PublishManifestRequest,
    ) -> Result<(PublishManifestResponse, Outcome)> {
        self.call(
            Method::POST,
            "/api/v1/agents/manifests/publish",
            Some(request),
            Retry::Idempotent,
        )
        .await?
        .stored()
    }

    /// `POST /api/v1/agents/manifests/revoke`: revokes a manifest with an owner-signed
    /// revocation (see [`crate::sign_revocation`]). Sent once.
    ///
    /// # Errors
    /// [`Error::Api`] 400 for a bad signature, 404 for an unknown agent or manifest.
    pub async fn revoke_manifest(
        &self,
        request: &RevokeManifestRequest,
    ) -> Result<ManifestResponse> {
        self.call(
            Method::POST,
            "/api/v1/agents/manifests/revoke",
            Some(request),
            Retry::Once,
        )
        .await?
        .expect(&[200])
    }

    /// `GET /api/v1/agents/{agent_uuid}/manifests`: every manifest of the agent with its
    /// status computed now, highest nonce first. The service answers a page at a time; this
    /// follows each page's `Link: <…>; rel="next"` until the last.
    ///
    /// # Errors
    /// [`Error::Api`] 404 for an unknown agent.
    pub async fn agent_manifests(&self, agent: Uuid) -> Result<Vec<ManifestResponse>> {
        let mut all = Vec::new();
        self.each_page(
            &format!("/api/v1/agents/{agent}/manifests?limit={MAX_PAGE_LIMIT}"),
            |page: Vec<ManifestResponse>| all.extend(page),
        )
        .await?;
        Ok(all)
    }

    /// The nonce to sign the agent's next manifest with: one above the highest nonce of any
    /// of its manifests (revoked and expired ones included), or 1 for its first. One request:
    /// the list's first manifest has the highest nonce.
    ///
    /// # Errors
    /// See [`Self::agent_manifests`].
    pub async fn next_manifest_nonce(&self, agent: Uuid) -> Result<u64> {
        let manifests: Vec<ManifestResponse> = self
            .get(&format!("/api/v1/agents/{agent}/manifests?limit=1"))
            .await?;
        Ok(manifests
            .iter()
            .map(|m| m.nonce)
            .max()
            .map_or(1, |n| n.saturating_add(1)))
    }

    /// `GET /api/v1/manifests/{manifest_hash}`.
    ///
    /// # Errors
    /// [`Error::Api`] 404 for an unknown manifest.
    pub async fn manifest(&self, manifest_hash: &Hash32) -> Result<ManifestResponse> {
        self.get(&format!("/api/v1/manifests/{manifest_hash}"))
            .await
    }

    /// `GET /api/v1/agents/manifests/{agent_uuid}/flip-metrics`.
    ///
    /// # Errors
    /// [`Error::Api`] 404 for an unknown agent.
    pub async fn flip_metrics(&self, agent: Uuid) -> Result<FlipMetricsResponse> {
        self.get(&format!("/api/v1/agents/manifests/{agent}/flip-metrics"))
            .await
    }

    // --- forwards -----------------------------------------------------------------------

    /// `POST /api/v1/agents/manifests/verify-forward`: the check to run before paying.
    /// Always answered with 200; [`VerifyForwardResponse::safe`] is the verdict and `reason`
    /// says why not. Not retried (it is a write-free check, but it is a `POST`).
    ///
    /// # Errors
    /// [`Error::Api`] only for a malformed request (400) or authentication (401/403).
    pub async fn verify_forward(
        &self,
        request: &VerifyForwardRequest,
    ) -> Result<VerifyForwardResponse> {
        self.call(
            Method::POST,
            "/api/v1/agents/manifests/verify-forward",
            Some(request),
            Retry::Once,
        )
        .await?
        .expect(&[200])
    }

    /// `POST /api/v1/agents/manifests/record-forward`: records one hop — the payer's signed
    /// order and the destination's receipt of it (build the pair with
    /// [`crate::OrderBuilder`] and [`crate::ReceiptBuilder`]). Retried with the same body:
    /// the identical pair is answered with the original record and [`Outcome::Replayed`].
    ///
    /// A hop that closes a cycle or an extraction loop is not an error here: the service
    /// stores it as evidence and settles, and this returns [`RecordOutcome::LoopSettled`].
    ///
    /// # Errors
    /// [`Error::Api`]: 400 an invalid field or signature (order or receipt), hop above 10,
    /// `order_mismatch` (the receipt does not acknowledge the order); 409
    /// `next_hop_mismatch`, `root_payer_mismatch`, `already_settled`, `receipt_nonce_used`,
    /// `order_nonce_used` or `order_used`; 422 manifest not the destination's or not
    /// effective, previous hop missing, or insufficient stake.
    pub async fn record_forward(&self, request: &ForwardPairRequest) -> Result<RecordOutcome> {
        let answer = self
            .call(
                Method::POST,
                "/api/v1/agents/manifests/record-forward",
                Some(request),
                Retry::Idempotent,
            )
            .await?;
        if answer.status == 409
            && let Ok(envelope) = serde_json::from_slice::<ErrorResponse>(&answer.body)
        {
            return match LoopSettlement::from_envelope(envelope.clone()) {
                Some(settlement) => Ok(RecordOutcome::LoopSettled(settlement)),
                None => Err(Error::from_envelope(409, envelope)),
            };
        }
        let (receipt, outcome) = answer.stored()?;
        Ok(RecordOutcome::Recorded { receipt, outcome })
    }

    /// `GET /api/v1/forwards/{root_tx_hash}`: every receipt of a payment (valid or not) and
    /// its settlement, if any. The service answers the receipts a page at a time; this follows
    /// each page's `Link: <…>; rel="next"` until the last.
    ///
    /// # Errors
    /// [`Error::Api`] 400 for a malformed hash.
    pub async fn forward_trail(&self, root_tx_hash: &Hash32) -> Result<ForwardTrailResponse> {
        let mut trail: Option<ForwardTrailResponse> = None;
        self.each_page(
            &format!("/api/v1/forwards/{root_tx_hash}?limit={MAX_PAGE_LIMIT}"),
            |page: ForwardTrailResponse| match &mut trail {
                // Each page carries the settlement as of its request: keep the latest.
                Some(t) => {
                    t.receipts.extend(page.receipts);
                    t.settlement = page.settlement;
                }
                None => trail = Some(page),
            },
        )
        .await?;
        trail.ok_or_else(|| Error::invalid("trail", "the service returned no page"))
    }

    /// `POST /api/v1/agents/manifests/report-cycle`: a watcher's report with signed evidence
    /// (see [`crate::sign_cycle_report`]). Sent once.
    ///
    /// # Errors
    /// [`Error::Api`]: 422 `no_cycle`, 409 `already_settled` (the existing `settlement_id`
    /// in `details`), 400 invalid evidence naming the item.
    pub async fn report_cycle(&self, request: &ReportCycleRequest) -> Result<ReportCycleResponse> {
        self.call(
            Method::POST,
            "/api/v1/agents/manifests/report-cycle",
            Some(request),
            Retry::Once,
        )
        .await?
        .expect(&[200, 201])
    }

    // --- high-value commitments ---------------------------------------------------------

    /// `POST /api/v1/agents/manifests/onchain-commitment`: a time-locked commitment for a
    /// payment of at least 10,000 USDC, signed by the root payer and by the first-hop agent
    /// (assemble it with [`crate::CommitmentBuilder`]). Sent once.
    ///
    /// # Errors
    /// [`Error::Api`]: 400 an invalid field or a signature by neither the agent's owner nor
    /// its manifest key in force, an amount below the threshold, `lock_until` not in the
    /// future or beyond the longest lock; 404 an unknown agent; 409 the root already has a
    /// commitment; 422 the first hop has no manifest in force or is not active.
    pub async fn create_commitment(
        &self,
        request: &CommitmentRequest,
    ) -> Result<CommitmentResponse> {
        self.call(
            Method::POST,
            "/api/v1/agents/manifests/onchain-commitment",
            Some(request),
            Retry::Once,
        )
        .await?
        .expect(&[200, 201])
    }

    /// `POST /api/v1/commitments/{id}/confirm` (admin). Sent once.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an id with characters other than letters, digits, `-` and
    /// `_`; [`Error::Api`] 404 for an unknown commitment, 409 in the wrong state.
    pub async fn confirm_commitment(
        &self,
        commitment_id: &str,
        request: &ConfirmCommitmentRequest,
    ) -> Result<CommitmentResponse> {
        let id = path_segment("commitment_id", commitment_id)?;
        self.call(
            Method::POST,
            &format!("/api/v1/commitments/{id}/confirm"),
            Some(request),
            Retry::Once,
        )
        .await?
        .expect(&[200])
    }

    /// `POST /api/v1/commitments/{id}/settle` (admin), without a body. Sent once.
    ///
    /// # Errors
    /// As [`Self::confirm_commitment`].
    pub async fn settle_commitment(&self, commitment_id: &str) -> Result<CommitmentResponse> {
        let id = path_segment("commitment_id", commitment_id)?;
        self.call::<()>(
            Method::POST,
            &format!("/api/v1/commitments/{id}/settle"),
            None,
            Retry::Once,
        )
        .await?
        .expect(&[200])
    }

    // --- MEV ----------------------------------------------------------------------------

    /// `POST /api/v1/mev/incidents` (admin): records an incident and slashes the attacker.
    /// Sent once.
    ///
    /// # Errors
    /// [`Error::Api`]: 400 naming the invalid field, 404 for an unknown agent, 409 when the
    /// attack transaction was reported before with other fields, 422 when it is signed by
    /// neither the attacker's owner nor its manifest key.
    pub async fn report_mev_incident(
        &self,
        request: &MevIncidentRequest,
    ) -> Result<MevIncidentResponse> {
        self.call(
            Method::POST,
            "/api/v1/mev/incidents",
            Some(request),
            Retry::Once,
        )
        .await?
        .expect(&[200, 201])
    }

    /// `GET /api/v1/mev/summary`.
    ///
    /// # Errors
    /// Transport errors only, in practice.
    pub async fn mev_summary(&self) -> Result<MevSummaryResponse> {
        self.get("/api/v1/mev/summary").await
    }

    // --- ledger ---------------------------------------------------------------------------

    /// `GET /api/v1/ledger?limit=N`: the totals of everything slashed, paid as bounties and
    /// retained, whether they balance, and the newest `limit` entries (the service's default,
    /// 100, when `None`; at most 1000).
    ///
    /// # Errors
    /// [`Error::Api`] 400 for a limit above 1000.
    pub async fn ledger(&self, limit: Option<u32>) -> Result<LedgerResponse> {
        match limit {
            Some(limit) => self.get(&format!("/api/v1/ledger?limit={limit}")).await,
            None => self.get("/api/v1/ledger").await,
        }
    }

    // --- the audit log ----------------------------------------------------------------------

    /// `GET /api/v1/log/key`: the log's verifier key, as text. Compare it with the key you
    /// were given out of band before trusting it.
    ///
    /// # Errors
    /// [`Error::Api`] 503 when the server has no log key.
    pub async fn log_key(&self) -> Result<String> {
        self.get_text("/api/v1/log/key").await
    }

    /// `GET /api/v1/log/checkpoint`: the newest signed checkpoint, verbatim.
    ///
    /// # Errors
    /// [`Error::Api`] 503 `log_not_ready` before the sequencer's first run.
    pub async fn log_checkpoint(&self) -> Result<String> {
        self.get_text("/api/v1/log/checkpoint").await
    }

    /// `GET /api/v1/log/entries?start&end`: the entries with indexes in `[start, end)`,
    /// stopping earlier at 1000 entries and at the newest checkpoint: ask again from the index
    /// after the last one returned.
    ///
    /// # Errors
    /// [`Error::Api`] 503 `log_not_ready` before the sequencer's first run.
    pub async fn log_entries(&self, start: u64, end: u64) -> Result<LogEntriesResponse> {
        self.get(&format!("/api/v1/log/entries?start={start}&end={end}"))
            .await
    }

    /// `GET /api/v1/log/proof/consistency?from&to`.
    ///
    /// # Errors
    /// [`Error::Api`] 400 `tree_size_out_of_range` when `to` is beyond the newest checkpoint.
    pub async fn log_consistency(&self, from: u64, to: u64) -> Result<ConsistencyProofResponse> {
        self.get(&format!(
            "/api/v1/log/proof/consistency?from={from}&to={to}"
        ))
        .await
    }

    /// `GET /api/v1/log/objects/{kind}/{key}`: the object's offline proof bundle
    /// (c2sp.org/tlog-proof, the entry in its `extra` line), verbatim.
    ///
    /// # Errors
    /// [`Error::Api`] 404 `log_entry_not_found` (details `pending: true` while the entry
    /// waits for the sequencer).
    pub async fn log_proof(&self, kind: &str, key: &str) -> Result<String> {
        let path = format!(
            "/api/v1/log/objects/{}/{}",
            path_segment("kind", kind)?,
            path_segment("key", key)?
        );
        self.get_text(&path).await
    }

    // --- health -------------------------------------------------------------------------

    /// `GET /health`. An unhealthy service answers 503 with the same body shape; that is
    /// returned as `Ok` with `status: "unhealthy"`, not as an error, and not retried.
    ///
    /// # Errors
    /// Transport errors, or a body that is not the health document.
    pub async fn health(&self) -> Result<HealthResponse> {
        self.probe("/health").await
    }

    /// `GET /ready`. A service that is not ready answers 503 with the same body shape; that
    /// is returned as `Ok` with `ready: false`, not as an error, and not retried.
    ///
    /// # Errors
    /// Transport errors, or a body that is not the readiness document.
    pub async fn ready(&self) -> Result<ReadyResponse> {
        self.probe("/ready").await
    }

    // --- plumbing -----------------------------------------------------------------------

    /// GETs `first` and every page after it, handing each to `page` in order: the service
    /// names the next page in an RFC 8288 `Link: <…>; rel="next"` header, a path of the same
    /// list (anything else is refused, so a service cannot send the client elsewhere).
    async fn each_page<T: DeserializeOwned>(
        &self,
        first: &str,
        mut page: impl FnMut(T),
    ) -> Result<()> {
        let list = first.split('?').next().unwrap_or(first);
        let mut path = first.to_owned();
        loop {
            let answer = self
                .call::<()>(Method::GET, &path, None, Retry::Idempotent)
                .await?;
            page(answer.expect(&[200])?);
            match answer.next {
                None => return Ok(()),
                Some(next) if next.split('?').next() == Some(list) && next != path => path = next,
                Some(next) => {
                    return Err(Error::Decode {
                        status: answer.status,
                        reason: format!("the next page {next:?} is not a page of {list}"),
                    });
                }
            }
        }
    }

    /// A GET whose 200 answer is UTF-8 text.
    async fn get_text(&self, path: &str) -> Result<String> {
        let answer = self
            .call::<()>(Method::GET, path, None, Retry::Idempotent)
            .await?;
        if answer.status != 200 {
            return Err(Error::from_answer(answer.status, &answer.body));
        }
        String::from_utf8(answer.body).map_err(|e| Error::invalid("body", e))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call::<()>(Method::GET, path, None, Retry::Idempotent)
            .await?
            .expect(&[200])
    }

    /// Health probes: 503 carries the answer, so only transport failures are retried.
    async fn probe<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let mut attempt = 0;
        loop {
            match self.send_once(&Method::GET, path, None).await {
                Ok(Sent { answer, .. }) if matches!(answer.status, 200 | 503) => {
                    return match answer.decode() {
                        Ok(document) => Ok(document),
                        Err(_) if answer.status == 503 => {
                            Err(Error::from_answer(answer.status, &answer.body))
                        }
                        Err(decode) => Err(decode),
                    };
                }
                Ok(Sent { answer, .. }) => {
                    return Err(Error::from_answer(answer.status, &answer.body));
                }
                Err(error) if error.is_transient() && attempt < self.max_retries => {
                    tokio::time::sleep(self.backoff(attempt, None)).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends `body` (serialised once) to `path`, retrying idempotent calls on transient
    /// failures with the same bytes.
    async fn call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<Answer> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::invalid("body", e))?;
        let retries = match retry {
            Retry::Idempotent => self.max_retries,
            Retry::Once => 0,
        };
        let mut attempt = 0;
        loop {
            let result = self.send_once(&method, path, body.as_ref()).await;
            // `Some(retry_after)` when this failure is worth another attempt.
            let transient = match &result {
                Ok(sent) if matches!(sent.answer.status, 502..=504) => Some(sent.retry_after),
                Err(error) if error.is_transient() => Some(None),
                Ok(_) | Err(_) => None,
            };
            match transient {
                Some(retry_after) if attempt < retries => {
                    tokio::time::sleep(self.backoff(attempt, retry_after)).await;
                    attempt += 1;
                }
                _ => return result.map(|sent| sent.answer),
            }
        }
    }

    async fn send_once(&self, method: &Method, path: &str, body: Option<&Vec<u8>>) -> Result<Sent> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header(ACCEPT, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let transport = |source: reqwest::Error| {
            if source.is_timeout() {
                Error::Timeout {
                    url: url.clone(),
                    timeout: self.timeout,
                }
            } else {
                Error::Network {
                    url: url.clone(),
                    source,
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let next = response
            .headers()
            .get_all(LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok(Sent {
            answer: Answer { status, body, next },
            retry_after,
        })
    }

    /// The wait before retry number `attempt + 1`: the server's `Retry-After` if it gave one,
    /// else `retry_backoff * 2^attempt`; never more than [`MAX_BACKOFF`].
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        retry_after
            .unwrap_or_else(|| {
                self.retry_backoff
                    .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            })
            .min(MAX_BACKOFF)
    }
}

/// Whether a write created a record or found the identical one already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// `201 Created`: the record is new.
    Created,
    /// `200 OK`: the identical signed object was already stored; the original record is
    /// returned (a safe retry).
    Replayed,
}

impl Outcome {
    /// `created` or `replayed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Replayed => "replayed",
        }
    }
}

/// What the service did with a submitted forward receipt.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// The receipt is recorded as a valid hop (`201`), or was already (`200`).
    Recorded {
        /// The stored receipt.
        receipt: RecordForwardResponse,
        /// New or replayed.
        outcome: Outcome,
    },
    /// The receipt closed a payment cycle or an extraction loop (`409 circular_dependency`
    /// or `409 extraction_loop_detected`): it was stored as evidence (invalid), the loop's
    /// receipts were invalidated and its agents slashed at once.
    LoopSettled(LoopSettlement),
}

/// The settlement the service made when a recorded receipt closed a loop.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopSettlement {
    /// A cycle (`circular_dependency`) or an extraction loop.
    pub kind: LoopKind,
    /// The agents in the loop, in path order (`cycle_agents`, or `loop_agents`).
    pub agents: Vec<String>,
    /// The number of agents in a cycle (`cycle_depth`), when given.
    pub depth: Option<u32>,
    /// The settlement (read it with [`KagamiClient::forward_trail`]), when given.
    pub settlement_id: Option<String>,
    /// Total slashed, decimal USDC string, when given.
    pub slashed_usdc: Option<String>,
    /// The whole answer, as sent.
    pub envelope: ErrorResponse,
}

impl LoopSettlement {
    fn from_envelope(envelope: ErrorResponse) -> Option<Self> {
        let kind = match envelope.error {
            ErrorCode::CircularDependency => LoopKind::Cycle,
            ErrorCode::ExtractionLoopDetected => LoopKind::ExtractionLoop,
            _ => return None,
        };
        let details = &envelope.details;
        let agents = ["cycle_agents", "loop_agents"]
            .iter()
            .find_map(|key| details.get(*key).and_then(Value::as_array))
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let depth = details
            .get("cycle_depth")
            .and_then(Value::as_u64)
            .and_then(|d| u32::try_from(d).ok());
        let text = |key: &str| details.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            kind,
            agents,
            depth,
            settlement_id: text("settlement_id"),
            slashed_usdc: text("slashed_usdc"),
            envelope,
        })
    }
}

/// Configures a [`KagamiClient`]; start with [`KagamiClient::builder`].
#[derive(Clone)]
pub struct KagamiClientBuilder {
    base_url: String,
    api_key: Option<String>,
    timeout: Duration,
    max_retries: u32,
    retry_backoff: Duration,
}

impl fmt::Debug for KagamiClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KagamiClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_backoff", &self.retry_backoff)
            .finish()
    }
}

impl KagamiClientBuilder {
    /// The API key sent as `Authorization: Bearer <key>`. Writes need a client or admin
    /// key, admin endpoints an admin key; reads work without one. The key never appears in
    /// `Debug` output or errors.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The per-request timeout (default [`DEFAULT_TIMEOUT`]), covering connect, send and the
    /// whole answer.
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times an idempotent call is retried (default [`DEFAULT_MAX_RETRIES`]; `0`
    /// disables retries).
    #[must_use]
    pub const fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The wait before the first retry (default [`DEFAULT_RETRY_BACKOFF`]); it doubles with
    /// each further retry, up to 10 s. A `Retry-After` in seconds on a 503 is honoured up
    /// to the same bound.
    #[must_use]
    pub const fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the base URL is not an absolute `http`/`https` URL or the
    /// API key cannot be sent in an HTTP header; [`Error::Network`] when the TLS stack cannot
    /// be initialised.
    pub fn build(self) -> Result<KagamiClient> {
        let url = Url::parse(self.base_url.trim())
            .map_err(|e| Error::invalid("base_url", format!("{:?}: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::invalid(
                "base_url",
                format!("{:?}: expected an http or https URL", self.base_url),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::invalid(
                "base_url",
                format!("{:?}: a base URL has no query or fragment", self.base_url),
            ));
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        let authorization = self
            .api_key
            .map(|key| {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {}", key.trim())).map_err(|_| {
                        Error::invalid(
                            "api_key",
                            "contains characters that cannot be sent in an HTTP header",
                        )
                    })?;
                value.set_sensitive(true);
                Ok::<_, Error>(value)
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("kagami-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::Network {
                url: base.clone(),
                source,
            })?;
        Ok(KagamiClient {
            http,
            base,
            authorization,
            timeout: self.timeout,
            max_retries: self.max_retries,
            retry_backoff: self.retry_backoff,
        })
    }
}

/// Whether a call may be sent again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Idempotent,
    Once,
}

/// One answer: status and body bytes.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// The `rel="next"` target of its `Link` header: the next page of a list.
    next: Option<String>,
}

/// The `rel="next"` target of one RFC 8288 `Link` header value (`<target>; rel="next"`,
/// possibly among other links), if any.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .any(|(name, value)| {
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
            .then(|| target.to_owned())
    })
}

impl Answer {
    fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            status: self.status,
            reason: format!("{e}; body: {}", snippet(&self.body)),
        })
    }

    /// The body as `T` when the status is one of `ok`, the error otherwise.
    fn expect<T: DeserializeOwned>(&self, ok: &[u16]) -> Result<T> {
        if ok.contains(&self.status) {
            self.decode()
        } else {
            Err(Error::from_answer(self.status, &self.body))
        }
    }

    /// 201 → created, 200 → replayed.
    fn stored<T: DeserializeOwned>(&self) -> Result<(T, Outcome)> {
        let outcome = match self.status {
            201 => Outcome::Created,
            200 => Outcome::Replayed,
            _ => return Err(Error::from_answer(self.status, &self.body)),
        };
        Ok((self.decode()?, outcome))
    }
}

/// An answer and its `Retry-After` (seconds form only).
#[derive(Debug)]
struct Sent {
    answer: Answer,
    retry_after: Option<Duration>,
}

/// A store id or log key used as a path segment: letters, digits, `-`, `_` and `:` only, so
/// it can neither escape the path nor need percent-encoding.
fn path_segment<'a>(field: &str, value: &'a str) -> Result<&'a str> {
    if !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:".contains(&b))
    {
        Ok(value)
    } else {
        Err(Error::invalid(
            field,
            format!("{value:?}: expected letters, digits, '-', '_' or ':'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_reads_rel_next_among_links() {
        assert_eq!(
            next_link(r#"</api/v1/ledger?limit=2&after=x>; rel="next""#).as_deref(),
            Some("/api/v1/ledger?limit=2&after=x")
        );
        assert_eq!(
            next_link(r#"</a>; rel="prev", </b>; rel=next"#).as_deref(),
            Some("/b")
        );
        assert_eq!(next_link(r#"</a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
