//! API keys: `kgm_` + 43 URL-safe characters (32 random bytes), stored only as
//! HMAC-SHA256 under `API_KEY_SALT`, checked in constant time.

use std::{fmt, future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::StatusCode, web};
use base64::Engine;
use hmac::{Hmac, Mac};
use kagami_core::crypto::{Timestamp, Uuid};
use kagami_core::wire::ErrorCode;
use kagami_store::{ApiKeyRecord, Role, Store};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{
    AppState,
    config::Secret,
    error::ApiError,
    ratelimit::{self, ClientId, RouteClass},
};

/// The prefix that lets secret scanners recognise Kagami keys.
pub const KEY_PREFIX: &str = "kgm_";

/// A freshly generated API key. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// 32 bytes from `rand`'s thread-local CSPRNG (ChaCha, seeded from the OS), base64url
    /// without padding (43 characters), prefixed.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// The key text, to show its owner exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

/// HMAC-SHA256 of `key` under `salt`: what the store keeps instead of the key.
#[expect(clippy::expect_used, reason = "HMAC-SHA256 accepts keys of any length")]
pub fn key_hmac(salt: &Secret, key: &str) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(salt.expose().as_bytes()).expect("any key length");
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Creates and stores a key, returning it (shown once) and its record.
///
/// # Errors
/// The store's errors.
pub async fn create_key(
    store: &Store,
    salt: &Secret,
    role: Role,
    label: &str,
    now: Timestamp,
) -> Result<(ApiKey, ApiKeyRecord), kagami_store::StoreError> {
    let key = ApiKey::generate();
    let record = store
        .create_api_key(key_hmac(salt, key.expose()), role, label, now)
        .await?;
    Ok((key, record))
}

/// The caller's authenticated key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id (never the key).
    pub key_id: Uuid,
    /// Its role.
    pub role: Role,
}

/// Authenticates the caller, checks `role` when given, then spends one request of `class`
/// from the key's budget: only valid keys have buckets, so invented keys cannot mint fresh
/// ones (they cost a 401 each, as before).
async fn authenticate(
    req: HttpRequest,
    role: Option<Role>,
    class: RouteClass,
) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(crate::error::internal)?;
    let caller = verify_key(&req, &state).await?;
    if role.is_some_and(|role| caller.role != role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "this endpoint needs an admin key",
        ));
    }
    ratelimit::admit(&state, &req, class, ClientId::Key(caller.key_id)).await?;
    Ok(caller)
}

async fn verify_key(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::MissingApiKey,
            "this endpoint needs an API key: Authorization: Bearer kgm_…",
        ));
    };
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidApiKey,
            "the API key is not valid",
        )
    };
    let key = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| k.starts_with(KEY_PREFIX))
        .ok_or_else(invalid)?;
    let hmac = key_hmac(&state.config.api_key_salt, key);
    let record = state
        .store
        .api_key_by_hmac(&hmac)
        .await?
        .ok_or_else(invalid)?;
    if !bool::from(record.key_hmac.ct_eq(&hmac)) || record.revoked_at.is_some() {
        return Err(invalid());
    }
    Ok(Caller {
        key_id: record.id,
        role: record.role,
    })
}

/// Extractor: any valid key (client or admin). Writes need it.
#[derive(Debug, Clone)]
pub struct ClientKey(pub Caller);

/// Extractor: a valid admin key.
#[derive(Debug, Clone)]
pub struct AdminKey(pub Caller);

impl FromRequest for ClientKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req, None, RouteClass::Write).await.map(Self) })
    }
}

impl FromRequest for AdminKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            authenticate(req, Some(Role::Admin), RouteClass::Admin)
                .await
                .map(Self)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_url_safe_and_long_enough() {
        let key = ApiKey::generate();
        let text = key.expose();
        assert!(text.starts_with("kgm_"));
        assert_eq!(text.len(), 4 + 43);
        assert!(
            text[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(ApiKey::generate(), key);
        assert!(!format!("{key:?}").contains(&text[4..]));
    }

    #[test]
    fn hmac_depends_on_salt_and_key() {
        let a = Secret::new("salt-a".into());
        let b = Secret::new("salt-b".into());
        assert_eq!(key_hmac(&a, "kgm_x"), key_hmac(&a, "kgm_x"));
        assert_ne!(key_hmac(&a, "kgm_x"), key_hmac(&b, "kgm_x"));
        assert_ne!(key_hmac(&a, "kgm_x"), key_hmac(&a, "kgm_y"));
    }
}
