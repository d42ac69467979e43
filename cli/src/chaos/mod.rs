//! `freshline chaos ...`: the pieces of the fault harness (`infra/local/chaos.sh`, `make
//! chaos`). The script runs the stack and injects the faults; these commands put load on it
//! while it does ([`load`]), check the invariants once it drained ([`check`]) and write the
//! report ([`report`]).

pub mod check;
pub mod ledger;
pub mod load;
pub mod report;

use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// Mixed load from clients that retry each command with its Idempotency-Key until it is
    /// answered; every answer goes to the ledger.
    Load {
        /// command-api replicas, comma-separated (requests go round robin).
        #[arg(long, value_delimiter = ',')]
        api: Vec<String>,
        /// The token signing key (`freshline token keygen`).
        #[arg(long)]
        key: PathBuf,
        /// How long the load runs.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Clients at once.
        #[arg(long, default_value_t = 6)]
        concurrency: usize,
        /// The longest a client keeps trying one command.
        #[arg(long, default_value_t = 240)]
        patience_secs: u64,
        /// The ledger (JSON lines, appended).
        #[arg(long)]
        ledger: PathBuf,
        /// Names this run's data.
        #[arg(long)]
        run: String,
    },
    /// Waits for the stack to drain, then checks every invariant; appends the verdicts of
    /// `phase` to `results` (JSON lines). Exits non-zero when one is broken.
    Check {
        /// The phase (fault) these verdicts belong to.
        #[arg(long)]
        phase: String,
        /// The phase's ledger.
        #[arg(long)]
        ledger: PathBuf,
        /// Where verdicts are appended.
        #[arg(long)]
        results: PathBuf,
        #[command(flatten)]
        conn: crate::projections::Connection,
        /// The SMTP sink's Maildir.
        #[arg(long)]
        maildir: PathBuf,
        /// How long to wait for the stack to drain.
        #[arg(long, default_value_t = 180)]
        drain_secs: u64,
    },
    /// Writes the faults x invariants table (Markdown) from the verdicts and the faults'
    /// recovery times.
    Report {
        /// Verdicts (`check --results`).
        #[arg(long)]
        results: PathBuf,
        /// The faults as the harness injected them (JSON lines).
        #[arg(long)]
        faults: PathBuf,
        /// Where the Markdown goes.
        #[arg(long)]
        out: PathBuf,
        /// A line saying how the run was made.
        #[arg(long, default_value = "")]
        title: String,
    },
}

pub async fn run(cmd: ChaosCommand) -> anyhow::Result<()> {
    match cmd {
        ChaosCommand::Load {
            api,
            key,
            seconds,
            concurrency,
            patience_secs,
            ledger,
            run,
        } => {
            let ledger = ledger::Ledger::append_to(&ledger).context("opening the ledger")?;
            let plan = load::Plan {
                apis: api,
                signer: crate::demo::signer(&key)?,
                duration: Duration::from_secs(seconds),
                concurrency,
                patience: Duration::from_secs(patience_secs),
                run,
            };
            let done = load::run(plan, ledger.clone()).await;
            ledger.flush();
            done
        }
        ChaosCommand::Check {
            phase,
            ledger,
            results,
            conn,
            maildir,
            drain_secs,
        } => {
            let stack = check::Stack {
                pool: platform::db::pool(&secrecy::SecretString::from(conn.database_url), 4)?,
                brokers: conn.brokers,
                topic_prefix: conn.topic_prefix,
                read_schema: conn.schema,
                maildir,
            };
            let entries = ledger::read(&ledger).context("reading the ledger")?;
            let started = std::time::Instant::now();
            let moving = check::drain(&stack, Duration::from_secs(drain_secs)).await?;
            eprintln!(
                "{phase}: drained in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let started = std::time::Instant::now();
            if !moving.is_empty() {
                eprintln!(
                    "{phase}: not drained after {drain_secs} s: {}",
                    moving.join(", ")
                );
            }
            let verdicts = check::check(&stack, &entries).await?;
            eprintln!(
                "{phase}: checked in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            let broken = verdicts.iter().filter(|v| !v.held).count();
            for v in &verdicts {
                eprintln!(
                    "{phase}: {} {}: {}",
                    if v.held { "held  " } else { "BROKEN" },
                    v.name,
                    v.detail
                );
            }
            report::append(&results, &phase, &moving, &verdicts)?;
            anyhow::ensure!(broken == 0, "{phase}: {broken} invariants broken");
            Ok(())
        }
        ChaosCommand::Report {
            results,
            faults,
            out,
            title,
        } => report::write(&results, &faults, &out, &title),
    }
}
