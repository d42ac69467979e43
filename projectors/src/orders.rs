//! The read side of order fulfilment, kept by one projection over the order, payment,
//! delivery, delivery-slot, rider and inventory topics:
//!
//! - `orders` and `order_lines` (lines as placed, the order's status mirrored on each line, for
//!   a supplier's incoming orders and sales analytics);
//! - `order_timeline`: every step of an order from every stream that names it (the order's own
//!   events, its payment's, its delivery's, its slot booking and its stock reservations);
//! - `payments` with their refunds, and `ledger_entries`: double-entry postings of captures and
//!   refunds whose legs sum to zero per currency;
//! - `deliveries` with `delivery_positions`, `delivery_slots` with their bookings (a booking is
//!   counted once per order), and `riders` (read by the fulfilment saga to find the nearest
//!   available rider: its columns are a contract).
//!
//! The runtime hands it each stream's events once and in order (its per-stream guard). Streams of one
//! order arrive on different topics in any order; every row that combines them is computed from
//! what is stored whichever side comes first (sums only grow, so the greatest is kept), so the
//! final rows do not depend on the arrival order.

use crate::runtime::{ApplyError, Projection};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemas::aggregate_types as types;
use schemas::delivery::DeliveryEvent;
use schemas::inventory::InventoryEvent;
use schemas::metadata_keys as keys;
use schemas::order::OrderEvent;
use schemas::payment::PaymentEvent;
use schemas::rider::RiderEvent;
use schemas::slot::SlotEvent;
use schemas::Envelope;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// The orders projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrdersProjection;

/// The projection's name.
pub const NAME: &str = "orders";

/// Ledger account names: where a capture's money comes from and goes to.
pub mod accounts {
    /// What customers paid (credited on capture, debited back on refund).
    pub const CUSTOMERS: &str = "customers";
    /// The platform's commission.
    pub const PLATFORM_REVENUE: &str = "platform_revenue";
    /// Money paid back to customers.
    pub const REFUNDS: &str = "refunds";
    /// A capture whose payee shares do not add up to the amount captured: the difference, so
    /// the posting still balances and the mismatch shows.
    pub const UNALLOCATED: &str = "unallocated";
    /// Prefix of what is owed to one supplier (`supplier_payable:<supplier id>`).
    pub const SUPPLIER_PAYABLE_PREFIX: &str = "supplier_payable:";
}

#[async_trait]
impl Projection for OrdersProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        &[
            schemas::topics::ORDER,
            schemas::topics::PAYMENT,
            schemas::topics::DELIVERY,
            schemas::topics::DELIVERY_SLOT,
            schemas::topics::RIDER,
            schemas::topics::INVENTORY,
        ]
    }

    fn views(&self) -> &'static [&'static str] {
        &[
            "orders",
            "order_lines",
            "order_timeline",
            "payments",
            "ledger_entries",
            "deliveries",
            "delivery_positions",
            "delivery_slots",
            "slot_bookings",
            "riders",
        ]
    }

    fn read_indexes(&self, schema: &str) -> Vec<String> {
        vec![
            format!("CREATE INDEX IF NOT EXISTS orders_customer_created ON {schema}.orders (customer, created_at DESC, id DESC)"),
            format!("CREATE INDEX IF NOT EXISTS orders_status_created ON {schema}.orders (status, created_at DESC, id DESC)"),
            format!("CREATE INDEX IF NOT EXISTS orders_created ON {schema}.orders (created_at DESC, id DESC)"),
        ]
    }

    fn ddl(&self, schema: &str) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.orders (
                    id                     uuid        PRIMARY KEY,
                    customer               text        NOT NULL,
                    status                 text        NOT NULL,
                    cancel_reason          text,
                    cancel_detail          text,
                    lines                  jsonb       NOT NULL,
                    total_minor            bigint      NOT NULL,
                    currency               text        NOT NULL,
                    warehouse_id           uuid        NOT NULL,
                    slot_id                uuid        NOT NULL,
                    zone                   text        NOT NULL,
                    slot_starts_at         timestamptz NOT NULL,
                    slot_ends_at           timestamptz NOT NULL,
                    delivery_address       jsonb       NOT NULL,
                    payment_id             uuid        NOT NULL,
                    payment_method         text        NOT NULL,
                    delivery_id            uuid,
                    paid_minor             bigint      NOT NULL DEFAULT 0,
                    refunded_minor         bigint      NOT NULL DEFAULT 0,
                    recorded_refunds_minor bigint      NOT NULL DEFAULT 0,
                    contact_email          text,
                    version                bigint      NOT NULL,
                    created_at             timestamptz NOT NULL,
                    updated_at             timestamptz NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.order_lines (
                    order_id         uuid        NOT NULL,
                    line_no          int         NOT NULL,
                    product_id       uuid        NOT NULL,
                    supplier_id      uuid        NOT NULL,
                    name             text        NOT NULL,
                    category         text        NOT NULL,
                    unit             text        NOT NULL,
                    quantity         numeric     NOT NULL,
                    unit_price_minor bigint      NOT NULL,
                    line_total_minor bigint      NOT NULL,
                    currency         text        NOT NULL,
                    placed_at        timestamptz NOT NULL,
                    status           text        NOT NULL,
                    PRIMARY KEY (order_id, line_no))"
            ),
            format!("CREATE INDEX IF NOT EXISTS order_lines_supplier ON {schema}.order_lines (supplier_id, placed_at DESC, order_id DESC)"),
            format!("CREATE INDEX IF NOT EXISTS order_lines_placed ON {schema}.order_lines (placed_at)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.order_timeline (
                    aggregate_type text        NOT NULL,
                    aggregate_id   text        NOT NULL,
                    sequence       bigint      NOT NULL,
                    order_id       uuid        NOT NULL,
                    event_type     text        NOT NULL,
                    occurred_at    timestamptz NOT NULL,
                    actor          jsonb       NOT NULL,
                    reason         text,
                    correlation_id text,
                    detail         jsonb       NOT NULL,
                    PRIMARY KEY (aggregate_type, aggregate_id, sequence))"
            ),
            format!("CREATE INDEX IF NOT EXISTS order_timeline_order ON {schema}.order_timeline (order_id, occurred_at)"),
            // Added with causation; generations made before it gain the column here (only
            // then: an ALTER locks readers out even when it has nothing to do).
            crate::runtime::add_column_if_missing(schema, "order_timeline", "causation_id", "text"),
            // The event store's position of each entry: what a live stream of the order resumes
            // from (`Last-Event-ID`). Generations made before it gain the column here.
            crate::runtime::add_column_if_missing(schema, "order_timeline", "global_position", "bigint"),
            // The console's board follows every order from a position.
            format!("CREATE INDEX IF NOT EXISTS order_timeline_position ON {schema}.order_timeline (global_position)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.payments (
                    id                     uuid        PRIMARY KEY,
                    order_id               uuid        NOT NULL,
                    customer               text        NOT NULL,
                    method                 text        NOT NULL,
                    status                 text        NOT NULL,
                    amount_minor           bigint      NOT NULL,
                    currency               text        NOT NULL,
                    authorized_minor       bigint      NOT NULL DEFAULT 0,
                    captured_minor         bigint      NOT NULL DEFAULT 0,
                    refunded_minor         bigint      NOT NULL DEFAULT 0,
                    refund_requested_minor bigint      NOT NULL DEFAULT 0,
                    authorization_ref      text,
                    capture_ref            text,
                    decline_code           text,
                    decline_reason         text,
                    cancel_reason          text,
                    refunds                jsonb       NOT NULL DEFAULT '[]',
                    payees                 jsonb       NOT NULL,
                    commission_bps         int         NOT NULL,
                    version                bigint      NOT NULL,
                    created_at             timestamptz NOT NULL,
                    updated_at             timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS payments_order ON {schema}.payments (order_id)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.ledger_entries (
                    aggregate_id uuid        NOT NULL,
                    sequence     bigint      NOT NULL,
                    leg          int         NOT NULL,
                    account      text        NOT NULL,
                    currency     text        NOT NULL,
                    amount_minor bigint      NOT NULL,
                    order_id     uuid        NOT NULL,
                    event_type   text        NOT NULL,
                    occurred_at  timestamptz NOT NULL,
                    PRIMARY KEY (aggregate_id, sequence, leg))"
            ),
            format!("CREATE INDEX IF NOT EXISTS ledger_entries_account ON {schema}.ledger_entries (account, currency)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.deliveries (
                    id               uuid        PRIMARY KEY,
                    order_id         uuid        NOT NULL,
                    status           text        NOT NULL,
                    slot_id          uuid        NOT NULL,
                    warehouse_id     uuid        NOT NULL,
                    pickup_lat_e6    int         NOT NULL,
                    pickup_lon_e6    int         NOT NULL,
                    destination      jsonb       NOT NULL,
                    cold_chain       boolean     NOT NULL,
                    rider_id         uuid,
                    distance_m       bigint,
                    last_lat_e6      int,
                    last_lon_e6      int,
                    eta              timestamptz,
                    failure_reason   text,
                    cancel_reason    text,
                    window_starts_at timestamptz NOT NULL,
                    window_ends_at   timestamptz NOT NULL,
                    version          bigint      NOT NULL,
                    created_at       timestamptz NOT NULL,
                    assigned_at      timestamptz,
                    picked_up_at     timestamptz,
                    finished_at      timestamptz,
                    updated_at       timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS deliveries_order ON {schema}.deliveries (order_id, created_at)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.delivery_positions (
                    delivery_id uuid        NOT NULL,
                    sequence    bigint      NOT NULL,
                    lat_e6      int         NOT NULL,
                    lon_e6      int         NOT NULL,
                    eta         timestamptz,
                    recorded_at timestamptz NOT NULL,
                    PRIMARY KEY (delivery_id, sequence))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.delivery_slots (
                    id                uuid        PRIMARY KEY,
                    zone              text        NOT NULL,
                    warehouse_id      uuid        NOT NULL,
                    warehouse_lat_e6  int         NOT NULL,
                    warehouse_lon_e6  int         NOT NULL,
                    starts_at         timestamptz NOT NULL,
                    ends_at           timestamptz NOT NULL,
                    capacity          int         NOT NULL,
                    booked            int         NOT NULL DEFAULT 0,
                    version           bigint      NOT NULL,
                    created_at        timestamptz NOT NULL,
                    updated_at        timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS delivery_slots_zone ON {schema}.delivery_slots (zone, starts_at)"),
            format!("CREATE INDEX IF NOT EXISTS delivery_slots_starts ON {schema}.delivery_slots (starts_at)"),
            // One row per order holding a place: `booked` is their count, so the same order is
            // never counted twice.
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.slot_bookings (
                    slot_id   uuid        NOT NULL,
                    order_id  uuid        NOT NULL,
                    booked_at timestamptz NOT NULL,
                    PRIMARY KEY (slot_id, order_id))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.riders (
                    id                 uuid        PRIMARY KEY,
                    name               text        NOT NULL,
                    account            text        NOT NULL,
                    available          boolean     NOT NULL,
                    lat_e6             int,
                    lon_e6             int,
                    cold_chain_capable boolean     NOT NULL,
                    current_delivery   uuid,
                    version            bigint      NOT NULL,
                    updated_at         timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS riders_available ON {schema}.riders (available) WHERE current_delivery IS NULL"),
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        e: &Envelope,
    ) -> Result<(), ApplyError> {
        apply_one(conn, schema, e).await
    }
}

fn poison(err: schemas::EnvelopeError) -> ApplyError {
    ApplyError::Poison(err.to_string())
}

/// Applies `e`, the next event of its stream.
async fn apply_one(conn: &mut PgConnection, schema: &str, e: &Envelope) -> Result<(), ApplyError> {
    let id = Uuid::parse_str(&e.aggregate_id)
        .map_err(|_| ApplyError::Poison(format!("id {:?} is not a UUID", e.aggregate_id)))?;
    let payload = || e.payload.clone();
    match e.aggregate_type.as_str() {
        types::ORDER => {
            let event =
                OrderEvent::decode(&e.event_type, e.event_version, payload()).map_err(poison)?;
            order(conn, schema, id, e, &event).await?;
        }
        types::PAYMENT => {
            let event =
                PaymentEvent::decode(&e.event_type, e.event_version, payload()).map_err(poison)?;
            payment(conn, schema, id, e, &event).await?;
        }
        types::DELIVERY => {
            let event =
                DeliveryEvent::decode(&e.event_type, e.event_version, payload()).map_err(poison)?;
            delivery(conn, schema, id, e, &event).await?;
        }
        types::DELIVERY_SLOT => {
            let event =
                SlotEvent::decode(&e.event_type, e.event_version, payload()).map_err(poison)?;
            slot(conn, schema, id, e, &event).await?;
        }
        types::RIDER => {
            let event =
                RiderEvent::decode(&e.event_type, e.event_version, payload()).map_err(poison)?;
            rider(conn, schema, id, e, &event).await?;
        }
        types::INVENTORY_BATCH => {
            // Only reservations name an order; the rest of a batch's stream (receipts,
            // spoilage, expiry) is the catalog's, and here only moves the stream's version.
            use schemas::inventory::{RESERVATION_COMMITTED, RESERVATION_RELEASED, STOCK_RESERVED};
            if [STOCK_RESERVED, RESERVATION_RELEASED, RESERVATION_COMMITTED]
                .contains(&e.event_type.as_str())
            {
                let event = InventoryEvent::decode(&e.event_type, e.event_version, payload())
                    .map_err(poison)?;
                if let InventoryEvent::StockReserved(r)
                | InventoryEvent::ReservationReleased(r)
                | InventoryEvent::ReservationCommitted(r) = &event
                {
                    let mut detail = e.payload.clone();
                    if let Some(obj) = detail.as_object_mut() {
                        obj.insert("batch_id".into(), id.to_string().into());
                    }
                    timeline(conn, schema, e, r.order_id, detail).await?;
                }
            }
        }
        other => {
            return Err(ApplyError::Poison(format!(
                "the orders projection does not read {other} events"
            )))
        }
    }
    Ok(())
}

/// The order's timeline entry for `e`.
async fn timeline(
    conn: &mut PgConnection,
    schema: &str,
    e: &Envelope,
    order_id: Uuid,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let meta = |k: &str| {
        e.metadata
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let mut actor = serde_json::Map::new();
    for (k, name) in [
        (keys::ACTOR_SUB, "sub"),
        (keys::ACTOR_ROLE, "role"),
        (keys::ACTOR_SERVICE, "service"),
    ] {
        if let Some(v) = meta(k) {
            actor.insert(name.to_owned(), v.into());
        }
    }
    sqlx::query(&format!(
        "INSERT INTO {schema}.order_timeline (aggregate_type, aggregate_id, sequence, order_id,
             event_type, occurred_at, actor, reason, correlation_id, detail, causation_id,
             global_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING"
    ))
    .bind(&e.aggregate_type)
    .bind(&e.aggregate_id)
    .bind(e.sequence)
    .bind(order_id)
    .bind(&e.event_type)
    .bind(e.occurred_at)
    .bind(serde_json::Value::Object(actor))
    .bind(meta(keys::REASON))
    .bind(meta(keys::CORRELATION_ID))
    .bind(detail)
    .bind(meta(keys::CAUSATION_ID))
    .bind(e.global_position)
    .execute(conn)
    .await?;
    Ok(())
}

/// A wire struct as a jsonb value.
fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// What one order event changes on its row.
#[derive(Debug, Default)]
struct OrderChange<'a> {
    status: Option<&'static str>,
    paid_minor: i64,
    /// The delivery named, and whether it replaces one already known.
    delivery: Option<(Uuid, bool)>,
    cancel: Option<(&'a str, Option<&'a str>)>,
    refund_minor: i64,
}

async fn order(
    conn: &mut PgConnection,
    schema: &str,
    id: Uuid,
    e: &Envelope,
    event: &OrderEvent,
) -> Result<(), ApplyError> {
    let change = match event {
        OrderEvent::OrderPlaced(p) => {
            return placed(conn, schema, id, e, p).await;
        }
        OrderEvent::OrderPaid(p) => OrderChange {
            status: Some("paid"),
            paid_minor: p.amount.amount_minor,
            ..OrderChange::default()
        },
        OrderEvent::OrderPacked(_) => OrderChange {
            status: Some("packed"),
            ..OrderChange::default()
        },
        OrderEvent::OrderShipped(s) => OrderChange {
            status: Some("shipped"),
            delivery: Some((s.delivery_id, true)),
            ..OrderChange::default()
        },
        OrderEvent::OrderDelivered(d) => OrderChange {
            status: Some("delivered"),
            delivery: Some((d.delivery_id, false)),
            ..OrderChange::default()
        },
        OrderEvent::OrderCancelled(c) => OrderChange {
            status: Some("cancelled"),
            cancel: Some((c.reason.as_str(), c.detail.as_deref())),
            ..OrderChange::default()
        },
        OrderEvent::OrderRefundRecorded(r) => OrderChange {
            refund_minor: r.amount.amount_minor,
            ..OrderChange::default()
        },
    };
    // Refunds recorded on the order and refunds completed on its payment are two cumulative
    // counts of the same money: the greater is what is known so far, whichever came first.
    let updated = sqlx::query(&format!(
        "UPDATE {schema}.orders
            SET status = coalesce($2, status),
                paid_minor = greatest(paid_minor, $3),
                delivery_id = CASE WHEN $4 THEN $5 ELSE coalesce(delivery_id, $5) END,
                cancel_reason = coalesce($6, cancel_reason),
                cancel_detail = coalesce($7, cancel_detail),
                recorded_refunds_minor = recorded_refunds_minor + $8,
                refunded_minor = greatest(refunded_minor, recorded_refunds_minor + $8),
                version = $9,
                updated_at = greatest(updated_at, $10)
          WHERE id = $1"
    ))
    .bind(id)
    .bind(change.status)
    .bind(change.paid_minor)
    .bind(change.delivery.is_some_and(|d| d.1))
    .bind(change.delivery.map(|d| d.0))
    .bind(change.cancel.map(|c| c.0))
    .bind(change.cancel.and_then(|c| c.1))
    .bind(change.refund_minor)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApplyError::Poison(format!(
            "{} before OrderPlaced",
            e.event_type
        )));
    }
    if let Some(status) = change.status {
        sqlx::query(&format!(
            "UPDATE {schema}.order_lines SET status = $2 WHERE order_id = $1"
        ))
        .bind(id)
        .bind(status)
        .execute(&mut *conn)
        .await?;
    }
    timeline(conn, schema, e, id, e.payload.clone()).await?;
    Ok(())
}

async fn placed(
    conn: &mut PgConnection,
    schema: &str,
    id: Uuid,
    e: &Envelope,
    p: &schemas::order::OrderPlacedV1,
) -> Result<(), ApplyError> {
    // The payment and the delivery may have been projected first (other topics).
    sqlx::query(&format!(
        "INSERT INTO {schema}.orders (id, customer, status, lines, total_minor, currency,
             warehouse_id, slot_id, zone, slot_starts_at, slot_ends_at, delivery_address,
             payment_id, payment_method, delivery_id, paid_minor, refunded_minor, contact_email,
             version, created_at, updated_at)
         SELECT $1, $2, 'created', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                (SELECT d.id FROM {schema}.deliveries d WHERE d.order_id = $1
                  ORDER BY d.created_at, d.id LIMIT 1),
                coalesce(p.captured, 0), coalesce(p.refunded, 0), $14, $15, $16, $16
           FROM (SELECT sum(captured_minor)::int8 AS captured, sum(refunded_minor)::int8 AS refunded
                   FROM {schema}.payments WHERE order_id = $1) p
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(id)
    .bind(&p.customer)
    .bind(json(&p.lines))
    .bind(p.total.amount_minor)
    .bind(&p.total.currency)
    .bind(p.delivery.warehouse_id)
    .bind(p.delivery.slot_id)
    .bind(&p.delivery.zone)
    .bind(p.delivery.slot_starts_at)
    .bind(p.delivery.slot_ends_at)
    .bind(json(&p.delivery.address))
    .bind(p.payment.payment_id)
    .bind(&p.payment.method)
    .bind(&p.delivery.contact_email)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .execute(&mut *conn)
    .await?;
    let n = p.lines.len();
    let line_no: Vec<i32> = (1..=i32::try_from(n).unwrap_or(i32::MAX)).collect();
    sqlx::query(&format!(
        "INSERT INTO {schema}.order_lines (order_id, line_no, product_id, supplier_id, name,
             category, unit, quantity, unit_price_minor, line_total_minor, currency, placed_at,
             status)
         SELECT $1, u.line_no, u.product_id, u.supplier_id, u.name, u.category, u.unit,
                u.quantity::numeric, u.unit_price, u.line_total, u.currency, $11, 'created'
           FROM UNNEST($2::int4[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::int8[], $10::int8[], $12::text[])
             AS u(line_no, product_id, supplier_id, name, category, unit, quantity, unit_price,
                  line_total, currency)
         ON CONFLICT DO NOTHING"
    ))
    .bind(id)
    .bind(&line_no)
    .bind(p.lines.iter().map(|l| l.product_id).collect::<Vec<_>>())
    .bind(p.lines.iter().map(|l| l.supplier_id).collect::<Vec<_>>())
    .bind(p.lines.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
    .bind(
        p.lines
            .iter()
            .map(|l| l.category.clone())
            .collect::<Vec<_>>(),
    )
    .bind(p.lines.iter().map(|l| l.unit.clone()).collect::<Vec<_>>())
    .bind(
        p.lines
            .iter()
            .map(|l| l.quantity.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        p.lines
            .iter()
            .map(|l| l.unit_price.amount_minor)
            .collect::<Vec<_>>(),
    )
    .bind(
        p.lines
            .iter()
            .map(|l| l.line_total.amount_minor)
            .collect::<Vec<_>>(),
    )
    .bind(e.occurred_at)
    .bind(
        p.lines
            .iter()
            .map(|l| l.line_total.currency.clone())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    timeline(conn, schema, e, id, e.payload.clone()).await?;
    Ok(())
}

/// A supplier's share of a payment, as kept in `payments.payees`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payee {
    /// The supplier.
    pub supplier_id: Uuid,
    /// Their share before commission.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
}

/// One refund of a payment, as kept in `payments.refunds`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refund {
    /// The refund.
    pub refund_id: Uuid,
    /// How much (the requested amount, then what was paid back).
    pub amount_minor: i64,
    /// Why.
    pub reason: Option<String>,
    /// `requested` or `completed`.
    pub status: String,
    /// The gateway's refund reference, once completed.
    pub gateway_ref: Option<String>,
    /// When requested.
    pub requested_at: Option<DateTime<Utc>>,
    /// When paid back.
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, sqlx::FromRow)]
struct PaymentRow {
    order_id: Uuid,
    status: String,
    captured_minor: i64,
    refunded_minor: i64,
    refunds: serde_json::Value,
    payees: serde_json::Value,
    commission_bps: i32,
}

/// The commission on a share: `share * bps / 10000`, rounded half away from zero, in integers.
pub fn commission(share_minor: i64, bps: i32) -> i64 {
    let product = i128::from(share_minor) * i128::from(bps);
    let half = if product < 0 { -5000 } else { 5000 };
    i64::try_from((product + half) / 10_000).unwrap_or(i64::MAX)
}

/// The legs of a capture of `amount` shared among `payees`: every leg signed, all summing to 0.
pub fn capture_legs(amount: i64, payees: &[Payee], bps: i32) -> Vec<(String, i64)> {
    let mut legs = vec![(accounts::CUSTOMERS.to_owned(), -amount)];
    let mut revenue = 0i64;
    let mut allocated = 0i64;
    for p in payees {
        let c = commission(p.amount_minor, bps);
        revenue += c;
        allocated += p.amount_minor;
        legs.push((
            format!("{}{}", accounts::SUPPLIER_PAYABLE_PREFIX, p.supplier_id),
            p.amount_minor - c,
        ));
    }
    legs.push((accounts::PLATFORM_REVENUE.to_owned(), revenue));
    if allocated != amount {
        legs.push((accounts::UNALLOCATED.to_owned(), amount - allocated));
    }
    legs
}

async fn post_legs(
    conn: &mut PgConnection,
    schema: &str,
    payment_id: Uuid,
    order_id: Uuid,
    e: &Envelope,
    currency: &str,
    legs: &[(String, i64)],
) -> Result<(), sqlx::Error> {
    let n = i32::try_from(legs.len()).unwrap_or(i32::MAX);
    sqlx::query(&format!(
        "INSERT INTO {schema}.ledger_entries (aggregate_id, sequence, leg, account, currency,
             amount_minor, order_id, event_type, occurred_at)
         SELECT $1, $2, u.leg, u.account, $3, u.amount, $4, $5, $6
           FROM UNNEST($7::int4[], $8::text[], $9::int8[]) AS u(leg, account, amount)
         ON CONFLICT DO NOTHING"
    ))
    .bind(payment_id)
    .bind(e.sequence)
    .bind(currency)
    .bind(order_id)
    .bind(&e.event_type)
    .bind(e.occurred_at)
    .bind((1..=n).collect::<Vec<i32>>())
    .bind(legs.iter().map(|l| l.0.clone()).collect::<Vec<_>>())
    .bind(legs.iter().map(|l| l.1).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

async fn payment(
    conn: &mut PgConnection,
    schema: &str,
    id: Uuid,
    e: &Envelope,
    event: &PaymentEvent,
) -> Result<(), ApplyError> {
    if let PaymentEvent::PaymentInitiated(i) = event {
        let payees: Vec<Payee> = i
            .payees
            .iter()
            .map(|p| Payee {
                supplier_id: p.supplier_id,
                amount_minor: p.amount.amount_minor,
                currency: p.amount.currency.clone(),
            })
            .collect();
        let bps = i32::try_from(i.commission_bps).map_err(|_| {
            ApplyError::Poison(format!("commission_bps {} is too large", i.commission_bps))
        })?;
        sqlx::query(&format!(
            "INSERT INTO {schema}.payments (id, order_id, customer, method, status, amount_minor,
                 currency, payees, commission_bps, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(id)
        .bind(i.order_id)
        .bind(&i.customer)
        .bind(&i.method)
        .bind(i.amount.amount_minor)
        .bind(&i.amount.currency)
        .bind(json(&payees))
        .bind(bps)
        .bind(e.sequence)
        .bind(e.occurred_at)
        .execute(&mut *conn)
        .await?;
        timeline(conn, schema, e, i.order_id, e.payload.clone()).await?;
        return Ok(());
    }
    let row: PaymentRow = sqlx::query_as(&format!(
        "SELECT order_id, status, captured_minor, refunded_minor, refunds, payees,
                commission_bps
           FROM {schema}.payments WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApplyError::Poison(format!("{} before PaymentInitiated", e.event_type)))?;
    let mut refunds: Vec<Refund> = serde_json::from_value(row.refunds.clone())
        .map_err(|err| ApplyError::Poison(format!("stored refunds unreadable: {err}")))?;
    let mut status = row.status.clone();
    let (mut authorized, mut captured, mut refunded, mut requested) = (None, 0i64, 0i64, 0i64);
    let (mut authorization_ref, mut capture_ref) = (None, None);
    let (mut decline_code, mut decline_reason, mut cancel_reason) = (None, None, None);
    match event {
        PaymentEvent::PaymentInitiated(_) => {}
        PaymentEvent::PaymentAuthorized(a) => {
            status = "authorized".into();
            authorized = Some(a.amount.amount_minor);
            authorization_ref = Some(a.gateway_ref.as_str());
        }
        PaymentEvent::PaymentCaptured(c) => {
            status = "captured".into();
            captured = c.amount.amount_minor;
            capture_ref = Some(c.gateway_ref.as_str());
            let payees: Vec<Payee> = serde_json::from_value(row.payees.clone())
                .map_err(|err| ApplyError::Poison(format!("stored payees unreadable: {err}")))?;
            let legs = capture_legs(c.amount.amount_minor, &payees, row.commission_bps);
            post_legs(conn, schema, id, row.order_id, e, &c.amount.currency, &legs).await?;
        }
        PaymentEvent::PaymentDeclined(d) => {
            status = "declined".into();
            decline_code = Some(d.code.as_str());
            decline_reason = Some(d.reason.as_str());
        }
        PaymentEvent::PaymentCancelled(c) => {
            status = "cancelled".into();
            cancel_reason = Some(c.reason.as_str());
        }
        PaymentEvent::RefundRequested(r) => {
            requested = r.amount.amount_minor;
            refunds.push(Refund {
                refund_id: r.refund_id,
                amount_minor: r.amount.amount_minor,
                reason: Some(r.reason.clone()),
                status: "requested".into(),
                gateway_ref: None,
                requested_at: Some(e.occurred_at),
                completed_at: None,
            });
        }
        PaymentEvent::RefundCompleted(r) => {
            refunded = r.amount.amount_minor;
            match refunds.iter_mut().find(|x| x.refund_id == r.refund_id) {
                Some(x) => {
                    x.status = "completed".into();
                    x.amount_minor = r.amount.amount_minor;
                    x.gateway_ref = Some(r.gateway_ref.clone());
                    x.completed_at = Some(e.occurred_at);
                }
                None => refunds.push(Refund {
                    refund_id: r.refund_id,
                    amount_minor: r.amount.amount_minor,
                    reason: None,
                    status: "completed".into(),
                    gateway_ref: Some(r.gateway_ref.clone()),
                    requested_at: None,
                    completed_at: Some(e.occurred_at),
                }),
            }
            let total = row.refunded_minor + refunded;
            status = if total >= row.captured_minor {
                "refunded".into()
            } else {
                "partially_refunded".into()
            };
            let legs = [
                (accounts::CUSTOMERS.to_owned(), r.amount.amount_minor),
                (accounts::REFUNDS.to_owned(), -r.amount.amount_minor),
            ];
            post_legs(conn, schema, id, row.order_id, e, &r.amount.currency, &legs).await?;
        }
    }
    sqlx::query(&format!(
        "UPDATE {schema}.payments
            SET status = $2, authorized_minor = coalesce($3, authorized_minor),
                captured_minor = captured_minor + $4, refunded_minor = refunded_minor + $5,
                refund_requested_minor = refund_requested_minor + $6, refunds = $7,
                authorization_ref = coalesce($8, authorization_ref),
                capture_ref = coalesce($9, capture_ref),
                decline_code = coalesce($10, decline_code),
                decline_reason = coalesce($11, decline_reason),
                cancel_reason = coalesce($12, cancel_reason),
                version = $13, updated_at = $14
          WHERE id = $1"
    ))
    .bind(id)
    .bind(&status)
    .bind(authorized)
    .bind(captured)
    .bind(refunded)
    .bind(requested)
    .bind(json(&refunds))
    .bind(authorization_ref)
    .bind(capture_ref)
    .bind(decline_code)
    .bind(decline_reason)
    .bind(cancel_reason)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .execute(&mut *conn)
    .await?;
    if captured != 0 || refunded != 0 {
        // The order (if projected yet) shows what its payments took and gave back. Its
        // `updated_at` stays the order stream's, so it does not depend on arrival order.
        sqlx::query(&format!(
            "UPDATE {schema}.orders o
                SET paid_minor = greatest(o.paid_minor, s.captured),
                    refunded_minor = greatest(o.refunded_minor, s.refunded)
               FROM (SELECT sum(captured_minor)::int8 AS captured, sum(refunded_minor)::int8 AS refunded
                       FROM {schema}.payments WHERE order_id = $1) s
              WHERE o.id = $1 AND (o.paid_minor < s.captured OR o.refunded_minor < s.refunded)"
        ))
        .bind(row.order_id)
        .execute(&mut *conn)
        .await?;
    }
    timeline(conn, schema, e, row.order_id, e.payload.clone()).await?;
    Ok(())
}

async fn delivery(
    conn: &mut PgConnection,
    schema: &str,
    id: Uuid,
    e: &Envelope,
    event: &DeliveryEvent,
) -> Result<(), ApplyError> {
    if let DeliveryEvent::DeliveryScheduled(s) = event {
        sqlx::query(&format!(
            "INSERT INTO {schema}.deliveries (id, order_id, status, slot_id, warehouse_id,
                 pickup_lat_e6, pickup_lon_e6, destination, cold_chain, window_starts_at,
                 window_ends_at, version, created_at, updated_at)
             VALUES ($1, $2, 'scheduled', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(id)
        .bind(s.order_id)
        .bind(s.slot_id)
        .bind(s.warehouse_id)
        .bind(s.pickup.lat_e6)
        .bind(s.pickup.lon_e6)
        .bind(json(&s.destination))
        .bind(s.cold_chain)
        .bind(s.window_starts_at)
        .bind(s.window_ends_at)
        .bind(e.sequence)
        .bind(e.occurred_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!(
            "UPDATE {schema}.orders SET delivery_id = $2 WHERE id = $1 AND delivery_id IS NULL"
        ))
        .bind(s.order_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        timeline(conn, schema, e, s.order_id, e.payload.clone()).await?;
        return Ok(());
    }
    let mut status: Option<&str> = None;
    let (mut rider, mut distance, mut position, mut eta) = (None, None, None, None);
    let (mut failure, mut cancelled) = (None, None);
    match event {
        DeliveryEvent::DeliveryScheduled(_) => {}
        DeliveryEvent::DeliveryRiderAssigned(a) => {
            status = Some("assigned");
            rider = Some(a.rider_id);
            distance = Some(i64::from(a.distance_m));
        }
        DeliveryEvent::DeliveryPickedUp(_) => status = Some("picked_up"),
        DeliveryEvent::DeliveryLocationUpdated(l) => {
            position = Some(l.location);
            eta = l.eta;
        }
        DeliveryEvent::DeliveryCompleted(_) => status = Some("delivered"),
        DeliveryEvent::DeliveryFailed(f) => {
            status = Some("failed");
            failure = Some(f.reason.as_str());
        }
        DeliveryEvent::DeliveryCancelled(c) => {
            status = Some("cancelled");
            cancelled = Some(c.reason.as_str());
        }
    }
    let order_id: Option<Uuid> = sqlx::query_scalar(&format!(
        "UPDATE {schema}.deliveries
            SET status = coalesce($2, status),
                rider_id = coalesce($3, rider_id),
                distance_m = coalesce($4, distance_m),
                last_lat_e6 = CASE WHEN $5 THEN $6 ELSE last_lat_e6 END,
                last_lon_e6 = CASE WHEN $5 THEN $7 ELSE last_lon_e6 END,
                eta = CASE WHEN $5 THEN $8 ELSE eta END,
                failure_reason = coalesce($9, failure_reason),
                cancel_reason = coalesce($10, cancel_reason),
                assigned_at = CASE WHEN $2 = 'assigned' THEN $12 ELSE assigned_at END,
                picked_up_at = CASE WHEN $2 = 'picked_up' THEN $12 ELSE picked_up_at END,
                finished_at = CASE WHEN $2 IN ('delivered', 'failed', 'cancelled') THEN $12
                                   ELSE finished_at END,
                version = $11, updated_at = $12
          WHERE id = $1
         RETURNING order_id"
    ))
    .bind(id)
    .bind(status)
    .bind(rider)
    .bind(distance)
    .bind(position.is_some())
    .bind(position.map(|p| p.lat_e6))
    .bind(position.map(|p| p.lon_e6))
    .bind(eta)
    .bind(failure)
    .bind(cancelled)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .fetch_optional(&mut *conn)
    .await?;
    let order_id = order_id
        .ok_or_else(|| ApplyError::Poison(format!("{} before DeliveryScheduled", e.event_type)))?;
    if let Some(p) = position {
        sqlx::query(&format!(
            "INSERT INTO {schema}.delivery_positions (delivery_id, sequence, lat_e6, lon_e6, eta,
                 recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
        ))
        .bind(id)
        .bind(e.sequence)
        .bind(p.lat_e6)
        .bind(p.lon_e6)
        .bind(eta)
        .bind(e.occurred_at)
        .execute(&mut *conn)
        .await?;
    }
    timeline(conn, schema, e, order_id, e.payload.clone()).await?;
    Ok(())
}

async fn slot(
    conn: &mut PgConnection,
    schema: &str,
    id: Uuid,
    e: &Envelope,
    event: &SlotEvent,
) -> Result<(), ApplyError> {
    let order_id = match event {
        SlotEvent::DeliverySlotCreated(c) => {
            let capacity = i32::try_from(c.capacity).map_err(|_| {
                ApplyError::Poison(format!("slot capacity {} is too large", c.capacity))
            })?;
            sqlx::query(&format!(
                "INSERT INTO {schema}.delivery_slots (id, zone, warehouse_id, warehouse_lat_e6,
                     warehouse_lon_e6, starts_at, ends_at, capacity, booked, version, created_at,
                     updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                         (SELECT count(*)::int4 FROM {schema}.slot_bookings WHERE slot_id = $1),
                         $9, $10, $10)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(&c.zone)
            .bind(c.warehouse_id)
            .bind(c.warehouse_location.lat_e6)
            .bind(c.warehouse_location.lon_e6)
            .bind(c.starts_at)
            .bind(c.ends_at)
            .bind(capacity)
            .bind(e.sequence)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        SlotEvent::DeliverySlotBooked(b) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.slot_bookings (slot_id, order_id, booked_at)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
            ))
            .bind(id)
            .bind(b.order_id)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            b.order_id
        }
        SlotEvent::DeliverySlotReleased(r) => {
            sqlx::query(&format!(
                "DELETE FROM {schema}.slot_bookings WHERE slot_id = $1 AND order_id = $2"
            ))
            .bind(id)
            .bind(r.order_id)
            .execute(&mut *conn)
            .await?;
            r.order_id
        }
    };
    let updated = sqlx::query(&format!(
        "UPDATE {schema}.delivery_slots
            SET booked = (SELECT count(*)::int4 FROM {schema}.slot_bookings WHERE slot_id = $1),
                version = $2, updated_at = $3
          WHERE id = $1"
    ))
    .bind(id)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApplyError::Poison(format!(
            "{} before DeliverySlotCreated",
            e.event_type
        )));
    }
    timeline(conn, schema, e, order_id, e.payload.clone()).await?;
    Ok(())
}

async fn rider(
    conn: &mut PgConnection,
    schema: &str,
    id: Uuid,
    e: &Envelope,
    event: &RiderEvent,
) -> Result<(), ApplyError> {
    let change = match event {
        RiderEvent::RiderRegistered(r) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.riders (id, name, account, available, cold_chain_capable,
                     version, updated_at)
                 VALUES ($1, $2, $3, false, $4, $5, $6) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(&r.name)
            .bind(&r.account)
            .bind(r.cold_chain_capable)
            .bind(e.sequence)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        RiderEvent::RiderAvailabilityChanged(a) => (Some(a.available), a.location, None, None),
        RiderEvent::RiderAssigned(a) => (None, None, Some(a.delivery_id), None),
        RiderEvent::RiderReleased(r) => (None, None, None, Some(r.delivery_id)),
    };
    let (available, location, assigned, released) = change;
    // A release clears the rider's delivery only if it is that delivery.
    let updated = sqlx::query(&format!(
        "UPDATE {schema}.riders
            SET available = coalesce($4, available),
                lat_e6 = coalesce($5, lat_e6), lon_e6 = coalesce($6, lon_e6),
                current_delivery = CASE WHEN $7::uuid IS NOT NULL THEN $7
                                        WHEN current_delivery = $8 THEN NULL
                                        ELSE current_delivery END,
                version = $2, updated_at = $3
          WHERE id = $1"
    ))
    .bind(id)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .bind(available)
    .bind(location.map(|l| l.lat_e6))
    .bind(location.map(|l| l.lon_e6))
    .bind(assigned)
    .bind(released)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApplyError::Poison(format!(
            "{} before RiderRegistered",
            e.event_type
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_rounds_half_away_from_zero() {
        assert_eq!(commission(524, 1000), 52); // 52.4
        assert_eq!(commission(525, 1000), 53); // 52.5
        assert_eq!(commission(5, 1000), 1); // 0.5
        assert_eq!(commission(4, 1000), 0); // 0.4
        assert_eq!(commission(-525, 1000), -53);
        assert_eq!(commission(12_345, 0), 0);
    }

    #[test]
    fn a_capture_posts_legs_that_sum_to_zero() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let payees = [
            Payee {
                supplier_id: a,
                amount_minor: 525,
                currency: "EUR".into(),
            },
            Payee {
                supplier_id: b,
                amount_minor: 999,
                currency: "EUR".into(),
            },
        ];
        let legs = capture_legs(1524, &payees, 1000);
        assert_eq!(legs.iter().map(|l| l.1).sum::<i64>(), 0);
        assert_eq!(legs[0], ("customers".to_owned(), -1524));
        assert_eq!(legs[1], (format!("supplier_payable:{a}"), 525 - 53));
        assert_eq!(legs[2], (format!("supplier_payable:{b}"), 999 - 100));
        assert_eq!(legs[3], ("platform_revenue".to_owned(), 153));
        // Shares that do not add up still balance, the difference shown apart.
        let legs = capture_legs(2000, &payees, 1000);
        assert_eq!(legs.iter().map(|l| l.1).sum::<i64>(), 0);
        assert_eq!(legs[4], ("unallocated".to_owned(), 476));
    }
}
