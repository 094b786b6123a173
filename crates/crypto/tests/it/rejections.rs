//! One test per failure mode, asserting the exact error variant.

use kagami_crypto::{
    Amount, CanonicalMessage, Chain, Commitment, EndpointManifest, Error, EthAddress, ForwardOrder,
    ForwardReceipt, FreeText, Hash32, PrivateKeySigner, Pubkey, Signable, Signature, Timestamp,
    parse_canonical_u64, parse_uuid,
};

const GOOD_SIG: &str = "0x3f429baca7c5c906e424642bcf3ec39f190da01d40c3a32a5b9d07f1117a5eb55205aadb11aedb80a45b8d2d886295ffdf95ae535cdf9dd0a0e206885ffd89211c";

fn manifest() -> EndpointManifest {
    EndpointManifest {
        chain: "base".parse().unwrap(),
        agent: parse_uuid("0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b").unwrap(),
        endpoint: "https://agent-a.example/x402/forward".parse().unwrap(),
        pubkey: "0xbae23e56c917cbdc361d4529af8f584ffd0f4705"
            .parse()
            .unwrap(),
        nonce: 1,
        valid_from: "2026-01-16T00:00:00Z".parse().unwrap(),
        valid_until: "2026-01-17T00:00:00Z".parse().unwrap(),
    }
}

#[test]
fn signature_without_0x_prefix_is_bad_hex() {
    let err = GOOD_SIG[2..].parse::<Signature>().unwrap_err();
    assert!(matches!(err, Error::SignatureHex { .. }), "{err:?}");
}

#[test]
fn signature_with_non_hex_digit_is_bad_hex() {
    let bad = format!("{}g", &GOOD_SIG[..GOOD_SIG.len() - 1]);
    assert!(matches!(
        bad.parse::<Signature>().unwrap_err(),
        Error::SignatureHex { .. }
    ));
}

#[test]
fn signature_of_64_bytes_is_wrong_length() {
    let err = GOOD_SIG[..GOOD_SIG.len() - 2]
        .parse::<Signature>()
        .unwrap_err();
    assert_eq!(err, Error::SignatureLength { hex_digits: 128 });
}

#[test]
fn signature_with_odd_digit_count_is_wrong_length() {
    let err = format!("{GOOD_SIG}0").parse::<Signature>().unwrap_err();
    assert_eq!(err, Error::SignatureLength { hex_digits: 131 });
}

#[test]
fn recovery_byte_other_than_0_1_27_28_is_rejected() {
    for v in ["02", "1a", "1d", "ff"] {
        let bad = format!("{}{v}", &GOOD_SIG[..130]);
        let expected = u8::from_str_radix(v, 16).unwrap();
        assert_eq!(
            bad.parse::<Signature>().unwrap_err(),
            Error::InvalidRecoveryId { v: expected }
        );
    }
}

#[test]
fn high_s_twin_of_a_valid_signature_is_rejected() {
    let owner = PrivateKeySigner::random();
    let sig = manifest().message().sign(&owner).unwrap();
    let bytes = sig.to_bytes();
    let n = alloy_n();
    let s = alloy_primitives::U256::from_be_slice(&bytes[32..64]);
    let twin_s = n - s;
    let twin = format!(
        "0x{}{}{:02x}",
        hex::encode(&bytes[..32]),
        hex::encode(twin_s.to_be_bytes::<32>()),
        55 - bytes[64]
    );
    assert_eq!(twin.parse::<Signature>().unwrap_err(), Error::HighS);
}

#[test]
fn zero_r_is_out_of_range() {
    let bad = format!("0x{}{}1b", "00".repeat(32), &GOOD_SIG[66..130]);
    assert_eq!(
        bad.parse::<Signature>().unwrap_err(),
        Error::ScalarOutOfRange
    );
}

#[test]
fn r_not_below_the_curve_order_is_out_of_range() {
    let bad = format!("0x{}{}1b", "ff".repeat(32), &GOOD_SIG[66..130]);
    assert_eq!(
        bad.parse::<Signature>().unwrap_err(),
        Error::ScalarOutOfRange
    );
}

#[test]
fn signature_by_another_key_is_wrong_signer() {
    let owner = PrivateKeySigner::random();
    let intruder = PrivateKeySigner::random();
    let message = manifest().message();
    let sig = message.sign(&intruder).unwrap();
    let expected = EthAddress::from(owner.address());
    let err = message.verify(&sig, &expected).unwrap_err();
    assert_eq!(
        err,
        Error::WrongSigner {
            expected: expected.to_string(),
            recovered: EthAddress::from(intruder.address()).to_string()
        }
    );
}

#[test]
fn verify_any_names_which_allowed_signer_signed() {
    let hot = PrivateKeySigner::random();
    let owner = PrivateKeySigner::random();
    let message = manifest().message();
    let sig = message.sign(&owner).unwrap();
    let allowed = [
        EthAddress::from(hot.address()),
        EthAddress::from(owner.address()),
    ];
    assert_eq!(*message.verify_any(&sig, &allowed).unwrap(), allowed[1]);
}

#[test]
fn control_characters_are_rejected_in_free_strings() {
    for (text, position) in [
        ("https://a.example/\nnonce: 9", 18),
        ("\u{0}", 0),
        ("ab\u{7f}", 2),
        ("é\t", 1),
    ] {
        assert_eq!(
            text.parse::<FreeText>().unwrap_err(),
            Error::ControlCharacter { position }
        );
    }
}

#[test]
fn mixed_case_address_with_wrong_checksum_is_rejected() {
    let err = "0x52908400098527886E0F7030069857D2E4169Ee7"
        .parse::<EthAddress>()
        .unwrap_err();
    assert!(matches!(err, Error::BadChecksum { .. }), "{err:?}");
}

#[test]
fn all_upper_and_all_lower_addresses_need_no_checksum() {
    let lower: EthAddress = "0x52908400098527886e0f7030069857d2e4169ee7"
        .parse()
        .unwrap();
    let upper: EthAddress = "0x52908400098527886E0F7030069857D2E4169EE7"
        .parse()
        .unwrap();
    assert_eq!(lower, upper);
    assert_eq!(
        upper.to_string(),
        "0x52908400098527886e0f7030069857d2e4169ee7"
    );
}

#[test]
fn address_of_wrong_length_is_invalid() {
    let err = "0x52908400098527886e0f7030069857d2e4169e"
        .parse::<EthAddress>()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidAddress { .. }));
}

#[test]
fn fractional_seconds_are_rejected() {
    let err = "2026-01-16T00:00:00.5Z".parse::<Timestamp>().unwrap_err();
    assert!(matches!(err, Error::FractionalSeconds { .. }), "{err:?}");
}

#[test]
fn timestamps_with_offsets_are_converted_to_utc() {
    let t: Timestamp = "2026-01-16T01:30:00+01:30".parse().unwrap();
    assert_eq!(t.to_string(), "2026-01-16T00:00:00Z");
    let zero_fraction: Timestamp = "2026-01-16T00:00:00.000Z".parse().unwrap();
    assert_eq!(zero_fraction, t);
}

#[test]
fn non_rfc3339_timestamps_are_invalid() {
    for bad in [
        "2026-01-16",
        "2026-01-16 00:00:00Z",
        "1768521600",
        "2026-13-01T00:00:00Z",
        "2016-12-31T23:59:60Z",
    ] {
        let err = bad.parse::<Timestamp>().unwrap_err();
        assert!(
            matches!(err, Error::InvalidTimestamp { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn offsets_that_carry_an_instant_past_year_9999_are_invalid_not_a_panic() {
    // Found by fuzzing: converting to UTC panicked for an instant outside the dates `time`
    // represents, so one request body could crash its worker.
    for bad in [
        "9999-12-31t23:59:00-23:59",
        "9999-12-31T23:59:59-00:01",
        "0000-01-01T00:00:00+00:01",
    ] {
        let err = bad.parse::<Timestamp>().unwrap_err();
        assert!(
            matches!(err, Error::InvalidTimestamp { .. }),
            "{bad}: {err:?}"
        );
    }
    let last: Timestamp = "9999-12-31T23:59:59+00:00".parse().unwrap();
    assert_eq!(last.unix(), Timestamp::MAX_UNIX);
    let first: Timestamp = "0000-01-01T00:01:00+00:01".parse().unwrap();
    assert_eq!(first.unix(), Timestamp::MIN_UNIX);
}

#[test]
fn fraction_digits_beyond_nanoseconds_are_still_a_fraction() {
    // Found by fuzzing: the RFC 3339 parser reads nine fraction digits and skips the rest, so
    // `.0000000001` looked like a zero fraction and was silently dropped.
    for bad in [
        "2026-01-16T00:00:00.0000000001Z",
        "2026-01-16T00:00:00.000000000000000007+02:00",
    ] {
        assert_eq!(
            bad.parse::<Timestamp>().unwrap_err(),
            Error::FractionalSeconds { value: bad.into() },
            "{bad}"
        );
    }
    let zeros: Timestamp = "2026-01-16T00:00:00.000000000000Z".parse().unwrap();
    assert_eq!(zeros.to_string(), "2026-01-16T00:00:00Z");
}

#[test]
fn chains_outside_the_alphabet_are_rejected() {
    for bad in ["", "Base", "base_sepolia", "base sepolia", &"a".repeat(51)] {
        assert!(
            matches!(
                bad.parse::<Chain>().unwrap_err(),
                Error::InvalidChain { .. }
            ),
            "{bad}"
        );
    }
    assert!("a".repeat(50).parse::<Chain>().is_ok());
}

#[test]
fn uuids_must_be_hyphenated_but_any_case() {
    assert_eq!(
        parse_uuid("0B6F2A1C-3D4E-4F50-8A9B-0C1D2E3F4A5B")
            .unwrap()
            .to_string(),
        "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b"
    );
    for bad in [
        "0b6f2a1c3d4e4f508a9b0c1d2e3f4a5b",
        "{0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b}",
        "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5",
    ] {
        assert!(
            matches!(parse_uuid(bad).unwrap_err(), Error::InvalidUuid { .. }),
            "{bad}"
        );
    }
}

#[test]
fn integers_must_be_canonical_decimal() {
    assert_eq!(parse_canonical_u64("0").unwrap(), 0);
    assert_eq!(
        parse_canonical_u64("18446744073709551615").unwrap(),
        u64::MAX
    );
    for bad in ["", "007", "+1", "-1", "1e3", " 1", "18446744073709551616"] {
        assert!(
            matches!(
                parse_canonical_u64(bad).unwrap_err(),
                Error::InvalidInteger { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn hashes_need_0x_and_64_hex_digits() {
    for bad in [
        "",
        "0x",
        &"ab".repeat(32),
        &format!("0x{}", "ab".repeat(31)),
        &format!("0x{}zz", "ab".repeat(31)),
    ] {
        assert!(
            matches!(
                bad.parse::<Hash32>().unwrap_err(),
                Error::InvalidHash { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn pubkeys_must_be_addresses_or_points_on_the_curve() {
    // x = 0 is not on secp256k1 (y^2 = 7 has no square root mod p).
    let off_curve = format!("0x02{}", "00".repeat(32));
    assert!(matches!(
        off_curve.parse::<Pubkey>().unwrap_err(),
        Error::InvalidPubkey { .. }
    ));
    let wrong_prefix = format!("0x05{}", "11".repeat(64));
    assert!(matches!(
        wrong_prefix.parse::<Pubkey>().unwrap_err(),
        Error::InvalidPubkey { .. }
    ));
}

#[test]
fn pubkey_with_the_sec1_compact_prefix_05_is_rejected() {
    // Found by fuzzing: k256 decodes SEC1's "compact" form (0x05 || x) for a valid x, but the
    // protocol allows only 0x02/0x03 (compressed) and 0x04 (uncompressed).
    let compressed = "0x020847c1f6e92b3348e6262df3b03c2343db78beb2218545dd6714e6870a9021e1";
    assert!(compressed.parse::<Pubkey>().is_ok());
    let compact = compressed.replacen("0x02", "0x05", 1);
    assert_eq!(
        compact.parse::<Pubkey>().unwrap_err(),
        Error::InvalidPubkey { value: compact }
    );
}

#[test]
fn pubkey_prefix_must_match_its_length() {
    // A compressed prefix on 65 bytes and the uncompressed prefix on 33 bytes.
    let key = PrivateKeySigner::random();
    let point = key.credential().verifying_key().to_encoded_point(false);
    let wrong_long = format!("0x02{}", hex::encode(&point.as_bytes()[1..]));
    let compressed = key.credential().verifying_key().to_encoded_point(true);
    let wrong_short = format!("0x04{}", hex::encode(&compressed.as_bytes()[1..]));
    for bad in [wrong_long, wrong_short] {
        assert!(
            matches!(
                bad.parse::<Pubkey>().unwrap_err(),
                Error::InvalidPubkey { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn pubkeys_derive_the_address_they_sign_as() {
    let key = PrivateKeySigner::random();
    let point = key.credential().verifying_key().to_encoded_point(false);
    let compressed = key.credential().verifying_key().to_encoded_point(true);
    let uncompressed: Pubkey = format!("0x{}", hex::encode(point.as_bytes()))
        .to_uppercase()
        .replace("0X", "0x")
        .parse()
        .unwrap();
    let short: Pubkey = format!("0x{}", hex::encode(compressed.as_bytes()))
        .parse()
        .unwrap();
    assert_eq!(uncompressed.address(), EthAddress::from(key.address()));
    assert_eq!(short.address(), EthAddress::from(key.address()));
    assert_eq!(
        uncompressed.as_str(),
        format!("0x{}", hex::encode(point.as_bytes()))
    );
}

fn order() -> ForwardOrder {
    ForwardOrder {
        chain: "base".parse().unwrap(),
        root_tx: "0x1407a8bd91697960b53b5c1e9e868ee6897811a239de01f8f7451518665c7d36"
            .parse()
            .unwrap(),
        hop: 0,
        from: parse_uuid("f47ac10b-58cc-4372-a567-0e02b2c3d479").unwrap(),
        to: parse_uuid("0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b").unwrap(),
        manifest: "0xb6fdaabee6c503eef2b75b5759d7e5415b6475a2cffb90dcaed4572c39921ecf"
            .parse()
            .unwrap(),
        amount: "12.500000".parse().unwrap(),
        nonce: 1,
    }
}

/// The v2 receipt that acknowledges [`order`].
fn receipt_v2() -> ForwardReceipt {
    let order = order();
    ForwardReceipt {
        chain: order.chain.clone(),
        root_tx: order.root_tx,
        hop: order.hop,
        from: order.from,
        to: order.to,
        manifest: order.manifest,
        order: Some(order.id()),
        next_hop: None,
        nonce: 1,
    }
}

fn commitment() -> Commitment {
    let order = order();
    Commitment {
        chain: order.chain,
        root_tx: order.root_tx,
        payer: order.from,
        first_hop: order.to,
        routing: Hash32::from([7; 32]),
        amount: order.amount,
        lock_until: "2026-01-16T01:00:00Z".parse().unwrap(),
    }
}

/// The exact `WrongSigner` error for `signature` over `message` checked against `expected`.
fn wrong_signer(message: &CanonicalMessage, signature: &Signature, expected: &EthAddress) -> Error {
    Error::WrongSigner {
        expected: expected.to_string(),
        recovered: message.recover(signature).unwrap().to_string(),
    }
}

fn invalid_amount(value: &str) -> Error {
    Error::InvalidAmount {
        value: value.to_owned(),
    }
}

#[test]
fn amount_with_fewer_than_six_decimals_is_invalid() {
    for bad in ["12.5", "12.50000", "0.0"] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
}

#[test]
fn amount_with_more_than_six_decimals_is_invalid() {
    for bad in ["1.0000000", "0.0000001"] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
}

#[test]
fn amount_with_a_leading_zero_is_invalid() {
    for bad in ["012.500000", "00.000000"] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
    assert_eq!(
        "0.500000".parse::<Amount>().unwrap().micros(),
        500_000,
        "a lone 0 is the whole part of amounts below 1"
    );
}

#[test]
fn amount_with_a_sign_is_invalid() {
    for bad in ["-1.000000", "+1.000000", "-0.000000"] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
}

#[test]
fn amount_in_exponent_notation_is_invalid() {
    for bad in ["1e3", "1e3.000000", "1.000000e0"] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
}

#[test]
fn amount_without_a_whole_part_is_invalid() {
    assert_eq!(
        ".500000".parse::<Amount>().unwrap_err(),
        invalid_amount(".500000")
    );
}

#[test]
fn amount_without_decimals_is_invalid() {
    for bad in ["1.", "12", ""] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
}

#[test]
fn amount_with_spaces_or_grouping_is_invalid() {
    for bad in [" 1.000000", "1.000000 ", "1,000.000000", "1 000.000000"] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
}

#[test]
fn amount_one_micro_unit_above_the_maximum_is_invalid() {
    assert_eq!(
        "9223372036854.775807".parse::<Amount>().unwrap().micros(),
        Amount::MAX_MICROS
    );
    assert_eq!(
        "9223372036854.775808".parse::<Amount>().unwrap_err(),
        invalid_amount("9223372036854.775808")
    );
}

#[test]
fn amount_beyond_sixty_four_bits_is_invalid() {
    for bad in ["18446744073709.551616", "99999999999999999999.000000"] {
        assert_eq!(bad.parse::<Amount>().unwrap_err(), invalid_amount(bad));
    }
}

#[test]
fn micro_units_above_the_maximum_are_refused() {
    assert_eq!(
        Amount::from_micros(Amount::MAX_MICROS + 1).unwrap_err(),
        invalid_amount("9223372036854775808")
    );
    assert_eq!(
        Amount::from_micros(Amount::MAX_MICROS).unwrap().to_string(),
        "9223372036854.775807"
    );
}

#[test]
fn a_v2_receipt_signature_does_not_verify_as_the_v1_receipt_of_the_same_fields() {
    let dest = PrivateKeySigner::random();
    let expected = EthAddress::from(dest.address());
    let v2 = receipt_v2();
    let signature = v2.message().sign(&dest).unwrap();
    let v1 = ForwardReceipt { order: None, ..v2 }.message();
    assert!(v1.as_str().starts_with("Kagami forward receipt v1\n"));
    assert_eq!(
        v1.verify(&signature, &expected).unwrap_err(),
        wrong_signer(&v1, &signature, &expected)
    );
}

#[test]
fn a_v1_receipt_signature_does_not_verify_once_an_order_line_is_added() {
    let dest = PrivateKeySigner::random();
    let expected = EthAddress::from(dest.address());
    let v2 = receipt_v2();
    let v1_signature = ForwardReceipt {
        order: None,
        ..v2.clone()
    }
    .message()
    .sign(&dest)
    .unwrap();
    let message = v2.message();
    assert_eq!(
        message.verify(&v1_signature, &expected).unwrap_err(),
        wrong_signer(&message, &v1_signature, &expected)
    );
}

#[test]
fn an_order_signature_does_not_survive_a_changed_amount() {
    let payer = PrivateKeySigner::random();
    let expected = EthAddress::from(payer.address());
    let signature = order().message().sign(&payer).unwrap();
    let inflated = ForwardOrder {
        amount: "13.500000".parse().unwrap(),
        ..order()
    }
    .message();
    assert_eq!(
        inflated.verify(&signature, &expected).unwrap_err(),
        wrong_signer(&inflated, &signature, &expected)
    );
}

#[test]
fn an_order_signature_is_not_a_receipt_signature() {
    // Payer and destination may share an owner key; the tags still keep the two apart.
    let key = PrivateKeySigner::random();
    let expected = EthAddress::from(key.address());
    let signature = order().message().sign(&key).unwrap();
    let receipt = receipt_v2().message();
    assert_eq!(
        receipt.verify(&signature, &expected).unwrap_err(),
        wrong_signer(&receipt, &signature, &expected)
    );
}

#[test]
fn a_commitment_signed_by_the_payer_alone_is_not_signed_by_the_first_hop() {
    let payer = PrivateKeySigner::random();
    let first_hop = EthAddress::from(PrivateKeySigner::random().address());
    let message = commitment().message();
    let signature = message.sign(&payer).unwrap();
    message
        .verify(&signature, &EthAddress::from(payer.address()))
        .unwrap();
    assert_eq!(
        message.verify(&signature, &first_hop).unwrap_err(),
        Error::WrongSigner {
            expected: first_hop.to_string(),
            recovered: EthAddress::from(payer.address()).to_string(),
        }
    );
}

#[test]
fn a_commitment_signature_does_not_survive_a_later_lock_until() {
    let first_hop = PrivateKeySigner::random();
    let expected = EthAddress::from(first_hop.address());
    let signature = commitment().message().sign(&first_hop).unwrap();
    let extended = Commitment {
        lock_until: "2026-01-16T01:00:01Z".parse().unwrap(),
        ..commitment()
    }
    .message();
    assert_eq!(
        extended.verify(&signature, &expected).unwrap_err(),
        wrong_signer(&extended, &signature, &expected)
    );
}

fn alloy_n() -> alloy_primitives::U256 {
    "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"
        .parse()
        .unwrap()
}
