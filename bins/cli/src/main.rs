//! `kagami`: the agent-side command line of Kagami. Signs manifests, orders, receipts,
//! commitments, cycle reports and revocations with a local key, talks to the service through `kagami-client`, renders a
//! payment's forward trail, and verifies signatures offline.

mod cli;
mod commands;
mod import;
mod keys;
mod log;
mod output;
mod trace;
mod verify;

use std::{io::Read, path::Path, process::ExitCode};

use anyhow::{Context as _, Result};
use clap::{CommandFactory, Parser};
use kagami_client::KagamiClient;
use kagami_crypto::PrivateKeySigner;

use crate::{
    cli::{
        AgentsCommand, Cli, Command, CommitmentCommand, CycleCommand, ForwardCommand, Global,
        KeyCommand, LogCommand, ManifestCommand, ReceiptCommand,
    },
    output::Printer,
};

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Success, or a positive answer.
    Ok,
    /// A negative answer (invalid signature, unsafe forward, ...): exit status 1.
    Negative,
}

/// What every command may need: the global flags and the printer.
pub(crate) struct Context {
    pub(crate) global: Global,
    pub(crate) out: Printer,
}

impl Context {
    /// A client for `--server`, with `--api-key` and `--timeout`.
    pub(crate) fn client(&self) -> Result<KagamiClient> {
        let mut builder = KagamiClient::builder(&self.global.server).timeout(self.global.timeout);
        if let Some(key) = self
            .global
            .api_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
        {
            builder = builder.api_key(key);
        }
        builder.build().context("invalid --server")
    }

    /// The signing key from `--key-file` or `KAGAMI_PRIVATE_KEY`.
    pub(crate) fn key(&self) -> Result<PrivateKeySigner> {
        keys::load(self.global.key_file.as_deref())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.global.verbose;
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::Negative) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            if verbose {
                for cause in error.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<Status> {
    let ctx = Context {
        out: Printer {
            format: cli.global.output,
        },
        global: cli.global,
    };
    match cli.command {
        Command::Key(KeyCommand::New { out, force }) => commands::key_new(&ctx, out, force),
        Command::Key(KeyCommand::Address) => commands::key_address(&ctx),
        Command::Manifest(ManifestCommand::Message(args)) => {
            commands::manifest_message(&ctx, &args).await
        }
        Command::Manifest(ManifestCommand::Sign(args)) => {
            commands::manifest_sign(&ctx, &args).await
        }
        Command::Manifest(ManifestCommand::Publish(args)) => {
            commands::manifest_publish(&ctx, &args).await
        }
        Command::Manifest(ManifestCommand::Revoke(args)) => {
            commands::manifest_revoke(&ctx, &args).await
        }
        Command::Forward(ForwardCommand::Verify(args)) => {
            commands::forward_verify(&ctx, &args).await
        }
        Command::Forward(ForwardCommand::Order(args)) => commands::forward_order(&ctx, &args).await,
        Command::Forward(ForwardCommand::Record(args)) => {
            commands::forward_record(&ctx, &args).await
        }
        Command::Receipt(ReceiptCommand::Sign(args)) => commands::receipt_sign(&ctx, &args),
        Command::Cycle(CycleCommand::Report(args)) => commands::cycle_report(&ctx, &args).await,
        Command::Commitment(CommitmentCommand::Message(args)) => {
            commands::commitment_message(&ctx, &args)
        }
        Command::Commitment(CommitmentCommand::Sign(args)) => {
            commands::commitment_sign(&ctx, &args)
        }
        Command::Commitment(CommitmentCommand::Create(args)) => {
            commands::commitment_create(&ctx, &args).await
        }
        Command::Ledger(args) => commands::ledger(&ctx, &args).await,
        Command::Trace(args) => commands::trace(&ctx, &args).await,
        Command::Verify(args) => verify::run(&args, &ctx.out),
        Command::Log(LogCommand::Checkpoint) => log::checkpoint(&ctx.client()?).await,
        Command::Log(LogCommand::Proof { kind, key, out }) => {
            log::proof(&ctx.client()?, &kind, &key, out.as_deref()).await
        }
        Command::Log(LogCommand::VerifyProof { file, log_key }) => {
            log::verify_proof(&file, &log_key, &ctx.out)
        }
        Command::Log(LogCommand::Monitor { state, log_key }) => {
            log::check_state_path(&state)?;
            log::monitor(&ctx.client()?, &state, &log_key, &ctx.out).await
        }
        Command::Agents(AgentsCommand::Import { file }) => {
            import::run(&ctx.client()?, &file, &ctx.out).await
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kagami", &mut script);
            output::print(&String::from_utf8_lossy(&script))?;
            Ok(Status::Ok)
        }
    }
}

/// The bytes of `path`, or of stdin for `-`.
pub(crate) fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        Ok(bytes)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}
