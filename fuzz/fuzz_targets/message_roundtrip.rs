//! The canonical message builders and `parse_message`, from typed fields.
//!
//! Input: bytes that `arbitrary` turns into one v1 or v2 message with arbitrary (valid) typed
//! fields, including free text with `: `, non-ASCII and empty endpoints, every pubkey shape
//! and the extreme integers and timestamps. Properties: the rendered text follows the framing
//! (tag line, `key: value` lines, no CR, no trailing LF); `parse_message` gives back the same
//! kind with every field equal; re-rendering is byte-identical and keeps the id.

#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use kagami_crypto::{
    Amount, Chain, Commitment, CycleReport, EndpointManifest, EthAddress, ForwardOrder,
    ForwardReceipt, FreeText, Hash32, ManifestRevocation, NextHop, ParsedMessage, Pubkey, Signable,
    Timestamp, Uuid, parse_message,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|message: Message| {
    let (expected, rendered) = match message {
        Message::Manifest(m) => {
            let m = m.0;
            let text = m.message();
            (ParsedMessage::EndpointManifest(m), text)
        }
        Message::Receipt(r) => {
            let r = r.0;
            let text = r.message();
            (ParsedMessage::ForwardReceipt(r), text)
        }
        Message::NextHop(n) => {
            let n = n.0;
            let text = n.message();
            (ParsedMessage::NextHop(n), text)
        }
        Message::CycleReport(c) => {
            let c = c.0;
            let text = c.message();
            (ParsedMessage::CycleReport(c), text)
        }
        Message::Revocation(r) => {
            let r = r.0;
            let text = r.message();
            (ParsedMessage::ManifestRevocation(r), text)
        }
        Message::Order(o) => {
            let o = o.0;
            let text = o.message();
            (ParsedMessage::ForwardOrder(o), text)
        }
        Message::Commitment(c) => {
            let c = c.0;
            let text = c.message();
            (ParsedMessage::Commitment(c), text)
        }
    };
    let text = rendered.as_str();
    assert!(!text.ends_with('\n') && !text.contains('\r'), "{text:?}");
    let mut lines = text.split('\n');
    assert_eq!(lines.next(), Some(expected.tag()));
    for line in lines {
        let (key, _) = line.split_once(": ").expect("key: value");
        assert!(
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{line:?}"
        );
    }

    let parsed = parse_message(text).unwrap_or_else(|e| panic!("{text:?} rejected: {e}"));
    assert_eq!(parsed, expected, "{text:?}");
    assert_eq!(parsed.message(), rendered);
    assert_eq!(parsed.id(), rendered.id());
});

#[derive(Debug, Arbitrary)]
enum Message {
    Manifest(ArbManifest),
    Receipt(ArbReceipt),
    NextHop(ArbNextHop),
    CycleReport(ArbCycleReport),
    Revocation(ArbRevocation),
    Order(ArbOrder),
    Commitment(ArbCommitment),
}

#[derive(Debug)]
struct ArbOrder(ForwardOrder);
#[derive(Debug)]
struct ArbCommitment(Commitment);

impl<'a> Arbitrary<'a> for ArbOrder {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(ForwardOrder {
            chain: chain(u)?,
            root_tx: hash(u)?,
            hop: hop(u)?,
            from: uuid(u)?,
            to: uuid(u)?,
            manifest: hash(u)?,
            amount: amount(u)?,
            nonce: integer(u)?,
        }))
    }
}

impl<'a> Arbitrary<'a> for ArbCommitment {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(Commitment {
            chain: chain(u)?,
            root_tx: hash(u)?,
            payer: uuid(u)?,
            first_hop: uuid(u)?,
            routing: hash(u)?,
            amount: amount(u)?,
            lock_until: timestamp(u)?,
        }))
    }
}

/// 0, the largest amount, or anything in between.
fn amount(u: &mut Unstructured<'_>) -> Result<Amount> {
    let micros = match u.int_in_range(0..=2u8)? {
        0 => 0,
        1 => Amount::MAX_MICROS,
        _ => u.int_in_range(0..=Amount::MAX_MICROS)?,
    };
    Ok(Amount::from_micros(micros).expect("in range"))
}

#[derive(Debug)]
struct ArbManifest(EndpointManifest);
#[derive(Debug)]
struct ArbReceipt(ForwardReceipt);
#[derive(Debug)]
struct ArbNextHop(NextHop);
#[derive(Debug)]
struct ArbCycleReport(CycleReport);
#[derive(Debug)]
struct ArbRevocation(ManifestRevocation);

impl<'a> Arbitrary<'a> for ArbManifest {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(EndpointManifest {
            chain: chain(u)?,
            agent: uuid(u)?,
            endpoint: free_text(u)?,
            pubkey: pubkey(u)?,
            nonce: integer(u)?,
            valid_from: timestamp(u)?,
            valid_until: timestamp(u)?,
        }))
    }
}

impl<'a> Arbitrary<'a> for ArbReceipt {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(ForwardReceipt {
            chain: chain(u)?,
            root_tx: hash(u)?,
            hop: hop(u)?,
            from: uuid(u)?,
            to: uuid(u)?,
            manifest: hash(u)?,
            // v2 (naming an order) or v1.
            order: if u.arbitrary()? { Some(hash(u)?) } else { None },
            next_hop: if u.arbitrary()? { Some(hash(u)?) } else { None },
            nonce: integer(u)?,
        }))
    }
}

impl<'a> Arbitrary<'a> for ArbNextHop {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(NextHop {
            root_tx: hash(u)?,
            to: uuid(u)?,
        }))
    }
}

impl<'a> Arbitrary<'a> for ArbCycleReport {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(CycleReport {
            chain: chain(u)?,
            root_tx: hash(u)?,
            reporter: address(u)?,
        }))
    }
}

impl<'a> Arbitrary<'a> for ArbRevocation {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(Self(ManifestRevocation {
            chain: chain(u)?,
            agent: uuid(u)?,
            manifest: hash(u)?,
        }))
    }
}

/// `[a-z0-9-]{1,50}`.
fn chain(u: &mut Unstructured<'_>) -> Result<Chain> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
    let len = u.int_in_range(1..=Chain::MAX_LEN)?;
    let mut name = String::with_capacity(len);
    for _ in 0..len {
        name.push(char::from(*u.choose(ALPHABET)?));
    }
    Ok(name.parse().expect("chain from its alphabet"))
}

fn uuid(u: &mut Unstructured<'_>) -> Result<Uuid> {
    Ok(Uuid::from_bytes(u.arbitrary()?))
}

fn hash(u: &mut Unstructured<'_>) -> Result<Hash32> {
    Ok(Hash32::from(u.arbitrary::<[u8; 32]>()?))
}

fn address(u: &mut Unstructured<'_>) -> Result<EthAddress> {
    Ok(EthAddress::from(alloy_primitives::Address::from(
        u.arbitrary::<[u8; 20]>()?,
    )))
}

/// Any text without control characters; often with the framing's own `": "` and newline
/// look-alikes (U+0085, U+2028) that are not control characters.
fn free_text(u: &mut Unstructured<'_>) -> Result<FreeText> {
    let raw: String = u.arbitrary()?;
    let mut text: String = raw
        .chars()
        .map(|c| {
            if c <= '\u{1f}' || c == '\u{7f}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    if u.arbitrary()? {
        text.push_str(u.choose(&[": ", "\u{85}", "\u{2028}", "nonce: 1", "none"])?);
    }
    Ok(text.parse().expect("no control characters"))
}

/// An address, or a compressed or uncompressed point of a valid secret key.
fn pubkey(u: &mut Unstructured<'_>) -> Result<Pubkey> {
    let text = match u.int_in_range(0..=2u8)? {
        0 => address(u)?.to_string(),
        shape => {
            let secret: [u8; 32] = u.arbitrary()?;
            let Ok(key) = k256::SecretKey::from_slice(&secret) else {
                return address(u).map(|a| a.to_string().parse().expect("address"));
            };
            let point = k256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                &key.public_key(),
                shape == 1,
            );
            let mut text = String::from("0x");
            for b in point.as_bytes() {
                text.push_str(&format!("{b:02x}"));
            }
            text
        }
    };
    Ok(text.parse().expect("valid pubkey text"))
}

/// Biased towards the edges: 0, 1, the largest signed and unsigned values.
fn integer(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => 0,
        1 => i64::MAX as u64,
        2 => u64::MAX,
        _ => u.arbitrary()?,
    })
}

/// 0, the policy's maximum 10, the builders' maximum, or anything.
fn hop(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => 0,
        1 => 10,
        2 => u32::MAX,
        _ => u.arbitrary()?,
    })
}

fn timestamp(u: &mut Unstructured<'_>) -> Result<Timestamp> {
    let seconds = match u.int_in_range(0..=3u8)? {
        0 => Timestamp::MIN_UNIX,
        1 => Timestamp::MAX_UNIX,
        _ => u.int_in_range(Timestamp::MIN_UNIX..=Timestamp::MAX_UNIX)?,
    };
    Ok(Timestamp::from_unix(seconds).expect("in range"))
}
