//! The supplier read models: the directory (one row per supplier, current state) and the
//! history (every event, with the status before and after, the actor, reason and time), kept
//! by one projection so the two always agree.

use crate::runtime::{Applied, ApplyError, Projection};
use async_trait::async_trait;
use schemas::metadata_keys as keys;
use schemas::supplier::SupplierEvent;
use schemas::Envelope;
use sqlx::PgConnection;

/// The supplier projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct SupplierProjection;

/// The projection's name.
pub const NAME: &str = "suppliers";

#[async_trait]
impl Projection for SupplierProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn topics(&self) -> &'static [&'static str] {
        &[schemas::topics::SUPPLIER]
    }

    fn ddl(&self, schema: &str) -> Vec<String> {
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.suppliers (
                    id                  uuid        PRIMARY KEY,
                    owner               text,
                    legal_name          text        NOT NULL,
                    registration_number text        NOT NULL,
                    status              text        NOT NULL,
                    categories          text[]      NOT NULL,
                    contact_email       text        NOT NULL,
                    phone               text        NOT NULL,
                    address             jsonb       NOT NULL,
                    city                text        NOT NULL,
                    country             text        NOT NULL,
                    documents           jsonb       NOT NULL DEFAULT '[]',
                    version             bigint      NOT NULL,
                    created_at          timestamptz NOT NULL,
                    updated_at          timestamptz NOT NULL)"
            ),
            format!("CREATE INDEX IF NOT EXISTS suppliers_status ON {schema}.suppliers (status, id)"),
            format!("CREATE INDEX IF NOT EXISTS suppliers_categories ON {schema}.suppliers USING gin (categories)"),
            format!(
                "CREATE INDEX IF NOT EXISTS suppliers_name_search ON {schema}.suppliers
                   USING gin (to_tsvector('simple', legal_name))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {schema}.supplier_history (
                    supplier_id    uuid        NOT NULL,
                    sequence       bigint      NOT NULL,
                    event_id       uuid        NOT NULL,
                    event_type     text        NOT NULL,
                    event_version  int         NOT NULL,
                    from_status    text,
                    to_status      text        NOT NULL,
                    actor          jsonb       NOT NULL,
                    reason         text,
                    occurred_at    timestamptz NOT NULL,
                    correlation_id text,
                    payload        jsonb       NOT NULL,
                    PRIMARY KEY (supplier_id, sequence))"
            ),
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        e: &Envelope,
    ) -> Result<Applied, ApplyError> {
        if e.aggregate_type != schemas::aggregate_types::SUPPLIER {
            return Err(ApplyError::Poison(format!(
                "not a supplier event: {}",
                e.aggregate_type
            )));
        }
        let id = uuid::Uuid::parse_str(&e.aggregate_id).map_err(|_| {
            ApplyError::Poison(format!("supplier id {:?} is not a UUID", e.aggregate_id))
        })?;
        let event = SupplierEvent::decode(&e.event_type, e.event_version, e.payload.clone())
            .map_err(|err| ApplyError::Poison(err.to_string()))?;
        let current: Option<(i64, String)> = sqlx::query_as(&format!(
            "SELECT version, status FROM {schema}.suppliers WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let version = current.as_ref().map_or(0, |c| c.0);
        if e.sequence <= version {
            return Ok(Applied::Duplicate);
        }
        if e.sequence != version + 1 {
            return Err(ApplyError::Poison(format!(
                "sequence gap: supplier {id} is at version {version}, event has sequence {}",
                e.sequence
            )));
        }
        let from_status = current.map(|c| c.1);
        let to_status = match &event {
            SupplierEvent::Registered(r) => {
                sqlx::query(&format!(
                    "INSERT INTO {schema}.suppliers (id, owner, legal_name, registration_number, status,
                        categories, contact_email, phone, address, city, country, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12, $12)"
                ))
                .bind(id)
                .bind(&r.owner)
                .bind(&r.legal_name)
                .bind(&r.registration_number)
                .bind(&r.categories)
                .bind(&r.contact_email)
                .bind(&r.phone)
                .bind(serde_json::to_value(&r.address).map_err(|err| ApplyError::Poison(err.to_string()))?)
                .bind(&r.address.city)
                .bind(&r.address.country)
                .bind(e.sequence)
                .bind(e.occurred_at)
                .execute(&mut *conn)
                .await?;
                "pending".to_owned()
            }
            other => {
                let Some(from) = &from_status else {
                    return Err(ApplyError::Poison(format!(
                        "{} before SupplierRegistered",
                        e.event_type
                    )));
                };
                let to = match other {
                    SupplierEvent::Approved(_) | SupplierEvent::Reinstated(_) => "approved",
                    SupplierEvent::Rejected(_) => "rejected",
                    SupplierEvent::Suspended(_) => "suspended",
                    SupplierEvent::Registered(_) | SupplierEvent::DocumentSubmitted(_) => {
                        from.as_str()
                    }
                }
                .to_owned();
                let document = match other {
                    SupplierEvent::DocumentSubmitted(d) => Some(
                        serde_json::to_value(d)
                            .map_err(|err| ApplyError::Poison(err.to_string()))?,
                    ),
                    _ => None,
                };
                sqlx::query(&format!(
                    "UPDATE {schema}.suppliers
                        SET status = $2, version = $3, updated_at = $4,
                            documents = CASE WHEN $5::jsonb IS NULL THEN documents
                                             ELSE (SELECT coalesce(jsonb_agg(d), '[]'::jsonb) FROM jsonb_array_elements(documents) d
                                                    WHERE d->>'kind' <> $5::jsonb->>'kind') || jsonb_build_array($5::jsonb) END
                      WHERE id = $1"
                ))
                .bind(id)
                .bind(&to)
                .bind(e.sequence)
                .bind(e.occurred_at)
                .bind(document)
                .execute(&mut *conn)
                .await?;
                to
            }
        };
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
            "INSERT INTO {schema}.supplier_history (supplier_id, sequence, event_id, event_type, event_version,
                from_status, to_status, actor, reason, occurred_at, correlation_id, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING"
        ))
        .bind(id)
        .bind(e.sequence)
        .bind(e.event_id)
        .bind(&e.event_type)
        .bind(i32::try_from(e.event_version).unwrap_or(i32::MAX))
        .bind(from_status)
        .bind(to_status)
        .bind(serde_json::Value::Object(actor))
        .bind(meta(keys::REASON))
        .bind(e.occurred_at)
        .bind(meta(keys::CORRELATION_ID))
        .bind(&e.payload)
        .execute(&mut *conn)
        .await?;
        Ok(Applied::Changed)
    }
}
