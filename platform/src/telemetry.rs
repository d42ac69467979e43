//! Structured logs with `tracing`: JSON when `FRESHLINE_LOG_FORMAT=json`, human-readable
//! otherwise; the filter comes from `FRESHLINE_LOG` (default `info`). Log lines carry the
//! fields of the spans they are in (the HTTP request's `correlation_id`, a saga step's
//! `order_id`, `step` and `correlation_id`, ...), so one id finds a request's whole story.
//!
//! When `FRESHLINE_OTLP_ENDPOINT` is set (an OTLP/HTTP collector's base URL, e.g.
//! `http://127.0.0.1:4318`), the same spans are also exported there as OpenTelemetry traces
//! (protobuf over HTTP, batched, through the workspace's reqwest client); empty, nothing is
//! exported and nothing else changes. The service name is `FRESHLINE_OTLP_SERVICE_NAME`, by
//! default the executable's name.

use std::sync::OnceLock;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{fmt, prelude::*, EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Pretty,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            other => Err(format!("expected json or pretty, got {other}")),
        }
    }
}

/// What [`init_with`] installs.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// How log lines are written.
    pub format: LogFormat,
    /// A tracing filter (`info,sqlx=warn`); it applies to exported spans as well.
    pub filter: String,
    /// The OTLP/HTTP collector's base URL (`/v1/traces` is appended unless it is there);
    /// `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of exported spans.
    pub service_name: String,
}

impl TelemetryConfig {
    /// Logs in `format` filtered by `filter`; the OTLP settings from `FRESHLINE_OTLP_ENDPOINT`
    /// and `FRESHLINE_OTLP_SERVICE_NAME`.
    pub fn from_env(format: LogFormat, filter: &str) -> Self {
        let endpoint = crate::config::string("FRESHLINE_OTLP_ENDPOINT", "");
        Self {
            format,
            filter: filter.to_owned(),
            otlp_endpoint: Some(endpoint.trim().to_owned()).filter(|e| !e.is_empty()),
            service_name: crate::config::string("FRESHLINE_OTLP_SERVICE_NAME", &executable_name()),
        }
    }
}

fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "freshline".to_owned())
}

/// The tracer provider installed by [`init`], kept for [`shutdown`].
static PROVIDER: OnceLock<otlp::Provider> = OnceLock::new();

/// Installs the global subscriber (see the module documentation); logs go to stderr. Safe to
/// call more than once: later calls keep the first subscriber.
pub fn init(format: LogFormat, filter: &str) {
    init_with(TelemetryConfig::from_env(format, filter));
}

/// [`init`] with explicit settings.
pub fn init_with(cfg: TelemetryConfig) {
    let (subscriber, provider) = subscriber(&cfg);
    // A second init (tests spawning several apps in one process) keeps the first subscriber.
    let installed = subscriber.try_init().is_ok();
    match provider {
        Ok(Some(p)) if installed => {
            tracing::info!(endpoint = ?cfg.otlp_endpoint, service = %cfg.service_name, "exporting spans over OTLP");
            PROVIDER.set(p).ok();
        }
        Ok(Some(p)) => otlp::shutdown(&p),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(endpoint = ?cfg.otlp_endpoint, error = %e, "spans are not exported")
        }
    }
}

/// Exports the spans still buffered and stops the exporter; a no-op without OTLP. Call it
/// once, at the end of `main`.
pub fn shutdown() {
    if let Some(p) = PROVIDER.get() {
        otlp::shutdown(p);
    }
}

/// The subscriber [`init_with`] installs, and the tracer provider behind its OTLP layer (when
/// an endpoint is set; an exporter that cannot be built leaves the subscriber without one),
/// for callers that install it themselves (tests: `set_default`).
pub fn subscriber(
    cfg: &TelemetryConfig,
) -> (
    impl Subscriber + Send + Sync + for<'a> LookupSpan<'a> + 'static,
    Result<Option<otlp::Provider>, otlp::OtlpError>,
) {
    subscriber_with_writer(cfg, std::io::stderr)
}

/// [`subscriber`] writing its log lines to `writer` instead of stderr.
pub fn subscriber_with_writer<W>(
    cfg: &TelemetryConfig,
    writer: W,
) -> (
    impl Subscriber + Send + Sync + for<'a> LookupSpan<'a> + 'static,
    Result<Option<otlp::Provider>, otlp::OtlpError>,
)
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&cfg.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let provider = cfg
        .otlp_endpoint
        .as_deref()
        .map(|endpoint| otlp::provider(endpoint, &cfg.service_name))
        .transpose();
    let otel = match &provider {
        Ok(Some(p)) => Some(otlp::layer(p)),
        _ => None,
    };
    let logs = match cfg.format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => fmt::layer().with_writer(writer).boxed(),
    };
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(otel);
    (subscriber, provider)
}

/// Logs an error once, with its whole cause chain.
pub fn log_error_chain(context: &str, err: &(dyn std::error::Error + 'static)) {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(error = %chain, "{context}");
}

/// The OTLP/HTTP trace exporter.
pub mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::time::Duration;
    use tracing::Subscriber;
    use tracing_subscriber::registry::LookupSpan;

    /// The tracer provider: batches finished spans and exports them.
    pub type Provider = SdkTracerProvider;

    /// Why the exporter could not be built.
    #[derive(Debug, thiserror::Error)]
    pub enum OtlpError {
        /// Not inside a tokio runtime (the exporter's requests run on it).
        #[error("no tokio runtime to send spans from")]
        NoRuntime,
        /// The HTTP client could not be built.
        #[error("HTTP client: {0}")]
        Client(#[from] reqwest::Error),
        /// The exporter refused its configuration (a malformed endpoint).
        #[error(transparent)]
        Build(#[from] opentelemetry_otlp::ExporterBuildError),
    }

    /// The traces URL of a collector's base URL.
    pub fn traces_url(endpoint: &str) -> String {
        let base = endpoint.trim().trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }

    /// A provider exporting to `endpoint` in batches (protobuf over HTTP).
    ///
    /// # Errors
    /// Outside a tokio runtime, or when the endpoint is malformed.
    pub fn provider(endpoint: &str, service_name: &str) -> Result<Provider, OtlpError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtlpError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(traces_url(endpoint))
            .with_timeout(Duration::from_secs(10))
            .with_http_client(TokioClient { client, runtime })
            .build()?;
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service_name.to_owned())
                    .build(),
            )
            .build())
    }

    /// The tracing layer turning spans into OpenTelemetry spans of `provider`; never those of
    /// the HTTP stack the exporter itself runs on (at `debug` they would be exported in turn).
    pub fn layer<S>(provider: &Provider) -> impl tracing_subscriber::Layer<S> + Send + Sync
    where
        S: Subscriber + Send + Sync + for<'a> LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        const EXPORTER_STACK: [&str; 5] = ["hyper", "h2", "reqwest", "rustls", "opentelemetry"];
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("freshline"))
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                !EXPORTER_STACK.iter().any(|t| meta.target().starts_with(t))
            }))
    }

    /// Flushes and stops `provider`.
    pub fn shutdown(provider: &Provider) {
        // Nothing to do about a failed last export but say so.
        if let Err(e) = provider.shutdown() {
            tracing::warn!(error = %e, "exporting the last spans failed");
        }
    }

    /// The exporter's HTTP client: the workspace's reqwest (rustls), its requests run on the
    /// tokio runtime that was current at start. The SDK's batch processor exports from a
    /// thread of its own with no runtime, where reqwest could not run.
    #[derive(Debug)]
    struct TokioClient {
        client: reqwest::Client,
        runtime: tokio::runtime::Handle,
    }

    #[async_trait::async_trait]
    impl opentelemetry_http::HttpClient for TokioClient {
        async fn send_bytes(
            &self,
            request: http::Request<bytes::Bytes>,
        ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
            let client = self.client.clone();
            self.runtime
                .spawn(async move {
                    let response = client.execute(request.try_into()?).await?;
                    let status = response.status();
                    let headers = response.headers().clone();
                    let mut answer = http::Response::builder()
                        .status(status)
                        .body(response.bytes().await?)?;
                    *answer.headers_mut() = headers;
                    Ok::<_, opentelemetry_http::HttpError>(answer)
                })
                .await?
        }
    }
}
