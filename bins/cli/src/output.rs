//! Printing results: text for humans, JSON for machines.

use anyhow::Result;
use serde::Serialize;

use crate::cli::Output;

/// Prints each result once, in the chosen format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    pub(crate) format: Output,
}

impl Printer {
    /// Prints `value` as JSON, or the text `text` builds.
    pub(crate) fn emit<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Result<()> {
        match self.format {
            Output::Json => json(value),
            Output::Text => {
                println!("{}", text());
                Ok(())
            }
        }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.format == Output::Json
    }
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
