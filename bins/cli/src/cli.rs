//! The command line: every command, flag and environment variable.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

const AFTER_HELP: &str = "\
Exit status: 0 success (valid signature, safe forward); 1 a negative answer (invalid \
signature, unsafe forward, a recorded hop that closed a cycle, a ledger that does not balance, \
import lines that failed); 2 an error (usage, unreadable file, unreachable service, rejected \
request).

The private key is read from --key-file, or from KAGAMI_PRIVATE_KEY (the key itself as 0x + \
64 hex digits, or the path of a key file). It is never printed or logged.";

/// kagami: sign, publish, verify and trace agent payment forwards with the Kagami service.
#[derive(Parser)]
#[command(name = "kagami", version, propagate_version = true, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command accepts.
#[derive(Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Global {
    /// The Kagami service.
    #[arg(
        long,
        global = true,
        env = "KAGAMI_SERVER",
        default_value = "http://127.0.0.1:8000",
        value_name = "URL"
    )]
    pub(crate) server: String,
    /// API key for writes (client or admin) and admin commands (admin).
    #[arg(
        long,
        global = true,
        env = "KAGAMI_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub(crate) api_key: Option<String>,
    /// File holding the signing key (0x + 64 hex digits); defaults to KAGAMI_PRIVATE_KEY.
    #[arg(long, global = true, env = "KAGAMI_KEY_FILE", value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// Per-request timeout, e.g. 30s or 2m.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) timeout: Duration,
    /// On errors, also print the chain of causes.
    #[arg(long, short, global = true)]
    pub(crate) verbose: bool,
}

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// For humans.
    Text,
    /// JSON, for machines.
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a signing key or show its address.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Build, sign, publish and revoke endpoint manifests.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Check a forward before paying, sign its order, and record the hop after.
    #[command(subcommand)]
    Forward(ForwardCommand),
    /// Acknowledge a payer's order with a signed receipt (as the receiving agent).
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Report payment cycles (as a watcher).
    #[command(subcommand)]
    Cycle(CycleCommand),
    /// Co-sign and create time-locked commitments of high-value payments.
    #[command(subcommand)]
    Commitment(CommitmentCommand),
    /// Show the ledger of slashed money: totals, whether they balance, the newest entries.
    /// Exit status 1 when it does not balance.
    Ledger(LedgerArgs),
    /// Show the forward graph of a payment as a tree.
    Trace(TraceArgs),
    /// Verify a signature offline: exit status 0 when valid, 1 when not. A Kagami protocol
    /// message (v1 or v2) must also be its canonical text.
    Verify(VerifyArgs),
    /// Manage agents (admin).
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// The audit log: fetch checkpoints and proofs, verify proofs offline, monitor the log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate a new key, write it to a file (mode 0600) and print its address.
    New {
        /// Where to write the key (default: --key-file).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the address of the key.
    Address,
}

#[derive(Subcommand)]
pub(crate) enum ManifestCommand {
    /// Print the exact canonical manifest text that is signed (what a wallet shows).
    Message(ManifestArgs),
    /// Sign a manifest with the owner's key and print the JSON body for publish.
    Sign(ManifestArgs),
    /// Sign and publish a manifest (or publish a signed body with --body).
    #[command(
        override_usage = "kagami manifest publish --agent <UUID> --endpoint <URI> --nonce <N|auto> \
                                (--valid-for <DURATION> | --valid-until <TIME>) [OPTIONS]\n       \
                                kagami manifest publish --body <FILE> [OPTIONS]"
    )]
    Publish(PublishArgs),
    /// Revoke a manifest with the owner's key.
    Revoke(RevokeArgs),
}

/// The manifest's fields.
#[derive(Args, Clone)]
pub(crate) struct ManifestArgs {
    /// The agent's UUID.
    #[arg(long, value_name = "UUID")]
    pub(crate) agent: String,
    /// Where the agent receives forwards (https; http only to loopback).
    #[arg(long, value_name = "URI")]
    pub(crate) endpoint: String,
    /// The operational key that signs receipts: an address or a public key (default: the
    /// address of the signing key).
    #[arg(long, value_name = "KEY")]
    pub(crate) pubkey: Option<String>,
    /// The manifest nonce, or `auto` for the next one from the service.
    #[arg(long, value_name = "N|auto")]
    pub(crate) nonce: NonceArg,
    /// Window length from --valid-from (default now), e.g. 24h, 90m, 1d.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", conflicts_with = "valid_until")]
    pub(crate) valid_for: Option<Duration>,
    /// Start of the window (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    pub(crate) valid_from: Option<String>,
    /// End of the window (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub(crate) valid_until: Option<String>,
    /// The agent's chain.
    #[arg(long, env = "KAGAMI_CHAIN", default_value = "base")]
    pub(crate) chain: String,
}

#[derive(Args)]
pub(crate) struct PublishArgs {
    /// A signed body from `kagami manifest sign` (`-` for stdin) instead of the flags.
    #[arg(long, value_name = "FILE", conflicts_with = "ManifestArgs")]
    pub(crate) body: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) fields: Option<ManifestArgs>,
}

#[derive(Args)]
pub(crate) struct RevokeArgs {
    /// The agent's UUID.
    #[arg(long, value_name = "UUID")]
    pub(crate) agent: String,
    /// The manifest to revoke.
    #[arg(long, value_name = "HASH")]
    pub(crate) manifest: String,
    /// The agent's chain.
    #[arg(long, env = "KAGAMI_CHAIN", default_value = "base")]
    pub(crate) chain: String,
}

#[derive(Subcommand)]
pub(crate) enum ForwardCommand {
    /// Ask the service whether forwarding a payment to an agent is safe: exit status 0 when
    /// safe, 1 when not.
    Verify(VerifyForwardArgs),
    /// Sign an order to pay one hop with the paying agent's key and print its JSON body (the
    /// receiving agent acknowledges it with `kagami receipt sign --order FILE`).
    Order(OrderArgs),
    /// Record a hop (the payer's order and the destination's receipt): acknowledge an order
    /// as the receiving agent from the flags, or send a signed pair with --body.
    #[command(
        override_usage = "kagami forward record --order <FILE> (--next-agent <UUID> | --next-hop <HASH> | --terminal) \
                                --nonce <N|auto> [OPTIONS]\n       \
                                kagami forward record --body <FILE> [OPTIONS]"
    )]
    Record(RecordArgs),
}

/// The order's fields.
#[derive(Args, Clone)]
pub(crate) struct OrderArgs {
    /// The payment's root transaction.
    #[arg(long, value_name = "HASH")]
    pub(crate) root_tx: String,
    /// The hop: 0 for the first forward after the root payment.
    #[arg(long)]
    pub(crate) hop: u32,
    /// The paying agent (the signer).
    #[arg(long, value_name = "UUID")]
    pub(crate) from: String,
    /// The receiving agent.
    #[arg(long, value_name = "UUID")]
    pub(crate) to: String,
    /// The receiving agent's manifest you checked (default: its effective manifest, looked
    /// up on the service).
    #[arg(long, value_name = "HASH")]
    pub(crate) manifest: Option<String>,
    /// The amount paid, decimal USDC with at most 6 decimals (e.g. 12.5).
    #[arg(long, value_name = "USDC")]
    pub(crate) amount: String,
    /// The order nonce (unique per paying agent), or `auto` (Unix time in milliseconds).
    #[arg(long, value_name = "N|auto")]
    pub(crate) nonce: NonceArg,
    /// The payment's chain.
    #[arg(long, env = "KAGAMI_CHAIN", default_value = "base")]
    pub(crate) chain: String,
}

#[derive(Args)]
pub(crate) struct VerifyForwardArgs {
    /// The payment's root transaction.
    #[arg(long, value_name = "HASH")]
    pub(crate) root_tx: String,
    /// The agent about to pay.
    #[arg(long, value_name = "UUID")]
    pub(crate) from: String,
    /// The agent about to be paid.
    #[arg(long, value_name = "UUID")]
    pub(crate) to: String,
    /// The destination's manifest (default: its effective manifest).
    #[arg(long, value_name = "HASH")]
    pub(crate) manifest: Option<String>,
}

#[derive(Args)]
pub(crate) struct RecordArgs {
    /// A signed pair from `kagami receipt sign` (`-` for stdin) instead of the flags.
    #[arg(long, value_name = "FILE", conflicts_with = "ReceiptArgs")]
    pub(crate) body: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) fields: Option<ReceiptArgs>,
}

#[derive(Subcommand)]
pub(crate) enum ReceiptCommand {
    /// Acknowledge a payer's order with a receipt signed by the receiving agent's key and
    /// print the pair (order and receipt) as the JSON body of `kagami forward record --body`.
    Sign(ReceiptArgs),
}

/// The receipt's fields: the order it acknowledges, and the receiving agent's choices.
#[derive(Args, Clone)]
pub(crate) struct ReceiptArgs {
    /// The payer's signed order, from `kagami forward order` (`-` for stdin). The receipt
    /// takes chain, root, hop, payer, destination and manifest from it.
    #[arg(long, value_name = "FILE")]
    pub(crate) order: PathBuf,
    /// Commit to forwarding the payment to this agent next.
    #[arg(long, value_name = "UUID", conflicts_with_all = ["next_hop", "terminal"])]
    pub(crate) next_agent: Option<String>,
    /// Commit with a precomputed next-hop id.
    #[arg(long, value_name = "HASH", conflicts_with = "terminal")]
    pub(crate) next_hop: Option<String>,
    /// Commit to not forwarding this payment (next-hop: none).
    #[arg(long)]
    pub(crate) terminal: bool,
    /// The receipt nonce (unique per receiving agent), or `auto` (Unix time in milliseconds).
    #[arg(long, value_name = "N|auto")]
    pub(crate) nonce: NonceArg,
}

#[derive(Subcommand)]
pub(crate) enum CycleCommand {
    /// Sign a cycle report with your key (the bounty goes to its address) and submit it.
    Report(CycleReportArgs),
}

#[derive(Args)]
pub(crate) struct CycleReportArgs {
    /// The payment's root transaction.
    #[arg(long, value_name = "HASH")]
    pub(crate) root_tx: String,
    /// Signed hops not recorded yet: files with a record-forward body (an order and its
    /// receipt, from `kagami receipt sign`), a JSON array of them, or one per line.
    #[arg(long, value_name = "FILE")]
    pub(crate) evidence: Vec<PathBuf>,
    /// The payment's chain.
    #[arg(long, env = "KAGAMI_CHAIN", default_value = "base")]
    pub(crate) chain: String,
}

#[derive(Subcommand)]
pub(crate) enum CommitmentCommand {
    /// Print the exact canonical commitment text that is signed (what a wallet shows).
    Message(CommitmentArgs),
    /// Sign the commitment with your key (the payer's or the first hop's) and print the
    /// signature, to hand to the other party.
    Sign(CommitmentArgs),
    /// Create the commitment on the service from both parties' signatures.
    Create(CreateCommitmentArgs),
}

/// The commitment's fields: the payer and the first hop build the same commitment.
#[derive(Args, Clone)]
pub(crate) struct CommitmentArgs {
    /// The payment's root transaction.
    #[arg(long, value_name = "HASH")]
    pub(crate) root_tx: String,
    /// The root payer.
    #[arg(long, value_name = "UUID")]
    pub(crate) payer: String,
    /// The first agent the payment goes to, which keeps its routing during the lock.
    #[arg(long, value_name = "UUID")]
    pub(crate) first_hop: String,
    /// The committed routing (chosen by the payer, e.g. a hash of its route plan).
    #[arg(long, value_name = "HASH")]
    pub(crate) routing: String,
    /// The amount, decimal USDC with at most 6 decimals (at least the service's high-value
    /// threshold, 10000 by default).
    #[arg(long, value_name = "USDC")]
    pub(crate) amount: String,
    /// The end of the time lock (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub(crate) lock_until: String,
    /// The payment's chain.
    #[arg(long, env = "KAGAMI_CHAIN", default_value = "base")]
    pub(crate) chain: String,
}

#[derive(Args)]
pub(crate) struct CreateCommitmentArgs {
    #[command(flatten)]
    pub(crate) fields: CommitmentArgs,
    /// The payer's signature, from `kagami commitment sign` with the payer's key.
    #[arg(long, value_name = "SIG")]
    pub(crate) payer_signature: String,
    /// The first hop's signature, from `kagami commitment sign` with its key.
    #[arg(long, value_name = "SIG")]
    pub(crate) first_hop_signature: String,
}

#[derive(Args)]
pub(crate) struct LedgerArgs {
    /// How many entries to show, newest first (at most 1000).
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: u32,
}

#[derive(Args)]
pub(crate) struct TraceArgs {
    /// The payment's root transaction.
    #[arg(value_name = "ROOT_TX")]
    pub(crate) root_tx: String,
    /// Print the trail as JSON (same as --output json).
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The signed message text (`-` for stdin). A single trailing newline is ignored, since
    /// no canonical message ends with one.
    #[arg(long, value_name = "FILE")]
    pub(crate) message: PathBuf,
    /// The signature: 0x + 130 hex digits (r || s || v). A commitment carries two, the root
    /// payer's and the first-hop agent's: verify each with its own --expect.
    #[arg(long, value_name = "SIG")]
    pub(crate) signature: String,
    /// The address that must have signed.
    #[arg(long, value_name = "ADDRESS")]
    pub(crate) expect: Option<String>,
    /// Verify the file's bytes exactly, keeping a trailing newline.
    #[arg(long)]
    pub(crate) exact: bool,
}

#[derive(Subcommand)]
pub(crate) enum LogCommand {
    /// Print the log's newest signed checkpoint.
    Checkpoint,
    /// Fetch an object's offline proof bundle (c2sp.org/tlog-proof; its entry rides in the
    /// `extra` line).
    Proof {
        /// The entry's kind: manifest, revocation, forward, settlement, slash, payout,
        /// commitment, commitment_status, mev_incident.
        #[arg(value_name = "KIND")]
        kind: String,
        /// The object's key: a manifest or receipt hash, a settlement/commitment/incident id.
        #[arg(value_name = "KEY")]
        key: String,
        /// Write the bundle here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify a proof bundle offline, with no server: exit status 0 when the entry is in the
    /// tree of a checkpoint signed by --log-key, 1 when not.
    VerifyProof {
        /// The bundle file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The log's verifier key (name+id+key), as published by the operator.
        #[arg(long, env = "KAGAMI_LOG_KEY", value_name = "KEY")]
        log_key: String,
    },
    /// Check the log: the newest checkpoint is signed by --log-key, consistent with the last
    /// one accepted (kept in --state), and its root is what the entries hash to. Exit status
    /// 1, naming the inconsistency, when any check fails; the state only moves on success.
    Monitor {
        /// The monitor's state file (created on the first run).
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// The log's verifier key (name+id+key), as published by the operator.
        #[arg(long, env = "KAGAMI_LOG_KEY", value_name = "KEY")]
        log_key: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum AgentsCommand {
    /// Register agents from a JSON-lines file, one registration per line (admin). Safe to
    /// re-run: agents already registered are reported, not duplicated.
    Import {
        /// The file (`-` for stdin); blank lines and lines starting with `#` are skipped.
        #[arg(value_name = "FILE.jsonl")]
        file: PathBuf,
    },
}

/// A nonce: a number, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceArg {
    Auto,
    Value(u64),
}

impl std::str::FromStr for NonceArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        kagami_crypto::parse_canonical_u64(s)
            .map(Self::Value)
            .map_err(|_| format!("expected a whole number or `auto`, got {s:?}"))
    }
}

/// Parses `90s`, `15m`, `24h`, `7d`, or combinations like `1h30m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}: expected e.g. 30s, 15m, 24h, 1d or 1h30m");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        let value: u64 = digits.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_units_and_combinations() {
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        for bad in ["", "24", "h", "0s", "1x", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nonces_are_numbers_or_auto() {
        assert_eq!("auto".parse(), Ok(NonceArg::Auto));
        assert_eq!("7".parse(), Ok(NonceArg::Value(7)));
        assert!("07".parse::<NonceArg>().is_err());
        assert!("-1".parse::<NonceArg>().is_err());
    }
}
