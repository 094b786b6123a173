//! Shared fixtures for Kagami's criterion benchmarks and load tools.

pub mod load;

use kagami_crypto::{EndpointManifest, PrivateKeySigner, Signable, Signature, parse_uuid};

/// A realistic signed manifest: the typed fields, the owner's signature and the owner key.
#[derive(Debug)]
pub struct SignedManifestFixture {
    /// The manifest fields.
    pub manifest: EndpointManifest,
    /// The owner's EIP-191 signature over the canonical message.
    pub signature: Signature,
    /// The owner.
    pub owner: PrivateKeySigner,
}

/// Builds [`SignedManifestFixture`] with a fixed key, so runs are comparable.
///
/// # Panics
/// Never for the fixed inputs; a panic means the protocol crate is broken.
#[expect(clippy::expect_used, reason = "fixed, known-good inputs")]
pub fn signed_manifest() -> SignedManifestFixture {
    let owner = PrivateKeySigner::from_bytes(&[0x42; 32].into()).expect("valid key");
    let manifest = EndpointManifest {
        chain: "base-sepolia".parse().expect("chain"),
        agent: parse_uuid("0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b").expect("uuid"),
        endpoint: "https://agent-a.example/x402/forward"
            .parse()
            .expect("endpoint"),
        pubkey: "0x52908400098527886e0f7030069857d2e4169ee7"
            .parse()
            .expect("pubkey"),
        nonce: 1_700_000,
        valid_from: "2026-01-16T00:00:00Z".parse().expect("from"),
        valid_until: "2026-01-17T00:00:00Z".parse().expect("until"),
    };
    let signature = manifest.message().sign(&owner).expect("sign");
    SignedManifestFixture {
        manifest,
        signature,
        owner,
    }
}

/// The `q` quantile (`0.0..=1.0`, nearest rank) of `sorted`; the default value when empty.
pub fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a slice far shorter than 2^52"
    )]
    let index = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
