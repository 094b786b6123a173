//! Property tests: round trips, tamper evidence and injective framing.

use kagami_crypto::{
    CanonicalMessage, Chain, CycleReport, EndpointManifest, Error, EthAddress, ForwardReceipt,
    FreeText, Hash32, ManifestRevocation, NextHop, ParsedMessage, PrivateKeySigner, Pubkey,
    Signable, Signature, Timestamp, Uuid, parse_message,
};
use proptest::prelude::*;

fn chain() -> impl Strategy<Value = Chain> {
    "[a-z0-9-]{1,50}".prop_map(|s| s.parse().unwrap())
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::from_bytes)
}

fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32::from)
}

fn address() -> impl Strategy<Value = EthAddress> {
    any::<[u8; 20]>().prop_map(|b| EthAddress::from(alloy_primitives::Address::from(b)))
}

/// Any text without control characters, deliberately including `: ` and non-ASCII.
fn free_text() -> impl Strategy<Value = FreeText> {
    prop_oneof![
        "[^\u{0}-\u{1f}\u{7f}]{0,60}",
        "https://[a-z]{1,10}\\.example/(: |[a-zé例])*",
    ]
    .prop_map(|s| s.parse().unwrap())
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (Timestamp::MIN_UNIX..=Timestamp::MAX_UNIX).prop_map(|t| Timestamp::from_unix(t).unwrap())
}

fn signer() -> impl Strategy<Value = PrivateKeySigner> {
    any::<[u8; 32]>().prop_filter_map("not a valid secret key", |b| {
        PrivateKeySigner::from_bytes(&b.into()).ok()
    })
}

fn pubkey() -> impl Strategy<Value = Pubkey> {
    prop_oneof![
        address().prop_map(|a| a.to_string().parse().unwrap()),
        (signer(), any::<bool>()).prop_map(|(k, compressed)| {
            let point = k.credential().verifying_key().to_encoded_point(compressed);
            format!("0x{}", hex::encode(point.as_bytes()))
                .parse()
                .unwrap()
        }),
    ]
}

fn manifest() -> impl Strategy<Value = EndpointManifest> {
    (
        chain(),
        uuid(),
        free_text(),
        pubkey(),
        any::<u64>(),
        timestamp(),
        timestamp(),
    )
        .prop_map(
            |(chain, agent, endpoint, pubkey, nonce, valid_from, valid_until)| EndpointManifest {
                chain,
                agent,
                endpoint,
                pubkey,
                nonce,
                valid_from,
                valid_until,
            },
        )
}

fn receipt() -> impl Strategy<Value = ForwardReceipt> {
    (
        chain(),
        hash(),
        any::<u32>(),
        uuid(),
        uuid(),
        hash(),
        proptest::option::of(hash()),
        any::<u64>(),
    )
        .prop_map(
            |(chain, root_tx, hop, from, to, manifest, next_hop, nonce)| ForwardReceipt {
                chain,
                root_tx,
                hop,
                from,
                to,
                manifest,
                order: None,
                next_hop,
                nonce,
            },
        )
}

fn any_message() -> impl Strategy<Value = CanonicalMessage> {
    prop_oneof![
        manifest().prop_map(|m| m.message()),
        receipt().prop_map(|r| r.message()),
        (hash(), uuid()).prop_map(|(root_tx, to)| NextHop { root_tx, to }.message()),
        (chain(), hash(), address()).prop_map(|(chain, root_tx, reporter)| CycleReport {
            chain,
            root_tx,
            reporter
        }
        .message()),
        (chain(), uuid(), hash()).prop_map(|(chain, agent, manifest)| {
            ManifestRevocation {
                chain,
                agent,
                manifest,
            }
            .message()
        }),
    ]
}

/// Any message as the parser returns it, so the expected value of a round trip is at hand.
fn any_parsed() -> impl Strategy<Value = ParsedMessage> {
    prop_oneof![
        manifest().prop_map(ParsedMessage::EndpointManifest),
        receipt().prop_map(ParsedMessage::ForwardReceipt),
        (hash(), uuid()).prop_map(|(root_tx, to)| ParsedMessage::NextHop(NextHop { root_tx, to })),
        (chain(), hash(), address()).prop_map(|(chain, root_tx, reporter)| {
            ParsedMessage::CycleReport(CycleReport {
                chain,
                root_tx,
                reporter,
            })
        }),
        (chain(), uuid(), hash()).prop_map(|(chain, agent, manifest)| {
            ParsedMessage::ManifestRevocation(ManifestRevocation {
                chain,
                agent,
                manifest,
            })
        }),
    ]
}

/// Splits a canonical message back into its tag and `(key, value)` pairs. If this inverse
/// exists and reproduces the fields, rendering is injective.
fn parse_lines(message: &CanonicalMessage) -> (String, Vec<(String, String)>) {
    let mut lines = message.as_str().split('\n');
    let tag = lines.next().unwrap().to_owned();
    let fields = lines
        .map(|line| {
            let (k, v) = line.split_once(": ").unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (tag, fields)
}

/// Every way of changing exactly one field of a manifest to a different value.
fn manifest_mutations(m: &EndpointManifest, other: &EndpointManifest) -> Vec<EndpointManifest> {
    let mut out = Vec::new();
    macro_rules! swap {
        ($field:ident) => {
            if m.$field != other.$field {
                let mut changed = m.clone();
                changed.$field = other.$field.clone();
                out.push(changed);
            }
        };
    }
    swap!(chain);
    swap!(agent);
    swap!(endpoint);
    swap!(pubkey);
    swap!(nonce);
    swap!(valid_from);
    swap!(valid_until);
    out
}

fn receipt_mutations(r: &ForwardReceipt, other: &ForwardReceipt) -> Vec<ForwardReceipt> {
    let mut out = Vec::new();
    macro_rules! swap {
        ($field:ident) => {
            if r.$field != other.$field {
                let mut changed = r.clone();
                changed.$field = other.$field.clone();
                out.push(changed);
            }
        };
    }
    swap!(chain);
    swap!(root_tx);
    swap!(hop);
    swap!(from);
    swap!(to);
    swap!(manifest);
    swap!(next_hop);
    swap!(nonce);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signing_then_recovering_yields_the_signer(key in signer(), message in any_message()) {
        let sig = message.sign(&key).unwrap();
        prop_assert_eq!(message.recover(&sig).unwrap(), EthAddress::from(key.address()));
        // The canonical text form parses back to the same signature.
        prop_assert_eq!(sig.to_string().parse::<Signature>().unwrap(), sig);
    }

    #[test]
    fn changing_any_manifest_field_changes_the_id_and_breaks_the_signature(
        key in signer(), m in manifest(), other in manifest()
    ) {
        let sig = m.message().sign(&key).unwrap();
        let owner = EthAddress::from(key.address());
        for changed in manifest_mutations(&m, &other) {
            prop_assert_ne!(changed.id(), m.id());
            let is_wrong_signer =
                matches!(changed.message().verify(&sig, &owner), Err(Error::WrongSigner { .. }) | Err(Error::RecoveryFailed));
            prop_assert!(is_wrong_signer);
        }
    }

    #[test]
    fn changing_any_receipt_field_changes_the_id_and_breaks_the_signature(
        key in signer(), r in receipt(), other in receipt()
    ) {
        let sig = r.message().sign(&key).unwrap();
        let dest = EthAddress::from(key.address());
        for changed in receipt_mutations(&r, &other) {
            prop_assert_ne!(changed.id(), r.id());
            let is_wrong_signer =
                matches!(changed.message().verify(&sig, &dest), Err(Error::WrongSigner { .. }) | Err(Error::RecoveryFailed));
            prop_assert!(is_wrong_signer);
        }
    }

    #[test]
    fn manifest_framing_is_injective(m in manifest()) {
        let (tag, fields) = parse_lines(&m.message());
        prop_assert_eq!(tag, EndpointManifest::TAG);
        let parsed = EndpointManifest {
            chain: fields[0].1.parse().unwrap(),
            agent: kagami_crypto::parse_uuid(&fields[1].1).unwrap(),
            endpoint: fields[2].1.parse().unwrap(),
            pubkey: fields[3].1.parse().unwrap(),
            nonce: kagami_crypto::parse_canonical_u64(&fields[4].1).unwrap(),
            valid_from: fields[5].1.parse().unwrap(),
            valid_until: fields[6].1.parse().unwrap(),
        };
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(keys, ["chain", "agent", "endpoint", "pubkey", "nonce", "valid-from", "valid-until"]);
        prop_assert_eq!(parsed, m);
    }

    #[test]
    fn receipt_framing_is_injective(r in receipt()) {
        let (tag, fields) = parse_lines(&r.message());
        prop_assert_eq!(tag, ForwardReceipt::TAG);
        let parsed = ForwardReceipt {
            chain: fields[0].1.parse().unwrap(),
            root_tx: fields[1].1.parse().unwrap(),
            hop: fields[2].1.parse().unwrap(),
            from: kagami_crypto::parse_uuid(&fields[3].1).unwrap(),
            to: kagami_crypto::parse_uuid(&fields[4].1).unwrap(),
            manifest: fields[5].1.parse().unwrap(),
            order: None,
            next_hop: if fields[6].1 == "none" { None } else { Some(fields[6].1.parse().unwrap()) },
            nonce: kagami_crypto::parse_canonical_u64(&fields[7].1).unwrap(),
        };
        prop_assert_eq!(parsed, r);
    }

    #[test]
    fn distinct_messages_of_any_kind_have_distinct_text_and_ids(a in any_message(), b in any_message()) {
        // Tags differ between kinds, and within a kind the framing is invertible (above), so
        // equal text means equal fields; ids follow the text.
        prop_assert_eq!(a.as_str() == b.as_str(), a.id() == b.id());
        prop_assert_eq!(parse_lines(&a) == parse_lines(&b), a == b);
    }

    #[test]
    fn parsing_a_rendered_message_gives_back_every_field(expected in any_parsed()) {
        let message = expected.message();
        let parsed = parse_message(message.as_str()).unwrap();
        prop_assert_eq!(&parsed, &expected);
        prop_assert_eq!(parsed.message(), message);
    }

    #[test]
    fn a_message_with_one_line_dropped_or_repeated_is_rejected(
        expected in any_parsed(), at in any::<prop::sample::Index>(), repeat in any::<bool>()
    ) {
        let text = expected.message().as_str().to_owned();
        let mut lines: Vec<&str> = text.split('\n').collect();
        let at = at.index(lines.len());
        if repeat {
            lines.insert(at, lines[at]);
        } else {
            lines.remove(at);
        }
        prop_assert!(parse_message(&lines.join("\n")).is_err());
    }

    #[test]
    fn timestamps_round_trip_through_their_canonical_text(t in timestamp()) {
        prop_assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
    }

    #[test]
    fn addresses_parse_from_checksummed_and_lowercase_text(a in address()) {
        prop_assert_eq!(a.to_checksum().parse::<EthAddress>().unwrap(), a);
        prop_assert_eq!(a.to_string().parse::<EthAddress>().unwrap(), a);
    }
}
