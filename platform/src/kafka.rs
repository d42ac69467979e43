//! Kafka clients configured once: an idempotent producer (`acks=all`) and topic creation from
//! the names defined in `schemas`.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use schemas::topics::TopicSpec;
use std::time::Duration;

/// An idempotent producer: `acks=all`, `enable.idempotence=true` (so retries never duplicate
/// or reorder within a partition), lz4 batches, a bounded delivery timeout so failures
/// surface to the caller instead of waiting forever.
///
/// # Errors
/// When the configuration is refused by librdkafka.
pub fn idempotent_producer(brokers: &str, client_id: &str) -> Result<FutureProducer, KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("client.id", client_id)
        .set("enable.idempotence", "true")
        // A message that cannot be delivered is fatal rather than silently skipped, so
        // per-partition order never has holes; the relay then rebuilds its producer.
        .set("enable.gapless.guarantee", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        // Latency first: a record waits at most 1 ms for company (a backlog fills batches anyway).
        .set("linger.ms", "1")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "30000")
        .set("socket.keepalive.enable", "true")
        .create()
}

/// A plain client config for consumers and admin clients.
pub fn client_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    c
}

/// `min.insync.replicas` for a topic of `replication` replicas: a majority of them, so an
/// acknowledged write (`acks=all`) survives the loss of any minority of brokers — 1 of 1, 2 of
/// 2 or 3, 3 of 4 or 5. (With 1 of 3, a write acknowledged by the leader alone is lost with
/// it.)
pub fn min_insync_replicas(replication: i32) -> i32 {
    replication.max(1) / 2 + 1
}

/// Creates every topic in `specs` (with `prefix`), leaving existing ones alone.
///
/// # Errors
/// When the broker cannot be reached or refuses a topic for another reason than existing.
pub async fn ensure_topics(
    brokers: &str,
    prefix: &str,
    specs: &[TopicSpec],
    replication: i32,
) -> Result<Vec<String>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers).create()?;
    let names: Vec<String> = specs
        .iter()
        .map(|s| schemas::topics::prefixed(prefix, s.name))
        .collect();
    let min_insync = min_insync_replicas(replication).to_string();
    let topics: Vec<NewTopic<'_>> = specs
        .iter()
        .zip(&names)
        .map(|(s, name)| {
            NewTopic::new(name, s.partitions, TopicReplication::Fixed(replication))
                .set("min.insync.replicas", &min_insync)
                // Projections rebuild and analysts replay from offset 0: keep every event.
                .set("retention.ms", "-1")
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&topics, &opts).await?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                tracing::error!(%topic, ?code, "topic creation failed");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(names)
}

/// The high watermark (the next offset to be written) of every partition of `topics`, now:
/// where a reader that wants only what comes next starts
/// ([`crate::consumer::StartAt::Stored`]).
///
/// # Errors
/// When the broker cannot be reached or a topic's metadata cannot be read.
pub async fn high_watermarks(
    brokers: &str,
    topics: &[String],
) -> Result<std::collections::HashMap<crate::consumer::Partition, i64>, KafkaError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let brokers = brokers.to_owned();
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client_config(&brokers).create()?;
        let mut out = std::collections::HashMap::new();
        for topic in &topics {
            let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5))?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    let (_, high) =
                        consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(5))?;
                    out.insert((topic.clone(), p.id()), high);
                }
            }
        }
        Ok(out)
    })
    .await
    // The blocking reads were cancelled (the runtime is shutting down).
    .unwrap_or(Err(KafkaError::Canceled))
}

#[cfg(test)]
mod tests {
    use super::min_insync_replicas;

    #[test]
    fn min_insync_replicas_is_a_majority_of_the_replicas() {
        let table: Vec<(i32, i32)> = (1..=5).map(|r| (r, min_insync_replicas(r))).collect();
        assert_eq!(table, vec![(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)]);
    }
}
