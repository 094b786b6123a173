//! `cargo bench -p kagami-benches --bench verify`: the cost of verifying a manifest
//! signature end to end with kagami-crypto, against the bare libsecp256k1 recovery it is
//! built on. Prints both medians and their ratio (target: ≤ 1.15).

use std::{hint::black_box, path::PathBuf};

use criterion::Criterion;
use kagami_benches::signed_manifest;
use kagami_crypto::{EthAddress, Signable};
use secp256k1::{
    Message, SECP256K1,
    ecdsa::{RecoverableSignature, RecoveryId},
};

const GROUP: &str = "manifest_signature";
const FULL: &str = "kagami_verify_end_to_end";
const BARE: &str = "libsecp256k1_recover";

fn output_directory() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
}

fn bench(c: &mut Criterion) {
    let fixture = signed_manifest();
    let owner = EthAddress::from(fixture.owner.address());

    // The bare primitive: recover a public key from the same signature over the same digest.
    let bytes = fixture.signature.to_bytes();
    let recid = RecoveryId::try_from(i32::from(bytes[64] - 27)).unwrap_or(RecoveryId::Zero);
    let recoverable = RecoverableSignature::from_compact(&bytes[..64], recid).ok();
    let digest = Message::from_digest(fixture.manifest.message().eip191_hash().0);

    let mut group = c.benchmark_group(GROUP);
    group.bench_function(FULL, |b| {
        b.iter(|| {
            // Message build + EIP-191 hash + recover + compare, exactly what the service does.
            let message = black_box(&fixture.manifest).message();
            message.verify(black_box(&fixture.signature), black_box(&owner))
        });
    });
    if let Some(recoverable) = recoverable {
        group.bench_function(BARE, |b| {
            b.iter(|| SECP256K1.recover_ecdsa(black_box(digest), black_box(&recoverable)))
        });
    }
    group.finish();
}

/// Reads criterion's median estimate (nanoseconds) of one benchmark, if it ran.
fn median_ns(function: &str) -> Option<f64> {
    let path = output_directory()
        .join(GROUP)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut criterion = Criterion::default()
        .output_directory(&output_directory())
        .configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    // In `--test` mode nothing is measured or saved; only report after a real run.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    match (median_ns(FULL), median_ns(BARE)) {
        (Some(full), Some(bare)) => {
            println!();
            println!("median {FULL}: {:.2} µs", full / 1000.0);
            println!("median {BARE}: {:.2} µs", bare / 1000.0);
            println!(
                "ratio end-to-end / bare recovery: {:.3} (target ≤ 1.15)",
                full / bare
            );
        }
        _ => println!("no estimates found under {}", output_directory().display()),
    }
}
