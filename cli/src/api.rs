//! The CLI's client of command-api and query-api: typed calls (`schemas::api::calls`) with a
//! bearer token and, for retries, an `Idempotency-Key`; answers as their status and JSON body.
//! And the request values the demos and loads build more than once (a position, riders on
//! shift, a delivery slot).

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use schemas::api::{calls, AvailabilityBody, Call, GeoBody, RiderBody, SlotBody};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// A client of one service.
#[derive(Clone, Copy)]
pub(crate) struct Api<'a> {
    /// HTTP client.
    pub(crate) client: &'a reqwest::Client,
    /// The service's base URL.
    pub(crate) base: &'a str,
}

impl Api<'_> {
    /// Sends `call` as `token`, with `key` as its `Idempotency-Key` when given.
    ///
    /// # Errors
    /// When the service cannot be reached.
    pub(crate) async fn send<B: Serialize>(
        &self,
        call: &Call<B>,
        token: &str,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{}", self.base, call.path);
        let request = self.client.request(call.method.into(), &url);
        let mut request = request.bearer_auth(token).json(&call.body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let r = request
            .send()
            .await
            .with_context(|| format!("{:?} {}", call.method, call.path))?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// `GET path` on `base` as `token`.
    ///
    /// # Errors
    /// When the service cannot be reached.
    pub(crate) async fn get(&self, base: &str, path: &str, token: &str) -> anyhow::Result<Value> {
        let r = self
            .client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        Ok(r.json().await.unwrap_or(Value::Null))
    }

    /// Sends `call` and expects `status`; answers the body's `id`.
    ///
    /// # Errors
    /// Another status, or no id in the answer.
    pub(crate) async fn create<B: Serialize>(
        &self,
        what: &str,
        call: &Call<B>,
        token: &str,
        key: &str,
    ) -> anyhow::Result<Uuid> {
        let (status, answer) = self.send(call, token, Some(key)).await?;
        if status != 201 {
            bail!("{what}: {status} {answer}");
        }
        answer["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .with_context(|| format!("{what}: no id in {answer}"))
    }
}

/// A position in decimal degrees.
pub(crate) fn geo(lat: f64, lon: f64) -> GeoBody {
    let number = |d: f64| serde_json::Number::from_f64(d).unwrap_or_else(|| 0.into());
    GeoBody {
        lat: number(lat),
        lon: number(lon),
    }
}

/// A decimal quantity as the JSON number the routes take.
pub(crate) fn quantity(text: &str) -> serde_json::Number {
    text.parse().unwrap_or_else(|_| 1.into())
}

/// Registers a rider with `account` and puts them on shift at `(lat, lon)`; `key` prefixes
/// the idempotency keys. Answers the rider's id.
///
/// # Errors
/// When the API refuses either step.
pub(crate) async fn rider_on_shift(
    c: &Api<'_>,
    admin: &str,
    rider_token: &str,
    rider: RiderBody,
    (lat, lon): (f64, f64),
    key: &str,
) -> anyhow::Result<Uuid> {
    let id = c
        .create(
            "registering a rider",
            &calls::register_rider(rider),
            admin,
            &format!("{key}:rider"),
        )
        .await?;
    let shift = calls::rider_availability(
        id,
        AvailabilityBody {
            available: true,
            location: Some(geo(lat, lon)),
        },
    );
    let (status, answer) = c
        .send(&shift, rider_token, Some(&format!("{key}:shift")))
        .await?;
    if status != 202 {
        bail!("putting a rider on shift: {status} {answer}");
    }
    Ok(id)
}

/// Opens a slot of `capacity` orders from `starts` for three hours, in `zone`, served from
/// `warehouse` at `(lat, lon)`. Answers its id.
///
/// # Errors
/// When the API refuses it.
pub(crate) async fn open_slot(
    c: &Api<'_>,
    admin: &str,
    zone: String,
    (warehouse, (lat, lon)): (Uuid, (f64, f64)),
    (starts, capacity): (DateTime<Utc>, u32),
    key: &str,
) -> anyhow::Result<Uuid> {
    let body = SlotBody {
        zone,
        warehouse_id: warehouse,
        warehouse_location: geo(lat, lon),
        starts_at: starts,
        ends_at: starts + chrono::Duration::hours(3),
        capacity,
    };
    c.create("opening a slot", &calls::create_slot(body), admin, key)
        .await
}
