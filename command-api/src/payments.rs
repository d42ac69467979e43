//! Payment commands. The fulfilment saga opens an order's payment and records what the
//! gateway said (it owns the calls to the gateway); an administrator refunds, never more than
//! was captured, and the saga pays the refund back through the gateway.

use crate::context::CommandContext;
use crate::request::{money, new_id, reason, Ids};
use crate::response::resource;
use crate::response::{load, Accepted};
use crate::AppState;
use axum::extract::State;
use domain::catalog_values::{Money, OrderId};
use domain::fulfilment_values::{PaymentId, RefundId};
use domain::payment::{Payee, PaymentCommand};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{
    CancelPaymentBody, DeclinedBody, GatewayResultBody, InitiateBody, RefundBody,
    RefundCompletedBody, SagaRefundBody,
};
use std::collections::BTreeMap;
use uuid::Uuid;

fn gateway_ref(raw: &str) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > 200 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation(vec![FieldError::new(
            "gateway_ref",
            "1 to 200 printable ASCII characters",
        )]));
    }
    Ok(raw.to_owned())
}

/// Open the payment of an order: amount, method and each supplier's share come from the
/// order.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = InitiateBody,
    responses((status = 201, body = crate::response::CommandAccepted), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["payments:write"])))]
pub async fn initiate(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<InitiateBody>,
) -> Result<Accepted, ApiError> {
    let svc = &app.fulfilment;
    let order = load(&svc.orders, body.order_id).await?;
    let Some(o) = order.state() else {
        return Err(ApiError::validation(vec![FieldError::new(
            "order_id",
            "no such order",
        )]));
    };
    let mut shares: BTreeMap<domain::SupplierId, i64> = BTreeMap::new();
    for l in &o.lines {
        *shares.entry(l.supplier_id).or_default() += l.line_total.amount_minor();
    }
    let currency = o.total.currency().clone();
    let payees = shares
        .into_iter()
        .map(|(supplier_id, minor)| {
            Money::new(minor, currency.clone()).map(|amount| Payee {
                supplier_id,
                amount,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::validation(vec![FieldError::new("order_id", e)]))?;
    let id = PaymentId::of_order(OrderId(body.order_id));
    let cmd = PaymentCommand::Initiate {
        order_id: OrderId(body.order_id),
        customer: o.customer.clone(),
        method: o.payment.method,
        amount: o.total.clone(),
        payees,
    };
    resource(&svc.payments, "/v1/payments")
        .create(&ctx, id.0, "initiate", cmd)
        .await
}

async fn run(
    app: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    name: &'static str,
    cmd: PaymentCommand,
    why: Option<&str>,
) -> Result<Accepted, ApiError> {
    resource(&app.fulfilment.payments, "/v1/payments")
        .change(ctx, id, name, cmd, why)
        .await
}

/// The gateway authorised the payment.
#[utoipa::path(post, path = "/v1/payments/{id}/authorized", tag = "payments", request_body = GatewayResultBody,
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["payments:write"])))]
pub async fn authorized(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<GatewayResultBody>,
) -> Result<Accepted, ApiError> {
    let cmd = PaymentCommand::RecordAuthorization {
        gateway_ref: gateway_ref(&body.gateway_ref)?,
        amount: money("amount", &body.amount)?,
    };
    run(&app, &ctx, id, "record_authorization", cmd, None).await
}

/// Money was taken (card capture, or cash collected at delivery).
#[utoipa::path(post, path = "/v1/payments/{id}/captured", tag = "payments", request_body = GatewayResultBody,
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["payments:write"])))]
pub async fn captured(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<GatewayResultBody>,
) -> Result<Accepted, ApiError> {
    let cmd = PaymentCommand::RecordCapture {
        gateway_ref: gateway_ref(&body.gateway_ref)?,
        amount: money("amount", &body.amount)?,
    };
    run(&app, &ctx, id, "record_capture", cmd, None).await
}

/// The gateway declined, or never answered in time.
#[utoipa::path(post, path = "/v1/payments/{id}/declined", tag = "payments", request_body = DeclinedBody,
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["payments:write"])))]
pub async fn declined(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<DeclinedBody>,
) -> Result<Accepted, ApiError> {
    let why = reason("reason", &body.reason)?;
    let cmd = PaymentCommand::RecordDecline {
        code: gateway_ref(&body.code).map_err(|_| {
            ApiError::validation(vec![FieldError::new(
                "code",
                "1 to 200 printable ASCII characters",
            )])
        })?,
        reason: why.clone(),
    };
    run(&app, &ctx, id, "record_decline", cmd, Some(&why)).await
}

/// Give the payment up before capture.
#[utoipa::path(post, path = "/v1/payments/{id}/cancel", tag = "payments", request_body = CancelPaymentBody,
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["payments:write"])))]
pub async fn cancel(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<CancelPaymentBody>,
) -> Result<Accepted, ApiError> {
    let why = reason("reason", &body.reason)?;
    let cmd = PaymentCommand::Cancel {
        reason: why.clone(),
    };
    run(&app, &ctx, id, "cancel", cmd, Some(&why)).await
}

/// The saga asks for money back (compensation), under its own refund id.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", tag = "payments", request_body = SagaRefundBody,
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, description = "`refund_exceeds_captured`", body = platform::http::Problem)),
    security(("bearer" = ["payments:write"])))]
pub async fn request_refund(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<SagaRefundBody>,
) -> Result<Accepted, ApiError> {
    let why = reason("reason", &body.reason)?;
    let cmd = PaymentCommand::RequestRefund {
        refund_id: RefundId(body.refund_id),
        amount: money("amount", &body.amount)?,
        reason: why.clone(),
    };
    run(&app, &ctx, id, "request_refund", cmd, Some(&why)).await
}

/// Refund part or all of a captured payment; the fulfilment saga pays it back through the
/// gateway. The refund shows in `GET /v1/payments/{id}`.
#[utoipa::path(post, path = "/v1/payments/{id}/refund", tag = "payments", request_body = RefundBody,
    params(("id" = Uuid, Path, description = "Payment id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, description = "`refund_exceeds_captured` (with `refundable_minor`), `invalid_transition`", body = platform::http::Problem)),
    security(("bearer" = ["payments:refund"])))]
pub async fn refund(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<RefundBody>,
) -> Result<Accepted, ApiError> {
    let why = reason("reason", &body.reason)?;
    let cmd = PaymentCommand::RequestRefund {
        refund_id: RefundId(new_id(&ctx, "refund")),
        amount: money("amount", &body.amount)?,
        reason: why.clone(),
    };
    run(&app, &ctx, id, "refund", cmd, Some(&why)).await
}

/// The gateway paid a refund back.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds/{refund_id}/completed", tag = "payments", request_body = RefundCompletedBody,
    params(("id" = Uuid, Path, description = "Payment id"), ("refund_id" = Uuid, Path, description = "Refund id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["payments:write"])))]
pub async fn refund_completed(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, refund): Ids,
    ValidJson(body): ValidJson<RefundCompletedBody>,
) -> Result<Accepted, ApiError> {
    let refund_id = RefundId(refund.unwrap_or_default());
    let cmd = PaymentCommand::CompleteRefund {
        refund_id,
        gateway_ref: gateway_ref(&body.gateway_ref)?,
    };
    run(&app, &ctx, id, "complete_refund", cmd, None).await
}
