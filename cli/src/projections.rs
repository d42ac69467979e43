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
        /// Where the events come from: `kafka` (the topics from offset 0) or `store` (the
        /// event store, then Kafka for what came after; for topics with finite retention).
        #[arg(long, default_value = "kafka", value_parser = ["kafka", "store"])]
        from: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// List the live generation's dead events and the events waiting behind them.
    Dead {
        /// The projection (`suppliers`).
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Apply the live generation's dead events again (and the events waiting behind them).
    RetryDead {
        /// The projection (`suppliers`).
        name: String,
        #[command(flatten)]
        conn: Connection,
    },
    /// Give up on one dead event: its stream goes on with the events waiting behind it.
    Skip {
        /// The projection (`suppliers`).
        name: String,
        /// The dead event's topic.
        #[arg(long)]
        topic: String,
        /// Its partition.
        #[arg(long)]
        partition: i32,
        /// Its offset.
        #[arg(long)]
        offset: i64,
        /// Why it is given up (recorded with the skip).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        conn: Connection,
    },
}

#[derive(Debug, clap::Args)]
pub struct Connection {
    /// PostgreSQL URL.
    #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
    pub(crate) database_url: String,
    /// Kafka bootstrap servers.
    #[arg(long, env = "FRESHLINE_KAFKA_BROKERS", default_value = defaults::KAFKA_BROKERS)]
    pub(crate) brokers: String,
    /// Topic prefix.
    #[arg(long, env = "FRESHLINE_TOPIC_PREFIX", default_value = "")]
    pub(crate) topic_prefix: String,
    /// The schema readers use.
    #[arg(long, env = "FRESHLINE_READ_SCHEMA", default_value = "read")]
    pub(crate) schema: String,
}

/// A row of `dead_events`, as listed.
#[derive(Debug, sqlx::FromRow)]
struct DeadRow {
    state: String,
    topic: String,
    partition: i32,
    kafka_offset: i64,
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    sequence: Option<i64>,
    event_type: Option<String>,
    error: String,
    attempts: i32,
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
        ProjectionsCommand::Rebuild { name, from, conn } => {
            let source = if from == "store" {
                projectors::rebuild::Source::Store
            } else {
                projectors::rebuild::Source::Kafka
            };
            let projection = projection(&name)?;
            let pool = platform::db::pool(&secrecy::SecretString::from(conn.database_url), 8)?;
            let mut cfg = RunnerConfig::new(&conn.brokers);
            cfg.topic_prefix = conn.topic_prefix;
            cfg.schema = conn.schema;
            let tty = std::io::stderr().is_terminal();
            let done = projectors::rebuild::rebuild(&pool, projection, &cfg, source, |p| {
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
                "{name}: {} dead or waiting events applied, {} still dead or waiting",
                r.applied, r.still_dead
            );
            Ok(())
        }
        ProjectionsCommand::Dead { name, conn } => {
            let projection = projection(&name)?;
            let pool = platform::db::pool(&secrecy::SecretString::from(conn.database_url), 2)?;
            let live =
                projectors::runtime::prepare_live(&pool, projection.as_ref(), &conn.schema).await?;
            let physical = projectors::runtime::physical_schema(&conn.schema, &name, live);
            let rows: Vec<DeadRow> =
                sqlx::query_as(&format!(
                    "SELECT state, topic, partition, kafka_offset, aggregate_type, aggregate_id, sequence,
                            event_type, error, attempts
                       FROM {physical}.dead_events WHERE projection = $1
                      ORDER BY aggregate_type NULLS FIRST, aggregate_id, sequence, kafka_offset"
                ))
                .bind(&name)
                .fetch_all(&pool)
                .await?;
            for r in &rows {
                println!(
                    "{:8} {}/{}@{} {} {} #{} {} (attempts {}): {}",
                    r.state,
                    r.topic,
                    r.partition,
                    r.kafka_offset,
                    r.aggregate_type.as_deref().unwrap_or("-"),
                    r.aggregate_id.as_deref().unwrap_or("-"),
                    r.sequence.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    r.event_type.as_deref().unwrap_or("-"),
                    r.attempts,
                    r.error,
                );
            }
            println!("{name}: {} rows", rows.len());
            Ok(())
        }
        ProjectionsCommand::Skip {
            name,
            topic,
            partition,
            offset,
            reason,
            conn,
        } => {
            let projection = projection(&name)?;
            let pool = platform::db::pool(&secrecy::SecretString::from(conn.database_url), 2)?;
            let by = format!("cli:{}", platform::config::string("USER", "unknown"));
            let r = projectors::rebuild::skip(
                &pool,
                projection.as_ref(),
                &conn.schema,
                &projectors::rebuild::SkipRequest {
                    topic: &topic,
                    partition,
                    offset,
                    by: &by,
                    reason: &reason,
                },
            )
            .await
            .with_context(|| format!("no dead event of {name} at {topic}/{partition}@{offset}"))?;
            println!(
                "{name}: skipped {topic}/{partition}@{offset}; {} events applied after it, {} still dead or waiting",
                r.retried.applied, r.retried.still_dead
            );
            Ok(())
        }
    }
}
