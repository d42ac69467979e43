//! The caller's cart and checkout. A customer's carts are one stream (its id derives from the
//! customer), so "the current cart" needs no lookup. Checkout places the order through the
//! same code as `POST /v1/orders` (prices from the catalog, never from the client), under an
//! id derived from the cart (a retry places nothing twice), then closes the cart.

use crate::context::CommandContext;
use crate::orders::{prepare_order, OrderRequest};
use crate::request::{money, new_id, Fields, Ids};
use crate::response::{execute, load, refusal_problem, resource, Accepted};
use crate::AppState;
use axum::extract::State;
use domain::cart::{cart_stream_id, Cart, CartCommand, CartError};
use domain::catalog_values::{PositiveQuantity, ProductId, Quantity};
use domain::customer::{customer_id, CustomerError};
use domain::order::{Order, OrderCommand, OrderEvent};
use domain::product::ProductStatus;
use platform::bus::{CommandBus, Reply};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{AbandonCartBody, CartLineBody, CheckoutBody};
use serde_json::json;
use uuid::Uuid;

/// The carts' bus.
#[derive(Debug)]
pub struct CartService {
    pub(crate) bus: CommandBus<Cart>,
}

/// Where the caller's cart is read.
const CURRENT: &str = "/v1/carts/current";

fn my_carts(ctx: &CommandContext) -> Uuid {
    cart_stream_id(customer_id(&ctx.principal.subject))
}

/// Set a product's quantity in the caller's cart (`0` removes it); the first line opens a
/// cart. The quantity must suit the product's unit (no half pieces).
#[utoipa::path(put, path = "/v1/carts/current/lines/{product_id}", tag = "carts", request_body = CartLineBody,
    params(("product_id" = Uuid, Path, description = "Product id")),
    responses((status = 202, body = crate::response::CommandAccepted),
        (status = 404, description = "`product_not_found`", body = platform::http::Problem),
        (status = 409, description = "`product_discontinued`, `too_many_lines`", body = platform::http::Problem),
        (status = 422, description = "`validation_failed` (`quantity`)", body = platform::http::Problem)),
    security(("bearer" = ["carts:write"])))]
pub async fn set_line(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(product_id, _): Ids,
    ValidJson(body): ValidJson<CartLineBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let quantity = f.take::<Quantity>("quantity", &body.quantity.to_string());
    let quantity = f.finish(quantity)?;
    let product = load(&app.fulfilment.products, product_id).await?;
    let Some(product) = product.state() else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "product_not_found",
            "Not found",
            "no such product",
        ));
    };
    product
        .unit
        .check(quantity)
        .map_err(|e| ApiError::validation(vec![FieldError::new("quantity", e)]))?;
    if !quantity.is_zero() && product.status != ProductStatus::Active {
        return Err(ApiError::conflict(
            "product_discontinued",
            "the product is no longer sold",
        ));
    }
    let customer = customer_id(&ctx.principal.subject);
    let cmd = CartCommand::SetLine {
        customer_id: customer,
        account: ctx.principal.subject.clone(),
        new_cart_id: new_id(&ctx, "cart"),
        product_id: ProductId(product_id),
        quantity,
        unit_price_seen: product.price.clone(),
        now: ctx.received_at,
    };
    let reply = Reply::changed(CURRENT);
    Ok(execute(
        &app.carts.bus,
        &ctx,
        my_carts(&ctx),
        "set_line",
        cmd,
        None,
        reply,
    )
    .await?
    .answer)
}

fn cart_refusal(e: CartError) -> ApiError {
    refusal_problem(&e)
}

/// Check out the caller's cart: an address of its book (default: the default address), a
/// slot and a payment. Places the order (`201`, `Location: /v1/orders/{id}`) and closes the
/// cart; a total that moved since `expected_total` answers `409 price_changed` with the new
/// figures and places nothing.
#[utoipa::path(post, path = "/v1/carts/current/checkout", tag = "carts", request_body = CheckoutBody,
    responses((status = 201, description = "The order was placed", body = crate::response::CommandAccepted),
        (status = 404, description = "`customer_not_found` (create the profile first)", body = platform::http::Problem),
        (status = 409, description = "`price_changed` (with `total` and `lines`), `no_open_cart`, `cart_empty`, `supplier_not_active`, `product_discontinued`, `no_address`", body = platform::http::Problem),
        (status = 422, description = "`validation_failed` (`address_id`, `slot_id`, `promo_code`, `redeem_points`)", body = platform::http::Problem)),
    security(("bearer" = ["carts:write"])))]
pub async fn checkout(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<CheckoutBody>,
) -> Result<Accepted, ApiError> {
    ctx.authorize(
        platform::auth::scopes::ORDERS_WRITE,
        &[platform::auth::Role::Customer],
    )?;
    let mut errors = Vec::new();
    if body.promo_code.as_deref().is_some_and(|c| !c.is_empty()) {
        errors.push(FieldError::new("promo_code", "no such promotion"));
    }
    if body.redeem_points.is_some_and(|p| p > 0) {
        errors.push(FieldError::new("redeem_points", "no points to redeem"));
    }
    let expected = body
        .expected_total
        .as_ref()
        .map(|m| money("expected_total", m))
        .transpose()?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let customer = load(&app.customers.bus, customer_id(&ctx.principal.subject)).await?;
    let Some(customer) = customer.state() else {
        return Err(refusal_problem(&CustomerError::NotFound));
    };
    let address = match body.address_id {
        Some(id) => customer.address(id).ok_or_else(|| {
            ApiError::validation(vec![FieldError::new(
                "address_id",
                "no such address in your address book",
            )])
        })?,
        None => customer
            .default_address
            .and_then(|id| customer.address(id))
            .ok_or_else(|| {
                ApiError::conflict(
                    "no_address",
                    "the address book is empty: add an address first",
                )
            })?,
    };
    let carts = my_carts(&ctx);
    let cart = load(&app.carts.bus, carts).await?;
    let Some(open) = cart.open() else {
        return Err(cart_refusal(CartError::NoOpenCart));
    };
    if open.lines.is_empty() {
        return Err(cart_refusal(CartError::Empty));
    }
    let lines = open
        .lines
        .iter()
        .map(|(product, line)| {
            PositiveQuantity::try_from(line.quantity)
                .map(|q| (*product, q))
                .map_err(|e| ApiError::internal("cart line", &e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // One order per cart: a retry after a crash finds it placed and only closes the cart.
    let order_id = Uuid::new_v5(&open.cart_id, b"freshline:order");
    let request = OrderRequest {
        lines,
        address: address.address.clone(),
        slot_id: body.slot_id,
        slot_field: "slot_id",
        contact_email: Some(customer.profile.email.clone()),
        method: body.payment.method,
        card_token: body.payment.card_token.clone(),
        cart_id: Some(open.cart_id),
    };
    let svc = &app.fulfilment;
    let place = prepare_order(svc, &ctx, order_id, request).await?;
    // Priced exactly as placement will price it (the same decision, on an empty order).
    let priced = Order::default()
        .decide(OrderCommand::Place(Box::new(place.clone())))
        .map_err(|e| refusal_problem(&e))?;
    let Some(OrderEvent::Placed(priced)) = priced.into_iter().next() else {
        return Err(ApiError::internal(
            "checkout",
            &std::io::Error::other("placement recorded no order"),
        ));
    };
    if let Some(expected) = expected {
        if expected != priced.total {
            let lines: Vec<_> = priced
                .lines
                .iter()
                .map(|l| {
                    json!({
                        "product_id": l.product_id.0,
                        "quantity": l.quantity.get().to_string(),
                        "unit_price": l.unit_price,
                        "line_total": l.line_total,
                    })
                })
                .collect();
            return Err(ApiError::conflict(
                "price_changed",
                "the cart's total changed since you last saw it; review the new figures",
            )
            .with("total", json!(priced.total))
            .with("expected_total", json!(expected))
            .with("lines", json!(lines)));
        }
    }
    let answer = resource(&svc.orders, "/v1/orders")
        .create(
            &ctx,
            order_id,
            "place",
            OrderCommand::Place(Box::new(place)),
        )
        .await?;
    execute(
        &app.carts.bus,
        &ctx,
        carts,
        "check_out",
        CartCommand::CheckOut {
            cart_id: open.cart_id,
            order_id,
        },
        None,
        Reply::changed(CURRENT),
    )
    .await?;
    Ok(answer)
}

/// The scheduler closes a cart idle for 7 days (`cart_not_idle` when it changed since; a
/// cart opened since it looked is left alone).
#[utoipa::path(post, path = "/v1/carts/{id}/abandon", tag = "carts", request_body = AbandonCartBody,
    params(("id" = Uuid, Path, description = "The customer's cart stream")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, description = "`cart_not_idle`", body = platform::http::Problem)),
    security(("bearer" = ["carts:manage"])))]
pub async fn abandon(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(id, _): Ids,
    ValidJson(body): ValidJson<AbandonCartBody>,
) -> Result<Accepted, ApiError> {
    let cart = load(&app.carts.bus, id).await?;
    if cart.open().is_none_or(|o| o.cart_id != body.cart_id) {
        // Closed already, or another cart is open now: nothing of what was found idle is left.
        return Err(cart_refusal(CartError::CartChanged));
    }
    resource(&app.carts.bus, "/v1/carts")
        .change(
            &ctx,
            id,
            "abandon",
            CartCommand::Abandon {
                now: ctx.received_at,
            },
            None,
        )
        .await
}
