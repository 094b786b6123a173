//! One test per failure mode, asserting the exact error variant.

use base64::{Engine, engine::general_purpose::STANDARD};
use kagami_tlog::{
    BundleError, Checkpoint, CheckpointError, Error, Hash, HashReader, MAX_SIGNATURES,
    MAX_TREE_SIZE, Note, NoteError, ProofBundle, ProofError, SignedCheckpoint, SignerKey,
    VerifierKey, append_batch_from_stored, inclusion_proof_from_stored, leaf_hash,
    prove_consistency, prove_inclusion, stored_hashes_indexes, tree_hash, verify_consistency,
    verify_inclusion,
};

use crate::{build_store, signer};

fn five() -> (Vec<Hash>, Hash) {
    let store = build_store(&[b"a", b"b", b"c", b"d", b"e"]);
    let root = tree_hash(5, &store).unwrap();
    (store, root)
}

fn signed_checkpoint_text() -> (String, VerifierKey) {
    let key = signer("log.example");
    let text = Checkpoint::new("log.example", 5, five().1)
        .unwrap()
        .sign(&key)
        .to_string();
    (text, key.verifier())
}

fn bundle_text() -> String {
    let (store, root) = five();
    let key = signer("log.example");
    ProofBundle {
        extra: None,
        index: 2,
        proof: prove_inclusion(5, 2, &store).unwrap(),
        checkpoint: Checkpoint::new("log.example", 5, root).unwrap().sign(&key),
    }
    .to_string()
}

// --- ProofError -------------------------------------------------------------------------

#[test]
fn index_at_the_tree_size_is_out_of_range() {
    let (store, root) = five();
    let expected = ProofError::IndexOutOfRange { index: 5, size: 5 };
    assert_eq!(
        verify_inclusion(&leaf_hash(b"f"), 5, 5, &[], &root),
        Err(expected.clone())
    );
    assert_eq!(prove_inclusion(5, 5, &store), Err(expected));
    assert_eq!(
        verify_inclusion(&leaf_hash(b""), 0, 0, &[], &Hash::EMPTY_ROOT),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
}

#[test]
fn old_size_beyond_the_new_size_is_out_of_order() {
    let (store, root) = five();
    let expected = ProofError::SizesOutOfOrder { size1: 6, size2: 5 };
    assert_eq!(
        verify_consistency(6, 5, &[], &root, &root),
        Err(expected.clone())
    );
    assert_eq!(prove_consistency(6, 5, &store), Err(expected));
}

#[test]
fn proofs_of_the_wrong_length_are_rejected_with_both_lengths() {
    let (store, root) = five();
    let proof = prove_inclusion(5, 2, &store).unwrap();
    assert_eq!(proof.len(), 3);
    let leaf = leaf_hash(b"c");
    assert_eq!(
        verify_inclusion(&leaf, 2, 5, &proof[..2], &root),
        Err(ProofError::ProofLength {
            expected: 3,
            actual: 2
        })
    );
    let longer = [proof.clone(), vec![root]].concat();
    assert_eq!(
        verify_inclusion(&leaf, 2, 5, &longer, &root),
        Err(ProofError::ProofLength {
            expected: 3,
            actual: 4
        })
    );
    let old = tree_hash(3, &store).unwrap();
    let consistency = prove_consistency(3, 5, &store).unwrap();
    assert_eq!(
        verify_consistency(3, 5, &[], &old, &root),
        Err(ProofError::ProofLength {
            expected: consistency.len(),
            actual: 0
        })
    );
    // Equal sizes need an empty proof.
    assert_eq!(
        verify_consistency(5, 5, &[root], &root, &root),
        Err(ProofError::ProofLength {
            expected: 0,
            actual: 1
        })
    );
}

#[test]
fn a_proof_for_another_root_is_a_root_mismatch() {
    let (store, root) = five();
    let proof = prove_inclusion(5, 2, &store).unwrap();
    assert_eq!(
        verify_inclusion(&leaf_hash(b"x"), 2, 5, &proof, &root),
        Err(ProofError::RootMismatch)
    );
    let old = tree_hash(3, &store).unwrap();
    let consistency = prove_consistency(3, 5, &store).unwrap();
    assert_eq!(
        verify_consistency(3, 5, &consistency, &old, &Hash::EMPTY_ROOT),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(5, 5, &[], &root, &old),
        Err(ProofError::RootMismatch)
    );
}

#[test]
fn a_consistency_proof_from_another_old_root_is_an_old_root_mismatch() {
    let (store, root) = five();
    let consistency = prove_consistency(3, 5, &store).unwrap();
    assert_eq!(
        verify_consistency(3, 5, &consistency, &leaf_hash(b"x"), &root),
        Err(ProofError::OldRootMismatch)
    );
    // From the empty tree: only the empty root is the empty tree's root.
    assert_eq!(
        verify_consistency(0, 5, &[], &Hash::EMPTY_ROOT, &root),
        Ok(())
    );
    assert_eq!(
        verify_consistency(0, 5, &[], &root, &root),
        Err(ProofError::OldRootMismatch)
    );
}

#[test]
fn trees_beyond_the_maximum_size_are_refused() {
    let (store, _) = five();
    let size = MAX_TREE_SIZE + 1;
    assert_eq!(
        tree_hash(size, &store),
        Err(ProofError::TreeTooLarge { size })
    );
    assert_eq!(
        prove_inclusion(size, 0, &store),
        Err(ProofError::TreeTooLarge { size })
    );
    assert_eq!(
        stored_hashes_indexes(MAX_TREE_SIZE),
        Err(ProofError::TreeTooLarge { size })
    );
}

#[test]
fn a_reader_answering_the_wrong_number_of_hashes_is_a_hash_count_error() {
    struct Short(Vec<Hash>);
    impl HashReader for Short {
        type Error = ProofError;
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, ProofError> {
            let mut hashes = self.0.read_hashes(indexes)?;
            hashes.pop();
            Ok(hashes)
        }
    }
    let (store, _) = five();
    assert_eq!(
        prove_inclusion(5, 2, &Short(store.clone())),
        Err(ProofError::HashCount {
            expected: 3,
            actual: 2
        })
    );
    assert_eq!(
        append_batch_from_stored(5, &[leaf_hash(b"f")], &store[..1]),
        Err(ProofError::HashCount {
            expected: 2,
            actual: 1
        })
    );
    assert_eq!(
        inclusion_proof_from_stored(5, 2, &store[..4]),
        Err(ProofError::HashCount {
            expected: 3,
            actual: 4
        })
    );
}

#[test]
fn reading_past_the_stored_hashes_is_hash_not_stored() {
    let (store, _) = five();
    assert_eq!(
        tree_hash(6, &store),
        Err(ProofError::HashNotStored { index: 9 })
    );
}

// --- NoteError ----------------------------------------------------------------------------

#[test]
fn key_names_with_spaces_plus_or_nothing_are_invalid() {
    for name in ["", "log example", "log+example", "log\u{a0}example"] {
        assert_eq!(
            SignerKey::from_seed(name, &[1; 32]).unwrap_err(),
            NoteError::InvalidKeyName {
                name: name.to_owned()
            }
        );
    }
}

#[test]
fn verifier_keys_with_bad_structure_are_malformed() {
    let good = signer("log.example").verifier().to_string();
    let (name, rest) = good.split_once('+').unwrap();
    let (id, b64) = rest.split_once('+').unwrap();
    let short = STANDARD.encode([1u8; 32]);
    let mut cases = vec![
        format!("{name}+{id}"),
        format!("{good}+extra"),
        format!("{name}+{}+{b64}", &id[1..]),
        format!("{name}+{id}+{}", &b64[1..]),
        format!("{name}+{id}+{short}"),
    ];
    // Upper-case hex, when the id has letters at all.
    if id.to_uppercase() != id {
        cases.push(format!("{name}+{}+{b64}", id.to_uppercase()));
    }
    for bad in cases {
        assert_eq!(
            VerifierKey::parse(&bad).unwrap_err(),
            NoteError::MalformedVerifierKey { key: bad.clone() },
            "{bad}"
        );
    }
}

#[test]
fn signer_keys_with_bad_structure_are_malformed_without_echo() {
    let good = signer("log.example").to_secret_text();
    for bad in [
        good.replacen("PRIVATE+KEY+", "PRIVATE+", 1),
        format!("{good}+x"),
        good[..good.len() - 4].to_owned(),
    ] {
        let err = SignerKey::parse(&bad).unwrap_err();
        assert_eq!(err, NoteError::MalformedSignerKey);
        assert!(!err.to_string().contains(&good[good.len() - 20..]));
    }
    assert!(!format!("{:?}", signer("log.example")).contains(&good[good.len() - 20..]));
}

#[test]
fn keys_of_another_signature_type_are_unsupported() {
    let key = signer("log.example").verifier();
    let mut typed = vec![0x02];
    typed.extend_from_slice(&key.public_key());
    let text = format!(
        "log.example+{:08x}+{}",
        key.key_id(),
        STANDARD.encode(typed)
    );
    assert_eq!(
        VerifierKey::parse(&text).unwrap_err(),
        NoteError::UnsupportedSignatureType { byte: 0x02 }
    );
}

#[test]
fn a_key_id_that_does_not_match_the_key_is_rejected() {
    let key = signer("log.example").verifier();
    let text = key.to_string();
    let wrong = key.key_id() ^ 1;
    let bad = text.replacen(&format!("{:08x}", key.key_id()), &format!("{wrong:08x}"), 1);
    assert_eq!(
        VerifierKey::parse(&bad).unwrap_err(),
        NoteError::KeyIdMismatch {
            name: "log.example".to_owned(),
            stated: wrong,
            computed: key.key_id()
        }
    );
    let secret = signer("log.example").to_secret_text();
    let bad = secret.replacen(&format!("{:08x}", key.key_id()), &format!("{wrong:08x}"), 1);
    assert!(matches!(
        SignerKey::parse(&bad).unwrap_err(),
        NoteError::KeyIdMismatch { .. }
    ));
}

#[test]
fn bytes_off_the_curve_are_an_invalid_public_key() {
    // y = 2 has no x on edwards25519: (y² - 1) / (d y² + 1) is not a square.
    let mut public = [0u8; 32];
    public[0] = 2;
    assert_eq!(
        VerifierKey::new("log.example", &public).unwrap_err(),
        NoteError::InvalidPublicKey {
            name: "log.example".to_owned()
        }
    );
}

#[test]
fn note_text_without_final_newline_is_rejected() {
    assert_eq!(
        Note::new("no newline").unwrap_err(),
        NoteError::TextNotNewlineTerminated
    );
    assert_eq!(
        Note::new("").unwrap_err(),
        NoteError::TextNotNewlineTerminated
    );
}

#[test]
fn control_characters_other_than_newline_are_rejected() {
    assert_eq!(
        Note::new("tab\there\n").unwrap_err(),
        NoteError::ControlCharacter {
            byte: b'\t',
            offset: 3
        }
    );
    let (text, _) = signed_checkpoint_text();
    let with_cr = text.replacen('\n', "\r\n", 1);
    assert!(matches!(
        Note::parse(&with_cr).unwrap_err(),
        NoteError::ControlCharacter { byte: b'\r', .. }
    ));
}

#[test]
fn notes_without_signature_lines_are_rejected() {
    let (text, _) = signed_checkpoint_text();
    let body = text.split("\n\n").next().unwrap();
    for bad in [
        format!("{body}\n"),
        format!("{body}\n\n"),
        format!("{body}\n\n\n"),
    ] {
        assert_eq!(
            Note::parse(&bad).unwrap_err(),
            NoteError::MissingSignatures,
            "{bad:?}"
        );
    }
}

#[test]
fn malformed_signature_lines_are_rejected() {
    let (text, _) = signed_checkpoint_text();
    let (body, sig) = text.rsplit_once("\n\n").unwrap();
    let sig = sig.trim_end_matches('\n');
    let short = format!("\u{2014} log.example {}", STANDARD.encode([1, 2, 3, 4]));
    for bad_line in [
        sig.replacen('\u{2014}', "-", 1),
        sig.replacen(' ', "", 1),
        format!("{sig}!"),
        short,
    ] {
        let bad = format!("{body}\n\n{bad_line}\n");
        let err = Note::parse(&bad).unwrap_err();
        // The line is echoed, truncated to 80 characters.
        let NoteError::MalformedSignatureLine { line } = err else {
            panic!("{bad_line}: {err:?}");
        };
        assert!(bad_line.starts_with(line.trim_end_matches('…')), "{line}");
    }
    // The last signature line must end with a newline too.
    assert!(matches!(
        Note::parse(text.trim_end_matches('\n')).unwrap_err(),
        NoteError::MalformedSignatureLine { .. }
    ));
}

#[test]
fn notes_with_more_than_the_signature_limit_are_refused() {
    let mut note = Note::new("hello\n").unwrap();
    let key = signer("log.example");
    for _ in 0..=MAX_SIGNATURES {
        note.sign(&key);
    }
    assert_eq!(
        Note::parse(&note.to_string()).unwrap_err(),
        NoteError::TooManySignatures {
            count: MAX_SIGNATURES + 1
        }
    );
}

#[test]
fn a_note_signed_only_by_unknown_keys_is_not_verified() {
    let (text, _) = signed_checkpoint_text();
    let note = Note::parse(&text).unwrap();
    // Same name with another key (hence id), and another name altogether.
    let same_name = SignerKey::from_seed("log.example", &[7; 32])
        .unwrap()
        .verifier();
    let other = signer("other.example").verifier();
    assert_eq!(
        note.verify(&[same_name, other]).unwrap_err(),
        NoteError::NoVerifiedSignature
    );
    assert_eq!(
        note.verify(&[]).unwrap_err(),
        NoteError::NoVerifiedSignature
    );
}

#[test]
fn a_bad_signature_from_a_known_key_rejects_the_whole_note() {
    let (text, verifier) = signed_checkpoint_text();
    let mut note = Note::parse(&text).unwrap();
    // A second, valid signature does not save a note with one bad one.
    note.sign(&signer("log.example"));
    let rendered = note.to_string();
    let first = rendered.find('\u{2014}').unwrap();
    let end = first + rendered[first..].find('\n').unwrap();
    let line = &rendered[first..end];
    let (head, b64) = line.rsplit_once(' ').unwrap();
    let mut bytes = STANDARD.decode(b64).unwrap();
    bytes[10] ^= 1;
    let bad = rendered.replacen(line, &format!("{head} {}", STANDARD.encode(bytes)), 1);
    assert_eq!(
        Note::parse(&bad)
            .unwrap()
            .verify(std::slice::from_ref(&verifier)),
        Err(NoteError::BadSignature {
            name: "log.example".to_owned(),
            key_id: verifier.key_id()
        })
    );
}

// --- CheckpointError ------------------------------------------------------------------------

#[test]
fn checkpoint_text_without_final_newline_is_rejected() {
    let text = Checkpoint::new("o", 1, Hash::EMPTY_ROOT).unwrap().to_text();
    assert_eq!(
        Checkpoint::parse(text.trim_end()).unwrap_err(),
        CheckpointError::NotNewlineTerminated
    );
}

#[test]
fn checkpoints_need_three_lines() {
    assert_eq!(
        Checkpoint::parse("origin\n5\n").unwrap_err(),
        CheckpointError::TooFewLines { lines: 2 }
    );
}

#[test]
fn empty_or_multiline_origins_are_invalid() {
    for origin in ["", "two\nlines", "tab\there"] {
        assert_eq!(
            Checkpoint::new(origin, 1, Hash::EMPTY_ROOT).unwrap_err(),
            CheckpointError::InvalidOrigin {
                origin: origin.to_owned()
            }
        );
    }
    let text = format!("\n1\n{}\n", Hash::EMPTY_ROOT);
    assert_eq!(
        Checkpoint::parse(&text).unwrap_err(),
        CheckpointError::InvalidOrigin {
            origin: String::new()
        }
    );
}

#[test]
fn non_canonical_tree_sizes_are_invalid() {
    for size in [
        "",
        "05",
        "+5",
        "-1",
        "5 ",
        "0x5",
        "18446744073709551616",
        "٥",
    ] {
        let text = format!("origin\n{size}\n{}\n", Hash::EMPTY_ROOT);
        assert_eq!(
            Checkpoint::parse(&text).unwrap_err(),
            CheckpointError::InvalidTreeSize {
                value: size.to_owned()
            },
            "{size:?}"
        );
    }
    let max = format!("origin\n{}\n{}\n", u64::MAX, Hash::EMPTY_ROOT);
    assert_eq!(Checkpoint::parse(&max).unwrap().size(), u64::MAX);
}

#[test]
fn root_hashes_that_are_not_base64_of_32_bytes_are_invalid() {
    let good = Hash::EMPTY_ROOT.to_string();
    let hex = hex::encode(Hash::EMPTY_ROOT.0);
    let short = STANDARD.encode([0u8; 31]);
    for root in [good.trim_end_matches('='), hex.as_str(), short.as_str()] {
        let text = format!("origin\n1\n{root}\n");
        assert_eq!(
            Checkpoint::parse(&text).unwrap_err(),
            CheckpointError::InvalidRootHash {
                value: root.to_owned()
            }
        );
    }
}

#[test]
fn empty_extension_lines_are_invalid() {
    let text = format!("origin\n1\n{}\n\nafter\n", Hash::EMPTY_ROOT);
    assert_eq!(
        Checkpoint::parse(&text).unwrap_err(),
        CheckpointError::InvalidExtension {
            line: String::new()
        }
    );
    assert!(matches!(
        Checkpoint::new("o", 1, Hash::EMPTY_ROOT)
            .unwrap()
            .with_extension("a\nb"),
        Err(CheckpointError::InvalidExtension { .. })
    ));
}

#[test]
fn a_checkpoint_of_another_origin_is_refused_even_if_signed() {
    let key = signer("log.example");
    let signed = Checkpoint::new("other-log.example", 5, Hash::EMPTY_ROOT)
        .unwrap()
        .sign(&key);
    assert_eq!(
        signed.verify(&key.verifier()),
        Err(Error::Checkpoint(CheckpointError::OriginMismatch {
            origin: "other-log.example".to_owned(),
            key_name: "log.example".to_owned()
        }))
    );
}

// --- BundleError --------------------------------------------------------------------------

#[test]
fn bundles_without_the_header_line_are_rejected() {
    let text = bundle_text();
    for bad in [
        text.replacen("@v1", "@v2", 1),
        text.replacen('\n', "\r\n", 1),
        text[1..].to_owned(),
    ] {
        assert_eq!(
            ProofBundle::parse(&bad).unwrap_err(),
            Error::Bundle(BundleError::MissingHeader)
        );
    }
}

#[test]
fn extra_lines_that_are_not_base64_are_rejected() {
    let text = bundle_text().replacen("index", "extra not base64!\nindex", 1);
    assert_eq!(
        ProofBundle::parse(&text).unwrap_err(),
        Error::Bundle(BundleError::InvalidExtra {
            line: "extra not base64!".to_owned()
        })
    );
}

#[test]
fn missing_or_non_canonical_index_lines_are_rejected() {
    let text = bundle_text();
    for (from, to) in [
        ("index 2", "index 02"),
        ("index 2", "index  2"),
        ("index 2", "Index 2"),
        ("index 2", "index -2"),
    ] {
        assert_eq!(
            ProofBundle::parse(&text.replacen(from, to, 1)).unwrap_err(),
            Error::Bundle(BundleError::InvalidIndex {
                line: to.to_owned()
            })
        );
    }
    let no_index = text.replacen("index 2\n", "", 1);
    assert!(matches!(
        ProofBundle::parse(&no_index).unwrap_err(),
        Error::Bundle(BundleError::InvalidIndex { .. })
    ));
}

#[test]
fn proof_lines_that_are_not_base64_hashes_are_rejected() {
    let text = bundle_text();
    let hash_line = text.lines().nth(2).unwrap();
    let bad = &hash_line[..43];
    assert_eq!(
        ProofBundle::parse(&text.replacen(hash_line, bad, 1)).unwrap_err(),
        Error::Bundle(BundleError::InvalidProofHash {
            line: bad.to_owned()
        })
    );
}

#[test]
fn bundles_without_a_checkpoint_are_rejected() {
    let text = bundle_text();
    let (framing, _) = text.split_once("\n\n").unwrap();
    for bad in [format!("{framing}\n"), format!("{framing}\n\n")] {
        assert_eq!(
            ProofBundle::parse(&bad).unwrap_err(),
            Error::Bundle(BundleError::MissingCheckpoint),
            "{bad:?}"
        );
    }
    // A checkpoint that is there but malformed reports the checkpoint's own error.
    let truncated = format!("{framing}\n\nlog.example\n5\n\n\u{2014} x AAAAAAA=\n");
    assert_eq!(
        ProofBundle::parse(&truncated).unwrap_err(),
        Error::Checkpoint(CheckpointError::TooFewLines { lines: 2 })
    );
    assert!(SignedCheckpoint::parse("nonsense").is_err());
}
