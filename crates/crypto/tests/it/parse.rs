//! `parse_message`: known answers from the vectors and one rejection per failure mode.

use kagami_crypto::{
    Error, ForwardReceipt, Hash32, NextHop, ParseError, ParsedMessage, Signable, parse_message,
};

use crate::{build, vectors_file};

/// The manifest of vector `endpoint_manifest[0]` (PROTOCOL section 8).
const MANIFEST: &str = "Kagami endpoint manifest v1\nchain: base\nagent: 0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b\nendpoint: https://agent-a.example/x402/forward\npubkey: 0xbae23e56c917cbdc361d4529af8f584ffd0f4705\nnonce: 1\nvalid-from: 2026-01-16T00:00:00Z\nvalid-until: 2026-01-17T00:00:00Z";

/// `MANIFEST` with line `line` (1-based) replaced.
fn with_line(line: usize, text: &str) -> String {
    let mut lines: Vec<&str> = MANIFEST.split('\n').collect();
    lines[line - 1] = text;
    lines.join("\n")
}

#[test]
fn every_vector_message_parses_back_to_its_fields() {
    let file = vectors_file();
    let kinds = file["vectors"].as_object().unwrap();
    assert_eq!(kinds.len(), 5);
    for (kind, cases) in kinds {
        for case in cases.as_array().unwrap() {
            let text = case["message"].as_str().unwrap();
            let parsed = parse_message(text).unwrap_or_else(|e| panic!("{kind}: {e}"));
            // The vector's string fields, built by the typed builders, are what was parsed.
            let built = build(kind, &case["fields"]);
            assert_eq!(parsed.message(), built, "{kind}");
            assert_eq!(parsed.message().as_str(), text, "{kind}");
            assert_eq!(
                parsed.id().to_string(),
                case["id"].as_str().unwrap(),
                "{kind}"
            );
            let expected_tag = match kind.as_str() {
                "endpoint_manifest" => "Kagami endpoint manifest v1",
                "forward_receipt" => "Kagami forward receipt v1",
                "next_hop" => "Kagami next hop v1",
                "cycle_report" => "Kagami cycle report v1",
                "manifest_revocation" => "Kagami manifest revocation v1",
                other => panic!("unknown kind {other}"),
            };
            assert_eq!(parsed.tag(), expected_tag);
            // Field by field, against the vector's canonical text of each field.
            let fields = case["fields"].as_object().unwrap();
            let rendered = parsed.message();
            let lines: Vec<&str> = rendered.as_str().split('\n').skip(1).collect();
            assert_eq!(lines.len(), fields.len(), "{kind}");
            for line in lines {
                let (key, value) = line.split_once(": ").unwrap();
                assert_eq!(fields[key].as_str(), Some(value), "{kind} {key}");
            }
        }
    }
}

#[test]
fn receipt_fields_are_typed_including_a_terminal_next_hop() {
    let receipt = ForwardReceipt {
        chain: "base".parse().unwrap(),
        root_tx: Hash32::from([7; 32]),
        hop: 10,
        from: kagami_crypto::Uuid::from_u128(1),
        to: kagami_crypto::Uuid::from_u128(2),
        manifest: Hash32::from([8; 32]),
        order: None,
        next_hop: None,
        nonce: u64::MAX,
    };
    let text = receipt.message();
    assert!(text.as_str().contains("\nnext-hop: none\n"));
    assert_eq!(
        parse_message(text.as_str()),
        Ok(ParsedMessage::ForwardReceipt(receipt))
    );
}

#[test]
fn empty_endpoint_and_colons_in_values_parse() {
    let text = with_line(4, "endpoint: ");
    assert!(parse_message(&text).is_ok());
    let text = with_line(4, "endpoint: https://a.example/x: y?nonce: 2");
    match parse_message(&text).unwrap() {
        ParsedMessage::EndpointManifest(m) => {
            assert_eq!(m.endpoint.as_str(), "https://a.example/x: y?nonce: 2");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_trailing_line_feed_is_rejected() {
    assert_eq!(
        parse_message(&format!("{MANIFEST}\n")),
        Err(ParseError::TrailingLineFeed)
    );
}

#[test]
fn a_carriage_return_is_rejected_with_its_line() {
    let crlf = MANIFEST.replace('\n', "\r\n");
    assert_eq!(
        parse_message(&crlf),
        Err(ParseError::CarriageReturn { line: 1 })
    );
    let text = with_line(4, "endpoint: https://a.example/\r");
    assert_eq!(
        parse_message(&text),
        Err(ParseError::CarriageReturn { line: 4 })
    );
}

#[test]
fn unknown_tags_are_rejected() {
    for tag in [
        "",
        "Kagami endpoint manifest v2",
        "kagami endpoint manifest v1",
        "\u{feff}Kagami endpoint manifest v1",
        "Kagami endpoint manifest v1 ",
    ] {
        assert_eq!(
            parse_message(&with_line(1, tag)),
            Err(ParseError::UnknownTag { tag: tag.into() }),
            "{tag:?}"
        );
    }
}

#[test]
fn a_truncated_message_names_the_missing_field() {
    let truncated: Vec<&str> = MANIFEST.split('\n').take(5).collect();
    assert_eq!(
        parse_message(&truncated.join("\n")),
        Err(ParseError::MissingField {
            line: 6,
            key: "nonce"
        })
    );
    assert_eq!(
        parse_message(NextHop::TAG),
        Err(ParseError::MissingField {
            line: 2,
            key: "root-tx"
        })
    );
}

#[test]
fn a_line_without_colon_space_is_malformed() {
    for line in ["nonce:1", "nonce", "nonce :1", ""] {
        assert_eq!(
            parse_message(&with_line(6, line)),
            Err(ParseError::MalformedLine {
                line: 6,
                key: "nonce",
                text: line.into()
            }),
            "{line:?}"
        );
    }
}

#[test]
fn a_field_out_of_order_or_misspelt_names_the_expected_key() {
    for found in ["valid-from", "Nonce", "nonce ", " nonce", "receipt-nonce"] {
        assert_eq!(
            parse_message(&with_line(6, &format!("{found}: 1"))),
            Err(ParseError::UnexpectedKey {
                line: 6,
                expected: "nonce",
                found: found.into()
            }),
            "{found:?}"
        );
    }
}

#[test]
fn an_extra_line_after_the_last_field_is_rejected() {
    assert_eq!(
        parse_message(&format!("{MANIFEST}\nnonce: 2")),
        Err(ParseError::TrailingLine {
            line: 9,
            text: "nonce: 2".into()
        })
    );
    assert_eq!(
        parse_message(&format!("{MANIFEST}\n\n")),
        Err(ParseError::TrailingLineFeed)
    );
}

#[test]
fn invalid_values_carry_the_value_parser_error() {
    let cases = [
        (2, "chain: Base", "chain"),
        (3, "agent: 0b6f2a1c3d4e4f508a9b0c1d2e3f4a5b", "agent"),
        (4, "endpoint: https://a.example/\u{7f}", "endpoint"),
        (5, "pubkey: 0x05", "pubkey"),
        (6, "nonce: 007", "nonce"),
        (6, "nonce: 18446744073709551616", "nonce"),
        (7, "valid-from: 2026-01-16T00:00:00.5Z", "valid-from"),
    ];
    for (line, text, key) in cases {
        let err = parse_message(&with_line(line, text)).unwrap_err();
        assert!(
            matches!(err, ParseError::InvalidValue { line: l, key: k, .. } if l == line && k == key),
            "{text}: {err:?}"
        );
    }
    let err = parse_message(&with_line(2, "chain: Base")).unwrap_err();
    assert_eq!(
        err,
        ParseError::InvalidValue {
            line: 2,
            key: "chain",
            source: Error::InvalidChain {
                value: "Base".into()
            }
        }
    );
}

#[test]
fn accepted_input_variations_are_not_canonical_message_text() {
    let cases = [
        (
            3,
            "agent",
            "0B6F2A1C-3D4E-4F50-8A9B-0C1D2E3F4A5B",
            "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b",
        ),
        (
            5,
            "pubkey",
            "0xBAE23E56C917CBDC361D4529AF8F584FFD0F4705",
            "0xbae23e56c917cbdc361d4529af8f584ffd0f4705",
        ),
        (
            7,
            "valid-from",
            "2026-01-16T02:00:00+02:00",
            "2026-01-16T00:00:00Z",
        ),
        (
            7,
            "valid-from",
            "2026-01-16t00:00:00z",
            "2026-01-16T00:00:00Z",
        ),
        (
            8,
            "valid-until",
            "2026-01-17T00:00:00.000Z",
            "2026-01-17T00:00:00Z",
        ),
    ];
    for (line, key, value, canonical) in cases {
        assert_eq!(
            parse_message(&with_line(line, &format!("{key}: {value}"))),
            Err(ParseError::NotCanonical {
                line,
                key,
                value: value.into(),
                canonical: canonical.into()
            }),
            "{value}"
        );
    }
}

#[test]
fn a_hop_beyond_u32_is_out_of_range() {
    let receipt = ForwardReceipt {
        chain: "base".parse().unwrap(),
        root_tx: Hash32::from([7; 32]),
        hop: u32::MAX,
        from: kagami_crypto::Uuid::from_u128(1),
        to: kagami_crypto::Uuid::from_u128(2),
        manifest: Hash32::from([8; 32]),
        order: None,
        next_hop: Some(Hash32::from([9; 32])),
        nonce: 0,
    };
    let text = receipt
        .message()
        .as_str()
        .replace("hop: 4294967295", "hop: 4294967296");
    assert_eq!(
        parse_message(&text),
        Err(ParseError::OutOfRange {
            line: 4,
            key: "hop",
            value: 4_294_967_296,
            max: u64::from(u32::MAX)
        })
    );
}

#[test]
fn next_hop_is_a_hash_or_the_literal_none() {
    let receipt = ForwardReceipt {
        chain: "base".parse().unwrap(),
        root_tx: Hash32::from([7; 32]),
        hop: 0,
        from: kagami_crypto::Uuid::from_u128(1),
        to: kagami_crypto::Uuid::from_u128(2),
        manifest: Hash32::from([8; 32]),
        order: None,
        next_hop: None,
        nonce: 0,
    };
    let text = receipt.message().as_str().to_owned();
    for value in ["None", "NONE", "", "null"] {
        let err = parse_message(&text.replace("next-hop: none", &format!("next-hop: {value}")))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ParseError::InvalidValue {
                    line: 8,
                    key: "next-hop",
                    source: Error::InvalidHash { .. }
                }
            ),
            "{value:?}: {err:?}"
        );
    }
}

#[test]
fn errors_name_the_line_and_field_in_their_message() {
    let err = parse_message(&with_line(6, "nonce: 007")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 6: nonce: invalid integer \"007\": expected decimal digits without sign or leading zeros"
    );
}

#[test]
fn protocol_v2_kinds_parse_back_to_their_fields() {
    let order = kagami_crypto::ForwardOrder {
        chain: "base".parse().unwrap(),
        root_tx: Hash32::from([7; 32]),
        hop: 1,
        from: kagami_crypto::Uuid::from_u128(1),
        to: kagami_crypto::Uuid::from_u128(2),
        manifest: Hash32::from([8; 32]),
        amount: "12.500000".parse().unwrap(),
        nonce: 3,
    };
    let receipt = ForwardReceipt {
        chain: order.chain.clone(),
        root_tx: order.root_tx,
        hop: order.hop,
        from: order.from,
        to: order.to,
        manifest: order.manifest,
        order: Some(kagami_crypto::Signable::id(&order)),
        next_hop: None,
        nonce: 4,
    };
    let commitment = kagami_crypto::Commitment {
        chain: "base".parse().unwrap(),
        root_tx: Hash32::from([7; 32]),
        payer: kagami_crypto::Uuid::from_u128(1),
        first_hop: kagami_crypto::Uuid::from_u128(2),
        routing: Hash32::from([5; 32]),
        amount: "1000.000000".parse().unwrap(),
        lock_until: "2026-01-16T00:00:00Z".parse().unwrap(),
    };
    for parsed in [
        ParsedMessage::ForwardOrder(order),
        ParsedMessage::ForwardReceipt(receipt.clone()),
        ParsedMessage::Commitment(commitment),
    ] {
        let text = parsed.message();
        assert_eq!(parse_message(text.as_str()), Ok(parsed.clone()));
        assert!(text.as_str().starts_with(parsed.tag()));
    }
    // A receipt v2 without its order line, or a v1 receipt with one, is not a message.
    let v2 = receipt.message().as_str().to_owned();
    let order_line = v2.lines().find(|l| l.starts_with("order: ")).unwrap();
    assert!(parse_message(&v2.replace(&format!("{order_line}\n"), "")).is_err());
    assert!(parse_message(&v2.replace("receipt v2", "receipt v1")).is_err());
    // An amount in another spelling is not canonical.
    let order_text = kagami_crypto::Signable::message(&kagami_crypto::ForwardOrder {
        chain: "base".parse().unwrap(),
        root_tx: Hash32::from([7; 32]),
        hop: 0,
        from: kagami_crypto::Uuid::from_u128(1),
        to: kagami_crypto::Uuid::from_u128(2),
        manifest: Hash32::from([8; 32]),
        amount: "12.500000".parse().unwrap(),
        nonce: 3,
    });
    assert!(parse_message(&order_text.as_str().replace("12.500000", "12.5")).is_err());
}
