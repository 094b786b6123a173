//! Validation errors and the policy-checked value types.

use std::{fmt, net::IpAddr};

use kagami_crypto::FreeText;
use serde::Serialize;

use crate::{AmountError, Policy};

/// Why a piece of wire input was rejected, always naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The value is not in the protocol's canonical syntax.
    #[error("{field}: {source}")]
    Format {
        /// The offending field.
        field: &'static str,
        /// What the protocol parser said.
        source: kagami_crypto::Error,
    },
    /// The value is longer than the policy allows.
    #[error("{field}: {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// The offending field.
        field: &'static str,
        /// The limit.
        max: usize,
        /// The actual length.
        len: usize,
    },
    /// The endpoint URI is unusable.
    #[error("endpoint_uri: {reason}")]
    Endpoint {
        /// Why.
        reason: String,
    },
    /// A number outside its allowed range.
    #[error("{field}: {reason}")]
    OutOfRange {
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// An amount that is not exact USDC.
    #[error("{field}: {source}")]
    Amount {
        /// The offending field.
        field: &'static str,
        /// Why.
        source: AmountError,
    },
    /// `valid_until` is not after `valid_from`.
    #[error("valid_until: must be after valid_from")]
    WindowInverted,
    /// A receipt that does not acknowledge the order it comes with.
    #[error(
        "{field}: the receipt does not acknowledge this order (it must name the order's id and agree with it field by field)"
    )]
    OrderMismatch {
        /// The receipt field that disagrees.
        field: &'static str,
    },
    /// The window is longer than `MANIFEST_MAX_VALIDITY_HOURS`.
    #[error("valid_until: window of {seconds} s exceeds the maximum of {max_hours} h")]
    WindowTooLong {
        /// The requested window length.
        seconds: i64,
        /// The policy's limit.
        max_hours: u32,
    },
}

impl ValidationError {
    /// The wire name of the offending field.
    pub const fn field(&self) -> &'static str {
        match self {
            Self::Format { field, .. }
            | Self::TooLong { field, .. }
            | Self::OutOfRange { field, .. }
            | Self::Amount { field, .. } => field,
            Self::Endpoint { .. } => "endpoint_uri",
            Self::WindowInverted | Self::WindowTooLong { .. } => "valid_until",
            Self::OrderMismatch { field } => field,
        }
    }

    /// This error with its field named inside the receipt part of a body (`receipt.<field>`),
    /// for the fields of a receipt.
    #[must_use]
    pub fn within(self, part: &'static str) -> Self {
        macro_rules! prefixed {
            ($field:expr, $($name:literal),*) => {
                match (part, $field) {
                    $(("receipt", $name) => concat!("receipt.", $name),)*
                    (_, other) => other,
                }
            };
        }
        let rename = |field: &'static str| -> &'static str {
            prefixed!(
                field,
                "root_tx_hash",
                "source_agent_uuid",
                "dest_agent_uuid",
                "hop",
                "manifest_hash",
                "order_hash",
                "next_hop_hash",
                "receipt_nonce",
                "signature",
                "chain"
            )
        };
        match self {
            Self::Format { field, source } => Self::Format {
                field: rename(field),
                source,
            },
            Self::TooLong { field, max, len } => Self::TooLong {
                field: rename(field),
                max,
                len,
            },
            Self::OutOfRange { field, reason } => Self::OutOfRange {
                field: rename(field),
                reason,
            },
            Self::Amount { field, source } => Self::Amount {
                field: rename(field),
                source,
            },
            other => other,
        }
    }

    /// A `map_err` adapter for protocol parse errors of `field`.
    pub fn format(field: &'static str) -> impl FnOnce(kagami_crypto::Error) -> Self {
        move |source| Self::Format { field, source }
    }
}

/// An endpoint URI that passed the policy: absolute `https` (or `http` to a loopback host,
/// for local development), no control characters, at most `max_endpoint_bytes`.
///
/// The text is kept verbatim — it is what the owner signed — so normalisation never
/// changes a signed value.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EndpointUri(FreeText);

impl EndpointUri {
    /// Checks `raw` against `policy`.
    ///
    /// # Errors
    /// [`ValidationError::TooLong`], [`ValidationError::Format`] for control characters,
    /// [`ValidationError::Endpoint`] for anything that is not an absolute https URL (or
    /// http to loopback).
    pub fn parse(raw: &str, policy: &Policy) -> Result<Self, ValidationError> {
        if raw.len() > policy.max_endpoint_bytes {
            return Err(ValidationError::TooLong {
                field: "endpoint_uri",
                max: policy.max_endpoint_bytes,
                len: raw.len(),
            });
        }
        let text: FreeText = raw
            .parse()
            .map_err(ValidationError::format("endpoint_uri"))?;
        let endpoint = |reason: &str| ValidationError::Endpoint {
            reason: reason.to_owned(),
        };
        let url =
            url::Url::parse(raw).map_err(|e| endpoint(&format!("not an absolute URL ({e})")))?;
        let host = url.host().ok_or_else(|| endpoint("URL has no host"))?;
        let loopback = match host {
            url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
            url::Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
            url::Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(endpoint(
                    "http is only allowed for loopback hosts; use https",
                ));
            }
            other => {
                return Err(endpoint(&format!(
                    "scheme {other:?} is not allowed; use https"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(endpoint("credentials in the URL are not allowed"));
        }
        Ok(Self(text))
    }

    /// An endpoint read back from storage: it passed the policy when it was published, so it
    /// is re-checked without the length limit (a later, stricter configuration must not make
    /// stored rows unreadable); the other rules still apply.
    ///
    /// # Errors
    /// As [`Self::parse`], except for the length.
    pub fn from_stored(raw: &str) -> Result<Self, ValidationError> {
        Self::parse(
            raw,
            &Policy {
                max_endpoint_bytes: usize::MAX,
                ..Policy::default()
            },
        )
    }

    /// The URI as signed.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The protocol's free-string value.
    pub const fn as_free_text(&self) -> &FreeText {
        &self.0
    }
}

impl fmt::Display for EndpointUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for EndpointUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Checks a nonce (manifest or receipt) fits the service's range `0..=i64::MAX`, which every
/// SQL database stores exactly.
///
/// # Errors
/// [`ValidationError::OutOfRange`] above `i64::MAX`.
pub fn check_nonce(field: &'static str, nonce: u64) -> Result<u64, ValidationError> {
    if i64::try_from(nonce).is_err() {
        return Err(ValidationError::OutOfRange {
            field,
            reason: format!("{nonce} exceeds the maximum nonce {}", i64::MAX),
        });
    }
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<EndpointUri, ValidationError> {
        EndpointUri::parse(raw, &Policy::default())
    }

    #[test]
    fn https_and_loopback_http_endpoints_are_accepted_verbatim() {
        for ok in [
            "https://agent.example/x402",
            "https://agent.例え.jp/支払い?q=ü",
            "http://127.0.0.1:8080/pay",
            "http://localhost/pay",
            "http://[::1]:9000/",
        ] {
            assert_eq!(parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn other_endpoints_are_rejected_with_the_reason() {
        for bad in [
            "http://agent.example/x402",
            "ftp://agent.example/",
            "agent.example/x402",
            "https://user:pw@agent.example/",
            "javascript:alert(1)",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, ValidationError::Endpoint { .. }),
                "{bad}: {err:?}"
            );
            assert_eq!(err.field(), "endpoint_uri");
        }
    }

    #[test]
    fn endpoint_length_limit_is_inclusive() {
        let base = "https://a.example/";
        let exact = format!("{base}{}", "a".repeat(2048 - base.len()));
        assert!(parse(&exact).is_ok());
        let over = format!("{exact}a");
        assert_eq!(
            parse(&over).unwrap_err(),
            ValidationError::TooLong {
                field: "endpoint_uri",
                max: 2048,
                len: 2049
            }
        );
    }

    #[test]
    fn endpoint_with_control_character_is_a_format_error() {
        let err = parse("https://a.example/\nnonce: 2").unwrap_err();
        assert!(matches!(
            err,
            ValidationError::Format {
                field: "endpoint_uri",
                source: kagami_crypto::Error::ControlCharacter { position: 18 }
            }
        ));
    }

    #[test]
    fn nonces_above_i64_max_are_out_of_range() {
        assert_eq!(
            check_nonce("nonce", i64::MAX as u64).unwrap(),
            i64::MAX as u64
        );
        assert!(matches!(
            check_nonce("nonce", i64::MAX as u64 + 1),
            Err(ValidationError::OutOfRange { field: "nonce", .. })
        ));
    }
}
