//! The notifier (binary `notifier`): e-mails customers, suppliers and operations about what
//! happened — order placed, payment captured, declined or refunded, order delivered, low stock,
//! supplier approved or rejected — from the order, payment, delivery, supplier and stock-alert
//! topics.
//!
//! **Delivery guarantee: every notifiable event is mailed at least once and, barring a crash in
//! the instant between the SMTP server accepting a mail and the notifier recording it as sent,
//! exactly once (a mail resent after such a crash carries the same `Message-ID` and
//! `X-Freshline-Event-Id`, so the receiving side can drop it).**
//!
//! How:
//! 1. The consumer applies each event in one PostgreSQL transaction: the recipient facts it
//!    carries (an order's contact e-mail, which order a payment or delivery is for, a supplier's
//!    contact e-mail) go to the notifier's own tables (schema `notifier`), and a notification is
//!    inserted keyed by the event id (`ON CONFLICT DO NOTHING`, so a redelivered event adds
//!    nothing). Only then is the Kafka offset committed.
//! 2. The sender claims due notifications (`FOR UPDATE SKIP LOCKED`, with a lease, so several
//!    instances never take the same one), resolves the recipient from those tables, sends, and
//!    marks the notification sent right after the SMTP server's final answer. A claim whose
//!    process died runs again when its lease ends: that is the only path to a duplicate.
//! 3. A recipient not known yet (topics are not ordered relative to each other) is looked up
//!    again with backoff, and at once when the missing fact arrives; after `give_up_after` the
//!    notification is given up with an error log and a metric. An order with no contact e-mail
//!    gets no customer mail. A failed send (SMTP down) is retried with backoff, never dropped; an
//!    address the SMTP server refuses for good is recorded as failed.

pub mod channels;
mod intake;
pub mod templates;

use crate::commands::Backoff;
use async_trait::async_trait;
use channels::{Channel, ProviderOutcome, Providers, PushRequest, SmsRequest};
pub use intake::migrate;
use intake::{effects_of, record};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};
use platform::consumer::{
    ConsumerConfig, ConsumerError, ConsumerMetrics, Delivery, Failure, Handler, StartAt, Tally,
};
use prometheus::{IntCounterVec, Opts, Registry};
use schemas::Envelope;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// Metric names, defined once.
pub mod metric_names {
    /// Mails the SMTP server accepted, by kind.
    pub const SENT: &str = "freshline_notifier_sent_total";
    /// Send attempts that failed, by kind and `reason` (`transient`, `permanent`, `invalid`).
    pub const FAILED: &str = "freshline_notifier_failed_total";
    /// Notifications put back for a later attempt, by kind and `reason` (`smtp`,
    /// `recipient_unknown`, `database`).
    pub const RETRIED: &str = "freshline_notifier_retried_total";
    /// Notifications given up because their recipient never became known, by kind.
    pub const GAVE_UP: &str = "freshline_notifier_gave_up_total";
    /// Notifications with no one to mail (an order without a contact e-mail), by kind.
    pub const SKIPPED: &str = "freshline_notifier_skipped_total";
    /// Consumed messages that are not a decodable envelope, by topic.
    pub const UNDECODABLE: &str = "freshline_notifier_undecodable_total";
}

/// The notifier's counters.
#[derive(Debug, Clone)]
pub struct NotifierMetrics {
    sent: IntCounterVec,
    failed: IntCounterVec,
    retried: IntCounterVec,
    gave_up: IntCounterVec,
    skipped: IntCounterVec,
    undecodable: IntCounterVec,
    consumer: ConsumerMetrics,
}

impl NotifierMetrics {
    /// Creates and registers them.
    ///
    /// # Errors
    /// When they are already registered in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            platform::metrics::register(
                registry,
                IntCounterVec::new(Opts::new(name, help), labels)?,
            )
        };
        let metrics = Self {
            sent: counter(metric_names::SENT, "mails sent", &["kind"])?,
            failed: counter(
                metric_names::FAILED,
                "failed send attempts",
                &["kind", "reason"],
            )?,
            retried: counter(
                metric_names::RETRIED,
                "notifications rescheduled",
                &["kind", "reason"],
            )?,
            gave_up: counter(
                metric_names::GAVE_UP,
                "notifications given up (recipient never known)",
                &["kind"],
            )?,
            skipped: counter(
                metric_names::SKIPPED,
                "notifications with no recipient address",
                &["kind"],
            )?,
            undecodable: counter(
                metric_names::UNDECODABLE,
                "messages that are not a decodable envelope",
                &["topic"],
            )?,
            consumer: ConsumerMetrics::new(registry)?,
        };
        // Every series exists from the start at 0, so rates and alerts see it before its first
        // increment.
        for kind in Kind::ALL.map(Kind::as_str) {
            metrics.sent.with_label_values(&[kind]);
            metrics.gave_up.with_label_values(&[kind]);
            metrics.skipped.with_label_values(&[kind]);
            for reason in ["transient", "permanent", "invalid"] {
                metrics.failed.with_label_values(&[kind, reason]);
            }
            for reason in ["smtp", "recipient_unknown", "database"] {
                metrics.retried.with_label_values(&[kind, reason]);
            }
        }
        Ok(metrics)
    }

    /// Mails sent of `kind` so far (for tests and checks).
    pub fn sent(&self, kind: Kind) -> u64 {
        self.sent.with_label_values(&[kind.as_str()]).get()
    }

    /// Notifications of `kind` given up so far.
    pub fn gave_up(&self, kind: Kind) -> u64 {
        self.gave_up.with_label_values(&[kind.as_str()]).get()
    }

    /// Failed send attempts of `kind` so far, all reasons.
    pub fn failed(&self, kind: Kind) -> u64 {
        ["transient", "permanent", "invalid"]
            .iter()
            .map(|r| self.failed.with_label_values(&[kind.as_str(), r]).get())
            .sum()
    }
}

/// How to reach the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a trusted local relay or sink.
    None,
    /// STARTTLS on the submission port.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl std::str::FromStr for SmtpSecurity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            other => Err(format!("expected none, starttls or tls, got {other}")),
        }
    }
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security.
    pub security: SmtpSecurity,
    /// User name and password, when the server wants them.
    pub credentials: Option<(String, SecretString)>,
    /// Deadline of each SMTP command.
    pub timeout: Duration,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Prefix of every topic name (tests give each run its own).
    pub topic_prefix: String,
    /// Consumer group.
    pub group_id: String,
    /// The SMTP server.
    pub smtp: SmtpConfig,
    /// The `From` of every mail.
    pub from: String,
    /// Where operations alerts (low stock) go.
    pub ops_email: String,
    /// How long a notification may wait for its recipient to become known.
    pub give_up_after: Duration,
    /// First wait before another attempt; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// How long a claimed notification is kept from other senders; past it, it is taken as
    /// abandoned by a crashed process and sent again.
    pub lease: Duration,
    /// How often the sender looks for due notifications when not woken.
    pub poll_interval: Duration,
    /// Notifications claimed at once.
    pub batch: i64,
    /// The SMS and push providers.
    pub providers: channels::ProviderConfig,
}

impl NotifierConfig {
    /// Local defaults: the broker and SMTP sink `infra/local` starts.
    pub fn local(brokers: &str) -> Self {
        Self {
            brokers: brokers.to_owned(),
            topic_prefix: String::new(),
            group_id: "freshline-notifier".to_owned(),
            smtp: SmtpConfig {
                host: "127.0.0.1".to_owned(),
                port: 2525,
                security: SmtpSecurity::None,
                credentials: None,
                timeout: Duration::from_secs(15),
            },
            from: "Freshline <no-reply@freshline.local>".to_owned(),
            ops_email: "ops@freshline.local".to_owned(),
            give_up_after: Duration::from_secs(24 * 3600),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            // Past the SMTP timeout (a send gets half of it), short enough that what a crashed
            // sender had claimed goes out within a minute.
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            batch: 16,
            providers: channels::ProviderConfig {
                sms_url: None,
                push_url: None,
                timeout: Duration::from_secs(10),
            },
        }
    }

    /// From `common` and the notifier's own `FRESHLINE_*` variables (see the README), with
    /// [`NotifierConfig::local`] defaults.
    ///
    /// # Errors
    /// When a variable is set to something unparsable.
    pub fn from_settings(
        common: &platform::config::Common,
    ) -> Result<Self, platform::config::ConfigError> {
        use platform::config::{parse, string};
        let mut c = Self::local(&common.brokers);
        c.topic_prefix.clone_from(&common.topic_prefix);
        c.group_id = string("FRESHLINE_NOTIFIER_GROUP", &c.group_id);
        c.smtp.host = string("FRESHLINE_SMTP_HOST", &c.smtp.host);
        c.smtp.port = parse("FRESHLINE_SMTP_PORT", c.smtp.port)?;
        c.smtp.security = parse("FRESHLINE_SMTP_SECURITY", c.smtp.security)?;
        c.smtp.timeout = Duration::from_secs(parse("FRESHLINE_SMTP_TIMEOUT_SECS", 15u64)?);
        let user = string("FRESHLINE_SMTP_USERNAME", "");
        if !user.is_empty() {
            c.smtp.credentials = Some((
                user,
                platform::config::secret("FRESHLINE_SMTP_PASSWORD", ""),
            ));
        }
        c.from = string("FRESHLINE_NOTIFY_FROM", &c.from);
        c.ops_email = string("FRESHLINE_NOTIFY_OPS_EMAIL", &c.ops_email);
        c.give_up_after = Duration::from_secs(parse("FRESHLINE_NOTIFIER_GIVE_UP_SECS", 86_400u64)?);
        c.max_backoff = Duration::from_secs(parse("FRESHLINE_NOTIFIER_MAX_BACKOFF_SECS", 300u64)?);
        c.lease = Duration::from_secs(parse("FRESHLINE_NOTIFIER_LEASE_SECS", c.lease.as_secs())?);
        let url = |key: &str| Some(string(key, "")).filter(|u| !u.is_empty());
        c.providers.sms_url = url("FRESHLINE_SMS_URL");
        c.providers.push_url = url("FRESHLINE_PUSH_URL");
        Ok(c)
    }
}

/// Why the notifier could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The database failed while setting up.
    #[error("notifier schema: {0}")]
    Database(#[from] sqlx::Error),
    /// The SMTP transport or the `From` address is misconfigured.
    #[error("SMTP settings: {0}")]
    Smtp(String),
}

/// What a notification is about; it decides the template, the recipient and the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `OrderPlaced`, to the ordering customer.
    OrderPlaced,
    /// `PaymentCaptured`, to the ordering customer.
    PaymentCaptured,
    /// `PaymentDeclined`, to the ordering customer.
    PaymentDeclined,
    /// `RefundCompleted` (the refund issued), to the ordering customer.
    RefundCompleted,
    /// `DeliveryPickedUp`: the order is on its way, to the ordering customer.
    OrderShipped,
    /// `DeliveryLocationUpdated` when the rider is near, or the ETA moved by more than 10
    /// minutes since the customer was last told, to the ordering customer.
    DeliveryEta,
    /// `DeliveryCompleted`, to the ordering customer.
    DeliveryCompleted,
    /// `OrderCancelled`, to the ordering customer.
    OrderCancelled,
    /// `CartAbandoned`, to the customer: marketing, so only with marketing consent.
    CartAbandoned,
    /// `LowStock`, to operations.
    LowStock,
    /// `BatchExpiringSoon`, to the batch's supplier.
    BatchExpiringSoon,
    /// `SupplierApproved`, to the supplier's contact e-mail.
    SupplierApproved,
    /// `SupplierRejected`, to the supplier's contact e-mail.
    SupplierRejected,
    /// `SupplierSuspended`, to the supplier's contact e-mail.
    SupplierSuspended,
}

/// Who a kind of notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A customer: every channel the customer consented to.
    Customer,
    /// A supplier's contact e-mail.
    Supplier,
    /// Operations' e-mail.
    Operations,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 14] = [
        Kind::OrderPlaced,
        Kind::PaymentCaptured,
        Kind::PaymentDeclined,
        Kind::RefundCompleted,
        Kind::OrderShipped,
        Kind::DeliveryEta,
        Kind::DeliveryCompleted,
        Kind::OrderCancelled,
        Kind::CartAbandoned,
        Kind::LowStock,
        Kind::BatchExpiringSoon,
        Kind::SupplierApproved,
        Kind::SupplierRejected,
        Kind::SupplierSuspended,
    ];

    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderPlaced => "order_placed",
            Kind::PaymentCaptured => "payment_captured",
            Kind::PaymentDeclined => "payment_declined",
            Kind::RefundCompleted => "refund_completed",
            Kind::OrderShipped => "order_shipped",
            Kind::DeliveryEta => "delivery_eta",
            Kind::DeliveryCompleted => "delivery_completed",
            Kind::OrderCancelled => "order_cancelled",
            Kind::CartAbandoned => "cart_abandoned",
            Kind::LowStock => "low_stock",
            Kind::BatchExpiringSoon => "batch_expiring_soon",
            Kind::SupplierApproved => "supplier_approved",
            Kind::SupplierRejected => "supplier_rejected",
            Kind::SupplierSuspended => "supplier_suspended",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Who it is for.
    pub fn audience(self) -> Audience {
        match self {
            Kind::LowStock => Audience::Operations,
            Kind::BatchExpiringSoon
            | Kind::SupplierApproved
            | Kind::SupplierRejected
            | Kind::SupplierSuspended => Audience::Supplier,
            _ => Audience::Customer,
        }
    }

    /// Whether it is marketing (sent only with the customer's marketing consent).
    pub fn marketing(self) -> bool {
        self == Kind::CartAbandoned
    }

    /// The channels it may go out on (each then needs the recipient's consent).
    pub fn channels(self) -> &'static [Channel] {
        match self.audience() {
            Audience::Customer => &Channel::ALL,
            Audience::Supplier | Audience::Operations => &[Channel::Email],
        }
    }
}

/// A notification claimed for sending.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    event_id: Uuid,
    channel: String,
    kind: String,
    event_type: String,
    event_version: i32,
    subject_id: Option<Uuid>,
    payload: Value,
    attempts: i32,
    waited_secs: f64,
    correlation_id: Option<String>,
}

/// Where a message goes on its channel.
#[derive(Debug, Clone)]
enum Address {
    /// An e-mail address.
    Email(String),
    /// A phone number (SMS).
    Phone(String),
    /// A customer's devices (push).
    Devices(Vec<String>),
}

impl Address {
    /// As recorded on the notification.
    fn recorded(&self) -> String {
        match self {
            Self::Email(a) | Self::Phone(a) => a.clone(),
            Self::Devices(d) => d.join(" "),
        }
    }
}

/// Who gets a notification on its channel.
#[derive(Debug)]
enum Recipient {
    /// This address, with what the template needs.
    To(Address, templates::Context),
    /// Known to have no address on this channel, or no consent to use it.
    Nobody(&'static str),
    /// Not known yet.
    Unknown,
}

/// What the notifier keeps of a customer.
#[derive(Debug, sqlx::FromRow)]
struct CustomerRow {
    email: Option<String>,
    phone: Option<String>,
    language: String,
    marketing: bool,
    by_email: bool,
    by_sms: bool,
    by_push: bool,
    devices: Vec<String>,
}

/// `X-Freshline-Event-Id`: the event a mail is for, so a receiving side can drop duplicates.
#[derive(Debug, Clone)]
struct EventIdHeader(String);

impl Header for EventIdHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Freshline-Event-Id")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim().to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The `Message-ID` of the mail for `event_id`: the same for every (re)send.
pub fn message_id(event_id: Uuid) -> String {
    format!("<{event_id}@notifier.freshline>")
}

enum Sent {
    Yes,
    Retry(String),
    Fatal(&'static str, String),
}

/// The notifier.
pub struct Notifier {
    pool: PgPool,
    consumer: ConsumerConfig,
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    providers: Providers,
    from: Mailbox,
    cfg: NotifierConfig,
    metrics: NotifierMetrics,
    wake: Notify,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("group_id", &self.cfg.group_id)
            .finish_non_exhaustive()
    }
}

/// Longest wait before looking a missing recipient up again.
const RECIPIENT_RECHECK: Duration = Duration::from_secs(60);

/// The topics the notifier reads.
pub const TOPICS: [&str; 8] = [
    schemas::topics::ORDER,
    schemas::topics::PAYMENT,
    schemas::topics::DELIVERY,
    schemas::topics::SUPPLIER,
    schemas::topics::STOCK_ALERT,
    schemas::topics::INVENTORY,
    schemas::topics::CUSTOMER,
    schemas::topics::CART,
];

/// The consumer side: each event's recipient facts and notification recorded in one
/// transaction, idempotent by event id (a batch tried again records nothing twice).
#[async_trait]
impl Handler for Notifier {
    type Error = std::convert::Infallible;

    async fn handle(&self, batch: &[Delivery]) -> Result<Tally, Failure<Self::Error>> {
        let mut tally = Tally::default();
        for m in batch {
            let decoded = m.envelope().and_then(|e| {
                effects_of(&e)
                    .map(|fx| (e, fx))
                    .map_err(|err| err.to_string())
            });
            match decoded {
                Err(problem) => {
                    // Nothing to mail from it, and it will never decode: skip it, loudly.
                    tracing::error!(topic = %m.topic, partition = m.partition, offset = m.offset, %problem, "undecodable message skipped");
                    self.metrics
                        .undecodable
                        .with_label_values(&[&m.topic])
                        .inc();
                    tally.skipped += 1;
                }
                Ok((e, fx))
                    if fx.notification.is_some() || fx.eta.is_some() || !fx.facts.is_empty() =>
                {
                    let span = tracing::info_span!(
                        "notifier_event",
                        event_id = %e.event_id,
                        event_type = %e.event_type,
                        correlation_id = correlation_of(&e).unwrap_or_default(),
                    );
                    record(&self.pool, &e, &fx)
                        .instrument(span)
                        .await
                        .map_err(Failure::transient)?;
                    if fx.notification.is_some() || fx.eta.is_some() {
                        self.wake.notify_one();
                    }
                    tally.applied += 1;
                }
                Ok(_) => tally.skipped += 1,
            }
        }
        Ok(tally)
    }
}

impl Notifier {
    /// Creates its schema, its consumer (subscribed to [`TOPICS`]) and its SMTP transport.
    ///
    /// # Errors
    /// When the database, Kafka or the SMTP settings fail.
    pub async fn new(
        pool: PgPool,
        cfg: NotifierConfig,
        metrics: NotifierMetrics,
    ) -> Result<Self, NotifierError> {
        migrate(&pool).await?;
        let from: Mailbox = cfg.from.parse().map_err(|e| {
            NotifierError::Smtp(format!("FRESHLINE_NOTIFY_FROM {:?}: {e}", cfg.from))
        })?;
        let smtp = &cfg.smtp;
        let builder = match smtp.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            }
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                    .map_err(|e| NotifierError::Smtp(e.to_string()))?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                .map_err(|e| NotifierError::Smtp(e.to_string()))?,
        };
        let mut builder = builder.port(smtp.port).timeout(Some(smtp.timeout));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let topics: Vec<String> = TOPICS
            .iter()
            .map(|t| schemas::topics::prefixed(&cfg.topic_prefix, t))
            .collect();
        let consumer = ConsumerConfig::new("notifier", &cfg.brokers, &cfg.group_id, topics);
        let providers = Providers::new(cfg.providers.clone())
            .map_err(|e| NotifierError::Smtp(format!("SMS and push providers: {e}")))?;
        Ok(Self {
            pool,
            consumer,
            providers,
            mailer: builder.build(),
            from,
            cfg,
            metrics,
            wake: Notify::new(),
        })
    }

    /// Consumes and sends until `shutdown`.
    ///
    /// # Errors
    /// When Kafka fails for good.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), NotifierError> {
        let (consumed, ()) = tokio::join!(self.consume(&shutdown), self.send_loop(&shutdown));
        consumed
    }

    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), NotifierError> {
        match platform::consumer::run(
            &self.consumer,
            self,
            StartAt::Committed,
            &self.metrics.consumer,
            shutdown,
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(ConsumerError::Kafka(e)) => Err(e.into()),
            Err(ConsumerError::Stopped(never)) => match never {},
        }
    }

    async fn send_loop(&self, shutdown: &CancellationToken) {
        while !shutdown.is_cancelled() {
            let claimed = match self.claim().await {
                Ok(c) => c,
                Err(e) => {
                    platform::telemetry::log_error_chain("notifier: claiming failed", &e);
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.cfg.poll_interval) => {}
                }
                continue;
            }
            let mut rest = claimed.into_iter();
            for n in rest.by_ref() {
                let span = tracing::info_span!(
                    "notification",
                    event_id = %n.event_id,
                    kind = %n.kind,
                    correlation_id = n.correlation_id.as_deref().unwrap_or_default(),
                );
                self.deliver(n, shutdown).instrument(span).await;
                if shutdown.is_cancelled() {
                    break;
                }
            }
            let (unsent, channels): (Vec<Uuid>, Vec<String>) =
                rest.map(|n| (n.event_id, n.channel)).unzip();
            if !unsent.is_empty() {
                // Give back what this process will not get to, for the next one at once.
                let released = sqlx::query(
                    "UPDATE notifier.notifications
                     SET status = 'pending', next_attempt_at = now(), attempts = attempts - 1
                     WHERE (event_id, channel) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))
                       AND status = 'sending'",
                )
                .bind(&unsent)
                .bind(&channels)
                .execute(&self.pool)
                .await;
                if let Err(e) = released {
                    platform::telemetry::log_error_chain(
                        "notifier: releasing claims failed (they come back when their lease ends)",
                        &e,
                    );
                }
            }
        }
    }

    /// Takes up to `batch` due notifications: pending ones whose time came, and sending ones
    /// whose lease ended (their sender died).
    async fn claim(&self) -> Result<Vec<Claimed>, sqlx::Error> {
        sqlx::query_as(
            "UPDATE notifier.notifications n
             SET status = 'sending', attempts = n.attempts + 1,
                 next_attempt_at = now() + make_interval(secs => $2)
             FROM (SELECT event_id, channel FROM notifier.notifications
                   WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()
                   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
             WHERE n.event_id = due.event_id AND n.channel = due.channel
             RETURNING n.event_id, n.channel, n.kind, n.event_type, n.event_version, n.subject_id,
                       n.payload, n.attempts,
                       EXTRACT(EPOCH FROM now() - n.first_seen_at)::float8 AS waited_secs,
                       n.correlation_id",
        )
        .bind(self.cfg.batch)
        .bind(self.cfg.lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await
    }

    async fn recipient(
        &self,
        kind: Kind,
        channel: Channel,
        subject: Option<Uuid>,
    ) -> Result<Recipient, sqlx::Error> {
        match kind.audience() {
            Audience::Operations => Ok(Recipient::To(
                Address::Email(self.cfg.ops_email.clone()),
                templates::Context::default(),
            )),
            Audience::Supplier => self.supplier_recipient(kind, subject).await,
            Audience::Customer => self.customer_recipient(kind, channel, subject).await,
        }
    }

    async fn supplier_recipient(
        &self,
        kind: Kind,
        subject: Option<Uuid>,
    ) -> Result<Recipient, sqlx::Error> {
        let Some(id) = subject else {
            return Ok(Recipient::Unknown);
        };
        let sql = if kind == Kind::BatchExpiringSoon {
            "SELECT s.contact_email, s.legal_name FROM notifier.batches b
               JOIN notifier.suppliers s ON s.supplier_id = b.supplier_id
              WHERE b.batch_id = $1"
        } else {
            "SELECT contact_email, legal_name FROM notifier.suppliers WHERE supplier_id = $1"
        };
        let row: Option<(String, String)> = sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some((email, name)) => Recipient::To(
                Address::Email(email),
                templates::Context {
                    supplier_name: Some(name),
                    ..templates::Context::default()
                },
            ),
            None => Recipient::Unknown,
        })
    }

    /// The customer a notification is for, through the order (or cart) it concerns, and its
    /// address on `channel` if it consented to it.
    async fn customer_recipient(
        &self,
        kind: Kind,
        channel: Channel,
        subject: Option<Uuid>,
    ) -> Result<Recipient, sqlx::Error> {
        let Some(id) = subject else {
            return Ok(Recipient::Unknown);
        };
        // (order id, the order's contact e-mail, the customer id)
        let sql = match kind {
            Kind::OrderPlaced | Kind::OrderCancelled => {
                "SELECT order_id, contact_email, customer_id FROM notifier.orders WHERE order_id = $1"
            }
            Kind::PaymentCaptured | Kind::PaymentDeclined | Kind::RefundCompleted => {
                "SELECT o.order_id, o.contact_email, o.customer_id FROM notifier.payments p
                   LEFT JOIN notifier.orders o ON o.order_id = p.order_id
                  WHERE p.payment_id = $1"
            }
            Kind::CartAbandoned => {
                "SELECT NULL::uuid, NULL::text, customer_id FROM notifier.carts WHERE stream_id = $1"
            }
            _ => {
                "SELECT o.order_id, o.contact_email, o.customer_id FROM notifier.deliveries d
                   LEFT JOIN notifier.orders o ON o.order_id = d.order_id
                  WHERE d.delivery_id = $1"
            }
        };
        let located: Option<(Option<Uuid>, Option<String>, Option<Uuid>)> = sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let (order_id, contact_email, customer_id) = match located {
            Some((None, _, _)) if kind != Kind::CartAbandoned => return Ok(Recipient::Unknown),
            Some(found) => found,
            None => return Ok(Recipient::Unknown),
        };
        let customer: Option<CustomerRow> =
            match customer_id {
                Some(c) => sqlx::query_as(
                    "SELECT email, phone, language, marketing, by_email, by_sms, by_push, devices
                       FROM notifier.customers WHERE customer_id = $1",
                )
                .bind(c)
                .fetch_optional(&self.pool)
                .await?,
                None => None,
            };
        let ctx = templates::Context {
            order_id,
            supplier_name: None,
            language: templates::Language::parse(
                customer.as_ref().map_or("en", |c| c.language.as_str()),
            ),
        };
        Ok(customer_address(
            kind,
            channel,
            contact_email,
            customer.as_ref(),
            &self.providers,
        )
        .map_or_else(Recipient::Nobody, |a| Recipient::To(a, ctx)))
    }

    /// Sends one claimed notification, or puts it back, or settles it.
    async fn deliver(&self, n: Claimed, shutdown: &CancellationToken) {
        let (Some(kind), Some(channel)) = (Kind::parse(&n.kind), Channel::parse(&n.channel)) else {
            tracing::error!(event_id = %n.event_id, kind = %n.kind, channel = %n.channel, "unknown notification kind or channel; given up");
            self.settle(&n, "gave_up", None, Some("unknown kind or channel"))
                .await;
            return;
        };
        let label = kind.as_str();
        let recipient = match self.recipient(kind, channel, n.subject_id).await {
            Ok(r) => r,
            Err(e) => {
                platform::telemetry::log_error_chain("notifier: finding a recipient failed", &e);
                self.metrics
                    .retried
                    .with_label_values(&[label, "database"])
                    .inc();
                self.put_back(&n, &e.to_string()).await;
                return;
            }
        };
        let (to, ctx) = match recipient {
            Recipient::To(to, ctx) => (to, ctx),
            Recipient::Nobody(why) => {
                tracing::info!(event_id = %n.event_id, kind = label, channel = channel.as_str(), why, "nothing to send on this channel");
                if channel == Channel::Email {
                    self.metrics.skipped.with_label_values(&[label]).inc();
                }
                self.settle(&n, "skipped", None, Some(why)).await;
                return;
            }
            Recipient::Unknown if n.waited_secs >= self.cfg.give_up_after.as_secs_f64() => {
                tracing::error!(event_id = %n.event_id, kind = label, waited_secs = n.waited_secs, "recipient never became known; notification given up");
                self.metrics.gave_up.with_label_values(&[label]).inc();
                self.settle(&n, "gave_up", None, Some("recipient never became known"))
                    .await;
                return;
            }
            Recipient::Unknown => {
                tracing::debug!(event_id = %n.event_id, kind = label, "recipient not known yet");
                self.metrics
                    .retried
                    .with_label_values(&[label, "recipient_unknown"])
                    .inc();
                // The missing fact normally wakes it at once; the cap covers a fact that arrived
                // while this claim was out (the wake-up only moves pending notifications).
                self.put_back_within(&n, "recipient not known yet", RECIPIENT_RECHECK)
                    .await;
                return;
            }
        };
        // Right before sending, make sure the claim is still this process's and give the send
        // a whole lease: a claim taken over by another sender (ours outlived its lease) is
        // left to that one.
        match self.renew(&n).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(event_id = %n.event_id, kind = label, "claim taken over by another sender; skipped");
                return;
            }
            Err(e) => {
                platform::telemetry::log_error_chain("notifier: renewing a claim failed", &e);
                self.metrics
                    .retried
                    .with_label_values(&[label, "database"])
                    .inc();
                self.put_back(&n, &e.to_string()).await;
                return;
            }
        }
        let recorded = to.recorded();
        match self.send(kind, &n, &to, &ctx).await {
            Sent::Yes => {
                self.metrics.sent.with_label_values(&[label]).inc();
                self.mark_sent(&n, &recorded, shutdown).await;
            }
            Sent::Retry(error) => {
                tracing::warn!(event_id = %n.event_id, kind = label, channel = channel.as_str(), attempts = n.attempts, %error, "sending failed; will retry");
                self.metrics
                    .failed
                    .with_label_values(&[label, "transient"])
                    .inc();
                self.metrics
                    .retried
                    .with_label_values(&[label, "smtp"])
                    .inc();
                self.put_back(&n, &error).await;
            }
            Sent::Fatal(reason, error) => {
                tracing::error!(event_id = %n.event_id, kind = label, channel = channel.as_str(), %error, "message refused for good; recorded as failed");
                self.metrics
                    .failed
                    .with_label_values(&[label, reason])
                    .inc();
                self.settle(&n, "failed", Some(&recorded), Some(&error))
                    .await;
            }
        }
    }

    async fn send(&self, kind: Kind, n: &Claimed, to: &Address, ctx: &templates::Context) -> Sent {
        let version = u32::try_from(n.event_version).unwrap_or(0);
        let rendered = match templates::render(kind, &n.event_type, version, n.payload.clone(), ctx)
        {
            Ok(r) => r,
            Err(e) => return Sent::Fatal("invalid", format!("rendering: {e}")),
        };
        // The provider's idempotency key: a resend after a crash is one message there.
        let key = format!("{}:{}", n.event_id, n.channel);
        match to {
            Address::Email(address) => self.mail(n, address, rendered).await,
            Address::Phone(phone) => {
                let request = SmsRequest {
                    to: phone.clone(),
                    body: rendered.short,
                };
                provider_sent(self.providers.sms(&key, &request).await)
            }
            Address::Devices(tokens) => {
                let mut outcome = Sent::Fatal("permanent", "no device accepted it".to_owned());
                for token in tokens {
                    let request = PushRequest {
                        token: token.clone(),
                        title: rendered.subject.clone(),
                        body: rendered.short.clone(),
                    };
                    match provider_sent(
                        self.providers
                            .push(&format!("{key}:{token}"), &request)
                            .await,
                    ) {
                        Sent::Yes => {
                            if !matches!(outcome, Sent::Retry(_)) {
                                outcome = Sent::Yes;
                            }
                        }
                        // Any device to try again: the whole notification is tried again (the
                        // devices that took it drop the repeat by its key).
                        Sent::Retry(e) => outcome = Sent::Retry(e),
                        Sent::Fatal(_, e) => {
                            tracing::warn!(event_id = %n.event_id, %e, "a device refused a push message");
                        }
                    }
                }
                outcome
            }
        }
    }

    async fn mail(&self, n: &Claimed, to: &str, rendered: templates::Rendered) -> Sent {
        let to: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => return Sent::Fatal("invalid", format!("recipient address {to:?}: {e}")),
        };
        let mail = Mail::builder()
            .message_id(Some(message_id(n.event_id)))
            .header(EventIdHeader(n.event_id.to_string()))
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(rendered.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(rendered.html),
                    ),
            );
        let mail = match mail {
            Ok(m) => m,
            Err(e) => return Sent::Fatal("invalid", format!("building the mail: {e}")),
        };
        // Well inside the lease, so no other sender can take the claim while this one runs.
        let deadline = self.cfg.lease / 2;
        match tokio::time::timeout(deadline, self.mailer.send(mail)).await {
            Ok(Ok(_)) => Sent::Yes,
            Ok(Err(e)) if e.is_permanent() => Sent::Fatal("permanent", error_chain(&e)),
            Ok(Err(e)) => Sent::Retry(error_chain(&e)),
            Err(_) => Sent::Retry(format!(
                "the SMTP server did not finish within {deadline:?}"
            )),
        }
    }

    /// Records a sent mail at once; retried until it sticks, since until then a crash would
    /// send it again.
    async fn mark_sent(&self, n: &Claimed, to: &str, shutdown: &CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let marked = sqlx::query(
                "UPDATE notifier.notifications
                 SET status = 'sent', sent_at = now(), recipient = $2, last_error = NULL
                 WHERE event_id = $1 AND channel = $3",
            )
            .bind(n.event_id)
            .bind(to)
            .bind(&n.channel)
            .execute(&self.pool)
            .await;
            match marked {
                Ok(_) => return,
                Err(e) => {
                    platform::telemetry::log_error_chain(
                        "notifier: recording a sent mail failed; retrying",
                        &e,
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    /// Extends this process's claim on `n` by a lease; `false` when it is no longer its own.
    async fn renew(&self, n: &Claimed) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE notifier.notifications
             SET next_attempt_at = now() + make_interval(secs => $3)
             WHERE event_id = $1 AND channel = $4 AND status = 'sending' AND attempts = $2",
        )
        .bind(n.event_id)
        .bind(n.attempts)
        .bind(self.cfg.lease.as_secs_f64())
        .bind(&n.channel)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Back to pending, due after a backoff that doubles with each attempt.
    async fn put_back(&self, n: &Claimed, error: &str) {
        self.put_back_within(n, error, self.cfg.max_backoff).await;
    }

    /// [`Notifier::put_back`] with the backoff capped at `cap` as well.
    async fn put_back_within(&self, n: &Claimed, error: &str, cap: Duration) {
        let exponent = u32::try_from(n.attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let wait = self
            .cfg
            .min_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.cfg.max_backoff)
            .min(cap);
        let put = sqlx::query(
            "UPDATE notifier.notifications
             SET status = 'pending', next_attempt_at = now() + make_interval(secs => $2),
                 last_error = $3
             WHERE event_id = $1 AND channel = $5 AND status = 'sending' AND attempts = $4",
        )
        .bind(n.event_id)
        .bind(wait.as_secs_f64())
        .bind(error)
        .bind(n.attempts)
        .bind(&n.channel)
        .execute(&self.pool)
        .await;
        if let Err(e) = put {
            // It stays claimed and comes back when its lease ends.
            platform::telemetry::log_error_chain("notifier: rescheduling failed", &e);
        }
    }

    async fn settle(&self, n: &Claimed, status: &str, to: Option<&str>, error: Option<&str>) {
        let settled = sqlx::query(
            "UPDATE notifier.notifications SET status = $2, recipient = $3, last_error = $4
             WHERE event_id = $1 AND channel = $5 AND status = 'sending'",
        )
        .bind(n.event_id)
        .bind(status)
        .bind(to)
        .bind(error)
        .bind(&n.channel)
        .execute(&self.pool)
        .await;
        if let Err(e) = settled {
            platform::telemetry::log_error_chain("notifier: recording an outcome failed", &e);
        }
    }
}

/// A customer's address on `channel`, or why there is none: customers without a profile get
/// e-mail at their order's contact address only; with a profile, each channel needs its
/// consent (e-mail is on unless refused) and marketing needs marketing consent.
fn customer_address(
    kind: Kind,
    channel: Channel,
    contact_email: Option<String>,
    customer: Option<&CustomerRow>,
    providers: &Providers,
) -> Result<Address, &'static str> {
    if kind.marketing() && !customer.is_some_and(|c| c.marketing) {
        return Err("no marketing consent");
    }
    if !providers.enabled(channel) {
        return Err("no provider for the channel");
    }
    match channel {
        Channel::Email => {
            if customer.is_some_and(|c| !c.by_email) {
                return Err("no consent to e-mail");
            }
            contact_email
                .or_else(|| customer.and_then(|c| c.email.clone()))
                .map(Address::Email)
                .ok_or("no e-mail address")
        }
        Channel::Sms => {
            let c = customer.ok_or("no customer profile")?;
            if !c.by_sms {
                return Err("no consent to SMS");
            }
            c.phone.clone().map(Address::Phone).ok_or("no phone number")
        }
        Channel::Push => {
            let c = customer.ok_or("no customer profile")?;
            if !c.by_push {
                return Err("no consent to push");
            }
            if c.devices.is_empty() {
                return Err("no device registered");
            }
            Ok(Address::Devices(c.devices.clone()))
        }
    }
}

fn provider_sent(outcome: ProviderOutcome) -> Sent {
    match outcome {
        ProviderOutcome::Accepted => Sent::Yes,
        ProviderOutcome::Retry(e) => Sent::Retry(e),
        ProviderOutcome::Refused(e) => Sent::Fatal("permanent", e),
    }
}

/// The correlation id in an event's metadata.
fn correlation_of(e: &Envelope) -> Option<&str> {
    e.metadata
        .get(schemas::metadata_keys::CORRELATION_ID)
        .and_then(|v| v.as_str())
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    chain
}
