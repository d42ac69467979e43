//! What needs an operator's attention, read in one go for the operators' live stream
//! (`GET /v1/streams/ops`): suppliers waiting for review, stuck or parked sagas, dead events,
//! low stock and batches expiring soon. Each kind is counted in full and shows its first
//! [`SHOWN`] items, most urgent first.

use super::ops::STUCK_AFTER;
use super::state::QueryState;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

/// Items shown per kind.
pub const SHOWN: i64 = 20;

/// Everything needing attention now.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct Attention {
    /// Suppliers registered and not yet approved or rejected (oldest first).
    pub suppliers_pending: Counted<PendingSupplier>,
    /// Fulfilment sagas stuck (a step failed 3 times in a row) or parked.
    pub sagas: Counted<TroubledSaga>,
    /// Events a projection could not apply (dead, not skipped).
    pub dead_events: Counted<DeadEvent>,
    /// Products whose available stock in a warehouse is below their threshold.
    pub low_stock: Counted<LowStock>,
    /// Active batches past their expiring-soon alert (soonest first).
    pub expiring_soon: Counted<ExpiringBatch>,
}

/// A count and the first items.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
pub struct Counted<T> {
    /// How many there are.
    pub count: i64,
    /// The first of them.
    pub items: Vec<T>,
}

/// A supplier waiting for review.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow, PartialEq)]
pub struct PendingSupplier {
    /// The supplier.
    pub id: Uuid,
    /// Its legal name.
    pub legal_name: String,
    /// Documents submitted so far.
    pub documents: i64,
    /// Registered.
    pub created_at: DateTime<Utc>,
}

/// A saga that needs an operator.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow, PartialEq)]
pub struct TroubledSaga {
    /// The order.
    pub order_id: Uuid,
    /// `stuck` or `parked`.
    pub status: String,
    /// The step that fails.
    pub last_step: Option<String>,
    /// Why.
    pub last_error: Option<String>,
    /// Failures in a row.
    pub attempts: i32,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A dead event.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow, PartialEq)]
pub struct DeadEvent {
    /// The projection that could not apply it.
    pub projection: String,
    /// Where it is in Kafka.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Its type, when readable.
    pub event_type: Option<String>,
    /// Why it could not apply.
    pub error: String,
    /// When it was given up.
    pub dead_at: DateTime<Utc>,
}

/// A product short of stock in a warehouse.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow, PartialEq)]
pub struct LowStock {
    /// The product.
    pub product_id: Uuid,
    /// Its name.
    pub name: String,
    /// The warehouse.
    pub warehouse_id: Uuid,
    /// Available (on hand less reserved), a decimal string.
    pub available: String,
    /// The product's threshold, a decimal string.
    pub threshold: String,
}

/// A batch expiring soon.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow, PartialEq)]
pub struct ExpiringBatch {
    /// The batch.
    pub batch_id: Uuid,
    /// Its product.
    pub product_id: Uuid,
    /// The product's name.
    pub name: String,
    /// The warehouse.
    pub warehouse_id: Uuid,
    /// On hand, a decimal string.
    pub on_hand: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

impl Attention {
    /// A short digest of the whole (the stream's event id: a client that reconnects with
    /// the digest of what it holds is not sent it again).
    #[must_use]
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let d = Sha256::digest(json);
        d.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }
}

/// Reads everything needing attention.
///
/// # Errors
/// When the database fails.
pub async fn read(s: &QueryState) -> Result<Attention, sqlx::Error> {
    let schema = &s.schema;
    let suppliers_pending = counted(
        s,
        "id, legal_name, jsonb_array_length(documents)::int8 AS documents, created_at",
        format!("FROM {schema}.suppliers WHERE status = 'pending'"),
        "created_at, id",
    );
    let low_stock = counted(
        s,
        "b.product_id, p.name, b.warehouse_id,
         trim_scale(sum(b.on_hand - b.reserved))::text AS available,
         trim_scale(p.low_stock_threshold)::text AS threshold",
        format!(
            "FROM {schema}.batches b JOIN {schema}.products p ON p.id = b.product_id
              WHERE b.status = 'active' AND p.status = 'active'
              GROUP BY b.product_id, p.name, b.warehouse_id, p.low_stock_threshold
             HAVING sum(b.on_hand - b.reserved) < p.low_stock_threshold"
        ),
        "sum(b.on_hand - b.reserved) / nullif(p.low_stock_threshold, 0), b.product_id, b.warehouse_id",
    );
    let expiring_soon = counted(
        s,
        "b.id AS batch_id, b.product_id, p.name, b.warehouse_id,
         trim_scale(b.on_hand)::text AS on_hand, b.expires_at",
        format!(
            "FROM {schema}.batches b JOIN {schema}.products p ON p.id = b.product_id
              WHERE b.status = 'active' AND b.expiring_soon AND b.on_hand > 0"
        ),
        "b.expires_at, b.id",
    );
    let (suppliers_pending, sagas, dead_events, low_stock, expiring_soon) = tokio::try_join!(
        suppliers_pending,
        troubled_sagas(s),
        dead_events(s),
        low_stock,
        expiring_soon
    )?;
    Ok(Attention {
        suppliers_pending,
        sagas,
        dead_events,
        low_stock,
        expiring_soon,
    })
}

/// `select` of the first [`SHOWN`] rows of `from` (a `FROM ... WHERE ...`, possibly grouped)
/// in `order`, with the count of them all.
async fn counted<T>(
    s: &QueryState,
    select: &str,
    from: String,
    order: &str,
) -> Result<Counted<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let count_sql = format!("SELECT count(*) FROM (SELECT 1 {from}) c");
    let items_sql = format!("SELECT {select} {from} ORDER BY {order} LIMIT {SHOWN}");
    let (count, items) = tokio::try_join!(
        sqlx::query_scalar(&count_sql).fetch_one(&s.pool),
        sqlx::query_as(&items_sql).fetch_all(&s.pool),
    )?;
    Ok(Counted { count, items })
}

async fn troubled_sagas(s: &QueryState) -> Result<Counted<TroubledSaga>, sqlx::Error> {
    // No saga has run against this database yet: none in trouble.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('fulfilment.sagas') IS NOT NULL")
        .fetch_one(&s.pool)
        .await?;
    if !exists {
        return Ok(Counted {
            count: 0,
            items: Vec::new(),
        });
    }
    counted(
        s,
        "order_id, CASE WHEN status = 'parked' THEN 'parked' ELSE 'stuck' END AS status,
         last_step, last_error, attempts, updated_at",
        format!(
            "FROM fulfilment.sagas
              WHERE status = 'parked' OR (status = 'running' AND attempts >= {STUCK_AFTER})"
        ),
        "updated_at DESC, order_id",
    )
    .await
}

async fn dead_events(s: &QueryState) -> Result<Counted<DeadEvent>, sqlx::Error> {
    let mut parts = Vec::new();
    for p in crate::all() {
        let physical = crate::rebuild::live_schema(&s.pool, p.as_ref(), &s.schema).await?;
        parts.push(format!(
            "SELECT projection, topic, partition, kafka_offset AS offset, event_type, error, dead_at
               FROM {physical}.dead_events WHERE state = 'dead'"
        ));
    }
    let all = parts.join(" UNION ALL ");
    counted(
        s,
        "*",
        format!("FROM ({all}) d"),
        "dead_at DESC, topic, partition, \"offset\"",
    )
    .await
}
