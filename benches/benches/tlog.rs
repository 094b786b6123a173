//! `cargo bench -p kagami-benches --bench tlog`: generating and verifying an inclusion proof
//! from stored hashes, at tree sizes 10^3 to 10^6. The work is O(log n) (one batch of at
//! most 2 log2(n) stored-hash reads, at most log2(n) hashes to verify), so the medians should
//! stay nearly flat while the tree grows a thousandfold.

use std::{cell::Cell, hint::black_box, path::PathBuf};

use criterion::{BenchmarkId, Criterion};
use kagami_tlog::{
    Hash, inclusion_proof_indexes, leaf_hash, prove_inclusion, stored_hashes, tree_hash,
    verify_inclusion,
};

const GROUP: &str = "tlog_inclusion";
const FUNCTION: &str = "prove_and_verify";
const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

fn output_directory() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
}

fn entry(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

/// The stored hashes of a log of `size` entries, in index order: the in-memory reader.
/// Smaller trees read a prefix of the same table, as they would in the database.
fn build_store(size: u64) -> Option<Vec<Hash>> {
    let mut store = Vec::new();
    for n in 0..size {
        let new = stored_hashes(n, &leaf_hash(&entry(n)), &store).ok()?;
        store.extend(new);
    }
    Some(store)
}

fn bench(c: &mut Criterion, store: &[Hash]) {
    let mut group = c.benchmark_group(GROUP);
    for size in SIZES {
        let Ok(root) = tree_hash(size, store) else {
            continue;
        };
        // Walk the indexes in a scattered order so no single path is favoured.
        let step = 2_654_435_761 % size;
        let next = Cell::new(0u64);
        group.bench_with_input(BenchmarkId::new(FUNCTION, size), &size, |b, &size| {
            b.iter(|| {
                let index = next.get();
                next.set((index + step) % size);
                let proof = prove_inclusion(size, index, store)?;
                let leaf = leaf_hash(&entry(index));
                verify_inclusion(&leaf, index, size, black_box(&proof), &root)
            });
        });
    }
    group.finish();
}

/// Reads criterion's median estimate (nanoseconds) of one benchmark, if it ran.
fn median_ns(size: u64) -> Option<f64> {
    let path = output_directory()
        .join(GROUP)
        .join(FUNCTION)
        .join(size.to_string())
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    let Some(store) = SIZES.iter().max().and_then(|&max| build_store(max)) else {
        println!("could not build the benchmark log");
        return;
    };
    let mut criterion = Criterion::default()
        .output_directory(&output_directory())
        .configure_from_args();
    bench(&mut criterion, &store);
    criterion.final_summary();
    // In `--test` mode nothing is measured or saved; only report after a real run.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    // Flat means the cost per tree level stays put while the tree grows 1000-fold.
    println!();
    println!("      size     median  per level (log2 n)  stored hashes read (index n/3)");
    for size in SIZES {
        let reads = inclusion_proof_indexes(size, size / 3).map_or(0, |i| i.len());
        let levels = (size as f64).log2();
        match median_ns(size) {
            Some(ns) => println!(
                "{size:>10} {:>7.2} µs {:>14.3} µs {:>18}",
                ns / 1000.0,
                ns / 1000.0 / levels,
                reads
            ),
            None => println!(
                "no estimate for size {size} under {}",
                output_directory().display()
            ),
        }
    }
}
