//! The text forms of the wire as JSON Schema, for the OpenAPI document: one named schema per
//! canonical value of `docs/PROTOCOL.md` section 3, each a pattern that every value the
//! server's parser accepts in its canonical form matches, and that no value it refuses
//! matches. Fields name these with `#[schema(value_type = …)]`, so each pattern is written
//! once (the test below holds each one against its parser).
//!
//! Where a rule needs more than a pattern (an EIP-55 checksum, a point on the curve, a
//! signature that verifies), the pattern admits the form and the description names the rule.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, RefOr, Schema, Type},
};

/// Declares a string schema: type, schema name, pattern, length bounds, description, example.
macro_rules! text_schemas {
    ($($(#[doc = $doc:literal])+ $ty:ident = $name:literal {
        pattern: $pattern:expr, max_length: $max:expr, example: $example:literal $(,)?
    })+) => {
        $(
            $(#[doc = $doc])+
            #[derive(Debug, Clone, Copy)]
            pub struct $ty;

            impl $ty {
                /// The pattern (anchored).
                pub const PATTERN: &'static str = $pattern;
                /// The longest accepted text, in characters.
                pub const MAX_LENGTH: usize = $max;
            }

            impl PartialSchema for $ty {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(Self::PATTERN))
                        .max_length(Some(Self::MAX_LENGTH))
                        .description(Some(concat!($($doc, "\n"),+).trim()))
                        .examples([$example])
                        .into()
                }
            }

            impl ToSchema for $ty {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }
            }
        )+
    };
}

text_schemas! {
    /// An agent or object UUID: 36 characters, hyphenated `8-4-4-4-12`, hex digits in either
    /// case (rendered lowercase).
    Uuid = "Uuid" {
        pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        max_length: 36,
        example: "0b6f2a1c-3d4e-4f50-8a9b-0c1d2e3f4a5b",
    }
    /// A 32-byte hash (an object id, a transaction hash): `0x` and 64 hex digits in either
    /// case (rendered lowercase).
    Hash = "Hash" {
        pattern: "^0x[0-9a-fA-F]{64}$",
        max_length: 66,
        example: "0x9c22ff5f21f0b81b113e63f7db6da94fedef11b2119b4088b89664fb9a3cb658",
    }
    /// An Ethereum address: `0x` and 40 hex digits, all lowercase or all uppercase (rendered
    /// lowercase). EIP-55 mixed case is also accepted when its checksum is right.
    Address = "Address" {
        pattern: "^0x([0-9a-f]{40}|[0-9A-F]{40})$",
        max_length: 42,
        example: "0x8ba1f109551bd432803012645ac136ddd64dba72",
    }
    /// A 65-byte secp256k1 signature `r ‖ s ‖ v`: `0x` and 130 hex digits, `v` being 0, 1, 27
    /// or 28. It must also be canonical (`0 < r`, `0 < s ≤ n/2`) and verify against the
    /// signer the route names: a well-formed signature that does not is refused with
    /// `invalid_signature`.
    Signature = "Signature" {
        pattern: "^0x[0-9a-fA-F]{128}(00|01|1[bB]|1[cC])$",
        max_length: 132,
        example: "0x3f1d4e0c9b0a8e1c5d3b2a19f8e7d6c5b4a392817f6e5d4c3b2a1908f7e6d5c43f1d4e0c9b0a8e1c5d3b2a19f8e7d6c5b4a392817f6e5d4c3b2a1908f7e6d5c41b",
    }
    /// A chain name: 1 to 50 of `a-z`, `0-9` and `-`.
    Chain = "Chain" {
        pattern: "^[a-z0-9-]{1,50}$",
        max_length: 50,
        example: "base",
    }
    /// An instant, RFC 3339 with whole seconds and any UTC offset (rendered in UTC with `Z`):
    /// `2026-01-16T00:00:00Z`. A zero fraction (`.000`) is accepted; a non-zero one, a leap
    /// second and a day that the month does not have are not (the pattern admits days 01–28
    /// of every month; 29–31 are accepted where the month has them).
    Timestamp = "Timestamp" {
        pattern: "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.0{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$",
        max_length: 35,
        example: "2026-01-16T00:00:00Z",
    }
    /// A signed USDC amount (protocol v2), in its only form: the whole part without leading
    /// zeros, a dot and exactly six decimals, at most `9223372036854.775807`.
    Amount = "Amount" {
        pattern: "^(0|[1-9][0-9]{0,11})\\.[0-9]{6}$",
        max_length: 20,
        example: "12.500000",
    }
    /// A USDC amount that is not signed (a stake, an extracted value): decimal digits with at
    /// most six decimals, e.g. `1500.25`, at most `9223372036854.775807`.
    Decimal = "DecimalUsdc" {
        pattern: "^[0-9]{1,12}(\\.[0-9]{1,6})?$",
        max_length: 19,
        example: "1500.25",
    }
    /// An operational key: an address (`0x` and 40 hex digits) or a secp256k1 point, `0x04`
    /// and 128 hex digits (uncompressed) or `0x02`/`0x03` and 64 (compressed); a point must lie
    /// on the curve.
    Pubkey = "Pubkey" {
        pattern: "^0x([0-9a-f]{40}|[0-9A-F]{40}|04[0-9a-fA-F]{128}|0[23][0-9a-fA-F]{64})$",
        max_length: 132,
        example: "0x8ba1f109551bd432803012645ac136ddd64dba72",
    }
    /// An endpoint: an absolute `https` URL (`http` only to a loopback host) without
    /// credentials, at most 2048 bytes, signed and stored verbatim. (The pattern admits host
    /// names of at most nine labels, the last starting with a letter, each made of runs of at
    /// most 8 letters or digits joined by single hyphens, so never the IDNA prefix `xn--`;
    /// longer names, IP literals and valid IDNA names are accepted too.)
    EndpointUri = "EndpointUri" {
        pattern: "^https://([a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,6}\\.){0,8}[a-z][a-z0-9]{0,7}(-[a-z0-9]{1,8}){0,6}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?$",
        max_length: 2048,
        example: "https://agent.example/x402",
    }
    /// Text without control characters (U+0000–U+001F, U+007F).
    FreeText = "FreeText" {
        pattern: "^[^\\u0000-\\u001F\\u007F]*$",
        max_length: 2048,
        example: "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    }
}

/// Declares a string schema whose values are an enumeration.
macro_rules! enum_schemas {
    ($($(#[doc = $doc:literal])+ $ty:ident = $name:literal [$($value:literal),+ $(,)?])+) => {
        $(
            $(#[doc = $doc])+
            #[derive(Debug, Clone, Copy)]
            pub struct $ty;

            impl $ty {
                /// Every accepted value.
                pub const VALUES: &'static [&'static str] = &[$($value),+];
            }

            impl PartialSchema for $ty {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(Self::VALUES.iter().copied()))
                        .description(Some(concat!($($doc, "\n"),+).trim()))
                        .into()
                }
            }

            impl ToSchema for $ty {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }
            }
        )+
    };
}

enum_schemas! {
    /// An agent's status.
    AgentStatus = "AgentStatus" ["active", "suspended", "revoked"]
    /// The kind of an MEV incident.
    AttackType = "AttackType" ["frontrun", "sandwich", "timebandit", "extraction_loop"]
}

/// The `error` of an error answer and the `reason` of an unsafe verdict: one of the stable
/// codes of [`super::ErrorCode`].
#[derive(Debug, Clone, Copy)]
pub struct ErrorCodes;

impl PartialSchema for ErrorCodes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(super::ErrorCode::ALL.iter().map(|code| code.as_str())))
            .description(Some("A stable snake_case reason code"))
            .into()
    }
}

impl ToSchema for ErrorCodes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// Text with no U+0000, the one character neither database stores.
fn text_without_nul() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[^\\u0000]*$"))
}

/// Any JSON value whose strings and object keys hold no U+0000 (at any depth).
#[derive(Debug, Clone, Copy)]
pub struct JsonWithoutNul;

impl PartialSchema for JsonWithoutNul {
    fn schema() -> RefOr<Schema> {
        let this = || Ref::from_schema_name(Self::name());
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(text_without_nul())
            .item(ArrayBuilder::new().items(this()))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property_names(Some(text_without_nul()))
                    .additional_properties(Some(this())),
            )
            .description(Some(
                "Any JSON value whose strings and object keys hold no U+0000 (no database \
                 stores it)",
            ))
            .into()
    }
}

impl ToSchema for JsonWithoutNul {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JsonWithoutNul")
    }
}

/// An ERC-8004 registration file: any JSON object, stored as sent, whose strings and keys
/// hold no U+0000 at any depth.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationFile;

impl PartialSchema for RegistrationFile {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(text_without_nul()))
            .additional_properties(Some(Ref::from_schema_name(JsonWithoutNul::name())))
            .description(Some(
                "An ERC-8004 registration file: any JSON object, stored as sent; no string or \
                 key in it may hold U+0000 (no database stores it)",
            ))
            .into()
    }
}

impl ToSchema for RegistrationFile {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RegistrationFile")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            JsonWithoutNul::name().into_owned(),
            JsonWithoutNul::schema(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::Usdc;

    #[test]
    fn every_agent_status_the_schema_lists_parses_and_no_other() {
        for value in AgentStatus::VALUES {
            assert!(crate::AgentStatus::parse(value).is_some(), "{value}");
        }
        let all = [
            crate::AgentStatus::Active,
            crate::AgentStatus::Suspended,
            crate::AgentStatus::Revoked,
        ];
        assert_eq!(all.len(), AgentStatus::VALUES.len());
        for status in all {
            assert!(AgentStatus::VALUES.contains(&status.as_str()));
        }
    }

    /// Strings the (anchored) pattern matches; proptest's generator takes it unanchored.
    fn matches(pattern: &str) -> impl Strategy<Value = String> {
        let inner = pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .expect("an anchored pattern");
        proptest::string::string_regex(inner).expect("a valid pattern")
    }

    proptest! {
        #[test]
        fn every_uuid_the_pattern_admits_parses(s in matches(Uuid::PATTERN)) {
            prop_assert!(kagami_crypto::parse_uuid(&s).is_ok(), "{s}");
        }

        #[test]
        fn every_hash_the_pattern_admits_parses(s in matches(Hash::PATTERN)) {
            prop_assert!(s.parse::<kagami_crypto::Hash32>().is_ok(), "{s}");
        }

        #[test]
        fn every_address_the_pattern_admits_parses(s in matches(Address::PATTERN)) {
            prop_assert!(s.parse::<kagami_crypto::EthAddress>().is_ok(), "{s}");
        }

        #[test]
        fn every_chain_the_pattern_admits_parses(s in matches(Chain::PATTERN)) {
            prop_assert!(s.parse::<kagami_crypto::Chain>().is_ok(), "{s}");
        }

        #[test]
        fn every_timestamp_the_pattern_admits_parses(s in matches(Timestamp::PATTERN)) {
            prop_assert!(s.parse::<kagami_crypto::Timestamp>().is_ok(), "{s}");
        }

        #[test]
        fn every_amount_the_pattern_admits_parses(s in matches(Amount::PATTERN)) {
            prop_assert!(s.parse::<kagami_crypto::Amount>().is_ok(), "{s}");
        }

        #[test]
        fn every_decimal_the_pattern_admits_parses(s in matches(Decimal::PATTERN)) {
            prop_assert!(s.parse::<Usdc>().is_ok(), "{s}");
        }

        #[test]
        fn every_endpoint_the_pattern_admits_parses(s in matches(EndpointUri::PATTERN)) {
            prop_assert!(crate::EndpointUri::parse(&s, &crate::Policy::default()).is_ok(), "{s}");
        }

        #[test]
        fn every_address_pubkey_the_pattern_admits_parses(
            s in matches("^0x([0-9a-f]{40}|[0-9A-F]{40})$")
        ) {
            prop_assert!(s.parse::<kagami_crypto::Pubkey>().is_ok(), "{s}");
        }
    }
}
