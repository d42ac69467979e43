//! The catalog and stock read models, kept by one projection over the supplier, product and
//! inventory topics so that "orderable" and "in stock" are answered from one consistent place:
//!
//! - `products`: the catalog, with a full-text search vector over name and tags;
//! - `product_images`: each uploaded image and its processing outcome;
//! - `catalog_suppliers`: each supplier's status (a suspended supplier's products stay listed
//!   but stop being orderable);
//! - `batches`: every stock batch with on hand, reserved and available quantities;
//! - `spoilage`: stock written off (spoiled or expired) with the procurement value lost.
//!
//! The runtime hands it each stream's events once and in order (its per-stream guard).

use crate::runtime::{ApplyError, Projection};
use async_trait::async_trait;
use schemas::inventory::InventoryEvent;
use schemas::product::ProductEvent;
use schemas::supplier::SupplierEvent;
use schemas::Envelope;
use sqlx::PgConnection;

/// The catalog projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct CatalogProjection;

/// The projection's name.
pub const NAME: &str = "catalog";

#[async_trait]
impl Projection for CatalogProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        &[
            schemas::topics::SUPPLIER,
            schemas::topics::PRODUCT,
            schemas::topics::INVENTORY,
        ]
    }

    fn views(&self) -> &'static [&'static str] {
        &[
            "products",
            "product_images",
            "catalog_suppliers",
            "batches",
            "spoilage",
        ]
    }

    fn read_indexes(&self, schema: &str) -> Vec<String> {
        vec![
            format!("CREATE INDEX IF NOT EXISTS products_search ON {schema}.products USING gin (search)"),
            format!("CREATE INDEX IF NOT EXISTS products_category_price ON {schema}.products (category, price_minor)"),
            format!("CREATE INDEX IF NOT EXISTS products_price ON {schema}.products (price_minor, id)"),
            format!("CREATE INDEX IF NOT EXISTS products_tags ON {schema}.products USING gin (tags)"),
            // The default sort (newest) and the name sort walk these instead of sorting.
            format!("CREATE INDEX IF NOT EXISTS products_newest ON {schema}.products (created_at DESC, id)"),
            format!("CREATE INDEX IF NOT EXISTS products_name ON {schema}.products (name, id)"),
            format!("CREATE INDEX IF NOT EXISTS spoilage_time ON {schema}.spoilage (occurred_at)"),
        ]
    }

    fn ddl(&self, schema: &str) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.catalog_suppliers (
                    id uuid PRIMARY KEY, status text NOT NULL, legal_name text NOT NULL)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.products (
                    id                  uuid        PRIMARY KEY,
                    supplier_id         uuid        NOT NULL,
                    owner               text,
                    name                text        NOT NULL,
                    category            text        NOT NULL,
                    tags                text[]      NOT NULL,
                    unit                text        NOT NULL,
                    price_minor         bigint      NOT NULL,
                    currency            text        NOT NULL,
                    origin_country      text        NOT NULL,
                    nutrition           jsonb,
                    low_stock_threshold numeric     NOT NULL,
                    available           numeric     NOT NULL DEFAULT 0,
                    status              text        NOT NULL,
                    discontinued_reason text,
                    search              tsvector    NOT NULL,
                    version             bigint      NOT NULL,
                    created_at          timestamptz NOT NULL,
                    updated_at          timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS products_supplier ON {schema}.products (supplier_id)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.product_images (
                    image_id     uuid        PRIMARY KEY,
                    product_id   uuid        NOT NULL,
                    status       text        NOT NULL,
                    content_type text        NOT NULL,
                    byte_size    bigint      NOT NULL,
                    original_key text        NOT NULL,
                    thumbnail    jsonb,
                    medium       jsonb,
                    reason       text,
                    requested_at timestamptz NOT NULL,
                    updated_at   timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS product_images_product ON {schema}.product_images (product_id, requested_at)"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.batches (
                    id                uuid        PRIMARY KEY,
                    product_id        uuid        NOT NULL,
                    supplier_id       uuid        NOT NULL,
                    warehouse_id      uuid        NOT NULL,
                    received          numeric     NOT NULL,
                    on_hand           numeric     NOT NULL,
                    reserved          numeric     NOT NULL,
                    received_at       timestamptz NOT NULL,
                    expires_at        timestamptz NOT NULL,
                    cold_chain        boolean     NOT NULL,
                    price_minor       bigint      NOT NULL,
                    currency          text        NOT NULL,
                    status            text        NOT NULL,
                    expiring_soon     boolean     NOT NULL DEFAULT false,
                    updated_at        timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS batches_product ON {schema}.batches (product_id, warehouse_id, expires_at)"),
            format!("CREATE INDEX IF NOT EXISTS batches_expiry ON {schema}.batches (expires_at) WHERE status = 'active'"),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.spoilage (
                    batch_id       uuid        NOT NULL,
                    sequence       bigint      NOT NULL,
                    product_id     uuid        NOT NULL,
                    warehouse_id   uuid        NOT NULL,
                    quantity       numeric     NOT NULL,
                    reason         text        NOT NULL,
                    value_lost     bigint      NOT NULL,
                    currency       text        NOT NULL,
                    occurred_at    timestamptz NOT NULL,
                    PRIMARY KEY (batch_id, sequence))"
            ),
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

    /// Listings and receipts (most of any catalog's events) are gathered and written with one
    /// statement per kind; anything else first flushes them, so order is kept.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        events: &[Envelope],
    ) -> Result<Vec<Result<(), String>>, sqlx::Error> {
        let mut out = Vec::with_capacity(events.len());
        let mut pending = Pending::default();
        for e in events {
            let outcome = match pending.take(e) {
                Some(outcome) => outcome,
                None => {
                    pending.flush(conn, schema).await?;
                    apply_one(conn, schema, e).await
                }
            };
            match outcome {
                Ok(()) => out.push(Ok(())),
                Err(ApplyError::Poison(p)) => out.push(Err(p)),
                Err(ApplyError::Database(d)) => return Err(d),
            }
        }
        pending.flush(conn, schema).await?;
        Ok(out)
    }
}

/// Applies `e`, the next event of its stream.
async fn apply_one(conn: &mut PgConnection, schema: &str, e: &Envelope) -> Result<(), ApplyError> {
    let id = uuid::Uuid::parse_str(&e.aggregate_id)
        .map_err(|_| ApplyError::Poison(format!("id {:?} is not a UUID", e.aggregate_id)))?;
    let poison = |err: schemas::EnvelopeError| ApplyError::Poison(err.to_string());
    match e.aggregate_type.as_str() {
        schemas::aggregate_types::SUPPLIER => {
            let event = SupplierEvent::decode(&e.event_type, e.event_version, e.payload.clone())
                .map_err(poison)?;
            supplier(conn, schema, id, &event).await?;
        }
        schemas::aggregate_types::PRODUCT => {
            let event = ProductEvent::decode(&e.event_type, e.event_version, e.payload.clone())
                .map_err(poison)?;
            product(conn, schema, id, e, &event).await?;
        }
        schemas::aggregate_types::INVENTORY_BATCH => {
            let event = InventoryEvent::decode(&e.event_type, e.event_version, e.payload.clone())
                .map_err(poison)?;
            batch(conn, schema, id, e, &event).await?;
        }
        other => {
            return Err(ApplyError::Poison(format!(
                "the catalog does not read {other} events"
            )))
        }
    }
    Ok(())
}

async fn supplier(
    conn: &mut PgConnection,
    schema: &str,
    id: uuid::Uuid,
    event: &SupplierEvent,
) -> Result<(), sqlx::Error> {
    let status = match event {
        SupplierEvent::Registered(r) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.catalog_suppliers (id, status, legal_name) VALUES ($1, 'pending', $2)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(&r.legal_name)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        SupplierEvent::Approved(_) | SupplierEvent::Reinstated(_) => "approved",
        SupplierEvent::Rejected(_) => "rejected",
        SupplierEvent::Suspended(_) => "suspended",
        SupplierEvent::DocumentSubmitted(_) => return Ok(()),
    };
    sqlx::query(&format!(
        "UPDATE {schema}.catalog_suppliers SET status = $2 WHERE id = $1"
    ))
    .bind(id)
    .bind(status)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn product(
    conn: &mut PgConnection,
    schema: &str,
    id: uuid::Uuid,
    e: &Envelope,
    event: &ProductEvent,
) -> Result<(), ApplyError> {
    match event {
        ProductEvent::Listed(l) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.products (id, supplier_id, owner, name, category, tags, unit,
                     price_minor, currency, origin_country, nutrition, low_stock_threshold, status,
                     search, version, created_at, updated_at, available)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::numeric, 'active',
                     to_tsvector('english', $4 || ' ' || array_to_string($6, ' ')), $13, $14, $14,
                     -- Stock may have been projected before the listing (another topic).
                     coalesce((SELECT sum(on_hand - reserved) FROM {schema}.batches
                                WHERE product_id = $1 AND status = 'active'), 0))
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(l.supplier_id)
            .bind(&l.owner)
            .bind(&l.name)
            .bind(&l.category)
            .bind(&l.tags)
            .bind(&l.unit)
            .bind(l.price.amount_minor)
            .bind(&l.price.currency)
            .bind(&l.origin_country)
            .bind(l.nutrition.as_ref().map(json))
            .bind(&l.low_stock_threshold)
            .bind(e.sequence)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
        }
        ProductEvent::Updated(u) => {
            sqlx::query(&format!(
                "UPDATE {schema}.products
                    SET name = coalesce($2, name),
                        price_minor = coalesce($3, price_minor),
                        currency = coalesce($4, currency),
                        tags = coalesce($5, tags),
                        nutrition = coalesce($6, nutrition),
                        search = to_tsvector('english', coalesce($2, name) || ' ' ||
                                 array_to_string(coalesce($5, tags), ' ')),
                        version = $7, updated_at = $8
                  WHERE id = $1"
            ))
            .bind(id)
            .bind(&u.name)
            .bind(u.price.as_ref().map(|p| p.amount_minor))
            .bind(u.price.as_ref().map(|p| p.currency.clone()))
            .bind(&u.tags)
            .bind(u.nutrition.as_ref().map(json))
            .bind(e.sequence)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
        }
        ProductEvent::Discontinued(d) => {
            sqlx::query(&format!(
                "UPDATE {schema}.products SET status = 'discontinued', discontinued_reason = $2,
                        version = $3, updated_at = $4 WHERE id = $1"
            ))
            .bind(id)
            .bind(&d.reason)
            .bind(e.sequence)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
        }
        ProductEvent::ImageRequested(r) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.product_images (image_id, product_id, status, content_type,
                     byte_size, original_key, requested_at, updated_at)
                 VALUES ($1, $2, 'processing', $3, $4, $5, $6, $6) ON CONFLICT (image_id) DO NOTHING"
            ))
            .bind(r.image_id)
            .bind(id)
            .bind(&r.content_type)
            .bind(i64::try_from(r.byte_size).unwrap_or(i64::MAX))
            .bind(&r.original_key)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            touch(conn, schema, id, e).await?;
        }
        ProductEvent::ImageProcessed(p) => {
            sqlx::query(&format!(
                "UPDATE {schema}.product_images SET status = 'ready', thumbnail = $2, medium = $3,
                        updated_at = $4 WHERE image_id = $1"
            ))
            .bind(p.image_id)
            .bind(json(&p.thumbnail))
            .bind(json(&p.medium))
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            touch(conn, schema, id, e).await?;
        }
        ProductEvent::ImageFailed(f) => {
            sqlx::query(&format!(
                "UPDATE {schema}.product_images SET status = 'failed', reason = $2, updated_at = $3
                  WHERE image_id = $1"
            ))
            .bind(f.image_id)
            .bind(&f.reason)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            touch(conn, schema, id, e).await?;
        }
    }
    Ok(())
}

async fn touch(
    conn: &mut PgConnection,
    schema: &str,
    id: uuid::Uuid,
    e: &Envelope,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {schema}.products SET version = $2, updated_at = $3 WHERE id = $1"
    ))
    .bind(id)
    .bind(e.sequence)
    .bind(e.occurred_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn batch(
    conn: &mut PgConnection,
    schema: &str,
    id: uuid::Uuid,
    e: &Envelope,
    event: &InventoryEvent,
) -> Result<(), ApplyError> {
    // (on hand change, reserved change) as decimal strings, applied with numeric arithmetic.
    let (on_hand, reserved, extra) = match event {
        InventoryEvent::BatchReceived(r) => {
            sqlx::query(&format!(
                "INSERT INTO {schema}.batches (id, product_id, supplier_id, warehouse_id, received,
                     on_hand, reserved, received_at, expires_at, cold_chain, price_minor, currency,
                     status, updated_at)
                 VALUES ($1, $2, $3, $4, $5::numeric, $5::numeric, 0, $6, $7, $8, $9, $10, 'active', $11)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(id)
            .bind(r.product_id)
            .bind(r.supplier_id)
            .bind(r.warehouse_id)
            .bind(&r.quantity)
            .bind(r.received_at)
            .bind(r.expires_at)
            .bind(r.cold_chain)
            .bind(r.procurement_price.amount_minor)
            .bind(&r.procurement_price.currency)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            sqlx::query(&format!(
                "UPDATE {schema}.products SET available = available + $2::numeric WHERE id = $1"
            ))
            .bind(r.product_id)
            .bind(&r.quantity)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        InventoryEvent::StockReserved(r) => (zero(), r.quantity.clone(), None),
        InventoryEvent::ReservationReleased(r) => (zero(), negate(&r.quantity), None),
        InventoryEvent::ReservationCommitted(r) => (negate(&r.quantity), negate(&r.quantity), None),
        InventoryEvent::SpoilageRecorded(s) => (
            negate(&s.quantity),
            zero(),
            Some((s.quantity.as_str(), s.reason.as_str(), &s.value_lost)),
        ),
        InventoryEvent::BatchExpired(x) => (
            negate(&x.quantity),
            zero(),
            Some((x.quantity.as_str(), "expired", &x.value_lost)),
        ),
        InventoryEvent::BatchExpiringSoon(_) => {
            sqlx::query(&format!(
                "UPDATE {schema}.batches SET expiring_soon = true, updated_at = $2 WHERE id = $1"
            ))
            .bind(id)
            .bind(e.occurred_at)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
    };
    let expired = matches!(event, InventoryEvent::BatchExpired(_));
    // The product's available stock (on hand minus reserved over its active batches) moves by
    // the same amounts; a product not listed yet computes it when its listing arrives.
    let changed: i64 = sqlx::query_scalar(&format!(
        "WITH b AS (
            UPDATE {schema}.batches
               SET on_hand = on_hand + $2::numeric, reserved = reserved + $3::numeric,
                   status = CASE WHEN $4 THEN 'expired' ELSE status END, updated_at = $5
             WHERE id = $1
         RETURNING product_id),
         p AS (
            UPDATE {schema}.products p SET available = p.available + $2::numeric - $3::numeric
              FROM b WHERE p.id = b.product_id
            RETURNING 1)
         SELECT count(*) FROM b"
    ))
    .bind(id)
    .bind(on_hand)
    .bind(reserved)
    .bind(expired)
    .bind(e.occurred_at)
    .fetch_one(&mut *conn)
    .await?;
    if changed == 0 {
        return Err(ApplyError::Poison(format!(
            "{} before BatchReceived",
            e.event_type
        )));
    }
    if let Some((quantity, reason, value)) = extra {
        sqlx::query(&format!(
            "INSERT INTO {schema}.spoilage (batch_id, sequence, product_id, warehouse_id, quantity,
                 reason, value_lost, currency, occurred_at)
             SELECT id, $2, product_id, warehouse_id, $3::numeric, $4, $5, $6, $7
               FROM {schema}.batches WHERE id = $1
             ON CONFLICT DO NOTHING"
        ))
        .bind(id)
        .bind(e.sequence)
        .bind(quantity)
        .bind(reason)
        .bind(value.amount_minor)
        .bind(&value.currency)
        .bind(e.occurred_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A wire decimal (non-negative, validated by `schemas`) negated, as PostgreSQL reads it.
fn negate(q: &str) -> String {
    format!("-{q}")
}

fn zero() -> String {
    "0".to_owned()
}

/// A wire struct as a jsonb value.
fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Listings and receipts waiting to be written together.
#[derive(Default)]
struct Pending {
    products: Vec<(
        uuid::Uuid,
        schemas::product::ListedV1,
        i64,
        chrono::DateTime<chrono::Utc>,
    )>,
    batches: Vec<(
        uuid::Uuid,
        schemas::inventory::BatchReceivedV1,
        chrono::DateTime<chrono::Utc>,
    )>,
}

impl Pending {
    /// Takes `e` when it is a listing or a receipt in its place (the stream's next event);
    /// `None` leaves it to be applied on its own.
    fn take(&mut self, e: &Envelope) -> Option<Result<(), ApplyError>> {
        let creation = (e.aggregate_type == schemas::aggregate_types::PRODUCT
            && e.event_type == schemas::product::LISTED)
            || (e.aggregate_type == schemas::aggregate_types::INVENTORY_BATCH
                && e.event_type == schemas::inventory::BATCH_RECEIVED);
        if !creation {
            return None;
        }
        let Ok(id) = uuid::Uuid::parse_str(&e.aggregate_id) else {
            return None;
        };
        let poison = |err: schemas::EnvelopeError| Err(ApplyError::Poison(err.to_string()));
        if e.aggregate_type == schemas::aggregate_types::PRODUCT {
            match ProductEvent::decode(&e.event_type, e.event_version, e.payload.clone()) {
                Ok(ProductEvent::Listed(l)) => {
                    self.products.push((id, l, e.sequence, e.occurred_at))
                }
                Ok(_) => return None,
                Err(err) => return Some(poison(err)),
            }
        } else {
            match InventoryEvent::decode(&e.event_type, e.event_version, e.payload.clone()) {
                Ok(InventoryEvent::BatchReceived(r)) => self.batches.push((id, r, e.occurred_at)),
                Ok(_) => return None,
                Err(err) => return Some(poison(err)),
            }
        }
        Some(Ok(()))
    }

    /// Writes what is gathered: products first (their availability counts batches already
    /// stored), then batches (adding to their products' availability).
    async fn flush(&mut self, conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        if !self.products.is_empty() {
            let p = std::mem::take(&mut self.products);
            sqlx::query(&format!(
                "INSERT INTO {schema}.products (id, supplier_id, owner, name, category, tags, unit,
                     price_minor, currency, origin_country, nutrition, low_stock_threshold, status,
                     search, version, created_at, updated_at, available)
                 SELECT u.id, u.supplier_id, u.owner, u.name, u.category,
                        ARRAY(SELECT jsonb_array_elements_text(u.tags)), u.unit, u.price_minor,
                        u.currency, u.origin, u.nutrition, u.threshold::numeric, 'active',
                        to_tsvector('english', u.name || ' ' ||
                            coalesce((SELECT string_agg(t, ' ') FROM jsonb_array_elements_text(u.tags) t), '')),
                        u.version, u.at, u.at,
                        coalesce((SELECT sum(b.on_hand - b.reserved) FROM {schema}.batches b
                                   WHERE b.product_id = u.id AND b.status = 'active'), 0)
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                               $7::text[], $8::int8[], $9::text[], $10::text[], $11::jsonb[],
                               $12::text[], $13::int8[], $14::timestamptz[])
                     AS u(id, supplier_id, owner, name, category, tags, unit, price_minor, currency,
                          origin, nutrition, threshold, version, at)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(p.iter().map(|x| x.0).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.supplier_id).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.owner.clone()).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.name.clone()).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.category.clone()).collect::<Vec<_>>())
            .bind(p.iter().map(|x| json(&x.1.tags)).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.unit.clone()).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.price.amount_minor).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.price.currency.clone()).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.origin_country.clone()).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.nutrition.as_ref().map(json)).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.1.low_stock_threshold.clone()).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.2).collect::<Vec<_>>())
            .bind(p.iter().map(|x| x.3).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        if !self.batches.is_empty() {
            let b = std::mem::take(&mut self.batches);
            sqlx::query(&format!(
                "WITH inserted AS (
                    INSERT INTO {schema}.batches (id, product_id, supplier_id, warehouse_id, received,
                        on_hand, reserved, received_at, expires_at, cold_chain, price_minor, currency,
                        status, updated_at)
                    SELECT u.id, u.product_id, u.supplier_id, u.warehouse_id, u.q::numeric,
                           u.q::numeric, 0, u.received_at, u.expires_at, u.cold_chain, u.price_minor,
                           u.currency, 'active', u.at
                      FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[],
                                  $6::timestamptz[], $7::timestamptz[], $8::bool[], $9::int8[],
                                  $10::text[], $11::timestamptz[])
                        AS u(id, product_id, supplier_id, warehouse_id, q, received_at, expires_at,
                             cold_chain, price_minor, currency, at)
                    ON CONFLICT (id) DO NOTHING
                    RETURNING product_id, on_hand)
                 UPDATE {schema}.products p SET available = p.available + s.q
                   FROM (SELECT product_id, sum(on_hand) AS q FROM inserted GROUP BY product_id) s
                  WHERE p.id = s.product_id"
            ))
            .bind(b.iter().map(|x| x.0).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.product_id).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.supplier_id).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.warehouse_id).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.quantity.clone()).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.received_at).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.expires_at).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.cold_chain).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.procurement_price.amount_minor).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.1.procurement_price.currency.clone()).collect::<Vec<_>>())
            .bind(b.iter().map(|x| x.2).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
