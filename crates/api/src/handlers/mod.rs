//! Request handlers, one module per area.

pub(crate) mod agents;
pub(crate) mod commitments;
pub(crate) mod forwards;
pub(crate) mod ledger;
pub(crate) mod log;
pub(crate) mod manifests;
pub(crate) mod ops;

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use kagami_core::crypto::Timestamp;
use serde::de::DeserializeOwned;

use kagami_core::wire::{ErrorCode, page};

use crate::{
    AppState,
    error::{ApiError, ApiResult},
    telemetry,
};

/// A JSON body whose errors are held, not raised, during extraction: actix resolves a
/// handler's extractors together and answers the first error, so a body error would otherwise
/// beat a pending key check. Handlers call [`Json::accept`] after authentication, so a bad key
/// is always 401/403 whatever the body. Limited to `max_body_bytes`; errors in the envelope.
pub(crate) struct Json<T>(ApiResult<T>);

impl<T> Json<T> {
    /// The parsed body, or its error (413, 415, 400).
    pub(crate) fn accept(self) -> ApiResult<T> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(64 * 1024, |s| s.config.max_body_bytes);
        let body = web::JsonBody::<T>::new(req, payload, None, true).limit(limit);
        Box::pin(async move {
            Ok(Self(
                body.await.map_err(|e| crate::error::json_api_error(&e)),
            ))
        })
    }
}

/// The query of a paginated list: `limit` and the list's cursor, raw, so that a malformed
/// value is a 400 naming its parameter.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// Items per page.
    pub(crate) limit: Option<String>,
    /// The manifests' cursor.
    pub(crate) before_nonce: Option<String>,
    /// The trail's and the ledger's cursor.
    pub(crate) after: Option<String>,
}

impl PageQuery {
    /// The page size: `1..=MAX_PAGE_LIMIT`, default `DEFAULT_PAGE_LIMIT`.
    pub(crate) fn limit(&self) -> ApiResult<u32> {
        Ok(page::parse_page_limit(self.limit.as_deref())?)
    }

    /// Refuses a cursor this list does not take (each list names its own).
    pub(crate) fn refuse(&self, field: &'static str) -> ApiResult<()> {
        let given = match field {
            "before_nonce" => self.before_nonce.is_some(),
            _ => self.after.is_some(),
        };
        if given {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidField,
                field,
                format!("{field} is not a cursor of this list"),
            ));
        }
        Ok(())
    }
}

/// The RFC 8288 `Link` header that points at the next page: `path` (absolute, no query) with
/// `limit` and the cursor `name=value`.
pub(crate) fn next_link(path: &str, limit: u32, name: &str, value: &str) -> (&'static str, String) {
    (
        "Link",
        format!("<{path}?limit={limit}&{name}={value}>; rel=\"next\""),
    )
}

/// The current time, whole seconds.
#[expect(
    clippy::expect_used,
    reason = "the system clock is within years 0000..=9999"
)]
pub(crate) fn now() -> Timestamp {
    Timestamp::from_unix(time::OffsetDateTime::now_utc().unix_timestamp())
        .expect("clock within range")
}

/// Recovers the signer of a submission (the one expensive step, done before the store's
/// transaction), timing it; a signature no key corresponds to is 400 `invalid_signature`.
pub(crate) fn recover<T>(
    what: &'static str,
    recover: impl FnOnce() -> Result<T, kagami_core::crypto::Error>,
) -> ApiResult<T> {
    let started = std::time::Instant::now();
    let outcome = recover();
    telemetry::record_verification(started.elapsed());
    outcome.map_err(|e| {
        tracing::warn!(signature.object = what, error = %e, "signature_verification_failed");
        ApiError::bad_request(
            ErrorCode::InvalidSignature,
            "signature",
            format!("{what} signature rejected: {e}"),
        )
    })
}
