//! Per-subject rate limits inside the services, so they are safe without the gateway: a token
//! bucket per token subject; unauthenticated requests (the public catalog) get one per client
//! address as the gateway saw it (the last `X-Forwarded-For` hop), else share one.
//! Over the limit: `429 rate_limited` with `Retry-After`.

use crate::http::{ApiError, Authenticated};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token-bucket limiter keyed by subject.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_second` sustained, up to `burst` at once, per subject.
    pub fn new(per_second: f64, burst: f64) -> Arc<Self> {
        Arc::new(Self {
            per_second: per_second.max(0.001),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token for `key`; `Err(wait)` when there is none.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            // Forget subjects idle long enough to have refilled completely.
            let full = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, b| now.duration_since(b.at) < full);
        }
        let b = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens =
            (b.tokens + now.duration_since(b.at).as_secs_f64() * self.per_second).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_second))
        }
    }
}

/// The middleware (after [`crate::http::authenticate`]).
pub async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let key = match request.extensions().get::<Authenticated>() {
        Some(Authenticated(Ok(p))) => format!("sub:{}", p.subject),
        _ => request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|a| format!("addr:{}", a.trim()))
            .unwrap_or_else(|| "anonymous".to_owned()),
    };
    match limiter.take(&key) {
        Ok(()) => next.run(request).await,
        Err(wait) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
            "this token's request rate is over its limit; retry later",
        )
        .retry_after(u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_gets_its_burst_then_waits_and_others_are_unaffected() {
        let l = RateLimiter::new(1.0, 3.0);
        for _ in 0..3 {
            assert!(l.take("a").is_ok());
        }
        let wait = l.take("a").expect_err("over the burst");
        assert!(wait <= Duration::from_secs(1));
        assert!(l.take("b").is_ok(), "buckets are per subject");
    }
}
