//! `freshline`: every Freshline service, and the command line for operators and analysts, in
//! one executable (its dependencies compile and link once).
//!
//! - `freshline serve command-api | outbox-relay | query-api | projector | fulfilment-saga |
//!   notifier | image-worker | scheduler`: run one service (settings from `FRESHLINE_*`);
//! - `freshline token keygen | mint | jwks`: Ed25519 signing keys and tokens for people and
//!   services (local development and tests; production tokens come from the identity provider);
//! - `freshline topics create`: the Kafka topics defined in `schemas`;
//! - `freshline db migrate`: the PostgreSQL schema;
//! - `freshline demo seed`: demo suppliers through the real command API;
//! - `freshline load suppliers`: a short registration load, printing throughput and latency;
//! - `freshline projections rebuild | retry-dead`: rebuild a read model without downtime,
//!   re-apply dead events;
//! - `freshline bench projection | snapshots`: the replay rate of the supplier projection;
//!   command latency on a 10,000-event stream with snapshots off and on;
//! - `freshline events export | tail`: events for analysts, from the store or Kafka, as JSONL
//!   or CSV;
//! - `freshline audit verify | seal | check | keygen`: the tamper-evident history;
//! - `freshline idp realm`: the Keycloak realm, generated from the roles and scopes.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod api;
mod audit;
mod bench;
mod bench_relay;
mod catalog_demo;
mod chaos;
mod demo;
mod events;
mod fulfilment_demo;
mod fulfilment_load;
mod projections;
mod realm;
mod token;

use anyhow::Context;
use clap::{Parser, Subcommand};
use platform::config::defaults;

#[derive(Debug, Parser)]
#[command(
    name = "freshline",
    version,
    about = "Operate Freshline: tokens, topics, schema, demo data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one service until SIGTERM or Ctrl-C.
    #[command(subcommand)]
    Serve(Service),
    /// Signing keys and tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Kafka topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// The PostgreSQL schema.
    #[command(subcommand)]
    Db(DbCommand),
    /// Demo data.
    #[command(subcommand)]
    Demo(demo::DemoCommand),
    /// Load generators (short runs against a running stack).
    #[command(subcommand)]
    Load(demo::LoadCommand),
    /// Projections: rebuild without downtime, retry dead events.
    #[command(subcommand)]
    Projections(projections::ProjectionsCommand),
    /// Benchmarks of single components.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Export or follow events (for analysts).
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Verify and export the tamper-evident history.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The outbox relay's checkpoint.
    #[command(subcommand)]
    Relay(RelayCommand),
    /// The fault harness's load, invariant checks and report (`make chaos`).
    #[command(subcommand)]
    Chaos(chaos::ChaosCommand),
    /// The identity provider's configuration (the Keycloak realm).
    #[command(subcommand)]
    Idp(realm::IdpCommand),
}

#[derive(Debug, Subcommand)]
enum RelayCommand {
    /// After the database was restored from a dump (the relay stopped with
    /// `freshline_relay_checkpoint_ahead = 1`): re-base the outbox and republish from a
    /// position (consumers drop what they already have).
    RecoverRestore {
        /// PostgreSQL URL.
        #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
        database_url: String,
        /// The relay's name (`FRESHLINE_RELAY_NAME`).
        #[arg(long, env = "FRESHLINE_RELAY_NAME", default_value = "default")]
        name: String,
        /// The first global position to publish again (1: everything, the safe default).
        #[arg(long, default_value_t = 1)]
        republish_from: i64,
    },
}

/// The services (each reads its settings from `FRESHLINE_*`; see the README).
#[derive(Debug, Clone, Copy, Subcommand)]
enum Service {
    /// The write side's HTTP API.
    CommandApi,
    /// Publishes the event store to Kafka.
    OutboxRelay,
    /// The read side's HTTP API.
    QueryApi,
    /// Keeps the read models (`FRESHLINE_PROJECTIONS` chooses which).
    Projector,
    /// Carries orders through stock, payment and delivery; compensates.
    FulfilmentSaga,
    /// E-mails about orders, payments, deliveries, stock and suppliers.
    Notifier,
    /// Renditions of uploaded product images.
    ImageWorker,
    /// Batch expiry, expiring-soon and low-stock alerts.
    Scheduler,
}

impl Service {
    async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::CommandApi => command_api::serve::command_api().await,
            Self::OutboxRelay => command_api::serve::outbox_relay().await,
            Self::QueryApi => projectors::serve::query_api().await,
            Self::Projector => projectors::serve::projector().await,
            Self::FulfilmentSaga => sagas::serve::fulfilment_saga().await,
            Self::Notifier => sagas::serve::notifier().await,
            Self::ImageWorker => sagas::serve::image_worker().await,
            Self::Scheduler => sagas::serve::scheduler().await,
        }
    }
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create every event topic (existing ones are left alone).
    Create {
        /// Kafka bootstrap servers.
        #[arg(long, env = "FRESHLINE_KAFKA_BROKERS", default_value = defaults::KAFKA_BROKERS)]
        brokers: String,
        /// Prefix for every topic name.
        #[arg(long, env = "FRESHLINE_TOPIC_PREFIX", default_value = "")]
        prefix: String,
        /// Replication factor.
        #[arg(long, default_value_t = 1)]
        replication: i32,
    },
    /// List the event topics this version defines.
    List,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply pending migrations.
    Migrate {
        /// PostgreSQL URL.
        #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
        database_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(service) => service.run().await,
        Command::Token(t) => token::run(t),
        Command::Topics(TopicsCommand::Create {
            brokers,
            prefix,
            replication,
        }) => {
            let names = platform::kafka::ensure_topics(
                &brokers,
                &prefix,
                schemas::topics::ALL,
                replication,
            )
            .await
            .context("creating topics")?;
            for n in names {
                println!("{n}");
            }
            Ok(())
        }
        Command::Topics(TopicsCommand::List) => {
            for t in schemas::topics::ALL {
                println!(
                    "{}\t{}\t{} partitions",
                    t.name, t.aggregate_type, t.partitions
                );
            }
            Ok(())
        }
        Command::Db(DbCommand::Migrate { database_url }) => {
            let pool = platform::db::pool(&secrecy::SecretString::from(database_url), 2)?;
            platform::db::migrate(&pool).await.context("migrating")?;
            eprintln!("schema is up to date");
            Ok(())
        }
        Command::Relay(RelayCommand::RecoverRestore {
            database_url,
            name,
            republish_from,
        }) => {
            let pool = platform::db::pool(&secrecy::SecretString::from(database_url), 2)?;
            let r = platform::relay::recover_after_restore(&pool, &name, republish_from)
                .await
                .context("recovering the relay's checkpoint")?;
            eprintln!(
                "relay {name}: {} events re-based; publishing again from global position {}",
                r.rebased_events, r.republish_from
            );
            Ok(())
        }
        Command::Chaos(c) => chaos::run(c).await,
        Command::Idp(i) => realm::run(i),
        Command::Demo(d) => demo::run_demo(d).await,
        Command::Load(l) => demo::run_load(l).await,
        Command::Bench(b) => bench::run(b).await,
        Command::Projections(p) => projections::run(p).await,
        Command::Events(e) => events::run(e).await,
        Command::Audit(a) => audit::run(a).await,
    }
}
