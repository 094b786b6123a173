//! API keys: `kgm_` + 43 URL-safe characters (32 random bytes), stored only as
//! HMAC-SHA256 under `API_KEY_SALT`, checked in constant time.

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    pin::Pin,
    sync::Mutex,
    time::{Duration, Instant},
};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let now = Instant::now();
    if let Some(caller) = state.keys.get(&hmac, now) {
        return Ok(caller);
    }
    let record = state
        .store
        .api_key_by_hmac(&hmac)
        .await?
        .ok_or_else(invalid)?;
    if !bool::from(record.key_hmac.ct_eq(&hmac)) || record.revoked_at.is_some() {
        return Err(invalid());
    }
    let caller = Caller {
        key_id: record.id,
        role: record.role,
    };
    state.keys.put(hmac, caller, now);
    Ok(caller)
}

/// Keys that authenticated recently, by their HMAC, so that a request with a known key costs
/// no store lookup. Only valid keys are remembered (unknown keys cannot fill it), each for
/// the configured time: a revocation takes effect on every replica within it. Bounded: when
/// full, expired entries are dropped, and if none had expired, all of them.
#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

impl KeyCache {
    /// At most this many keys are remembered.
    pub const CAPACITY: usize = 10_000;

    /// Remembers keys for `ttl` (zero: never).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The caller of a key remembered at most `ttl` before `now`.
    pub fn get(&self, hmac: &[u8; 32], now: Instant) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        let (caller, at) = entries.get(hmac)?;
        (now.saturating_duration_since(*at) < self.ttl).then_some(*caller)
    }

    /// Remembers that `hmac` authenticated as `caller` at `now`.
    pub fn put(&self, hmac: [u8; 32], caller: Caller, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= Self::CAPACITY && !entries.contains_key(&hmac) {
            entries.retain(|_, (_, at)| now.saturating_duration_since(*at) < self.ttl);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(hmac, (caller, now));
    }
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

    fn caller(n: u128) -> Caller {
        Caller {
            key_id: Uuid::from_u128(n),
            role: Role::Client,
        }
    }

    #[test]
    fn cached_keys_expire_after_the_ttl() {
        let cache = KeyCache::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(cache.get(&[1; 32], t0), None);
        cache.put([1; 32], caller(1), t0);
        assert_eq!(cache.get(&[1; 32], t0), Some(caller(1)));
        assert_eq!(cache.get(&[2; 32], t0), None);
        assert_eq!(
            cache.get(&[1; 32], t0 + Duration::from_millis(4_999)),
            Some(caller(1))
        );
        assert_eq!(cache.get(&[1; 32], t0 + Duration::from_secs(5)), None);
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        let t0 = Instant::now();
        cache.put([1; 32], caller(1), t0);
        assert_eq!(cache.get(&[1; 32], t0), None);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = KeyCache::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let key = |n: usize| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(n as u64).to_be_bytes());
            k
        };
        for n in 0..KeyCache::CAPACITY {
            cache.put(key(n), caller(n as u128), t0);
        }
        // Full of live entries: the next one starts over.
        cache.put(key(KeyCache::CAPACITY), caller(0), t0);
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
        assert_eq!(cache.get(&key(KeyCache::CAPACITY), t0), Some(caller(0)));
        assert_eq!(cache.get(&key(0), t0), None);
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
