//! What the command routes share when reading a request: field-error collection, the bodies
//! several resources take (money, a reason, a category, a position), path ids, and the ids
//! new aggregates get. No resource module imports another; they all import this one.

use crate::context::CommandContext;
use axum::extract::{FromRequestParts, Path};
use domain::catalog_values::{Money, ProductId};
use domain::values::ValueError;
use domain::SupplierId;
use platform::http::{ApiError, FieldError};
use schemas::api::{GeoBody, MoneyBody};
use uuid::Uuid;

/// A body read into the value the domain takes (the bodies are `schemas::api`'s, shared with
/// the services that send them).
pub(crate) trait Parse {
    /// What it reads as.
    type Value;
    /// The value, or the field errors.
    fn parse(&self) -> Result<Self::Value, ApiError>;
}

/// Collects field errors while converting raw fields into value types.
#[derive(Debug, Default)]
pub(crate) struct Fields(pub(crate) Vec<FieldError>);

impl Fields {
    pub(crate) fn take<'a, T>(&mut self, name: &str, raw: &'a str) -> Option<T>
    where
        T: TryFrom<&'a str, Error = ValueError>,
    {
        T::try_from(raw)
            .map_err(|e| self.0.push(FieldError::new(name, e)))
            .ok()
    }

    pub(crate) fn optional<'a, T>(&mut self, name: &str, raw: Option<&'a str>) -> Option<Option<T>>
    where
        T: TryFrom<&'a str, Error = ValueError>,
    {
        match raw {
            None => Some(None),
            Some(r) => self.take(name, r).map(Some),
        }
    }

    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(ApiError::validation(self.0)),
        }
    }
}

/// A supplier id from the path: `422 validation_failed` on `id` when it is not a UUID.
#[derive(Debug, Clone, Copy)]
pub struct SupplierPath(pub SupplierId);

impl<S: Send + Sync> FromRequestParts<S> for SupplierPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        path_uuid(parts, state, "id")
            .await
            .map(|u| Self(SupplierId(u)))
    }
}

/// A product id from the path.
#[derive(Debug, Clone, Copy)]
pub struct ProductPath(pub ProductId);

impl<S: Send + Sync> FromRequestParts<S> for ProductPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        path_uuid(parts, state, "id")
            .await
            .map(|u| Self(ProductId(u)))
    }
}

/// The UUID in the path parameter `name`: `422 validation_failed` on `name` when it is
/// missing or not a UUID.
pub(crate) async fn path_uuid<S: Send + Sync>(
    parts: &mut axum::http::request::Parts,
    state: &S,
    name: &str,
) -> Result<Uuid, ApiError> {
    let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::validation(vec![FieldError::new(name, e.body_text())]))?;
    let raw = params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::validation(vec![FieldError::new(name, "must be a UUID")]))
}

/// Where a product is read.
pub(crate) fn product_location(id: ProductId) -> String {
    format!("/v1/products/{id}")
}

/// The most items one bulk request takes.
pub const MAX_BULK: usize = 100;

/// The ids in a route's path: `{id}` and, where the route has one, a second id.
#[derive(Debug, Clone, Copy)]
pub struct Ids(pub Uuid, pub Option<Uuid>);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::validation(vec![FieldError::new("id", e.body_text())]))?;
        let mut ids = params.iter().map(|(k, v)| {
            Uuid::parse_str(v)
                .map_err(|_| ApiError::validation(vec![FieldError::new(k, "must be a UUID")]))
        });
        let first = ids
            .next()
            .transpose()?
            .ok_or_else(|| ApiError::validation(vec![FieldError::new("id", "missing")]))?;
        Ok(Self(first, ids.next().transpose()?))
    }
}

/// The point of `g`, or a field error naming the coordinate that is wrong: `{field}.lat` or
/// `{field}.lon` (`lat` or `lon` when `field` is empty, the body itself).
pub(crate) fn point(
    g: &GeoBody,
    field: &str,
) -> Result<domain::fulfilment_values::GeoPoint, FieldError> {
    use domain::fulfilment_values::GeoPoint;
    let name = |part: &str| match field {
        "" => part.to_owned(),
        f => format!("{f}.{part}"),
    };
    // Microdegrees from the number as sent, whatever its notation (`1e-5` is as valid a
    // JSON number as `0.00001`); each checked with a valid partner, so the error names
    // the coordinate at fault.
    let e6 = |n: &serde_json::Number, limit: f64| {
        n.as_f64()
            .filter(|d| d.abs() <= limit)
            .map(|d| (d * 1e6).round() as i32)
    };
    let lat = e6(&g.lat, 90.0)
        .ok_or_else(|| FieldError::new(name("lat"), "a latitude in decimal degrees, -90 to 90"))?;
    let lon = e6(&g.lon, 180.0).ok_or_else(|| {
        FieldError::new(name("lon"), "a longitude in decimal degrees, -180 to 180")
    })?;
    GeoPoint::from_e6(lat, lon).map_err(|e| FieldError::new(name("lat"), e))
}

/// A delivery address from its fields, named `{at}.line1`, ... in field errors (pushed to `f`);
/// `location` is the position, when one was sent.
pub(crate) fn delivery_address(
    f: &mut Fields,
    at: &str,
    [line1, city, postal_code, country]: [&str; 4],
    location: Option<&GeoBody>,
) -> Option<domain::fulfilment_values::DeliveryAddress> {
    use domain::values::{Address, AddressLine, City, CountryCode, PostalCode};
    let field = |name: &str| format!("{at}.{name}");
    let line1 = f.take::<AddressLine>(&field("line1"), line1);
    let city = f.take::<City>(&field("city"), city);
    let postal_code = f.take::<PostalCode>(&field("postal_code"), postal_code);
    let country = f.take::<CountryCode>(&field("country"), country);
    let location = match location {
        None => Some(None),
        Some(g) => point(g, &field("location"))
            .map_err(|e| f.0.push(e))
            .ok()
            .map(Some),
    };
    Some(domain::fulfilment_values::DeliveryAddress {
        address: Address {
            line1: line1?,
            city: city?,
            postal_code: postal_code?,
            country: country?,
        },
        location: location?,
    })
}

/// A free text of 1 to `max` characters once trimmed, with no control characters.
pub(crate) fn text(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(ApiError::validation(vec![FieldError::new(
            field,
            format!("1 to {max} characters, no control characters"),
        )]));
    }
    Ok(t.to_owned())
}

/// A free-text reason, 1 to 500 characters.
pub(crate) fn reason(field: &str, raw: &str) -> Result<String, ApiError> {
    text(field, raw, 500)
}

/// A new aggregate's id: derived from the caller and the request's `Idempotency-Key` when it
/// has one (so a retry that outlives its stored answer creates nothing new), else a UUIDv7.
pub(crate) fn new_id(ctx: &CommandContext, kind: &str) -> Uuid {
    match &ctx.idempotency_key {
        Some(key) => Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("freshline:{kind}:{}:{key}", ctx.principal.subject).as_bytes(),
        ),
        None => Uuid::now_v7(),
    }
}

/// Money from its body: `422` on `field` when the amount is negative or the currency unknown.
pub(crate) fn money(field: &str, m: &MoneyBody) -> Result<Money, ApiError> {
    Money::try_from((m.amount_minor, m.currency.as_str()))
        .map_err(|e| ApiError::validation(vec![FieldError::new(field, e)]))
}
