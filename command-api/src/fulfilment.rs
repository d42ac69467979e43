//! What the order, payment and delivery routes share: the buses of the five aggregates (and
//! the catalog and supplier reads a placement needs), path ids, and one way to run a command
//! and map its rejection.

use crate::context::CommandContext;
use axum::extract::{FromRequestParts, Path};
use cqrs_es::{Aggregate, AggregateError};
use domain::delivery::{Delivery, DeliveryError, DeliverySlot, Rider};
use domain::order::{Order, OrderError};
use domain::payment::{Payment, PaymentError};
use domain::product::Product;
use domain::Supplier;
use platform::bus::CommandBus;
use platform::http::{ApiError, FieldError};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The buses of fulfilment.
#[derive(Debug)]
pub struct FulfilmentService {
    pub(crate) orders: CommandBus<Order>,
    pub(crate) payments: CommandBus<Payment>,
    pub(crate) deliveries: CommandBus<Delivery>,
    pub(crate) slots: CommandBus<DeliverySlot>,
    pub(crate) riders: CommandBus<Rider>,
    pub(crate) products: CommandBus<Product>,
    pub(crate) suppliers: CommandBus<Supplier>,
}

pub(crate) use crate::response::execute;

/// Loads an aggregate's current state, mapping a store failure with `problem`.
pub(crate) async fn load<A>(
    bus: &CommandBus<A>,
    id: Uuid,
    problem: fn(AggregateError<A::Error>) -> ApiError,
) -> Result<A, ApiError>
where
    A: Aggregate,
    A::Command: Clone,
{
    bus.load(&id.to_string())
        .await
        .map(|(a, _)| a)
        .map_err(problem)
}

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

/// A position in decimal degrees: `{"lat": 52.370216, "lon": 4.895168}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeoBody {
    /// Latitude, -90 to 90.
    #[schema(value_type = f64)]
    pub lat: serde_json::Number,
    /// Longitude, -180 to 180.
    #[schema(value_type = f64)]
    pub lon: serde_json::Number,
}

impl GeoBody {
    /// The point, or a field error naming the coordinate that is wrong: `{field}.lat` or
    /// `{field}.lon` (`lat` or `lon` when `field` is empty, the body itself).
    pub(crate) fn point(
        &self,
        field: &str,
    ) -> Result<domain::fulfilment_values::GeoPoint, FieldError> {
        use domain::fulfilment_values::GeoPoint;
        let name = |part: &str| match field {
            "" => part.to_owned(),
            f => format!("{f}.{part}"),
        };
        let (lat, lon) = (self.lat.to_string(), self.lon.to_string());
        // Each coordinate with a valid partner, so the error names the one at fault.
        GeoPoint::from_degrees(&lat, "0").map_err(|_| {
            FieldError::new(name("lat"), "a latitude in decimal degrees, -90 to 90")
        })?;
        GeoPoint::from_degrees("0", &lon).map_err(|_| {
            FieldError::new(name("lon"), "a longitude in decimal degrees, -180 to 180")
        })?;
        GeoPoint::from_degrees(&lat, &lon).map_err(|e| FieldError::new(name("lat"), e))
    }
}

/// A free-text reason, 1 to 500 characters.
pub(crate) fn reason(field: &str, raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > 500 || t.chars().any(char::is_control) {
        return Err(ApiError::validation(vec![FieldError::new(
            field,
            "1 to 500 characters, no control characters",
        )]));
    }
    Ok(t.to_owned())
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

fn forbidden(code: &'static str, detail: String) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        code,
        "Not permitted",
        detail,
    )
}

/// Maps an order command failure to its problem.
pub fn order_problem(e: AggregateError<OrderError>) -> ApiError {
    crate::response::command_problem(e, "order", |e| {
        let code = e.code();
        let detail = e.to_string();
        match e {
            OrderError::NotFound => ApiError::not_found("no order with this id"),
            OrderError::NotOwner => forbidden(code, detail),
            OrderError::UnknownProduct { index } => ApiError::validation(vec![FieldError::new(
                format!("lines[{index}].product_id"),
                "no such product",
            )]),
            OrderError::DuplicateProduct { index, .. } => {
                ApiError::validation(vec![FieldError::new(
                    format!("lines[{index}].product_id"),
                    detail,
                )])
            }
            OrderError::QuantityNotInUnit { index, message } => {
                ApiError::validation(vec![FieldError::new(
                    format!("lines[{index}].quantity"),
                    message,
                )])
            }
            OrderError::MixedCurrencies { index, .. } => {
                ApiError::validation(vec![FieldError::new(
                    format!("lines[{index}].product_id"),
                    detail,
                )])
            }
            OrderError::NoLines | OrderError::TooManyLines { .. } => {
                ApiError::validation(vec![FieldError::new("lines", detail)])
            }
            OrderError::TotalTooLarge => {
                ApiError::validation(vec![FieldError::new("lines", detail)])
            }
            OrderError::CardTokenMissing => {
                ApiError::validation(vec![FieldError::new("payment.card_token", detail)])
            }
            OrderError::SupplierNotActive { index, status } => ApiError::conflict(code, detail)
                .with("supplier_status", status.as_str())
                .with("index", index),
            OrderError::ProductDiscontinued { index } => {
                ApiError::conflict(code, detail).with("index", index)
            }
            OrderError::InvalidTransition { current, .. } => {
                ApiError::conflict(code, detail).with("current_status", current.as_str())
            }
            OrderError::RefundExceedsPaid { paid } => {
                ApiError::conflict(code, detail).with("paid_minor", paid)
            }
            OrderError::AlreadyExists | OrderError::SlotOver | OrderError::WrongPayment => {
                ApiError::conflict(code, detail)
            }
        }
    })
}

/// Maps a payment command failure to its problem.
pub fn payment_problem(e: AggregateError<PaymentError>) -> ApiError {
    crate::response::command_problem(e, "payment", |e| {
        let code = e.code();
        let detail = e.to_string();
        match e {
            PaymentError::NotFound => ApiError::not_found("no payment with this id"),
            PaymentError::UnknownRefund { .. } => ApiError::not_found(detail),
            PaymentError::PayeesMismatch
            | PaymentError::WrongCurrency { .. }
            | PaymentError::EmptyRefund => {
                ApiError::validation(vec![FieldError::new("amount", detail)])
            }
            PaymentError::RefundExceedsCaptured { refundable } => {
                ApiError::conflict(code, detail).with("refundable_minor", refundable)
            }
            PaymentError::InvalidTransition { current, .. } => {
                ApiError::conflict(code, detail).with("current_status", current.as_str())
            }
            PaymentError::AlreadyExists
            | PaymentError::CaptureExceedsAmount { .. }
            | PaymentError::RefundMismatch { .. } => ApiError::conflict(code, detail),
        }
    })
}

/// Maps a slot, rider or delivery command failure to its problem.
pub fn delivery_problem(e: AggregateError<DeliveryError>) -> ApiError {
    crate::response::command_problem(e, "delivery", |e| {
        let code = e.code();
        let detail = e.to_string();
        match e {
            DeliveryError::NotFound => ApiError::not_found("not found"),
            DeliveryError::NotOwner => forbidden(code, detail),
            DeliveryError::EmptyWindow => {
                ApiError::validation(vec![FieldError::new("ends_at", detail)])
            }
            DeliveryError::BadCapacity { .. } => {
                ApiError::validation(vec![FieldError::new("capacity", detail)])
            }
            DeliveryError::InvalidTransition { current, .. } => {
                ApiError::conflict(code, detail).with("current_status", current.as_str())
            }
            DeliveryError::AlreadyAssigned { rider_id } => {
                ApiError::conflict(code, detail).with("rider_id", rider_id.0)
            }
            _ => ApiError::conflict(code, detail),
        }
    })
}
