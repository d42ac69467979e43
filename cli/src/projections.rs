//! `freshline projections ...`: rebuild a projection without downtime; re-apply dead events.

use anyhow::{bail, Context};
use clap::Subcommand;
use platform::config::defaults;
use projectors::runtime::{Projection, RunnerConfig};
use std::io::IsTerminal;
use std::sync::Arc;

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Replay a projection from offset 0 into fresh tables while the live ones keep serving,
    /// then swap them in atomically.
    Rebuild {
        /// The projection (`suppliers`).
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Apply the live generation's dead events again.
    RetryDead {
        /// The projection (`suppliers`).
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
}

#[derive(Debug, clap::Args)]
pub struct Connection {
    /// PostgreSQL URL.
    #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
    database_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "FRESHLINE_KAFKA_BROKERS", default_value = defaults::KAFKA_BROKERS)]
    brokers: String,
    /// Topic prefix.
    #[arg(long, env = "FRESHLINE_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// The schema readers use.
    #[arg(long, env = "FRESHLINE_READ_SCHEMA", default_value = "read")]
    schema: String,
}

fn projection(name: &str) -> anyhow::Result<Arc<dyn Projection>> {
    match projectors::by_name(name) {
        Some(p) => Ok(p),
        None => bail!(
            "unknown projection {name:?}; known: {}",
            projectors::all()
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub async fn run(cmd: ProjectionsCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectionsCommand::Rebuild { name, conn } => {
            let projection = projection(&name)?;
            let pool = platform::db::pool(&secrecy::SecretString::from(conn.database_url), 8)?;
            let mut cfg = RunnerConfig::new(&conn.brokers);
            cfg.topic_prefix = conn.topic_prefix;
            cfg.schema = conn.schema;
            let tty = std::io::stderr().is_terminal();
            let done = projectors::rebuild::rebuild(&pool, projection, &cfg, |p| {
                let eta = p
                    .eta
                    .map_or_else(|| "?".to_owned(), |d| format!("{}s", d.as_secs()));
                let line = format!(
                    "{name}: {}/{} events, {:.0} events/s, ETA {eta}",
                    p.consumed, p.total, p.per_second
                );
                if tty {
                    eprint!("\r{line}   ");
                } else {
                    eprintln!("{line}");
                }
            })
            .await
            .context("rebuild failed; the live read model is untouched")?;
            if tty {
                eprintln!();
            }
            println!(
                "{name}: generation {} replaced generation {} ({} events in {:.1}s, {:.0} events/s)",
                done.to_generation,
                done.from_generation,
                done.consumed,
                done.elapsed.as_secs_f64(),
                done.consumed as f64 / done.elapsed.as_secs_f64().max(0.001)
            );
            Ok(())
        }
        ProjectionsCommand::RetryDead { name, conn } => {
            let projection = projection(&name)?;
            let pool = platform::db::pool(&secrecy::SecretString::from(conn.database_url), 2)?;
            let r =
                projectors::rebuild::retry_dead(&pool, projection.as_ref(), &conn.schema).await?;
            println!(
                "{name}: {} dead events applied, {} still dead",
                r.applied, r.still_dead
            );
            Ok(())
        }
    }
}
