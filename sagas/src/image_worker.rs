//! The image worker: turns each `ProductImageRequested` into stored renditions and records the
//! outcome through command-api (`.../processed` or `.../failed`).
//!
//! **Delivery guarantee: at least once, with an effect exactly once.** The consumer commits a
//! message's offset only after the outcome is recorded; a crash in between makes it process the
//! image again, which writes the same renditions (same keys) and records the same outcome under
//! the same `Idempotency-Key`, which the product aggregate takes as a no-op. A bad image is a
//! final `failed`; a store or API failure is retried with backoff and never skipped.

use crate::commands::{Backoff, CommandClient, Outcome, Transient};
use crate::images::{process_and_store, BlobKey, BlobStore, ProcessError};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use schemas::product::{ImageRequestedV1, ProductEvent};
use schemas::Envelope;
use serde_json::json;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The worker.
pub struct ImageWorker {
    consumer: StreamConsumer,
    store: Arc<dyn BlobStore>,
    api: CommandClient,
}

impl std::fmt::Debug for ImageWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageWorker").finish_non_exhaustive()
    }
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
}

impl ImageWorker {
    /// A worker in consumer group `group` on the product topic (with `topic_prefix`).
    ///
    /// # Errors
    /// When the consumer cannot be created or subscribed.
    pub fn new(
        brokers: &str,
        topic_prefix: &str,
        group: &str,
        store: Arc<dyn BlobStore>,
        api: CommandClient,
    ) -> Result<Self, WorkerError> {
        let consumer: StreamConsumer = platform::kafka::client_config(brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()?;
        let topic = schemas::topics::prefixed(topic_prefix, schemas::topics::PRODUCT);
        consumer.subscribe(&[&topic])?;
        Ok(Self {
            consumer,
            store,
            api,
        })
    }

    /// Runs until `shutdown`.
    ///
    /// # Errors
    /// When Kafka fails for good.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        loop {
            let msg = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                m = self.consumer.recv() => m?,
            };
            let envelope: Option<Envelope> =
                msg.payload().and_then(|p| serde_json::from_slice(p).ok());
            if let Some(e) = envelope {
                if e.event_type == schemas::product::IMAGE_REQUESTED {
                    match ProductEvent::decode(&e.event_type, e.event_version, e.payload.clone()) {
                        Ok(ProductEvent::ImageRequested(r)) => {
                            if !self.handle(&e, &r, &shutdown).await {
                                return Ok(());
                            }
                        }
                        _ => {
                            tracing::error!(event_id = %e.event_id, "undecodable image request; skipped")
                        }
                    }
                }
            }
            self.consumer.commit_message(&msg, CommitMode::Async)?;
        }
    }

    /// Processes one request until its outcome is recorded; `false` when shut down first.
    async fn handle(
        &self,
        e: &Envelope,
        r: &ImageRequestedV1,
        shutdown: &CancellationToken,
    ) -> bool {
        let correlation = e
            .metadata
            .get(schemas::metadata_keys::CORRELATION_ID)
            .and_then(|v| v.as_str());
        let mut backoff = Backoff::default();
        loop {
            match self.attempt(e, r, correlation).await {
                Ok(()) => return true,
                Err(t) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(image_id = %r.image_id, error = %t.0, ?wait, "image not done yet; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return false,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    async fn attempt(
        &self,
        e: &Envelope,
        r: &ImageRequestedV1,
        correlation: Option<&str>,
    ) -> Result<(), Transient> {
        let product = &e.aggregate_id;
        let product_id = uuid::Uuid::parse_str(product).map_err(|_| Transient("bad id".into()))?;
        let base = format!("/v1/products/{product}/images/{}", r.image_id);
        let (path, body, key) = match BlobKey::parse(r.original_key.clone()) {
            Err(err) => (
                format!("{base}/failed"),
                json!({"reason": format!("the stored original's key is invalid: {err}")}),
                format!("image-worker:{}:failed", r.image_id),
            ),
            Ok(original) => {
                match process_and_store(self.store.as_ref(), product_id, r.image_id, &original)
                    .await
                {
                    Ok(stored) => (
                        format!("{base}/processed"),
                        json!({
                            "thumbnail": {"key": stored.thumbnail.key.as_str(), "width": stored.thumbnail.width, "height": stored.thumbnail.height},
                            "medium": {"key": stored.medium.key.as_str(), "width": stored.medium.width, "height": stored.medium.height},
                        }),
                        format!("image-worker:{}:processed", r.image_id),
                    ),
                    Err(err) if err.is_retryable() => return Err(Transient(err.to_string())),
                    Err(ProcessError::Rejected(rejection)) => (
                        format!("{base}/failed"),
                        json!({"reason": format!("{}: {}", rejection.code(), rejection.reason())}),
                        format!("image-worker:{}:failed", r.image_id),
                    ),
                    Err(other) => (
                        format!("{base}/failed"),
                        json!({"reason": other.to_string()}),
                        format!("image-worker:{}:failed", r.image_id),
                    ),
                }
            }
        };
        match self.api.post(&path, &body, &key, correlation).await? {
            Outcome::Done(_) => Ok(()),
            Outcome::Refused {
                status,
                code,
                problem,
            } => {
                // Another outcome is already recorded, or the product is gone: nothing to
                // retry; say so once.
                tracing::warn!(image_id = %r.image_id, status, %code, %problem, "image outcome refused");
                Ok(())
            }
        }
    }
}
