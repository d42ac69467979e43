//! Prometheus: one registry per service instance (tests run several in one process), HTTP
//! request metrics, and the `/metrics` text exposition.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use std::time::Instant;

/// Metric names of the HTTP layer, defined once.
pub mod names {
    /// Requests by route, method and status.
    pub const HTTP_REQUESTS: &str = "freshline_http_requests_total";
    /// Request latency by route and method.
    pub const HTTP_DURATION: &str = "freshline_http_request_duration_seconds";
}

/// Latency buckets from 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A registry error while registering a metric (a name registered twice).
pub type MetricsError = prometheus::Error;

/// Registers `c` in `registry` and returns it.
///
/// # Errors
/// When a metric of the same name is already registered.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> Result<C, MetricsError> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

/// HTTP request counters and latency histograms.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Creates and registers the HTTP metrics.
    ///
    /// # Errors
    /// When they are already registered in `registry`.
    pub fn new(registry: &Registry) -> Result<Arc<Self>, MetricsError> {
        Ok(Arc::new(Self {
            requests: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        names::HTTP_REQUESTS,
                        "HTTP requests by route, method and status",
                    ),
                    &["route", "method", "status"],
                )?,
            )?,
            duration: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(names::HTTP_DURATION, "HTTP request latency")
                        .buckets(LATENCY_BUCKETS.to_vec()),
                    &["route", "method"],
                )?,
            )?,
        }))
    }
}

/// Middleware recording every request by its route template (never the raw path, which
/// would carry ids).
pub async fn track_http(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .duration
        .with_label_values(&[&route, &method])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[&route, &method, response.status().as_str()])
        .inc();
    response
}

/// The text exposition of `registry`, for `GET /metrics`.
pub fn render(registry: &Registry) -> Response {
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&registry.gather(), &mut buf) {
        Ok(()) => (
            [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            buf,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
