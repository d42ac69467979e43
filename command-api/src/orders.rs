//! Order commands: a customer places and cancels orders; suppliers and warehouse staff pack
//! them; the fulfilment saga records payment, shipping, delivery, refunds and compensation.
//! Prices come from the catalog at placement, never from the client.

use crate::context::CommandContext;
use crate::request::{delivery_address, money, new_id, reason, Fields, Ids};
use crate::response::resource;
use crate::response::{command_problem, load, refusal_problem, Accepted};
use crate::AppState;
use axum::extract::State;
use domain::catalog_values::{OrderId, PositiveQuantity, ProductId};
use domain::fulfilment_values::{DeliveryAddress, DeliveryId, PaymentId, RefundId, RiderId};
use domain::order::{
    CancelReason, Canceller, OrderCommand, OrderDelivery, PlaceOrder, ProductFacts, RequestedLine,
    MAX_LINES,
};
use domain::product::ProductStatus;
use domain::values::Email;
use domain::SupplierId;
use platform::auth::{Actor, Role};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{
    CancelBody, CompensateBody, DeliverBody, ForceCompensationBody, MethodBody, PaidBody,
    PlaceOrderBody, RecordRefundBody, ShipBody,
};
use std::collections::HashMap;
use uuid::Uuid;

fn address(body: &PlaceOrderBody, f: &mut Fields) -> Option<DeliveryAddress> {
    let a = &body.delivery.address;
    delivery_address(
        f,
        "delivery.address",
        [&a.line1, &a.city, &a.postal_code, &a.country],
        a.location.as_ref(),
    )
}

/// Place an order: lines priced from the catalog, delivery in a slot, card or cash.
#[utoipa::path(
    post, path = "/v1/orders", tag = "orders", request_body = PlaceOrderBody,
    responses(
        (status = 201, description = "Placed; the fulfilment saga takes it from here", body = crate::response::CommandAccepted),
        (status = 409, description = "`supplier_not_active`, `product_discontinued`, `slot_closed`", body = platform::http::Problem),
        (status = 422, description = "`validation_failed` (fields named, e.g. `lines[1].quantity`)", body = platform::http::Problem),
    ),
    security(("bearer" = ["orders:write"]))
)]
pub async fn place(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<PlaceOrderBody>,
) -> Result<Accepted, ApiError> {
    let svc = &app.fulfilment;
    let mut f = Fields::default();
    if body.lines.is_empty() || body.lines.len() > MAX_LINES {
        f.0.push(FieldError::new("lines", format!("1 to {MAX_LINES} lines")));
    }
    let quantities: Vec<Option<PositiveQuantity>> = body
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| f.take(&format!("lines[{i}].quantity"), &l.quantity.to_string()))
        .collect();
    let address = address(&body, &mut f);
    let contact_email = f
        .optional::<Email>(
            "delivery.contact_email",
            body.delivery.contact_email.as_deref(),
        )
        .map(|e| e.map(|e| e.as_str().to_owned()));
    if body
        .payment
        .card_token
        .as_deref()
        .is_some_and(|t| t.is_empty() || t.len() > 200 || !t.bytes().all(|b| b.is_ascii_graphic()))
    {
        f.0.push(FieldError::new(
            "payment.card_token",
            "1 to 200 printable ASCII characters",
        ));
    }
    let quantities = quantities.into_iter().collect::<Option<Vec<_>>>();
    let (Some(address), Some(contact_email), Some(quantities), true) =
        (address, contact_email, quantities, f.0.is_empty())
    else {
        // The slot is named too when it does not exist, so every field error shows at once.
        if load(&svc.slots, body.delivery.slot_id)
            .await?
            .state()
            .is_none()
        {
            f.0.push(FieldError::new("delivery.slot_id", "no such delivery slot"));
        }
        return Err(ApiError::validation(f.0));
    };
    let request = OrderRequest {
        lines: body
            .lines
            .iter()
            .zip(quantities)
            .map(|(l, q)| (ProductId(l.product_id), q))
            .collect(),
        address,
        slot_id: body.delivery.slot_id,
        slot_field: "delivery.slot_id",
        contact_email,
        method: body.payment.method,
        card_token: body.payment.card_token,
        cart_id: None,
    };
    let id = new_id(&ctx, "order");
    let cmd = prepare_order(svc, &ctx, id, request).await?;
    resource(&svc.orders, "/v1/orders")
        .create(&ctx, id, "place", OrderCommand::Place(Box::new(cmd)))
        .await
}

/// What an order is placed from (a `POST /v1/orders` body, or a cart at checkout), its
/// fields already valid.
#[derive(Debug)]
pub(crate) struct OrderRequest {
    /// Products and quantities, in the order given.
    pub(crate) lines: Vec<(ProductId, PositiveQuantity)>,
    /// Where.
    pub(crate) address: DeliveryAddress,
    /// The slot.
    pub(crate) slot_id: Uuid,
    /// The request field naming the slot (for `422`).
    pub(crate) slot_field: &'static str,
    /// Where order messages go.
    pub(crate) contact_email: Option<String>,
    /// Card or cash.
    pub(crate) method: MethodBody,
    /// The card token.
    pub(crate) card_token: Option<String>,
    /// The cart checked out, when the order comes from one.
    pub(crate) cart_id: Option<Uuid>,
}

/// The placement command for `request`: the slot, and each product with its supplier's status
/// and its catalog price now, read through the command pipeline (prices come from the
/// catalog, never from the client). Both `POST /v1/orders` and checkout place through here.
///
/// # Errors
/// `422` for a slot that does not exist; what loading the aggregates answers.
pub(crate) async fn prepare_order(
    svc: &crate::fulfilment::FulfilmentService,
    ctx: &CommandContext,
    order_id: Uuid,
    request: OrderRequest,
) -> Result<PlaceOrder, ApiError> {
    let slot = load(&svc.slots, request.slot_id).await?;
    let Some(slot) = slot.state().cloned() else {
        return Err(ApiError::validation(vec![FieldError::new(
            request.slot_field,
            "no such delivery slot",
        )]));
    };
    let ids: Vec<String> = request.lines.iter().map(|(p, _)| p.0.to_string()).collect();
    let products = svc
        .products
        .load_many(&ids)
        .await
        .map_err(command_problem)?;
    let mut supplier_status = HashMap::new();
    for p in products.values().filter_map(|p| p.state()) {
        if let std::collections::hash_map::Entry::Vacant(v) = supplier_status.entry(p.supplier_id) {
            let s = load(&svc.suppliers, p.supplier_id.0).await?;
            v.insert(s.status());
        }
    }
    let lines = request
        .lines
        .into_iter()
        .map(|(product_id, quantity)| RequestedLine {
            product_id,
            quantity,
            product: products
                .get(&product_id.0.to_string())
                .and_then(|p| p.state())
                .and_then(|p| {
                    let status = supplier_status.get(&p.supplier_id).copied().flatten()?;
                    Some(ProductFacts {
                        supplier_id: p.supplier_id,
                        supplier_status: status,
                        name: p.name.as_str().to_owned(),
                        category: p.category.as_str().to_owned(),
                        unit: p.unit,
                        price: p.price.clone(),
                        active: p.status == ProductStatus::Active,
                    })
                }),
        })
        .collect();
    Ok(PlaceOrder {
        order_id: OrderId(order_id),
        customer: ctx.principal.subject.clone(),
        cart_id: request.cart_id,
        lines,
        delivery: OrderDelivery {
            address: request.address,
            slot_id: domain::fulfilment_values::SlotId(request.slot_id),
            warehouse_id: slot.warehouse_id,
            warehouse_location: slot.warehouse_location,
            zone: slot.zone,
            slot_starts_at: slot.starts_at,
            slot_ends_at: slot.ends_at,
            contact_email: request.contact_email,
        },
        method: match request.method {
            MethodBody::Card => domain::fulfilment_values::PaymentMethod::Card,
            MethodBody::CashOnDelivery => domain::fulfilment_values::PaymentMethod::CashOnDelivery,
        },
        card_token: request.card_token,
        now: ctx.received_at,
    })
}

/// Cancel an order before it ships; the fulfilment saga then releases stock, refunds and
/// frees the slot and rider.
#[utoipa::path(
    post, path = "/v1/orders/{id}/cancel", tag = "orders", request_body = CancelBody,
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 202, description = "Cancelled", body = crate::response::CommandAccepted),
        (status = 403, description = "`not_owner`", body = platform::http::Problem),
        (status = 409, description = "`invalid_transition` (shipped or delivered)", body = platform::http::Problem),
    ),
    security(("bearer" = ["orders:write"]))
)]
pub async fn cancel(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<CancelBody>,
) -> Result<Accepted, ApiError> {
    let detail = body
        .reason
        .as_deref()
        .map(|r| reason("reason", r))
        .transpose()?;
    let (reason, by) = match &ctx.principal.actor {
        Actor::Person(Role::Admin) => (CancelReason::Admin, Canceller::Admin),
        _ => (
            CancelReason::CustomerRequest,
            Canceller::Customer(ctx.principal.subject.clone()),
        ),
    };
    let cmd = OrderCommand::Cancel {
        reason,
        detail: detail.clone(),
        by,
    };
    resource(&app.fulfilment.orders, "/v1/orders")
        .change(
            &ctx,
            id,
            "cancel",
            cmd,
            Some(detail.as_deref().unwrap_or(reason.as_str())),
        )
        .await
}

/// Pack a paid order (its reserved stock leaves the warehouse).
#[utoipa::path(
    post, path = "/v1/orders/{id}/pack", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 202, description = "Packed", body = crate::response::CommandAccepted),
        (status = 403, description = "`not_owner`: a supplier packs only orders with its products", body = platform::http::Problem),
        (status = 409, description = "`invalid_transition` (not paid yet, or cancelled)", body = platform::http::Problem),
    ),
    security(("bearer" = ["orders:fulfil"]))
)]
pub async fn pack(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
) -> Result<Accepted, ApiError> {
    let svc = &app.fulfilment;
    if matches!(ctx.principal.actor, Actor::Person(Role::Supplier)) {
        let order = load(&svc.orders, id).await?;
        let Some(state) = order.state() else {
            return Err(ApiError::not_found("no order with this id"));
        };
        let mut owns = false;
        let suppliers: std::collections::BTreeSet<SupplierId> =
            state.lines.iter().map(|l| l.supplier_id).collect();
        for s in suppliers {
            let supplier = load(&svc.suppliers, s.0).await?;
            owns |= supplier
                .state()
                .and_then(|s| s.owner.as_deref())
                .is_some_and(|o| o == ctx.principal.subject);
        }
        if !owns {
            return Err(refusal_problem(&domain::order::OrderError::NotOwner));
        }
    }
    resource(&svc.orders, "/v1/orders")
        .change(&ctx, id, "pack", OrderCommand::Pack, None)
        .await
}

/// The saga records a captured payment (or accepted cash on delivery).
#[utoipa::path(post, path = "/v1/orders/{id}/paid", tag = "orders", request_body = PaidBody,
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["orders:manage"])))]
pub async fn paid(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<PaidBody>,
) -> Result<Accepted, ApiError> {
    let cmd = OrderCommand::MarkPaid {
        payment_id: PaymentId(body.payment_id),
        amount: money("amount", &body.amount)?,
    };
    resource(&app.fulfilment.orders, "/v1/orders")
        .change(&ctx, id, "mark_paid", cmd, None)
        .await
}

/// The saga records the pickup: the order has shipped.
#[utoipa::path(post, path = "/v1/orders/{id}/ship", tag = "orders", request_body = ShipBody,
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["orders:manage"])))]
pub async fn ship(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<ShipBody>,
) -> Result<Accepted, ApiError> {
    let cmd = OrderCommand::Ship {
        delivery_id: DeliveryId(body.delivery_id),
        rider_id: RiderId(body.rider_id),
    };
    resource(&app.fulfilment.orders, "/v1/orders")
        .change(&ctx, id, "ship", cmd, None)
        .await
}

/// The saga records the hand-over: the order was delivered.
#[utoipa::path(post, path = "/v1/orders/{id}/deliver", tag = "orders", request_body = DeliverBody,
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["orders:manage"])))]
pub async fn deliver(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<DeliverBody>,
) -> Result<Accepted, ApiError> {
    let cmd = OrderCommand::Deliver {
        delivery_id: DeliveryId(body.delivery_id),
    };
    resource(&app.fulfilment.orders, "/v1/orders")
        .change(&ctx, id, "deliver", cmd, None)
        .await
}

/// An operator gives an order up (a saga stuck on it, say): the order is cancelled with
/// reason `admin` and the operator's words, recorded as the order's `OrderCancelled`; its
/// saga then releases stock, refunds and frees slot and rider like for any cancellation (a
/// parked saga first needs `POST /v1/ops/sagas/{order_id}/retry` on the query API).
#[utoipa::path(post, path = "/v1/ops/orders/{id}/compensate", tag = "orders", request_body = ForceCompensationBody,
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 202, description = "Cancelled; compensation follows", body = crate::response::CommandAccepted),
        (status = 404, body = platform::http::Problem),
        (status = 409, description = "`invalid_transition` (shipped, delivered or cancelled)", body = platform::http::Problem),
        (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["ops:write"])))]
pub async fn force_compensation(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<ForceCompensationBody>,
) -> Result<Accepted, ApiError> {
    let detail = reason("reason", &body.reason)?;
    let cmd = OrderCommand::Cancel {
        reason: CancelReason::Admin,
        detail: Some(detail.clone()),
        by: Canceller::Admin,
    };
    resource(&app.fulfilment.orders, "/v1/orders")
        .change(&ctx, id, "force compensation", cmd, Some(detail.as_str()))
        .await
}

/// Forced compensation at the path of the saga's other controls (API.md's
/// `POST /v1/ops/sagas/{order_id}/compensate`): the same as
/// `POST /v1/ops/orders/{id}/compensate`.
#[utoipa::path(post, path = "/v1/ops/sagas/{order_id}/compensate", tag = "orders", request_body = ForceCompensationBody,
    params(("order_id" = Uuid, Path, description = "Order id (the saga's)")),
    responses(
        (status = 202, description = "Cancelled; compensation follows", body = crate::response::CommandAccepted),
        (status = 404, body = platform::http::Problem),
        (status = 409, description = "`invalid_transition` (shipped, delivered or cancelled)", body = platform::http::Problem),
        (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["ops:write"])))]
pub async fn force_saga_compensation(
    state: State<AppState>,
    ctx: CommandContext,
    ids: Ids,
    body: ValidJson<ForceCompensationBody>,
) -> Result<Accepted, ApiError> {
    force_compensation(state, ctx, ids, body).await
}

/// The saga cancels an order it cannot carry through (out of stock, payment failed, no slot
/// or rider, delivery failed).
#[utoipa::path(post, path = "/v1/orders/{id}/compensate", tag = "orders", request_body = CompensateBody,
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:manage"])))]
pub async fn compensate(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<CompensateBody>,
) -> Result<Accepted, ApiError> {
    let reason_code = CancelReason::parse(&body.reason)
        .filter(|r| !matches!(r, CancelReason::CustomerRequest | CancelReason::Admin))
        .ok_or_else(|| {
            ApiError::validation(vec![FieldError::new(
                "reason",
                "one of: out_of_stock payment_failed no_delivery_capacity delivery_failed",
            )])
        })?;
    let detail = body
        .detail
        .as_deref()
        .map(|d| reason("detail", d))
        .transpose()?;
    let cmd = OrderCommand::Cancel {
        reason: reason_code,
        detail,
        by: Canceller::Service,
    };
    resource(&app.fulfilment.orders, "/v1/orders")
        .change(&ctx, id, "compensate", cmd, Some(reason_code.as_str()))
        .await
}

/// The saga records money paid back for the order.
#[utoipa::path(post, path = "/v1/orders/{id}/refunds", tag = "orders", request_body = RecordRefundBody,
    params(("id" = Uuid, Path, description = "Order id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["orders:manage"])))]
pub async fn record_refund(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<RecordRefundBody>,
) -> Result<Accepted, ApiError> {
    let why = reason("reason", &body.reason)?;
    let cmd = OrderCommand::RecordRefund {
        payment_id: PaymentId(body.payment_id),
        refund_id: RefundId(body.refund_id),
        amount: money("amount", &body.amount)?,
        reason: why.clone(),
    };
    resource(&app.fulfilment.orders, "/v1/orders")
        .change(&ctx, id, "record_refund", cmd, Some(&why))
        .await
}
