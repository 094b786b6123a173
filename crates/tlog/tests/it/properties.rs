//! Property tests: every proof served from stored hashes verifies against a naive tree,
//! any flipped bit breaks it, and every text form round-trips exactly.

use std::sync::OnceLock;

use kagami_tlog::{
    Checkpoint, Hash, Note, ProofBundle, SignedCheckpoint, SignerKey, append_batch,
    consistency_proof_indexes, inclusion_proof_indexes, leaf_hash, prove_consistency,
    prove_inclusion, stored_hash_count, tree_hash, tree_hash_indexes, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;

use crate::{build_store, flip, naive_root};

const MAX_SIZE: u64 = 3000;

/// One log of `MAX_SIZE` entries; every smaller tree is a prefix of it.
struct Log {
    leaves: Vec<Hash>,
    store: Vec<Hash>,
}

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let entries: Vec<Vec<u8>> = (0..MAX_SIZE)
            .map(|i| format!("property entry {i}").into_bytes())
            .collect();
        Log {
            leaves: entries.iter().map(|e| leaf_hash(e)).collect(),
            store: build_store(&entries),
        }
    })
}

fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX_SIZE).prop_flat_map(|size| (Just(size), 0..size))
}

fn sizes() -> impl Strategy<Value = (u64, u64)> {
    (1..=MAX_SIZE).prop_flat_map(|size2| (0..=size2, Just(size2)))
}

fn line() -> impl Strategy<Value = String> {
    "[^\u{0}-\u{1f}\u{7f}]{1,40}"
}

fn signer_key() -> impl Strategy<Value = SignerKey> {
    ("[a-z0-9./-]{1,30}", any::<[u8; 32]>())
        .prop_map(|(name, seed)| SignerKey::from_seed(&name, &seed).unwrap())
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn stored_hashes_give_the_naive_root(size in 0..=MAX_SIZE) {
        let log = log();
        let naive = naive_root(&log.leaves[..size as usize]);
        prop_assert_eq!(tree_hash(size, &log.store).unwrap(), naive);
        // O(log n) reads: one per complete subtree.
        prop_assert_eq!(
            tree_hash_indexes(size).unwrap().len() as u32,
            size.count_ones()
        );
    }

    #[test]
    fn appending_in_batches_stores_the_same_hashes_as_one_by_one(
        cuts in prop::collection::vec(0..=MAX_SIZE, 0..6),
    ) {
        let log = log();
        let mut cuts = cuts;
        cuts.extend([0, MAX_SIZE]);
        cuts.sort_unstable();
        let mut store: Vec<Hash> = Vec::new();
        for pair in cuts.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            prop_assert_eq!(store.len() as u64, stored_hash_count(start));
            let leaves = &log.leaves[start as usize..end as usize];
            store.extend(append_batch(start, leaves, &store).unwrap());
        }
        prop_assert!(store == log.store);
    }

    #[test]
    fn inclusion_proofs_verify_against_the_naive_root((size, index) in size_and_index()) {
        let log = log();
        let root = naive_root(&log.leaves[..size as usize]);
        let leaf = log.leaves[index as usize];
        let proof = prove_inclusion(size, index, &log.store).unwrap();
        prop_assert!(inclusion_proof_indexes(size, index).unwrap().len() <= 2 * 64);
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
    }

    #[test]
    fn flipping_any_bit_breaks_an_inclusion_proof(
        (size, index) in size_and_index(),
        pick in any::<prop::sample::Index>(),
        bit in 0..256usize,
    ) {
        let log = log();
        let root = naive_root(&log.leaves[..size as usize]);
        let leaf = log.leaves[index as usize];
        let proof = prove_inclusion(size, index, &log.store).unwrap();
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = pick.index(bad.len());
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
        prop_assert!(verify_inclusion(&flip(&leaf, bit), index, size, &proof, &root).is_err());
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&root, bit)).is_err());
    }

    #[test]
    fn consistency_proofs_verify_against_the_naive_roots((size1, size2) in sizes()) {
        let log = log();
        let root1 = naive_root(&log.leaves[..size1 as usize]);
        let root2 = naive_root(&log.leaves[..size2 as usize]);
        let proof = prove_consistency(size1, size2, &log.store).unwrap();
        prop_assert!(consistency_proof_indexes(size1, size2).unwrap().len() <= 2 * 64);
        prop_assert_eq!(verify_consistency(size1, size2, &proof, &root1, &root2), Ok(()));
    }

    #[test]
    fn flipping_any_bit_breaks_a_consistency_proof(
        (size1, size2) in sizes(),
        pick in any::<prop::sample::Index>(),
        bit in 0..256usize,
    ) {
        let log = log();
        let root1 = naive_root(&log.leaves[..size1 as usize]);
        let root2 = naive_root(&log.leaves[..size2 as usize]);
        let proof = prove_consistency(size1, size2, &log.store).unwrap();
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = pick.index(bad.len());
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_consistency(size1, size2, &bad, &root1, &root2).is_err());
        }
        prop_assert!(verify_consistency(size1, size2, &proof, &flip(&root1, bit), &root2).is_err());
        if size1 > 0 {
            // The empty tree is a prefix of every tree: root2 is free when size1 is 0.
            prop_assert!(
                verify_consistency(size1, size2, &proof, &root1, &flip(&root2, bit)).is_err()
            );
        }
    }

    #[test]
    fn flipping_any_bit_of_a_checkpoint_signature_breaks_it(
        signer in signer_key(),
        size in any::<u64>(),
        root in hash(),
        bit in 0..512usize,
    ) {
        let checkpoint = Checkpoint::new(signer.name(), size, root).unwrap();
        let signed = checkpoint.sign(&signer);
        let text = signed.to_string();
        prop_assert!(SignedCheckpoint::parse(&text).unwrap().verify(&signer.verifier()).is_ok());

        // Re-encode the signature line with one bit of the 64-byte signature flipped.
        let sig = &signed.note().signatures()[0];
        let mut bytes = sig.key_id().to_be_bytes().to_vec();
        bytes.extend_from_slice(sig.signature());
        bytes[4 + bit / 8] ^= 1 << (bit % 8);
        use base64::Engine;
        let line = format!(
            "\u{2014} {} {}\n",
            sig.name(),
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        let tampered = format!("{}\n{line}", signed.note().text());
        let parsed = SignedCheckpoint::parse(&tampered).unwrap();
        prop_assert!(parsed.verify(&signer.verifier()).is_err());
    }

    #[test]
    fn signed_notes_round_trip_exactly(
        lines in prop::collection::vec(prop_oneof![line(), Just(String::new())], 1..6),
        signers in prop::collection::vec(signer_key(), 1..4),
    ) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut note = Note::new(text.clone()).unwrap();
        for signer in &signers {
            note.sign(signer);
        }
        let rendered = note.to_string();
        let parsed = Note::parse(&rendered).unwrap();
        prop_assert_eq!(parsed.text(), text.as_str());
        prop_assert_eq!(parsed.to_string(), rendered);
        let verifiers: Vec<_> = signers.iter().map(SignerKey::verifier).collect();
        prop_assert!(!parsed.verify(&verifiers).unwrap().is_empty());
    }

    #[test]
    fn checkpoints_and_bundles_round_trip_exactly(
        origin in line(),
        size in any::<u64>(),
        root in hash(),
        extensions in prop::collection::vec(line(), 0..3),
        extra in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        index in any::<u64>(),
        proof in prop::collection::vec(hash(), 0..64),
    ) {
        let mut checkpoint = Checkpoint::new(origin, size, root).unwrap();
        for line in extensions {
            checkpoint = checkpoint.with_extension(line).unwrap();
        }
        let text = checkpoint.to_text();
        prop_assert_eq!(&Checkpoint::parse(&text).unwrap(), &checkpoint);

        let signed = checkpoint.sign(&crate::signer("round.trip"));
        let bundle = ProofBundle { extra, index, proof, checkpoint: signed };
        let rendered = bundle.to_string();
        let parsed = ProofBundle::parse(&rendered).unwrap();
        prop_assert_eq!(&parsed, &bundle);
        prop_assert_eq!(parsed.to_string(), rendered);
    }
}
