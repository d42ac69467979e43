//! The image worker: turns each `ProductImageRequested` into stored renditions and records the
//! outcome through command-api (`.../processed` or `.../failed`).
//!
//! **Delivery guarantee: at least once, with an effect exactly once.** The consumer commits a
//! message's offset only after the outcome is recorded; a crash in between makes it process the
//! image again, which writes the same renditions (same keys) and records the same outcome under
//! the same `Idempotency-Key`, which the product aggregate takes as a no-op. A bad image is a
//! final `failed`; a store or API failure is retried with backoff and never skipped.

use crate::commands::{Backoff, Cause, CommandClient, Outcome, Transient};
use crate::images::{process_and_store, ProcessError};
use async_trait::async_trait;
use platform::blobs::{BlobKey, BlobStore};
use platform::consumer::{
    ConsumerConfig, ConsumerError, ConsumerMetrics, Delivery, Failure, Handler, StartAt, Tally,
};
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};
use schemas::api::{calls, ImageProcessedBody, ReasonBody, RenditionBody};
use schemas::product::{ImageRequestedV1, ProductEvent};
use schemas::Envelope;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Metric names of the image worker, defined once.
pub mod names {
    /// Image requests settled, by `outcome`: `processed` (renditions stored and recorded),
    /// `failed` (a bad image, recorded as failed), `refused` (command-api refused the outcome:
    /// already recorded, or the product is gone).
    pub const IMAGES: &str = "freshline_image_worker_images_total";
    /// Attempts that failed transiently (blob store, command-api) and were retried.
    pub const RETRIES: &str = "freshline_image_worker_retries_total";
    /// Time from taking a request to its outcome being recorded, by `outcome`.
    pub const DURATION: &str = "freshline_image_worker_duration_seconds";
}

/// The image worker's metrics.
#[derive(Debug, Clone)]
pub struct ImageWorkerMetrics {
    images: IntCounterVec,
    retries: IntCounter,
    duration: HistogramVec,
    consumer: ConsumerMetrics,
}

impl ImageWorkerMetrics {
    /// Creates and registers them; every outcome's series exists from the start at 0.
    ///
    /// # Errors
    /// When already registered.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        use platform::metrics::register;
        let metrics = Self {
            images: register(
                registry,
                IntCounterVec::new(
                    Opts::new(names::IMAGES, "Image requests settled, by outcome"),
                    &["outcome"],
                )?,
            )?,
            retries: register(
                registry,
                IntCounter::new(
                    names::RETRIES,
                    "Image attempts retried after a transient failure",
                )?,
            )?,
            duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(names::DURATION, "Image request to recorded outcome")
                        .buckets(platform::metrics::LATENCY_BUCKETS.to_vec()),
                    &["outcome"],
                )?,
            )?,
            consumer: ConsumerMetrics::new(registry)?,
        };
        for outcome in ["processed", "failed", "refused"] {
            metrics.images.with_label_values(&[outcome]);
        }
        Ok(metrics)
    }

    /// Requests settled with `outcome` so far (for tests and checks).
    pub fn images(&self, outcome: &str) -> u64 {
        self.images.with_label_values(&[outcome]).get()
    }
}

/// The worker.
pub struct ImageWorker {
    consumer: ConsumerConfig,
    store: Arc<dyn BlobStore>,
    api: CommandClient,
    metrics: ImageWorkerMetrics,
    keep_originals: bool,
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
    /// Its metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Each image request of a batch processed until its outcome is recorded (a dependency down
/// is waited out here, request by request; the outcome is posted with an idempotency key, so a
/// request seen again records nothing twice).
#[async_trait]
impl Handler for ImageWorker {
    type Error = std::convert::Infallible;

    async fn handle(&self, batch: &[Delivery]) -> Result<Tally, Failure<Self::Error>> {
        let mut tally = Tally::default();
        for m in batch {
            let Ok(e) = m.envelope() else {
                tally.skipped += 1;
                continue;
            };
            if e.event_type != schemas::product::IMAGE_REQUESTED {
                tally.skipped += 1;
                continue;
            }
            match ProductEvent::decode(&e.event_type, e.event_version, e.payload.clone()) {
                Ok(ProductEvent::ImageRequested(r)) => {
                    let span = tracing::info_span!(
                        "image",
                        image_id = %r.image_id,
                        product_id = %e.aggregate_id,
                        correlation_id = correlation_of(&e).unwrap_or_default(),
                    );
                    self.settle(&e, &r).instrument(span).await;
                    tally.applied += 1;
                }
                _ => {
                    tracing::error!(event_id = %e.event_id, "undecodable image request; skipped");
                    tally.skipped += 1;
                }
            }
        }
        Ok(tally)
    }
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
        let topic = schemas::topics::prefixed(topic_prefix, schemas::topics::PRODUCT);
        let consumer = ConsumerConfig::new("image-worker", brokers, group, vec![topic]);
        Ok(Self {
            consumer,
            store,
            api,
            metrics: ImageWorkerMetrics::new(&Registry::new())?,
            keep_originals: false,
        })
    }

    /// Keeps each original once its outcome is recorded (by default it is deleted).
    #[must_use]
    pub fn keeping_originals(mut self, keep: bool) -> Self {
        self.keep_originals = keep;
        self
    }

    /// Deletes a settled image's original (its renditions stay). Best effort: one left behind
    /// is clutter, not harm.
    async fn drop_original(&self, key: &str) {
        if self.keep_originals {
            return;
        }
        let Ok(key) = BlobKey::parse(key) else { return };
        if let Err(e) = self.store.delete(&key).await {
            tracing::warn!(%key, error = %e, "original not deleted");
        }
    }

    /// Counts into `metrics` (by default the worker counts into a registry of its own).
    #[must_use]
    pub fn with_metrics(mut self, metrics: ImageWorkerMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs until `shutdown`.
    ///
    /// # Errors
    /// When Kafka fails for good.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        match platform::consumer::run(
            &self.consumer,
            self,
            StartAt::Committed,
            &self.metrics.consumer,
            &shutdown,
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(ConsumerError::Kafka(e)) => Err(e.into()),
            Err(ConsumerError::Stopped(never)) => match never {},
        }
    }

    /// Processes one request until its outcome is recorded; `false` when shut down first.
    async fn settle(&self, e: &Envelope, r: &ImageRequestedV1) {
        let correlation = correlation_of(e);
        let started = Instant::now();
        let mut backoff = Backoff::default();
        loop {
            match self.attempt(e, r, correlation).await {
                Ok(outcome) => {
                    self.metrics.images.with_label_values(&[outcome]).inc();
                    self.metrics
                        .duration
                        .with_label_values(&[outcome])
                        .observe(started.elapsed().as_secs_f64());
                    tracing::info!(outcome, "image request settled");
                    return;
                }
                Err(t) => {
                    self.metrics.retries.inc();
                    let wait = backoff.next_delay();
                    tracing::warn!(image_id = %r.image_id, error = %t.0, ?wait, "image not done yet; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One attempt; the outcome recorded (`processed`, `failed`, `refused`) or a transient
    /// failure.
    async fn attempt(
        &self,
        e: &Envelope,
        r: &ImageRequestedV1,
        correlation: Option<&str>,
    ) -> Result<&'static str, Transient> {
        let product_id =
            uuid::Uuid::parse_str(&e.aggregate_id).map_err(|_| Transient("bad id".into()))?;
        let image = r.image_id;
        let processed = match BlobKey::parse(r.original_key.clone()) {
            Err(err) => Err(format!("the stored original's key is invalid: {err}")),
            Ok(original) => {
                match process_and_store(self.store.as_ref(), product_id, image, &original).await {
                    Ok(stored) => Ok(ImageProcessedBody {
                        thumbnail: rendition(&stored.thumbnail),
                        medium: rendition(&stored.medium),
                    }),
                    Err(err) if err.is_retryable() => return Err(Transient(err.to_string())),
                    Err(ProcessError::Rejected(rejection)) => {
                        Err(format!("{}: {}", rejection.code(), rejection.reason()))
                    }
                    Err(other) => Err(other.to_string()),
                }
            }
        };
        let cause = Cause::new(correlation, Some(e.event_id));
        let refusals = ["image_already_finished", "image_not_found", "not_found"];
        let (outcome, answer) = match processed {
            Ok(body) => (
                "processed",
                self.api
                    .send(
                        &calls::image_processed(product_id, image, body),
                        &format!("image-worker:{image}:processed"),
                        cause,
                        &refusals,
                    )
                    .await?,
            ),
            Err(reason) => (
                "failed",
                self.api
                    .send(
                        &calls::image_failed(product_id, image, ReasonBody { reason }),
                        &format!("image-worker:{image}:failed"),
                        cause,
                        &refusals,
                    )
                    .await?,
            ),
        };
        // Settled (now or before): the original has served its purpose.
        self.drop_original(&r.original_key).await;
        match answer {
            Outcome::Done(_) => Ok(outcome),
            Outcome::Refused {
                status,
                code,
                problem,
            } => {
                // Another outcome is already recorded, or the product is gone: nothing to
                // retry; say so once.
                tracing::warn!(image_id = %r.image_id, status, %code, %problem, "image outcome refused");
                Ok("refused")
            }
        }
    }
}

/// A stored rendition as the route records it.
fn rendition(r: &crate::images::StoredRendition) -> RenditionBody {
    RenditionBody {
        key: r.key.as_str().to_owned(),
        width: r.width,
        height: r.height,
    }
}

fn correlation_of(e: &Envelope) -> Option<&str> {
    e.metadata
        .get(schemas::metadata_keys::CORRELATION_ID)
        .and_then(|v| v.as_str())
}
