//! `kagami agents import`: bulk registration from JSON lines.

use std::path::Path;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kagami_client::{Error, KagamiClient, wire::RegisterAgentRequest};
use serde::Serialize;

use crate::{Status, output::Printer};

/// What happened to each line.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ImportReport {
    /// Newly registered.
    pub(crate) registered: Vec<Registered>,
    /// Already registered before (409): not duplicated.
    pub(crate) already_registered: Vec<LineNote>,
    /// Lines that could not be registered, and why.
    pub(crate) failed: Vec<LineNote>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Registered {
    pub(crate) line: usize,
    pub(crate) agent_uuid: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct LineNote {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// The lines to import: (1-based line number, text), blank and `#` lines skipped.
fn entries(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

pub(crate) async fn run(client: &KagamiClient, file: &Path, out: &Printer) -> Result<Status> {
    let bytes = crate::read_input(file)?;
    let Ok(text) = String::from_utf8(bytes) else {
        bail!("{} is not UTF-8 text", file.display());
    };
    let entries = entries(&text);
    let bar = ProgressBar::with_draw_target(
        Some(u64::try_from(entries.len()).unwrap_or(u64::MAX)),
        if out.is_json() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} agents {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }

    let mut report = ImportReport::default();
    for (line, entry) in entries {
        bar.set_message(format!("line {line}"));
        let request: RegisterAgentRequest = match serde_json::from_str(entry) {
            Ok(request) => request,
            Err(e) => {
                report.failed.push(LineNote {
                    line,
                    message: describe_json_error(&e),
                });
                bar.inc(1);
                continue;
            }
        };
        match client.register_agent(&request).await {
            Ok(agent) => report.registered.push(Registered {
                line,
                agent_uuid: agent.agent_uuid,
            }),
            Err(Error::Api {
                status: 409,
                message,
                ..
            }) => report.already_registered.push(LineNote { line, message }),
            Err(
                e @ Error::Api {
                    status: 401 | 403, ..
                },
            ) => {
                bar.abandon();
                return Err(anyhow::Error::new(e).context(format!(
                    "the service refused the import at line {line} (an admin API key is needed)"
                )));
            }
            Err(e @ (Error::Network { .. } | Error::Timeout { .. })) => {
                bar.abandon();
                print_summary(file, &report, out)?;
                return Err(anyhow::Error::new(e)
                    .context(format!("import stopped at line {line}; re-run to resume")));
            }
            Err(e) => report.failed.push(LineNote {
                line,
                message: e.to_string(),
            }),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    print_summary(file, &report, out)?;
    Ok(if report.failed.is_empty() {
        Status::Ok
    } else {
        Status::Negative
    })
}

fn print_summary(file: &Path, report: &ImportReport, out: &Printer) -> Result<()> {
    out.emit(report, || {
        let mut text = format!(
            "{}: {} registered, {} already registered, {} failed",
            file.display(),
            report.registered.len(),
            report.already_registered.len(),
            report.failed.len()
        );
        for agent in &report.registered {
            text.push_str(&format!(
                "\n  line {}: registered {}",
                agent.line, agent.agent_uuid
            ));
        }
        for note in &report.already_registered {
            text.push_str(&format!(
                "\n  line {}: already registered ({})",
                note.line, note.message
            ));
        }
        for note in &report.failed {
            text.push_str(&format!("\n  line {}: {}", note.line, note.message));
        }
        text
    })
}

/// A serde error for one line, without serde's `at line 1 column N` (the file's line
/// number is reported separately): syntax errors as invalid JSON, the rest as an invalid
/// registration.
fn describe_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let reason = text.strip_suffix(&suffix).unwrap_or(&text);
    if error.is_syntax() || error.is_eof() {
        format!("invalid JSON at column {}: {reason}", error.column())
    } else {
        format!("invalid registration: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_comment_lines_are_skipped_but_numbered() {
        let text = "{\"a\":1}\n\n# comment\n  {\"b\":2}  \n";
        assert_eq!(entries(text), vec![(1, "{\"a\":1}"), (4, "{\"b\":2}")]);
    }

    #[test]
    fn bad_lines_say_whether_the_json_or_the_registration_is_wrong() {
        let syntax = serde_json::from_str::<RegisterAgentRequest>("not json").unwrap_err();
        assert_eq!(
            describe_json_error(&syntax),
            "invalid JSON at column 2: expected ident"
        );
        let shape =
            serde_json::from_str::<RegisterAgentRequest>(r#"{"agent_id": "x"}"#).unwrap_err();
        let text = describe_json_error(&shape);
        assert!(
            text.starts_with("invalid registration: invalid type"),
            "{text}"
        );
        assert!(!text.contains("line 1"), "{text}");
    }
}
