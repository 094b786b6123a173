//! Printing results: text for humans, JSON for machines.

use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::Output;

/// Prints each result once, in the chosen format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Printer {
    pub(crate) format: Output,
}

impl Printer {
    /// Prints `value` as JSON, or the text `text` builds.
    pub(crate) fn emit<T: Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        match self.format {
            Output::Json => json(value),
            Output::Text => print(&format!("{}\n", text())),
        }
    }

    pub(crate) fn is_json(&self) -> bool {
        self.format == Output::Json
    }
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn json<T: Serialize>(value: &T) -> Result<()> {
    print(&format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// Writes `text` to stdout. A closed pipe (`kagami trace … | head`) is not an error.
pub(crate) fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
