//! What the query API's resources share: parameters, ids, filters by caller, money, points.

use axum::extract::Query;
use chrono::{DateTime, NaiveDate, Utc};
use platform::auth::{Actor, Principal, Role};
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::validation(vec![FieldError::new("id", "must be a UUID")]))
}

pub(crate) fn query_params<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| {
        let text = e.body_text();
        let field = text.split('`').nth(1).unwrap_or("query").to_owned();
        ApiError::validation(vec![FieldError::new(field, text)])
    })
}

pub(crate) fn db_problem(e: &sqlx::Error) -> ApiError {
    ApiError::database("query", e)
}

/// A supplier account sees only suppliers it owns.
/// A supplier account sees only what its suppliers own (its token subject is their owner).
pub(crate) fn owner_filter(p: &Principal) -> Option<String> {
    matches!(p.actor, Actor::Person(Role::Supplier)).then(|| p.subject.clone())
}

/// A customer sees only what belongs to them (their token subject).
pub(crate) fn customer_filter(p: &Principal) -> Option<String> {
    matches!(p.actor, Actor::Person(Role::Customer)).then(|| p.subject.clone())
}

pub(crate) const CATEGORIES: &[&str] = &["fruit", "vegetable", "herb", "dairy", "bakery", "other"];

pub(crate) type Params<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

pub(crate) fn one_of(field: &str, v: Option<&str>, allowed: &[&str], errors: &mut Vec<FieldError>) {
    if let Some(v) = v {
        if !allowed.contains(&v) {
            errors.push(FieldError::new(
                field,
                format!("one of {}", allowed.join(", ")),
            ));
        }
    }
}

pub(crate) fn parse_date(
    field: &str,
    v: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<NaiveDate> {
    let v = v?;
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if v.len() == 10 => Some(d),
        _ => {
            errors.push(FieldError::new(field, "a date as YYYY-MM-DD"));
            None
        }
    }
}

pub(crate) fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// A point in integer microdegrees.
#[derive(Debug, Serialize, ToSchema)]
pub struct GeoPoint {
    /// Latitude, millionths of a degree.
    pub lat_e6: i32,
    /// Longitude, millionths of a degree.
    pub lon_e6: i32,
}

pub(crate) fn point(lat: Option<i32>, lon: Option<i32>) -> Option<GeoPoint> {
    Some(GeoPoint {
        lat_e6: lat?,
        lon_e6: lon?,
    })
}

/// Money.
#[derive(Debug, Serialize, ToSchema)]
pub struct Money {
    /// Amount in minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// Options of a single read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionParams {
    /// Wait until the read model has reached this version of the stream (read-your-writes).
    #[param(minimum = 0)]
    pub min_version: Option<i64>,
}
