//! The customer read models: each customer's profile with its address book, preferences,
//! consent and devices (`customers`, `customer_addresses`), and its carts (`carts`, one row
//! per customer's cart stream: the open cart or the last closed one, and `cart_lines`). The
//! query API prices an open cart from the catalog when it is read.

use crate::runtime::{ApplyError, Projection};
use async_trait::async_trait;
use schemas::customer::cart::CartEvent;
use schemas::customer::CustomerEvent;
use schemas::Envelope;
use sqlx::PgConnection;
use uuid::Uuid;

/// The customer projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct CustomerProjection;

/// The projection's name.
pub const NAME: &str = "customers";

#[async_trait]
impl Projection for CustomerProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        &[schemas::topics::CUSTOMER, schemas::topics::CART]
    }

    fn views(&self) -> &'static [&'static str] {
        &["customers", "customer_addresses", "carts", "cart_lines"]
    }

    fn read_indexes(&self, schema: &str) -> Vec<String> {
        vec![
            format!("CREATE INDEX IF NOT EXISTS customers_account ON {schema}.customers (account)"),
            format!(
                "CREATE INDEX IF NOT EXISTS carts_idle ON {schema}.carts (last_changed) WHERE status = 'open'"
            ),
        ]
    }

    fn ddl(&self, schema: &str) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.customers (
                    id              uuid        PRIMARY KEY,
                    account         text        NOT NULL,
                    display_name    text        NOT NULL,
                    email           text        NOT NULL,
                    phone           text,
                    default_address uuid,
                    preferences     jsonb       NOT NULL,
                    consent         jsonb       NOT NULL,
                    devices         jsonb       NOT NULL DEFAULT '[]',
                    created_at      timestamptz NOT NULL,
                    updated_at      timestamptz NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.customer_addresses (
                    customer_id uuid        NOT NULL,
                    address_id  uuid        NOT NULL,
                    label       text        NOT NULL,
                    address     jsonb       NOT NULL,
                    added_at    timestamptz NOT NULL,
                    PRIMARY KEY (customer_id, address_id))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.carts (
                    stream_id    uuid        PRIMARY KEY,
                    cart_id      uuid        NOT NULL,
                    customer_id  uuid        NOT NULL,
                    account      text        NOT NULL,
                    status       text        NOT NULL,
                    order_id     uuid,
                    opened_at    timestamptz NOT NULL,
                    last_changed timestamptz NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.cart_lines (
                    stream_id          uuid        NOT NULL,
                    product_id         uuid        NOT NULL,
                    quantity           numeric     NOT NULL,
                    seen_price_minor   bigint      NOT NULL,
                    currency           text        NOT NULL,
                    set_at             timestamptz NOT NULL,
                    PRIMARY KEY (stream_id, product_id))"
            ),
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        e: &Envelope,
    ) -> Result<(), ApplyError> {
        let poison = |err: schemas::EnvelopeError| ApplyError::Poison(err.to_string());
        let id = Uuid::parse_str(&e.aggregate_id).map_err(|_| {
            ApplyError::Poison(format!("aggregate id {} is not a UUID", e.aggregate_id))
        })?;
        match e.aggregate_type.as_str() {
            schemas::aggregate_types::CUSTOMER => {
                let event =
                    CustomerEvent::decode(&e.event_type, e.event_version, e.payload.clone())
                        .map_err(poison)?;
                customer(conn, schema, id, e, event).await?;
            }
            schemas::aggregate_types::CART => {
                let event = CartEvent::decode(&e.event_type, e.event_version, e.payload.clone())
                    .map_err(poison)?;
                cart(conn, schema, id, event).await?;
            }
            other => {
                return Err(ApplyError::Poison(format!(
                    "not a customer stream: {other}"
                )))
            }
        }
        Ok(())
    }
}

async fn customer(
    conn: &mut PgConnection,
    schema: &str,
    id: Uuid,
    e: &Envelope,
    event: CustomerEvent,
) -> Result<(), sqlx::Error> {
    let at = e.occurred_at;
    let touch =
        |sql: &str| format!("UPDATE {schema}.customers SET {sql}, updated_at = $2 WHERE id = $1");
    match event {
        CustomerEvent::CustomerRegistered(p) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.customers
                    (id, account, display_name, email, phone, preferences, consent, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(&p.account)
            .bind(&p.display_name)
            .bind(&p.email)
            .bind(&p.phone)
            .bind(serde_json::json!({"tags": [], "dietary": null, "language": "en"}))
            .bind(serde_json::json!({"marketing": false, "channels": {"email": true, "sms": false, "push": false}}))
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        CustomerEvent::CustomerProfileChanged(p) => {
            sqlx::query(&touch("display_name = $3, email = $4, phone = $5"))
                .bind(id)
                .bind(at)
                .bind(&p.display_name)
                .bind(&p.email)
                .bind(&p.phone)
                .execute(&mut *conn)
                .await?;
        }
        CustomerEvent::CustomerAddressAdded(a) | CustomerEvent::CustomerAddressUpdated(a) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.customer_addresses (customer_id, address_id, label, address, added_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (customer_id, address_id) DO UPDATE SET label = $3, address = $4"
            ))
            .bind(id)
            .bind(a.address_id)
            .bind(&a.label)
            .bind(address_json(&a.address))
            .bind(at)
            .execute(&mut *conn)
            .await?;
            sqlx::query(&touch("id = id"))
                .bind(id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
        }
        CustomerEvent::CustomerAddressRemoved(r) => {
            sqlx::query(&format!(
                "DELETE FROM {schema}.customer_addresses WHERE customer_id = $1 AND address_id = $2"
            ))
            .bind(id)
            .bind(r.address_id)
            .execute(&mut *conn)
            .await?;
            sqlx::query(&touch(
                "default_address = CASE WHEN default_address = $3 THEN NULL ELSE default_address END",
            ))
            .bind(id)
            .bind(at)
            .bind(r.address_id)
            .execute(&mut *conn)
            .await?;
        }
        CustomerEvent::CustomerDefaultAddressSet(r) => {
            sqlx::query(&touch("default_address = $3"))
                .bind(id)
                .bind(at)
                .bind(r.address_id)
                .execute(&mut *conn)
                .await?;
        }
        CustomerEvent::CustomerPreferencesSet(p) => {
            sqlx::query(&touch("preferences = $3"))
                .bind(id)
                .bind(at)
                .bind(serde_json::json!({"tags": p.tags, "dietary": p.dietary, "language": p.language}))
                .execute(&mut *conn)
                .await?;
        }
        CustomerEvent::CustomerConsentSet(c) => {
            sqlx::query(&touch("consent = $3"))
                .bind(id)
                .bind(at)
                .bind(serde_json::json!({"marketing": c.marketing,
                    "channels": {"email": c.email, "sms": c.sms, "push": c.push}}))
                .execute(&mut *conn)
                .await?;
        }
        CustomerEvent::CustomerDeviceRegistered(d) => {
            sqlx::query(&touch(
                "devices = (SELECT coalesce(jsonb_agg(x), '[]') FROM jsonb_array_elements(devices) x
                             WHERE x->>'push_token' <> $3) || jsonb_build_array($4::jsonb)",
            ))
            .bind(id)
            .bind(at)
            .bind(&d.push_token)
            .bind(serde_json::json!({"push_token": d.push_token, "platform": d.platform, "registered_at": at}))
            .execute(&mut *conn)
            .await?;
        }
        CustomerEvent::CustomerDeviceRemoved(d) => {
            sqlx::query(&touch(
                "devices = (SELECT coalesce(jsonb_agg(x), '[]') FROM jsonb_array_elements(devices) x
                             WHERE x->>'push_token' <> $3)",
            ))
            .bind(id)
            .bind(at)
            .bind(&d.push_token)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// An address as the API shows it: decimal degrees, not the wire's microdegrees.
fn address_json(a: &schemas::common::AddressV1) -> serde_json::Value {
    let degrees = |e6: i32| f64::from(e6) / 1e6;
    serde_json::json!({
        "line1": a.line1,
        "city": a.city,
        "postal_code": a.postal_code,
        "country": a.country,
        "location": a.location.map(|l| serde_json::json!({"lat": degrees(l.lat_e6), "lon": degrees(l.lon_e6)})),
    })
}

async fn cart(
    conn: &mut PgConnection,
    schema: &str,
    stream: Uuid,
    event: CartEvent,
) -> Result<(), sqlx::Error> {
    match event {
        CartEvent::CartOpened(o) => {
            sqlx::query(&format!(
                "DELETE FROM {schema}.cart_lines WHERE stream_id = $1"
            ))
            .bind(stream)
            .execute(&mut *conn)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO {schema}.carts (stream_id, cart_id, customer_id, account, status, order_id, opened_at, last_changed)
                 VALUES ($1, $2, $3, $4, 'open', NULL, $5, $5)
                 ON CONFLICT (stream_id) DO UPDATE SET cart_id = $2, status = 'open', order_id = NULL,
                     opened_at = $5, last_changed = $5"
            ))
            .bind(stream)
            .bind(o.cart_id)
            .bind(o.customer_id)
            .bind(&o.account)
            .bind(o.opened_at)
            .execute(&mut *conn)
            .await?;
        }
        CartEvent::CartLineSet(l) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.cart_lines (stream_id, product_id, quantity, seen_price_minor, currency, set_at)
                 VALUES ($1, $2, $3::numeric, $4, $5, $6)
                 ON CONFLICT (stream_id, product_id) DO UPDATE
                   SET quantity = $3::numeric, seen_price_minor = $4, currency = $5, set_at = $6"
            ))
            .bind(stream)
            .bind(l.product_id)
            .bind(&l.quantity)
            .bind(l.unit_price_seen.amount_minor)
            .bind(&l.unit_price_seen.currency)
            .bind(l.at)
            .execute(&mut *conn)
            .await?;
            touch_cart(conn, schema, stream, l.at).await?;
        }
        CartEvent::CartLineRemoved(r) => {
            sqlx::query(&format!(
                "DELETE FROM {schema}.cart_lines WHERE stream_id = $1 AND product_id = $2"
            ))
            .bind(stream)
            .bind(r.product_id)
            .execute(&mut *conn)
            .await?;
            touch_cart(conn, schema, stream, r.at).await?;
        }
        CartEvent::CartCheckedOut(c) => {
            sqlx::query(&format!(
                "UPDATE {schema}.carts SET status = 'checked_out', order_id = $2 WHERE stream_id = $1"
            ))
            .bind(stream)
            .bind(c.order_id)
            .execute(&mut *conn)
            .await?;
        }
        CartEvent::CartAbandoned(_) => {
            sqlx::query(&format!(
                "UPDATE {schema}.carts SET status = 'abandoned' WHERE stream_id = $1"
            ))
            .bind(stream)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn touch_cart(
    conn: &mut PgConnection,
    schema: &str,
    stream: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {schema}.carts SET last_changed = $2 WHERE stream_id = $1"
    ))
    .bind(stream)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
