//! Property tests: round trips, tamper evidence and injective framing, for v1 and v2.

use kagami_crypto::{
    Amount, CanonicalMessage, Chain, Commitment, CycleReport, EndpointManifest, Error, EthAddress,
    ForwardOrder, ForwardReceipt, FreeText, Hash32, ManifestRevocation, NextHop, ParsedMessage,
    PrivateKeySigner, Pubkey, Signable, Signature, Timestamp, Uuid, parse_canonical_u64,
    parse_message, parse_uuid,
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

/// Any amount, with the bounds and small values drawn often.
fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        Just(0),
        Just(Amount::MAX_MICROS),
        0..2_000_000_u64,
        0..=Amount::MAX_MICROS,
    ]
    .prop_map(|micros| Amount::from_micros(micros).unwrap())
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

/// A v1 receipt (`order: None`) or a v2 receipt naming an order, equally often.
fn receipt() -> impl Strategy<Value = ForwardReceipt> {
    (
        (chain(), hash(), any::<u32>(), uuid(), uuid(), hash()),
        proptest::option::of(hash()),
        proptest::option::of(hash()),
        any::<u64>(),
    )
        .prop_map(
            |((chain, root_tx, hop, from, to, manifest), order, next_hop, nonce)| ForwardReceipt {
                chain,
                root_tx,
                hop,
                from,
                to,
                manifest,
                order,
                next_hop,
                nonce,
            },
        )
}

fn order() -> impl Strategy<Value = ForwardOrder> {
    (
        chain(),
        hash(),
        any::<u32>(),
        uuid(),
        uuid(),
        hash(),
        amount(),
        any::<u64>(),
    )
        .prop_map(
            |(chain, root_tx, hop, from, to, manifest, amount, nonce)| ForwardOrder {
                chain,
                root_tx,
                hop,
                from,
                to,
                manifest,
                amount,
                nonce,
            },
        )
}

fn commitment() -> impl Strategy<Value = Commitment> {
    (
        chain(),
        hash(),
        uuid(),
        uuid(),
        hash(),
        amount(),
        timestamp(),
    )
        .prop_map(
            |(chain, root_tx, payer, first_hop, routing, amount, lock_until)| Commitment {
                chain,
                root_tx,
                payer,
                first_hop,
                routing,
                amount,
                lock_until,
            },
        )
}

fn any_message() -> impl Strategy<Value = CanonicalMessage> {
    prop_oneof![
        manifest().prop_map(|m| m.message()),
        receipt().prop_map(|r| r.message()),
        order().prop_map(|o| o.message()),
        commitment().prop_map(|c| c.message()),
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

/// Every way of changing exactly one field of `value` to the value `other` has there.
macro_rules! mutations {
    ($value:expr, $other:expr, [$($field:ident),+ $(,)?]) => {{
        let (value, other) = ($value, $other);
        let mut out = Vec::new();
        $(
            if value.$field != other.$field {
                let mut changed = value.clone();
                changed.$field = other.$field.clone();
                out.push(changed);
            }
        )+
        out
    }};
}

fn receipt_mutations(r: &ForwardReceipt, other: &ForwardReceipt) -> Vec<ForwardReceipt> {
    mutations!(
        r,
        other,
        [
            chain, root_tx, hop, from, to, manifest, order, next_hop, nonce
        ]
    )
}

fn order_mutations(o: &ForwardOrder, other: &ForwardOrder) -> Vec<ForwardOrder> {
    mutations!(
        o,
        other,
        [chain, root_tx, hop, from, to, manifest, amount, nonce]
    )
}

fn commitment_mutations(c: &Commitment, other: &Commitment) -> Vec<Commitment> {
    mutations!(
        c,
        other,
        [
            chain, root_tx, payer, first_hop, routing, amount, lock_until
        ]
    )
}

/// Spellings of the same amount that are not its canonical text; every one must be refused.
fn non_canonical_spellings(amount: Amount) -> Vec<String> {
    let text = amount.to_string();
    let (whole, fraction) = text.split_once('.').unwrap();
    let mut out = vec![
        format!("0{text}"),
        format!("{text}0"),
        text[..text.len() - 1].to_owned(),
        format!("+{text}"),
        format!("-{text}"),
        format!(" {text}"),
        format!("{text} "),
        format!("{whole}{fraction}"),
        format!("{whole},{fraction}"),
        format!(".{fraction}"),
        format!("{whole}."),
        whole.to_owned(),
        format!("{text}e0"),
    ];
    let trimmed = fraction.trim_end_matches('0');
    if trimmed.len() < fraction.len() {
        out.push(format!("{whole}.{trimmed}"));
    }
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
    fn receipt_framing_is_injective_for_v1_and_v2(r in receipt()) {
        let (tag, fields) = parse_lines(&r.message());
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        let value = |key: &str| &fields.iter().find(|(k, _)| k == key).unwrap().1;
        // The tag says whether an order line is present, and it is present exactly then.
        prop_assert_eq!(tag == ForwardReceipt::TAG_V2, r.order.is_some());
        prop_assert_eq!(tag == ForwardReceipt::TAG, r.order.is_none());
        let expected_keys: &[&str] = if r.order.is_some() {
            &["chain", "root-tx", "hop", "from", "to", "manifest", "order", "next-hop", "nonce"]
        } else {
            &["chain", "root-tx", "hop", "from", "to", "manifest", "next-hop", "nonce"]
        };
        prop_assert_eq!(keys, expected_keys);
        let parsed = ForwardReceipt {
            chain: value("chain").parse().unwrap(),
            root_tx: value("root-tx").parse().unwrap(),
            hop: value("hop").parse().unwrap(),
            from: parse_uuid(value("from")).unwrap(),
            to: parse_uuid(value("to")).unwrap(),
            manifest: value("manifest").parse().unwrap(),
            order: (tag == ForwardReceipt::TAG_V2).then(|| value("order").parse().unwrap()),
            next_hop: match value("next-hop").as_str() {
                "none" => None,
                hash => Some(hash.parse().unwrap()),
            },
            nonce: parse_canonical_u64(value("nonce")).unwrap(),
        };
        prop_assert_eq!(parsed, r);
    }

    #[test]
    fn order_framing_is_injective(o in order()) {
        let (tag, fields) = parse_lines(&o.message());
        prop_assert_eq!(tag, ForwardOrder::TAG);
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(keys, ["chain", "root-tx", "hop", "from", "to", "manifest", "amount", "nonce"]);
        let parsed = ForwardOrder {
            chain: fields[0].1.parse().unwrap(),
            root_tx: fields[1].1.parse().unwrap(),
            hop: u32::try_from(parse_canonical_u64(&fields[2].1).unwrap()).unwrap(),
            from: parse_uuid(&fields[3].1).unwrap(),
            to: parse_uuid(&fields[4].1).unwrap(),
            manifest: fields[5].1.parse().unwrap(),
            amount: fields[6].1.parse().unwrap(),
            nonce: parse_canonical_u64(&fields[7].1).unwrap(),
        };
        prop_assert_eq!(parsed, o);
    }

    #[test]
    fn commitment_framing_is_injective(c in commitment()) {
        let (tag, fields) = parse_lines(&c.message());
        prop_assert_eq!(tag, Commitment::TAG);
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(keys, ["chain", "root-tx", "payer", "first-hop", "routing", "amount", "lock-until"]);
        let parsed = Commitment {
            chain: fields[0].1.parse().unwrap(),
            root_tx: fields[1].1.parse().unwrap(),
            payer: parse_uuid(&fields[2].1).unwrap(),
            first_hop: parse_uuid(&fields[3].1).unwrap(),
            routing: fields[4].1.parse().unwrap(),
            amount: fields[5].1.parse().unwrap(),
            lock_until: fields[6].1.parse().unwrap(),
        };
        prop_assert_eq!(parsed, c);
    }

    #[test]
    fn changing_any_order_field_changes_the_id_and_breaks_the_signature(
        key in signer(), o in order(), other in order()
    ) {
        let sig = o.message().sign(&key).unwrap();
        let payer = EthAddress::from(key.address());
        for changed in order_mutations(&o, &other) {
            prop_assert_ne!(changed.id(), o.id());
            let is_wrong_signer =
                matches!(changed.message().verify(&sig, &payer), Err(Error::WrongSigner { .. }) | Err(Error::RecoveryFailed));
            prop_assert!(is_wrong_signer);
        }
    }

    #[test]
    fn changing_any_commitment_field_changes_the_id_and_breaks_both_signatures(
        payer in signer(), first_hop in signer(), c in commitment(), other in commitment()
    ) {
        let message = c.message();
        let signatures = [
            (message.sign(&payer).unwrap(), EthAddress::from(payer.address())),
            (message.sign(&first_hop).unwrap(), EthAddress::from(first_hop.address())),
        ];
        for changed in commitment_mutations(&c, &other) {
            prop_assert_ne!(changed.id(), c.id());
            for (sig, signer) in &signatures {
                let is_wrong_signer =
                    matches!(changed.message().verify(sig, signer), Err(Error::WrongSigner { .. }) | Err(Error::RecoveryFailed));
                prop_assert!(is_wrong_signer);
            }
        }
    }

    #[test]
    fn a_receipt_signature_never_carries_over_between_v1_and_v2(
        key in signer(), r in receipt(), order in hash()
    ) {
        // Adding or removing the order line changes the tag and the text, so neither
        // rendering's signature verifies the other.
        let v1 = ForwardReceipt { order: None, ..r.clone() };
        let v2 = ForwardReceipt { order: Some(order), ..r };
        prop_assert_ne!(v1.id(), v2.id());
        let signer = EthAddress::from(key.address());
        let v2_sig = v2.message().sign(&key).unwrap();
        let v1_sig = v1.message().sign(&key).unwrap();
        prop_assert!(v1.message().verify(&v2_sig, &signer).is_err());
        prop_assert!(v2.message().verify(&v1_sig, &signer).is_err());
    }

    #[test]
    fn amounts_round_trip_through_their_canonical_text(a in amount()) {
        let text = a.to_string();
        prop_assert_eq!(text.parse::<Amount>().unwrap(), a);
        let (whole, fraction) = text.split_once('.').unwrap();
        prop_assert_eq!(fraction.len(), 6);
        prop_assert_eq!(whole.parse::<u64>().unwrap() * 1_000_000 + fraction.parse::<u64>().unwrap(), a.micros());
        prop_assert_eq!(Amount::from_micros(a.micros()).unwrap(), a);
    }

    #[test]
    fn amounts_refuse_every_non_canonical_spelling(a in amount()) {
        for spelling in non_canonical_spellings(a) {
            prop_assert_eq!(
                spelling.parse::<Amount>(),
                Err(Error::InvalidAmount { value: spelling.clone() })
            );
        }
    }

    #[test]
    fn only_the_canonical_text_of_an_amount_parses(
        text in prop_oneof!["[0-9]{1,20}\\.[0-9]{4,8}", "[-+ 0-9.,e]{0,24}"]
    ) {
        // Any text that parses is exactly the rendering of what it parsed to.
        if let Ok(amount) = text.parse::<Amount>() {
            prop_assert_eq!(amount.to_string(), text);
        } else {
            prop_assert_eq!(text.parse::<Amount>(), Err(Error::InvalidAmount { value: text.clone() }));
        }
    }

    #[test]
    fn amounts_above_the_maximum_are_refused(micros in (Amount::MAX_MICROS + 1)..=u64::MAX) {
        let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
        prop_assert_eq!(text.parse::<Amount>(), Err(Error::InvalidAmount { value: text.clone() }));
        prop_assert_eq!(Amount::from_micros(micros), Err(Error::InvalidAmount { value: micros.to_string() }));
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
