//! Inventory commands: receive a batch, reserve / release / commit stock for an order, record
//! spoilage, expire a batch, raise its expiring-soon alert.

use crate::context::CommandContext;
use crate::request::{Fields, MAX_BULK};
use crate::response::resource;
use crate::response::{command_problem, execute, refusal_problem, Accepted};
use crate::AppState;
use axum::extract::{FromRequestParts, Path, State};
use chrono::TimeDelta;
use domain::catalog_values::{
    BatchId, Money, OrderId, PositiveQuantity, ProductId, Quantity, WarehouseId,
};
use domain::inventory::{
    CommitReservation, ExpireBatch, FlagExpiringSoon, InventoryBatch, InventoryCommand,
    ReceiveBatch, RecordSpoilage, ReleaseReservation, ReserveStock, SpoilageReason,
};
use domain::product::{Product, ProductError};
use domain::stock_alert::{stock_alert_id, AssessStock, StockAlert};
use domain::SupplierId;
use platform::bus::{CommandBus, Reply};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{
    AssessBody, BulkReceiveBody, ExpiringSoonBody, ReceiveBatchBody, ReserveBody, SpoilageBody,
};
use uuid::Uuid;

/// Runs inventory commands; reads products for the facts a receipt needs.
#[derive(Debug)]
pub struct InventoryService {
    pub(crate) bus: CommandBus<InventoryBatch>,
    pub(crate) products: CommandBus<Product>,
    pub(crate) alerts: CommandBus<StockAlert>,
}

fn positive(f: &mut Fields, name: &str, n: &serde_json::Number) -> Option<PositiveQuantity> {
    f.take::<PositiveQuantity>(name, &n.to_string())
}

fn path_uuid(params: &[(String, String)], key: &'static str) -> Result<Uuid, ApiError> {
    let raw = params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::validation(vec![FieldError::new(key, "must be a UUID")]))
}

/// A batch id (and an order id, where the route has one) from the path.
#[derive(Debug, Clone, Copy)]
pub struct BatchPath(pub BatchId, pub Option<OrderId>);

impl<S: Send + Sync> FromRequestParts<S> for BatchPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::validation(vec![FieldError::new("id", e.body_text())]))?;
        let batch = BatchId(path_uuid(&params, "id")?);
        let order = if params.iter().any(|(k, _)| k == "order_id") {
            Some(OrderId(path_uuid(&params, "order_id")?))
        } else {
            None
        };
        Ok(Self(batch, order))
    }
}

/// Receive a batch of a listed product.
#[utoipa::path(
    post, path = "/v1/inventory/batches", tag = "inventory",
    request_body = ReceiveBatchBody,
    responses(
        (status = 201, description = "Received", body = crate::response::CommandAccepted),
        (status = 409, description = "`product_discontinued`", body = platform::http::Problem),
        (status = 422, description = "`validation_failed` (e.g. `expires_at` not after `received_at`, a fraction of pieces)", body = platform::http::Problem),
    ),
    security(("bearer" = ["inventory:write"]))
)]
pub async fn receive(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<ReceiveBatchBody>,
) -> Result<Accepted, ApiError> {
    let (product, _) = app
        .inventory
        .products
        .load(&body.product_id.to_string())
        .await
        .map_err(command_problem)?;
    let id = BatchId(crate::request::new_id(&ctx, "batch"));
    let mut f = Fields::default();
    let cmd = receipt(&mut f, "", &body, &product, id);
    let cmd = f.finish(cmd)?.map_err(|e| *e)?;
    resource(&app.inventory.bus, "/v1/inventory/batches")
        .create(&ctx, id, "receive", cmd)
        .await
}

/// Checks a receipt against its product's facts — it exists, is the supplier's, is still sold,
/// and its unit allows the quantity — and builds the command. Field errors go to `f` (named
/// with `prefix`); a discontinued product is a conflict.
fn receipt(
    f: &mut Fields,
    prefix: &str,
    body: &ReceiveBatchBody,
    product: &Product,
    id: BatchId,
) -> Option<Result<InventoryCommand, Box<ApiError>>> {
    let field = |name: &str| format!("{prefix}{name}");
    let quantity = positive(f, &field("quantity"), &body.quantity);
    let price = Money::try_from((
        body.procurement_price.amount_minor,
        body.procurement_price.currency.as_str(),
    ))
    .map_err(|e| f.0.push(FieldError::new(field("procurement_price"), e)))
    .ok();
    let Some(state) = product.state() else {
        f.0.push(FieldError::new(field("product_id"), "no such product"));
        return None;
    };
    if state.supplier_id.0 != body.supplier_id {
        f.0.push(FieldError::new(
            field("supplier_id"),
            "the product is listed by another supplier",
        ));
        return None;
    }
    if body.expires_at <= body.received_at {
        f.0.push(FieldError::new(
            field("expires_at"),
            "must be after received_at",
        ));
    }
    let quantity = quantity?;
    if let Err(e) = state.unit.check(quantity.get()) {
        f.0.push(FieldError::new(field("quantity"), e));
        return None;
    }
    if state.status != domain::product::ProductStatus::Active {
        return Some(Err(Box::new(refusal_problem(
            &ProductError::Discontinued {
                attempted: "receive stock for",
            },
        ))));
    }
    Some(Ok(InventoryCommand::Receive(ReceiveBatch {
        batch_id: id,
        product_id: ProductId(body.product_id),
        supplier_id: SupplierId(body.supplier_id),
        warehouse_id: WarehouseId(body.warehouse_id),
        quantity,
        received_at: body.received_at,
        expires_at: body.expires_at,
        cold_chain: body.cold_chain,
        procurement_price: price?,
    })))
}

/// Receive up to 100 batches at once (a delivery note): each is checked like a single
/// receipt, and all are appended in one transaction, or none is.
#[utoipa::path(
    post, path = "/v1/inventory/batches/bulk", tag = "inventory",
    request_body = BulkReceiveBody,
    responses(
        (status = 201, description = "Received, ids in request order", body = crate::response::BulkCreated),
        (status = 409, description = "`product_discontinued` (nothing received)", body = platform::http::Problem),
        (status = 422, description = "`validation_failed`, fields named `batches[i].…`", body = platform::http::Problem),
    ),
    security(("bearer" = ["inventory:write"]))
)]
pub async fn receive_bulk(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<BulkReceiveBody>,
) -> Result<Accepted, ApiError> {
    let max = MAX_BULK;
    if body.batches.is_empty() || body.batches.len() > max {
        return Err(ApiError::validation(vec![FieldError::new(
            "batches",
            format!("1 to {max} items"),
        )]));
    }
    let mut product_ids: Vec<String> = body
        .batches
        .iter()
        .map(|b| b.product_id.to_string())
        .collect();
    product_ids.sort();
    product_ids.dedup();
    let products = app
        .inventory
        .products
        .load_many(&product_ids)
        .await
        .map_err(command_problem)?;
    let missing = Product::default();
    let mut f = Fields::default();
    let mut items = Vec::with_capacity(body.batches.len());
    for (i, b) in body.batches.iter().enumerate() {
        let id = BatchId(Uuid::now_v7());
        let product = products.get(&b.product_id.to_string()).unwrap_or(&missing);
        match receipt(&mut f, &format!("batches[{i}]."), b, product, id) {
            Some(Ok(cmd)) => items.push((id.to_string(), cmd)),
            Some(Err(problem)) => return Err((*problem).with("index", i)),
            None => {}
        }
    }
    let items = f.finish(Some(items))?;
    crate::response::create_many(&app.inventory.bus, "receive", items, &ctx).await
}

/// Reserve stock of a batch for an order; never below zero available; the same reservation
/// again is a no-op.
#[utoipa::path(
    post, path = "/v1/inventory/batches/{id}/reservations", tag = "inventory",
    request_body = ReserveBody,
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 202, description = "Reserved", body = crate::response::CommandAccepted),
        (status = 409, description = "`insufficient_stock` (with `available`), `reservation_mismatch`, `batch_expired`, `concurrent_modification`", body = platform::http::Problem),
    ),
    security(("bearer" = ["inventory:reserve"]))
)]
pub async fn reserve(
    State(app): State<AppState>,
    ctx: CommandContext,
    BatchPath(id, _): BatchPath,
    ValidJson(body): ValidJson<ReserveBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let quantity = positive(&mut f, "quantity", &body.quantity);
    let quantity = f.finish(quantity)?;
    let cmd = InventoryCommand::Reserve(ReserveStock {
        order_id: OrderId(body.order_id),
        quantity,
        now: ctx.received_at,
    });
    resource(&app.inventory.bus, "/v1/inventory/batches")
        .change(&ctx, id, "reserve", cmd, None)
        .await
}

/// Release an order's reservation (a no-op when already released).
#[utoipa::path(
    post, path = "/v1/inventory/batches/{id}/reservations/{order_id}/release", tag = "inventory",
    params(("id" = Uuid, Path, description = "Batch id"), ("order_id" = Uuid, Path, description = "Order id")),
    responses((status = 202, description = "Released", body = crate::response::CommandAccepted)),
    security(("bearer" = ["inventory:reserve"]))
)]
pub async fn release(
    State(app): State<AppState>,
    ctx: CommandContext,
    BatchPath(id, order): BatchPath,
) -> Result<Accepted, ApiError> {
    let order_id = order.ok_or_else(|| ApiError::not_found("no order in the path"))?;
    let cmd = InventoryCommand::Release(ReleaseReservation { order_id });
    resource(&app.inventory.bus, "/v1/inventory/batches")
        .change(&ctx, id, "release", cmd, None)
        .await
}

/// Commit an order's reservation: the stock leaves with the packed order.
#[utoipa::path(
    post, path = "/v1/inventory/batches/{id}/reservations/{order_id}/commit", tag = "inventory",
    params(("id" = Uuid, Path, description = "Batch id"), ("order_id" = Uuid, Path, description = "Order id")),
    responses((status = 202, description = "Committed", body = crate::response::CommandAccepted)),
    security(("bearer" = ["inventory:reserve"]))
)]
pub async fn commit(
    State(app): State<AppState>,
    ctx: CommandContext,
    BatchPath(id, order): BatchPath,
) -> Result<Accepted, ApiError> {
    let order_id = order.ok_or_else(|| ApiError::not_found("no order in the path"))?;
    let cmd = InventoryCommand::Commit(CommitReservation { order_id });
    resource(&app.inventory.bus, "/v1/inventory/batches")
        .change(&ctx, id, "commit", cmd, None)
        .await
}

/// Write off spoiled stock (at most what is available).
#[utoipa::path(
    post, path = "/v1/inventory/batches/{id}/spoilage", tag = "inventory",
    request_body = SpoilageBody,
    params(("id" = Uuid, Path, description = "Batch id")),
    responses((status = 202, description = "Recorded", body = crate::response::CommandAccepted)),
    security(("bearer" = ["inventory:write"]))
)]
pub async fn spoilage(
    State(app): State<AppState>,
    ctx: CommandContext,
    BatchPath(id, _): BatchPath,
    ValidJson(body): ValidJson<SpoilageBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let quantity = positive(&mut f, "quantity", &body.quantity);
    let reason = f.take::<SpoilageReason>("reason", &body.reason);
    let (quantity, reason) = f.finish((|| Some((quantity?, reason?)))())?;
    let text = reason.as_str();
    let cmd = InventoryCommand::RecordSpoilage(RecordSpoilage { quantity, reason });
    resource(&app.inventory.bus, "/v1/inventory/batches")
        .change(&ctx, id, "spoilage", cmd, Some(text))
        .await
}

/// Expire a batch (only at or after `expires_at`): open reservations are released and what is
/// on hand is written off.
#[utoipa::path(
    post, path = "/v1/inventory/batches/{id}/expire", tag = "inventory",
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 202, description = "Expired", body = crate::response::CommandAccepted),
        (status = 409, description = "`not_yet_expired`", body = platform::http::Problem),
    ),
    security(("bearer" = ["inventory:write"]))
)]
pub async fn expire(
    State(app): State<AppState>,
    ctx: CommandContext,
    BatchPath(id, _): BatchPath,
) -> Result<Accepted, ApiError> {
    let cmd = InventoryCommand::Expire(ExpireBatch {
        now: ctx.received_at,
    });
    resource(&app.inventory.bus, "/v1/inventory/batches")
        .change(&ctx, id, "expire", cmd, None)
        .await
}

/// Raise the batch's expiring-soon alert (once; the scheduler calls it).
#[utoipa::path(
    post, path = "/v1/inventory/batches/{id}/expiring-soon", tag = "inventory",
    request_body = ExpiringSoonBody,
    params(("id" = Uuid, Path, description = "Batch id")),
    responses(
        (status = 202, description = "Raised, or already raised", body = crate::response::CommandAccepted),
        (status = 409, description = "`not_expiring_soon`", body = platform::http::Problem),
    ),
    security(("bearer" = ["inventory:write"]))
)]
pub async fn expiring_soon(
    State(app): State<AppState>,
    ctx: CommandContext,
    BatchPath(id, _): BatchPath,
    ValidJson(body): ValidJson<ExpiringSoonBody>,
) -> Result<Accepted, ApiError> {
    if !(1..=720).contains(&body.horizon_hours) {
        return Err(ApiError::validation(vec![FieldError::new(
            "horizon_hours",
            "between 1 and 720",
        )]));
    }
    let cmd = InventoryCommand::FlagExpiringSoon(FlagExpiringSoon {
        now: ctx.received_at,
        horizon: TimeDelta::hours(body.horizon_hours),
    });
    resource(&app.inventory.bus, "/v1/inventory/batches")
        .change(&ctx, id, "expiring_soon", cmd, None)
        .await
}

/// Assess a product's stock level in a warehouse (the scheduler calls it): `LowStock` when it
/// falls below the threshold, once, until `StockRecovered`; otherwise nothing is appended.
#[utoipa::path(
    post, path = "/v1/inventory/stock-alerts", tag = "inventory",
    request_body = AssessBody,
    responses((status = 202, description = "Assessed (the alert stream's id and version)", body = crate::response::CommandAccepted)),
    security(("bearer" = ["inventory:write"]))
)]
pub async fn assess(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<AssessBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let available = f.take::<Quantity>("available", &body.available.to_string());
    let threshold = f.take::<Quantity>("threshold", &body.threshold.to_string());
    let (available, threshold) = f.finish((|| Some((available?, threshold?)))())?;
    let (product_id, warehouse_id) = (ProductId(body.product_id), WarehouseId(body.warehouse_id));
    let id = stock_alert_id(product_id, warehouse_id);
    let cmd = AssessStock {
        product_id,
        warehouse_id,
        available,
        threshold,
    };
    let reply = Reply::changed(format!("/v1/inventory/stock-alerts/{id}"));
    let done = execute(&app.inventory.alerts, &ctx, id, "assess", cmd, None, reply).await?;
    Ok(done.answer)
}
