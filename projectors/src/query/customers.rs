//! Customers (a customer reads only itself; staff read any) and the caller's cart, priced from
//! the catalog when it is read, with warnings.

use super::common::{db_problem, parse_id, query_params, Money, Params};
use super::state::QueryState;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::Principal;
use platform::http::{ApiError, FieldError};
use schemas::customer::customer_id;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An address of the book.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressView {
    /// Its id (for checkout's `address_id`).
    pub address_id: Uuid,
    /// The customer's name for it.
    pub label: String,
    /// `line1`, `city`, `postal_code`, `country`, `location` {`lat`, `lon`}.
    #[schema(value_type = Object)]
    pub address: serde_json::Value,
    /// Whether checkout uses it when none is named.
    pub default: bool,
}

/// A customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    /// Id.
    pub id: Uuid,
    /// The account (token subject).
    pub account: String,
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: Option<String>,
    /// The address book, oldest first.
    pub addresses: Vec<AddressView>,
    /// `tags`, `dietary`, `language`.
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
    /// `marketing`, `channels` {`email`, `sms`, `push`}.
    #[schema(value_type = Object)]
    pub consent: serde_json::Value,
    /// Push devices: `push_token`, `platform`, `registered_at`.
    #[schema(value_type = Vec<Object>)]
    pub devices: serde_json::Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    account: String,
    display_name: String,
    email: String,
    phone: Option<String>,
    default_address: Option<Uuid>,
    preferences: serde_json::Value,
    consent: serde_json::Value,
    devices: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const CUSTOMER_COLUMNS: &str = "id, account, display_name, email, phone, default_address, \
     preferences, consent, devices, created_at, updated_at";

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "customer_not_found",
        "Not found",
        format!("no such customer{what}"),
    )
}

async fn customer_view(s: &QueryState, id: Uuid) -> Result<Option<CustomerView>, ApiError> {
    let row: Option<CustomerRow> = sqlx::query_as(&format!(
        "SELECT {CUSTOMER_COLUMNS} FROM {}.customers WHERE id = $1",
        s.schema
    ))
    .bind(id)
    .fetch_optional(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let Some(r) = row else {
        return Ok(None);
    };
    let addresses: Vec<(Uuid, String, serde_json::Value)> = sqlx::query_as(&format!(
        "SELECT address_id, label, address FROM {}.customer_addresses
          WHERE customer_id = $1 ORDER BY added_at, address_id",
        s.schema
    ))
    .bind(id)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Some(CustomerView {
        id: r.id,
        account: r.account,
        display_name: r.display_name,
        email: r.email,
        phone: r.phone,
        addresses: addresses
            .into_iter()
            .map(|(address_id, label, address)| AddressView {
                default: r.default_address == Some(address_id),
                address_id,
                label,
                address,
            })
            .collect(),
        preferences: r.preferences,
        consent: r.consent,
        devices: r.devices,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

/// The caller's own customer record.
#[utoipa::path(get, path = "/v1/customers/me", tag = "customers",
    responses((status = 200, body = CustomerView), (status = 404, description = "`customer_not_found`: create it with `POST /v1/customers/me`", body = platform::http::Problem)),
    security(("bearer" = ["customers:read"])))]
pub async fn me(
    State(s): State<QueryState>,
    principal: Principal,
) -> Result<Json<CustomerView>, ApiError> {
    customer_view(&s, customer_id(&principal.subject))
        .await?
        .map(Json)
        .ok_or_else(|| not_found(" profile yet"))
}

/// A customer (staff).
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses((status = 200, body = CustomerView), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["customers:read"])))]
pub async fn get_customer(
    State(s): State<QueryState>,
    Path(raw): Path<String>,
) -> Result<Json<CustomerView>, ApiError> {
    let id = parse_id(&raw)?;
    customer_view(&s, id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(""))
}

/// Filters of the customer search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerParams {
    /// Part of a name or e-mail (case-insensitive).
    pub q: Option<String>,
    /// At most this many (1-200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Customers found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerList {
    /// By name.
    pub items: Vec<CustomerSummary>,
}

/// A customer in a list.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CustomerSummary {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// E-mail.
    pub email: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Search customers by name or e-mail (staff).
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(CustomerParams),
    responses((status = 200, body = CustomerList), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["customers:read"])))]
pub async fn list_customers(
    State(s): State<QueryState>,
    params: Params<CustomerParams>,
) -> Result<Json<CustomerList>, ApiError> {
    let p = query_params(params)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation(vec![FieldError::new(
            "limit", "1 to 200",
        )]));
    }
    let pattern = p.q.as_deref().map(|q| {
        format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let items: Vec<CustomerSummary> = sqlx::query_as(&format!(
        "SELECT id, display_name, email, created_at FROM {}.customers
          WHERE $1::text IS NULL OR display_name ILIKE $1 OR email ILIKE $1
          ORDER BY display_name, id LIMIT $2",
        s.schema
    ))
    .bind(pattern)
    .bind(limit)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(CustomerList { items }))
}

/// Options of the cart read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CartParams {
    /// A delivery slot: lines whose stock would expire before the slot ends are flagged
    /// (`expires_before_slot`).
    pub slot_id: Option<String>,
}

/// A line of the cart, priced now.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartLineView {
    /// The product.
    pub product_id: Uuid,
    /// Its name (absent when the product is unknown to the catalog).
    pub name: Option<String>,
    /// Its unit.
    pub unit: Option<String>,
    /// Quantity, a decimal string.
    pub quantity: String,
    /// The catalog price per unit now.
    pub unit_price: Option<Money>,
    /// The price per unit when the line was set.
    pub unit_price_seen: Money,
    /// `unit_price` times `quantity`.
    pub line_total: Option<Money>,
    /// Available now (all warehouses), a decimal string.
    pub available: Option<String>,
}

/// Something the customer should know before checking out.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartWarning {
    /// `price_changed`, `discontinued`, `insufficient_stock`, `supplier_not_active`,
    /// `expires_before_slot`, `unknown_product`.
    pub code: &'static str,
    /// The product.
    pub product_id: Uuid,
    /// Figures: the prices, the quantity available, the supplier's status.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// The caller's open cart (empty when none is open).
#[derive(Debug, Serialize, ToSchema)]
pub struct CartView {
    /// The open cart's id (absent when none is open).
    pub cart_id: Option<Uuid>,
    /// `open` or `empty`.
    pub status: &'static str,
    /// Lines, in the order they were set.
    pub lines: Vec<CartLineView>,
    /// The sum of the line totals at today's prices (absent for an empty cart).
    pub subtotal: Option<Money>,
    /// Warnings.
    pub warnings: Vec<CartWarning>,
    /// When the cart last changed.
    pub last_changed: Option<DateTime<Utc>>,
    /// The order placed from the cart closed last, if any.
    pub last_order_id: Option<Uuid>,
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    product_id: Uuid,
    quantity: String,
    seen_price_minor: i64,
    currency: String,
    name: Option<String>,
    unit: Option<String>,
    price_minor: Option<i64>,
    price_currency: Option<String>,
    status: Option<String>,
    available: Option<String>,
    supplier_status: Option<String>,
    fresh_enough: Option<String>,
    line_total_minor: Option<i64>,
    short: bool,
    short_fresh: bool,
}

fn money(minor: i64, currency: &str) -> Money {
    Money {
        amount_minor: minor,
        currency: currency.to_owned(),
    }
}

/// The caller's open cart, priced from the catalog now, with warnings.
#[utoipa::path(get, path = "/v1/carts/current", tag = "carts", params(CartParams),
    responses((status = 200, body = CartView), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["carts:write"])))]
pub async fn current_cart(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<CartParams>,
) -> Result<Json<CartView>, ApiError> {
    let p = query_params(params)?;
    let slot = p.slot_id.as_deref().map(|raw| {
        Uuid::parse_str(raw)
            .map_err(|_| ApiError::validation(vec![FieldError::new("slot_id", "must be a UUID")]))
    });
    let slot = slot.transpose()?;
    let stream = schemas::customer::cart::stream_id(customer_id(&principal.subject));
    let schema = &s.schema;
    let cart: Option<(Uuid, String, Option<Uuid>, DateTime<Utc>)> = sqlx::query_as(&format!(
        "SELECT cart_id, status, order_id, last_changed FROM {schema}.carts WHERE stream_id = $1"
    ))
    .bind(stream)
    .fetch_optional(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let last_order_id = cart.as_ref().and_then(|c| c.2);
    let Some((cart_id, _, _, last_changed)) = cart.filter(|c| c.1 == "open") else {
        return Ok(Json(CartView {
            cart_id: None,
            status: "empty",
            lines: Vec::new(),
            subtotal: None,
            warnings: Vec::new(),
            last_changed: None,
            last_order_id,
        }));
    };
    if let Some(slot) = slot {
        let found: Option<i32> = sqlx::query_scalar(&format!(
            "SELECT 1 FROM {schema}.delivery_slots WHERE id = $1"
        ))
        .bind(slot)
        .fetch_optional(&s.pool)
        .await
        .map_err(|e| db_problem(&e))?;
        if found.is_none() {
            return Err(ApiError::validation(vec![FieldError::new(
                "slot_id",
                "no such delivery slot",
            )]));
        }
    }
    let rows: Vec<LineRow> = sqlx::query_as(&format!(
        "SELECT l.product_id, l.quantity::text AS quantity, l.seen_price_minor, l.currency,
                p.name, p.unit, p.price_minor, p.currency AS price_currency, p.status,
                p.available::text AS available, cs.status AS supplier_status,
                f.fresh::text AS fresh_enough,
                -- Money times quantity, rounded half away from zero to the minor unit (as
                -- placement prices a line).
                round(p.price_minor * l.quantity)::bigint AS line_total_minor,
                coalesce(p.available < l.quantity, false) AS short,
                coalesce(f.fresh < l.quantity, false) AS short_fresh
           FROM {schema}.cart_lines l
           LEFT JOIN {schema}.products p ON p.id = l.product_id
           LEFT JOIN {schema}.catalog_suppliers cs ON cs.id = p.supplier_id
           -- With a slot: the stock in its warehouse that keeps until the slot ends.
           LEFT JOIN LATERAL (
                SELECT coalesce(sum(b.on_hand - b.reserved), 0) AS fresh
                  FROM {schema}.batches b JOIN {schema}.delivery_slots ds
                       ON ds.id = $2 AND b.warehouse_id = ds.warehouse_id
                 WHERE b.product_id = l.product_id AND b.status = 'active'
                   AND b.expires_at >= ds.ends_at) f ON $2::uuid IS NOT NULL
          WHERE l.stream_id = $1
          ORDER BY l.set_at, l.product_id"
    ))
    .bind(stream)
    .bind(slot)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let mut warnings = Vec::new();
    let mut lines = Vec::with_capacity(rows.len());
    let mut subtotal: Option<(i64, String)> = None;
    for r in rows {
        let warn = |code, details| CartWarning {
            code,
            product_id: r.product_id,
            details,
        };
        let seen = money(r.seen_price_minor, &r.currency);
        let line_total = r
            .line_total_minor
            .zip(r.price_currency.as_deref())
            .map(|(m, c)| money(m, c));
        match (r.price_minor, &r.price_currency) {
            (None, _) | (_, None) => {
                warnings.push(warn("unknown_product", serde_json::json!({})));
            }
            (Some(now), Some(cur)) => {
                if now != r.seen_price_minor || *cur != r.currency {
                    warnings.push(warn(
                        "price_changed",
                        serde_json::json!({"unit_price_seen": seen, "unit_price": money(now, cur)}),
                    ));
                }
            }
        }
        if r.status.as_deref() == Some("discontinued") {
            warnings.push(warn("discontinued", serde_json::json!({})));
        }
        if let Some(status) = r.supplier_status.as_deref().filter(|s| *s != "approved") {
            warnings.push(warn(
                "supplier_not_active",
                serde_json::json!({"supplier_status": status}),
            ));
        }
        if r.short {
            warnings.push(warn(
                "insufficient_stock",
                serde_json::json!({"available": r.available, "quantity": r.quantity}),
            ));
        }
        if slot.is_some() && r.short_fresh {
            warnings.push(warn(
                "expires_before_slot",
                serde_json::json!({"available_fresh_enough": r.fresh_enough, "quantity": r.quantity}),
            ));
        }
        if let Some(t) = &line_total {
            subtotal = match subtotal {
                None => Some((t.amount_minor, t.currency.clone())),
                Some((sum, cur)) if cur == t.currency => {
                    Some((sum.saturating_add(t.amount_minor), cur))
                }
                other => other,
            };
        }
        lines.push(CartLineView {
            product_id: r.product_id,
            name: r.name,
            unit: r.unit,
            quantity: r.quantity,
            unit_price: r
                .price_minor
                .zip(r.price_currency.as_deref())
                .map(|(m, c)| money(m, c)),
            unit_price_seen: seen,
            line_total,
            available: r.available,
        });
    }
    Ok(Json(CartView {
        cart_id: Some(cart_id),
        status: "open",
        lines,
        subtotal: subtotal.map(|(m, c)| money(m, &c)),
        warnings,
        last_changed: Some(last_changed),
        last_order_id,
    }))
}
