//! `freshline events export | tail`: events for analysts, from the PostgreSQL store or from the
//! Kafka topics, as JSONL envelopes (the `schemas/json/envelope.schema.json` shape) or CSV.
//!
//! By default payloads are read in the current version of their event type (old versions are
//! upcast, as every Freshline reader does); `--as-stored` keeps each event exactly as written,
//! which is the form its chain `hash` covers.

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};
use futures::TryStreamExt;
use platform::config::defaults;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use schemas::Envelope;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Write the events that match the filters, then stop.
    Export {
        /// Where to read: the event store or the Kafka topics.
        #[arg(long, value_enum, default_value_t = Source::Store)]
        from: Source,
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        conn: Connection,
    },
    /// Follow the topics live and write each matching event as it arrives (Ctrl-C stops).
    Tail {
        /// Start from the beginning of the topics instead of their end.
        #[arg(long)]
        from_beginning: bool,
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        output: Output,
        #[command(flatten)]
        conn: Connection,
    },
}

/// Where events are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// The PostgreSQL event store (the source of truth), in `global_position` order.
    Store,
    /// The Kafka topics, up to their end when the export starts; per partition in order.
    Kafka,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One envelope (JSON) per line.
    Jsonl,
    /// One row per event; `metadata` and `payload` as JSON text.
    Csv,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Filter {
    /// Only this aggregate type (`Supplier`, ...).
    #[arg(long)]
    aggregate_type: Option<String>,
    /// Only this aggregate id.
    #[arg(long)]
    aggregate_id: Option<String>,
    /// Only these event types (repeat the option for several).
    #[arg(long = "event-type")]
    event_types: Vec<String>,
    /// Only events recorded at or after this instant (RFC 3339).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Only events recorded before this instant (RFC 3339).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
}

impl Filter {
    fn matches(&self, e: &Envelope) -> bool {
        self.aggregate_type
            .as_ref()
            .is_none_or(|t| *t == e.aggregate_type)
            && self
                .aggregate_id
                .as_ref()
                .is_none_or(|id| *id == e.aggregate_id)
            && (self.event_types.is_empty() || self.event_types.contains(&e.event_type))
            && self.since.is_none_or(|t| e.occurred_at >= t)
            && self.until.is_none_or(|t| e.occurred_at < t)
    }

    fn topics(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let topics: Vec<String> = schemas::topics::ALL
            .iter()
            .filter(|t| {
                self.aggregate_type
                    .as_ref()
                    .is_none_or(|a| a == t.aggregate_type)
            })
            .map(|t| schemas::topics::prefixed(prefix, t.name))
            .collect();
        if topics.is_empty() {
            bail!("no topic carries aggregate type {:?}", self.aggregate_type);
        }
        Ok(topics)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Keep each event's stored version instead of upcasting it to the current one.
    #[arg(long)]
    as_stored: bool,
}

#[derive(Debug, Clone, clap::Args)]
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
}

/// A stored event with its JSON left as text.
#[derive(Debug, sqlx::FromRow)]
struct StoreRow {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Option<String>,
    metadata: String,
    global_position: i64,
    event_id: uuid::Uuid,
    recorded_at: DateTime<Utc>,
    hash: Option<Vec<u8>>,
}

/// The envelope's JSON with payload and metadata copied through unparsed (same fields and
/// names as [`Envelope`]).
#[derive(serde::Serialize)]
struct RawEnvelope<'a> {
    event_id: uuid::Uuid,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    sequence: i64,
    global_position: i64,
    event_type: &'a str,
    event_version: u32,
    occurred_at: DateTime<Utc>,
    metadata: &'a serde_json::value::RawValue,
    payload: &'a serde_json::value::RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
}

/// Writes envelopes in the chosen format.
struct Sink {
    format: Format,
    as_stored: bool,
    out: Box<dyn Write>,
    csv: Option<csv::Writer<Box<dyn Write>>>,
    written: u64,
    bar: Option<indicatif::ProgressBar>,
}

impl Sink {
    fn open(o: &Output, expected: Option<u64>) -> anyhow::Result<Self> {
        let to_terminal = o.output.is_some() || std::io::stdout().is_terminal();
        let out: Box<dyn Write> = match &o.output {
            Some(p) => Box::new(std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            )),
            None => Box::new(std::io::BufWriter::with_capacity(
                1 << 20,
                std::io::stdout(),
            )),
        };
        // A progress bar only when someone watches: stderr is a terminal and the events are
        // not being piped somewhere.
        let bar = (std::io::stderr().is_terminal() && to_terminal).then(|| {
            let bar = match expected {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos}/{len} events {per_sec} eta {eta} {wide_bar}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let (out, csv) = match o.format {
            Format::Jsonl => (out, None),
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record([
                    "global_position",
                    "event_id",
                    "aggregate_type",
                    "aggregate_id",
                    "sequence",
                    "event_type",
                    "event_version",
                    "occurred_at",
                    "actor_sub",
                    "correlation_id",
                    "metadata",
                    "payload",
                    "hash",
                ])?;
                (Box::new(std::io::sink()) as Box<dyn Write>, Some(w))
            }
        };
        Ok(Self {
            format: o.format,
            as_stored: o.as_stored,
            out,
            csv,
            written: 0,
            bar,
        })
    }

    /// The store's fast path: payload and metadata stay JSON text, parsed only for an event
    /// that must be upcast (or for CSV's single columns).
    fn write_row(&mut self, r: &StoreRow) -> anyhow::Result<()> {
        let version = schemas::envelope::parse_version(&r.event_version)?;
        let needs_upcast = !self.as_stored
            && r.aggregate_type == schemas::aggregate_types::SUPPLIER
            && schemas::supplier::current_version(&r.event_type).is_some_and(|c| c > version);
        let payload = r
            .payload
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("not tagged with its event type"))?;
        if needs_upcast || self.format == Format::Csv {
            let envelope = Envelope {
                event_id: r.event_id,
                aggregate_type: r.aggregate_type.clone(),
                aggregate_id: r.aggregate_id.clone(),
                sequence: r.sequence,
                global_position: r.global_position,
                event_type: r.event_type.clone(),
                event_version: version,
                occurred_at: r.recorded_at,
                metadata: serde_json::from_str(&r.metadata)?,
                payload: serde_json::from_str(payload)?,
                hash: r.hash.as_deref().map(hex::encode),
            };
            return self.write(envelope);
        }
        let raw = RawEnvelope {
            event_id: r.event_id,
            aggregate_type: &r.aggregate_type,
            aggregate_id: &r.aggregate_id,
            sequence: r.sequence,
            global_position: r.global_position,
            event_type: &r.event_type,
            event_version: version,
            occurred_at: r.recorded_at,
            metadata: serde_json::from_str(&r.metadata)?,
            payload: serde_json::from_str(payload)?,
            hash: r.hash.as_deref().map(hex::encode),
        };
        serde_json::to_writer(&mut self.out, &raw)?;
        self.out.write_all(b"\n")?;
        self.count();
        Ok(())
    }

    fn count(&mut self) {
        self.written += 1;
        if let Some(bar) = &self.bar {
            if self.written.is_multiple_of(4096) {
                bar.set_position(self.written);
            }
        }
    }

    fn write(&mut self, mut e: Envelope) -> anyhow::Result<()> {
        if !self.as_stored {
            upcast(&mut e);
        }
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut self.out, &e)?;
                self.out.write_all(b"\n")?;
            }
            Format::Csv => {
                let meta = |k: &str| {
                    e.metadata
                        .get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_owned()
                };
                if let Some(w) = self.csv.as_mut() {
                    w.write_record([
                        e.global_position.to_string(),
                        e.event_id.to_string(),
                        e.aggregate_type.clone(),
                        e.aggregate_id.clone(),
                        e.sequence.to_string(),
                        e.event_type.clone(),
                        e.event_version.to_string(),
                        schemas::chain::timestamp(e.occurred_at),
                        meta(schemas::metadata_keys::ACTOR_SUB),
                        meta(schemas::metadata_keys::CORRELATION_ID),
                        serde_json::to_string(&e.metadata)?,
                        serde_json::to_string(&e.payload)?,
                        e.hash.clone().unwrap_or_default(),
                    ])?;
                }
            }
        }
        self.count();
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<u64> {
        if let Some(mut w) = self.csv.take() {
            w.flush()?;
        }
        self.out.flush()?;
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        Ok(self.written)
    }
}

/// Reads an old payload as the current version (supplier events; other aggregates have one
/// version so far). A payload that does not upcast is left as it is.
fn upcast(e: &mut Envelope) {
    if e.aggregate_type != schemas::aggregate_types::SUPPLIER {
        return;
    }
    let payload = std::mem::take(&mut e.payload);
    match schemas::supplier::upcast_payload(&e.event_type, e.event_version, payload.clone()) {
        Ok((version, upcast)) => {
            e.event_version = version;
            e.payload = upcast;
        }
        Err(_) => e.payload = payload,
    }
}

pub async fn run(cmd: EventsCommand) -> anyhow::Result<()> {
    match cmd {
        EventsCommand::Export {
            from,
            filter,
            output,
            conn,
        } => {
            let started = Instant::now();
            let n = match from {
                Source::Store => export_store(&conn, &filter, &output).await?,
                Source::Kafka => export_kafka(&conn, &filter, &output)?,
            };
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "exported {n} events from {} in {secs:.2} s ({:.0} events/s)",
                match from {
                    Source::Store => "the store",
                    Source::Kafka => "kafka",
                },
                n as f64 / secs.max(1e-9)
            );
            Ok(())
        }
        EventsCommand::Tail {
            from_beginning,
            filter,
            output,
            conn,
        } => tail(&conn, &filter, &output, from_beginning).await,
    }
}

async fn export_store(conn: &Connection, filter: &Filter, output: &Output) -> anyhow::Result<u64> {
    let pool = platform::db::pool(&secrecy::SecretString::from(conn.database_url.clone()), 2)?;
    let where_clause = "($1::text IS NULL OR aggregate_type = $1)
           AND ($2::text IS NULL OR aggregate_id = $2)
           AND (cardinality($3::text[]) = 0 OR event_type = ANY($3))
           AND ($4::timestamptz IS NULL OR recorded_at >= $4)
           AND ($5::timestamptz IS NULL OR recorded_at < $5)";
    // The count is only for the progress bar; skip it when nobody watches.
    let expected = if std::io::stderr().is_terminal() {
        let count: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM events WHERE {where_clause}"))
                .bind(&filter.aggregate_type)
                .bind(&filter.aggregate_id)
                .bind(&filter.event_types)
                .bind(filter.since)
                .bind(filter.until)
                .fetch_one(&pool)
                .await?;
        u64::try_from(count).ok()
    } else {
        None
    };
    let mut sink = Sink::open(output, expected)?;
    // Payload (untagged in SQL) and metadata come as text: an export moves JSON, it does not
    // need to parse it.
    let sql = format!(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version,
                (payload -> event_type)::text AS payload, metadata::text AS metadata,
                global_position, event_id, recorded_at, hash
           FROM events WHERE {where_clause} ORDER BY global_position"
    );
    let mut rows = sqlx::query_as::<_, StoreRow>(&sql)
        .bind(&filter.aggregate_type)
        .bind(&filter.aggregate_id)
        .bind(&filter.event_types)
        .bind(filter.since)
        .bind(filter.until)
        .fetch(&pool);
    while let Some(row) = rows.try_next().await? {
        sink.write_row(&row)
            .with_context(|| format!("event at position {}", row.global_position))?;
    }
    sink.finish()
}

fn consumer(conn: &Connection) -> anyhow::Result<BaseConsumer> {
    let mut cfg = platform::kafka::client_config(&conn.brokers);
    cfg.set(
        "group.id",
        format!("freshline-export-{}", uuid::Uuid::new_v4()),
    )
    .set("enable.auto.commit", "false")
    .set("enable.partition.eof", "true")
    .set("fetch.max.bytes", "52428800")
    .set("max.partition.fetch.bytes", "10485760");
    Ok(cfg.create()?)
}

/// Every partition of `topics` with its end offset now.
fn partitions(c: &BaseConsumer, topics: &[String]) -> anyhow::Result<Vec<(String, i32, i64)>> {
    let mut out = Vec::new();
    for t in topics {
        let md = c
            .fetch_metadata(Some(t), Duration::from_secs(10))
            .with_context(|| format!("metadata of {t}"))?;
        for topic in md.topics() {
            if topic.partitions().is_empty() {
                bail!("topic {t} does not exist");
            }
            for p in topic.partitions() {
                let (_, high) = c.fetch_watermarks(t, p.id(), Duration::from_secs(10))?;
                out.push((t.clone(), p.id(), high));
            }
        }
    }
    Ok(out)
}

fn decode(payload: Option<&[u8]>) -> Option<Envelope> {
    payload.and_then(|p| serde_json::from_slice(p).ok())
}

fn export_kafka(conn: &Connection, filter: &Filter, output: &Output) -> anyhow::Result<u64> {
    let c = consumer(conn)?;
    let topics = filter.topics(&conn.topic_prefix)?;
    let parts = partitions(&c, &topics)?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0;
    let mut ends = std::collections::HashMap::new();
    for (t, p, high) in &parts {
        if *high > 0 {
            tpl.add_partition_offset(t, *p, Offset::Beginning)?;
            ends.insert((t.clone(), *p), *high);
            remaining += 1;
        }
    }
    let total: i64 = parts.iter().map(|(_, _, h)| *h).sum();
    let mut sink = Sink::open(output, u64::try_from(total).ok())?;
    if remaining == 0 {
        return sink.finish();
    }
    c.assign(&tpl)?;
    let mut skipped = 0u64;
    while remaining > 0 {
        let Some(msg) = c.poll(Duration::from_secs(10)) else {
            bail!("no message from Kafka for 10 s with {remaining} partitions still unread");
        };
        let msg = match msg {
            Ok(m) => m,
            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let key = (msg.topic().to_owned(), msg.partition());
        let Some(end) = ends.get(&key).copied() else {
            continue;
        };
        if msg.offset() >= end {
            continue;
        }
        match decode(msg.payload()) {
            Some(e) if filter.matches(&e) => sink.write(e)?,
            Some(_) => {}
            None => skipped += 1,
        }
        if msg.offset() + 1 >= end {
            ends.remove(&key);
            remaining -= 1;
        }
    }
    if skipped > 0 {
        eprintln!("skipped {skipped} records that are not envelopes");
    }
    sink.finish()
}

async fn tail(
    conn: &Connection,
    filter: &Filter,
    output: &Output,
    from_beginning: bool,
) -> anyhow::Result<()> {
    let c = consumer(conn)?;
    let topics = filter.topics(&conn.topic_prefix)?;
    let mut tpl = TopicPartitionList::new();
    let parts = partitions(&c, &topics)?;
    for (t, p, high) in &parts {
        // The end as of now, as an explicit offset: nothing published from here on is missed
        // while the consumer starts.
        let at = if from_beginning {
            Offset::Beginning
        } else {
            Offset::Offset(*high)
        };
        tpl.add_partition_offset(t, *p, at)?;
    }
    c.assign(&tpl)?;
    eprintln!(
        "following {} partitions of {}",
        parts.len(),
        topics.join(", ")
    );
    // Live output: flushed after every event, no progress bar.
    let mut sink = Sink::open(
        &Output {
            output: output.output.clone(),
            ..output.clone()
        },
        None,
    )?;
    sink.bar = None;
    let stop = tokio_util::sync::CancellationToken::new();
    platform::ops::cancel_on_signal(stop.clone());
    while !stop.is_cancelled() {
        let polled = tokio::task::block_in_place(|| c.poll(Duration::from_millis(200)));
        match polled {
            None | Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => continue,
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(msg)) => {
                if let Some(e) = decode(msg.payload()).filter(|e| filter.matches(e)) {
                    sink.write(e)?;
                    sink.out.flush()?;
                    if let Some(w) = sink.csv.as_mut() {
                        w.flush()?;
                    }
                }
            }
        }
    }
    sink.finish()?;
    Ok(())
}
