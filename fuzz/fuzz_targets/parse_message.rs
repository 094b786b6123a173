//! `kagami_crypto::parse_message` on raw bytes.
//!
//! Properties: never panics; anything it accepts is UTF-8 that re-renders byte-identical
//! from the parsed fields (so only canonical text is accepted), with the id of those bytes;
//! every rejection names a line that exists (or the one after the last, for a missing field)
//! and a trailing LF is always reported as such.

#![no_main]

use kagami_crypto::{ParseError, parse_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let line_count = text.split('\n').count();
    match parse_message(text) {
        Ok(parsed) => {
            let rendered = parsed.message();
            assert_eq!(rendered.as_str(), text, "accepted text is not canonical");
            assert_eq!(rendered.id(), parsed.id());
            let digest = kagami_crypto::sha256(&[data]);
            assert_eq!(rendered.id().as_bytes(), &digest);
            assert!(text.starts_with(parsed.tag()));
            // Parsing the rendering again is a fixed point.
            assert_eq!(parse_message(rendered.as_str()), Ok(parsed));
        }
        Err(ParseError::TrailingLineFeed) => assert!(text.ends_with('\n')),
        Err(e) => {
            assert!(!text.ends_with('\n'), "{e}");
            let line = match &e {
                ParseError::CarriageReturn { line }
                | ParseError::MalformedLine { line, .. }
                | ParseError::UnexpectedKey { line, .. }
                | ParseError::InvalidValue { line, .. }
                | ParseError::NotCanonical { line, .. }
                | ParseError::OutOfRange { line, .. }
                | ParseError::TrailingLine { line, .. } => *line,
                ParseError::MissingField { line, .. } => {
                    assert_eq!(*line, line_count + 1, "{e}");
                    *line
                }
                ParseError::UnknownTag { .. } => 1,
                ParseError::TrailingLineFeed => unreachable!("matched above"),
            };
            assert!((1..=line_count + 1).contains(&line), "{e}");
            // The message renders (Display) without panicking.
            let _ = e.to_string();
        }
    }
});
