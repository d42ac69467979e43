//! Delivery commands: administrators open slots and register riders; riders go on and off
//! shift; the fulfilment saga books slots, schedules deliveries and assigns riders; riders (or
//! the delivery partner's service) pick up, report positions, deliver or fail.

use crate::context::CommandContext;
use crate::request::{new_id, point, reason, text, Ids};
use crate::response::resource;
use crate::response::{load, Accepted};
use crate::AppState;
use axum::extract::State;
use domain::catalog_values::{OrderId, WarehouseId};
use domain::delivery::{DeliveryCaller, DeliveryCommand, DeliveryState, DeliveryStatus};
use domain::fulfilment_values::{DeliveryId, RiderId};
use domain::rider::{RiderCaller, RiderCommand};
use domain::slot::{SlotCommand, SlotState};
use platform::auth::{Actor, Role};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{
    AssignBody, AssignmentBody, AvailabilityBody, BookingBody, FreeReasonBody, GeoBody, RiderBody,
    ScheduleBody, SlotBody,
};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Open a delivery slot.
#[utoipa::path(post, path = "/v1/delivery-slots", tag = "deliveries", request_body = SlotBody,
    responses((status = 201, body = crate::response::CommandAccepted), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:plan"])))]
pub async fn create_slot(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<SlotBody>,
) -> Result<Accepted, ApiError> {
    let cmd = SlotCommand::Create(SlotState {
        zone: text("zone", &body.zone, 64)?,
        warehouse_id: WarehouseId(body.warehouse_id),
        warehouse_location: point(&body.warehouse_location, "warehouse_location")
            .map_err(|e| ApiError::validation(vec![e]))?,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        capacity: body.capacity,
        booked: BTreeSet::new(),
    });
    let id = new_id(&ctx, "slot");
    resource(&app.fulfilment.slots, "/v1/delivery-slots")
        .create(&ctx, id, "create", cmd)
        .await
}

/// The saga takes a place in the slot for an order (`slot_full` when none is left).
#[utoipa::path(post, path = "/v1/delivery-slots/{id}/bookings", tag = "deliveries", request_body = BookingBody,
    params(("id" = Uuid, Path, description = "Slot id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, description = "`slot_full`, `slot_closed`", body = platform::http::Problem)),
    security(("bearer" = ["deliveries:manage"])))]
pub async fn book_slot(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<BookingBody>,
) -> Result<Accepted, ApiError> {
    let cmd = SlotCommand::Book {
        order_id: OrderId(body.order_id),
        now: ctx.received_at,
    };
    resource(&app.fulfilment.slots, "/v1/delivery-slots")
        .change(&ctx, id, "book", cmd, None)
        .await
}

/// The saga gives an order's place back.
#[utoipa::path(post, path = "/v1/delivery-slots/{id}/bookings/{order_id}/release", tag = "deliveries",
    params(("id" = Uuid, Path, description = "Slot id"), ("order_id" = Uuid, Path, description = "Order id")),
    responses((status = 202, body = crate::response::CommandAccepted)),
    security(("bearer" = ["deliveries:manage"])))]
pub async fn release_slot(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, order): Ids,
) -> Result<Accepted, ApiError> {
    let cmd = SlotCommand::Release {
        order_id: OrderId(order.unwrap_or_default()),
    };
    resource(&app.fulfilment.slots, "/v1/delivery-slots")
        .change(&ctx, id, "release", cmd, None)
        .await
}

/// Register a rider (off shift until they go available).
#[utoipa::path(post, path = "/v1/riders", tag = "deliveries", request_body = RiderBody,
    responses((status = 201, body = crate::response::CommandAccepted), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:plan"])))]
pub async fn register_rider(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<RiderBody>,
) -> Result<Accepted, ApiError> {
    let cmd = RiderCommand::Register {
        name: text("name", &body.name, 120)?,
        account: text("account", &body.account, 200)?,
        cold_chain_capable: body.cold_chain_capable,
    };
    let id = new_id(&ctx, "rider");
    resource(&app.fulfilment.riders, "/v1/riders")
        .create(&ctx, id, "register", cmd)
        .await
}

/// A rider goes on or off shift (or reports where they are); only their own record.
#[utoipa::path(post, path = "/v1/riders/{id}/availability", tag = "deliveries", request_body = AvailabilityBody,
    params(("id" = Uuid, Path, description = "Rider id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 403, description = "`not_owner`", body = platform::http::Problem)),
    security(("bearer" = ["deliveries:update"])))]
pub async fn availability(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<AvailabilityBody>,
) -> Result<Accepted, ApiError> {
    let location = body
        .location
        .as_ref()
        .map(|g| point(g, "location"))
        .transpose()
        .map_err(|e| ApiError::validation(vec![e]))?;
    let by = match &ctx.principal.actor {
        Actor::Person(Role::Rider) => RiderCaller::Rider(ctx.principal.subject.clone()),
        _ => RiderCaller::Operator,
    };
    let cmd = RiderCommand::SetAvailability {
        available: body.available,
        location,
        by,
    };
    resource(&app.fulfilment.riders, "/v1/riders")
        .change(&ctx, id, "set_availability", cmd, None)
        .await
}

/// The saga gives a rider a delivery (`rider_busy`, `rider_unavailable` when they cannot).
#[utoipa::path(post, path = "/v1/riders/{id}/assignments", tag = "deliveries", request_body = AssignmentBody,
    params(("id" = Uuid, Path, description = "Rider id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:manage"])))]
pub async fn assign_rider(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<AssignmentBody>,
) -> Result<Accepted, ApiError> {
    let cmd = RiderCommand::Assign {
        delivery_id: DeliveryId(body.delivery_id),
        order_id: OrderId(body.order_id),
        cold_chain: body.cold_chain,
    };
    resource(&app.fulfilment.riders, "/v1/riders")
        .change(&ctx, id, "assign", cmd, None)
        .await
}

/// The saga frees a rider whose delivery ended.
#[utoipa::path(post, path = "/v1/riders/{id}/assignments/{delivery_id}/release", tag = "deliveries",
    params(("id" = Uuid, Path, description = "Rider id"), ("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, body = crate::response::CommandAccepted)),
    security(("bearer" = ["deliveries:manage"])))]
pub async fn release_rider(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, delivery): Ids,
) -> Result<Accepted, ApiError> {
    let cmd = RiderCommand::Release {
        delivery_id: DeliveryId(delivery.unwrap_or_default()),
    };
    resource(&app.fulfilment.riders, "/v1/riders")
        .change(&ctx, id, "release", cmd, None)
        .await
}

/// The saga sets up the delivery of an order in its booked slot.
#[utoipa::path(post, path = "/v1/deliveries", tag = "deliveries", request_body = ScheduleBody,
    responses((status = 201, body = crate::response::CommandAccepted), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:manage"])))]
pub async fn schedule(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<ScheduleBody>,
) -> Result<Accepted, ApiError> {
    let order = load(&app.fulfilment.orders, body.order_id).await?;
    let Some(o) = order.state() else {
        return Err(ApiError::validation(vec![FieldError::new(
            "order_id",
            "no such order",
        )]));
    };
    let id = DeliveryId::of_order(OrderId(body.order_id));
    let cmd = DeliveryCommand::Schedule(Box::new(DeliveryState {
        order_id: OrderId(body.order_id),
        slot_id: o.delivery.slot_id,
        warehouse_id: o.delivery.warehouse_id,
        pickup: o.delivery.warehouse_location,
        destination: o.delivery.address.clone(),
        cold_chain: body.cold_chain,
        window_starts_at: o.delivery.slot_starts_at,
        window_ends_at: o.delivery.slot_ends_at,
        status: DeliveryStatus::Scheduled,
        rider_id: None,
        last_location: None,
    }));
    resource(&app.fulfilment.deliveries, "/v1/deliveries")
        .create(&ctx, id.0, "schedule", cmd)
        .await
}

/// The saga records the rider a delivery got.
#[utoipa::path(post, path = "/v1/deliveries/{id}/assign", tag = "deliveries", request_body = AssignBody,
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:manage"])))]
pub async fn assign(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<AssignBody>,
) -> Result<Accepted, ApiError> {
    let cmd = DeliveryCommand::AssignRider {
        rider_id: RiderId(body.rider_id),
        distance_m: body.distance_m,
    };
    update(&app, &ctx, id, "assign_rider", cmd, None).await
}

/// The saga cancels a delivery whose order was cancelled before pickup.
#[utoipa::path(post, path = "/v1/deliveries/{id}/cancel", tag = "deliveries", request_body = FreeReasonBody,
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:manage"])))]
pub async fn cancel(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<FreeReasonBody>,
) -> Result<Accepted, ApiError> {
    let why = reason("reason", &body.reason)?;
    let cmd = DeliveryCommand::Cancel {
        reason: why.clone(),
    };
    update(&app, &ctx, id, "cancel", cmd, Some(&why)).await
}

async fn update(
    app: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    name: &'static str,
    cmd: DeliveryCommand,
    why: Option<&str>,
) -> Result<Accepted, ApiError> {
    resource(&app.fulfilment.deliveries, "/v1/deliveries")
        .change(ctx, id, name, cmd, why)
        .await
}

/// Who is updating: for a rider, whether they are the delivery's assigned rider.
async fn caller(
    app: &AppState,
    ctx: &CommandContext,
    id: Uuid,
) -> Result<DeliveryCaller, ApiError> {
    if !matches!(ctx.principal.actor, Actor::Person(Role::Rider)) {
        return Ok(DeliveryCaller::Operator);
    }
    let delivery = load(&app.fulfilment.deliveries, id).await?;
    let Some(rider_id) = delivery.state().and_then(|d| d.rider_id) else {
        return Ok(DeliveryCaller::Rider { assigned: false });
    };
    let rider = load(&app.fulfilment.riders, rider_id.0).await?;
    Ok(DeliveryCaller::Rider {
        assigned: rider
            .state()
            .is_some_and(|r| r.account == ctx.principal.subject),
    })
}

/// The rider took the order at the warehouse.
#[utoipa::path(post, path = "/v1/deliveries/{id}/pickup", tag = "deliveries",
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 403, description = "`not_owner`: not the assigned rider", body = platform::http::Problem), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:update"])))]
pub async fn pickup(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
) -> Result<Accepted, ApiError> {
    let by = caller(&app, &ctx, id).await?;
    update(
        &app,
        &ctx,
        id,
        "pick_up",
        DeliveryCommand::PickUp { by },
        None,
    )
    .await
}

/// Where the rider is now; the ETA is computed from there.
#[utoipa::path(post, path = "/v1/deliveries/{id}/location", tag = "deliveries", request_body = GeoBody,
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:update"])))]
pub async fn location(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<GeoBody>,
) -> Result<Accepted, ApiError> {
    let point = point(&body, "").map_err(|e| ApiError::validation(vec![e]))?;
    let by = caller(&app, &ctx, id).await?;
    let cmd = DeliveryCommand::UpdateLocation {
        location: point,
        now: ctx.received_at,
        by,
    };
    update(&app, &ctx, id, "update_location", cmd, None).await
}

/// Handed over to the customer.
#[utoipa::path(post, path = "/v1/deliveries/{id}/deliver", tag = "deliveries",
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:update"])))]
pub async fn deliver(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
) -> Result<Accepted, ApiError> {
    let by = caller(&app, &ctx, id).await?;
    update(
        &app,
        &ctx,
        id,
        "deliver",
        DeliveryCommand::Deliver { by },
        None,
    )
    .await
}

/// Could not be delivered.
#[utoipa::path(post, path = "/v1/deliveries/{id}/fail", tag = "deliveries", request_body = FreeReasonBody,
    params(("id" = Uuid, Path, description = "Delivery id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, body = platform::http::Problem)),
    security(("bearer" = ["deliveries:update"])))]
pub async fn fail(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<FreeReasonBody>,
) -> Result<Accepted, ApiError> {
    let why = reason("reason", &body.reason)?;
    let by = caller(&app, &ctx, id).await?;
    let cmd = DeliveryCommand::Fail {
        reason: why.clone(),
        by,
    };
    update(&app, &ctx, id, "fail", cmd, Some(&why)).await
}
