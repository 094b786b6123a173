//! Request handlers, one module per area.

pub(crate) mod agents;
pub(crate) mod commitments;
pub(crate) mod forwards;
pub(crate) mod manifests;
pub(crate) mod ops;

use kagami_core::crypto::Timestamp;

/// JSON bodies, limited and with errors in the envelope (see `crate::json_config`).
pub(crate) type Json<T> = actix_web::web::Json<T>;

/// The current time, whole seconds.
#[expect(
    clippy::expect_used,
    reason = "the system clock is within years 0000..=9999"
)]
pub(crate) fn now() -> Timestamp {
    Timestamp::from_unix(time::OffsetDateTime::now_utc().unix_timestamp())
        .expect("clock within range")
}
