//! The client's one error type.

use std::time::Duration;

use kagami_core::wire::{ErrorCode, ErrorResponse};
use serde_json::{Map, Value};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a call failed.
///
/// [`Error::Api`] is the service's own answer (its JSON error envelope, kept whole);
/// [`Error::Network`] and [`Error::Timeout`] mean no answer arrived; [`Error::Decode`] means an
/// answer arrived that is not what the API documents; [`Error::InvalidInput`] is raised
/// locally, before anything is sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error envelope
    /// `{"error": code, "message", "field"?, ...details}`.
    #[error("{message} ({code}, HTTP {status}{})", field.as_deref().map(|f| format!(", field {f}")).unwrap_or_default())]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable error code, e.g. [`ErrorCode::InvalidSignature`] (`invalid_signature`).
        code: ErrorCode,
        /// The service's human sentence.
        message: String,
        /// The offending request field, for validation errors.
        field: Option<String>,
        /// Code-specific details (e.g. `settlement_id` of `already_settled`).
        details: Map<String, Value>,
    },
    /// The request could not be sent or its answer not received (connection refused, reset,
    /// TLS failure, ...).
    #[error("cannot reach the kagami service at {url}")]
    Network {
        /// The URL of the request.
        url: String,
        /// The transport's error.
        #[source]
        source: reqwest::Error,
    },
    /// No answer within the configured timeout.
    #[error("the kagami service did not answer within {} s ({url})", timeout.as_secs_f64())]
    Timeout {
        /// The URL of the request.
        url: String,
        /// The configured per-request timeout.
        timeout: Duration,
    },
    /// An answer that does not match the documented API: a success body of the wrong shape,
    /// or an error status without the JSON error envelope (e.g. a proxy's HTML page).
    #[error("unexpected answer from the kagami service (HTTP {status}): {reason}")]
    Decode {
        /// The HTTP status of the answer.
        status: u16,
        /// What did not match, with the start of the body.
        reason: String,
    },
    /// A value supplied to the client or a builder is unusable; nothing was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending input, by its wire name where it has one.
        field: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The HTTP status of the service's answer, if one arrived.
    pub const fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            Self::Network { .. } | Self::Timeout { .. } | Self::InvalidInput { .. } => None,
        }
    }

    /// The service's error code (`Api` errors only).
    pub const fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later could give another answer: transport failures, timeouts and
    /// the gateway statuses 502, 503 and 504. The client retries these by itself for
    /// idempotent calls only.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network { .. } | Self::Timeout { .. } => true,
            Self::Api { status, .. } | Self::Decode { status, .. } => {
                matches!(status, 502..=504)
            }
            Self::InvalidInput { .. } => false,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.to_string(),
        }
    }

    /// Builds the error for a non-success answer: the envelope when the body is one, a
    /// [`Error::Decode`] otherwise.
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorResponse>(body) {
            Ok(envelope) => Self::from_envelope(status, envelope),
            Err(_) => Self::Decode {
                status,
                reason: format!("not a kagami error envelope: {}", snippet(body)),
            },
        }
    }

    pub(crate) fn from_envelope(status: u16, envelope: ErrorResponse) -> Self {
        Self::Api {
            status,
            code: envelope.error,
            message: envelope.message,
            field: envelope.field,
            details: envelope.details,
        }
    }
}

/// The start of a body, for error messages: at most 200 characters, control characters
/// escaped.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 200;
    if body.is_empty() {
        return "empty body".to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_becomes_an_api_error_with_every_part() {
        let body = br#"{"error":"invalid_signature","message":"signature by 0xab, expected 0xcd","field":"signature","expected":"0xcd"}"#;
        let Error::Api {
            status,
            code,
            message,
            field,
            details,
        } = Error::from_answer(400, body)
        else {
            panic!("not an api error")
        };
        assert_eq!(status, 400);
        assert_eq!(code, ErrorCode::InvalidSignature);
        assert_eq!(message, "signature by 0xab, expected 0xcd");
        assert_eq!(field.as_deref(), Some("signature"));
        assert_eq!(details["expected"], "0xcd");
    }

    #[test]
    fn a_body_that_is_not_an_envelope_is_a_decode_error() {
        let error = Error::from_answer(502, b"<html>Bad Gateway</html>");
        assert!(matches!(error, Error::Decode { status: 502, .. }));
        assert!(error.to_string().contains("<html>Bad Gateway</html>"));
        assert!(error.is_transient());
    }

    #[test]
    fn display_is_one_line_with_code_status_and_field() {
        let error = Error::from_answer(
            409,
            br#"{"error":"nonce_reused","message":"nonce 3 is not above 4","field":"nonce"}"#,
        );
        assert_eq!(
            error.to_string(),
            "nonce 3 is not above 4 (nonce_reused, HTTP 409, field nonce)"
        );
        assert_eq!(error.code(), Some(ErrorCode::NonceReused));
        assert_eq!(error.status(), Some(409));
        assert!(!error.is_transient());
    }

    #[test]
    fn snippets_are_bounded_and_escaped() {
        let long = "a\n".repeat(300);
        let s = snippet(long.as_bytes());
        assert!(s.starts_with("a\\na\\n"));
        assert!(s.ends_with('…'));
        assert_eq!(snippet(b""), "empty body");
    }
}
