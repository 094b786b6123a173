//! Pagination of list endpoints: a page size with a hard maximum, and keyset cursors.
//!
//! Every list endpoint answers at most [`MAX_PAGE_LIMIT`] items per request (its `limit`
//! query parameter, [`DEFAULT_PAGE_LIMIT`] when absent) and, when more follow, says where the
//! next page starts in an RFC 8288 `Link: <…>; rel="next"` header. The body keeps its v1 shape.

use kagami_crypto::Uuid;

use crate::{ValidationError, wire::parse_uuid_field};

/// Items one page holds when `limit` is absent.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;

/// The most items one page holds, whatever `limit` asks.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Parses the `limit` query parameter: a decimal in `1..=`[`MAX_PAGE_LIMIT`], or
/// [`DEFAULT_PAGE_LIMIT`] when absent.
///
/// # Errors
/// [`ValidationError::OutOfRange`] naming `limit`.
pub fn parse_page_limit(raw: Option<&str>) -> Result<u32, ValidationError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PAGE_LIMIT);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|limit| (1..=MAX_PAGE_LIMIT).contains(limit))
        .ok_or_else(|| ValidationError::OutOfRange {
            field: "limit",
            reason: format!("must be an integer from 1 to {MAX_PAGE_LIMIT}"),
        })
}

/// Parses a nonce cursor (`before_nonce`): a decimal in `0..=i64::MAX`, the range of stored
/// nonces.
///
/// # Errors
/// [`ValidationError::OutOfRange`] naming `field`.
pub fn parse_nonce_cursor(field: &'static str, raw: &str) -> Result<u64, ValidationError> {
    raw.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| ValidationError::OutOfRange {
            field,
            reason: format!("must be an integer from 0 to {}", i64::MAX),
        })
}

/// Parses an id cursor (`after`): the UUID of the last item of the previous page.
///
/// # Errors
/// [`ValidationError::Format`] naming `field`.
pub fn parse_id_cursor(field: &'static str, raw: &str) -> Result<Uuid, ValidationError> {
    parse_uuid_field(field, raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_is_bounded() {
        assert_eq!(parse_page_limit(None), Ok(DEFAULT_PAGE_LIMIT));
        assert_eq!(parse_page_limit(Some("1")), Ok(1));
        assert_eq!(parse_page_limit(Some("1000")), Ok(MAX_PAGE_LIMIT));
        for bad in ["0", "1001", "-1", "abc", "", "4294967296"] {
            let err = parse_page_limit(Some(bad)).unwrap_err();
            assert_eq!(err.field(), "limit", "{bad}");
        }
    }

    #[test]
    fn cursors_name_their_field() {
        assert_eq!(parse_nonce_cursor("before_nonce", "7"), Ok(7));
        assert_eq!(
            parse_nonce_cursor("before_nonce", "9223372036854775808")
                .unwrap_err()
                .field(),
            "before_nonce"
        );
        assert_eq!(
            parse_nonce_cursor("before_nonce", "x").unwrap_err().field(),
            "before_nonce"
        );
        assert_eq!(
            parse_id_cursor("after", "nope").unwrap_err().field(),
            "after"
        );
    }
}
