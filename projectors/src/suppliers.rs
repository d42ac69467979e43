//! The supplier read models: the directory (one row per supplier, current state) and the
//! history (every event, with the status before and after, the actor, reason and time), kept
//! by one projection so the two always agree.

use crate::runtime::{ApplyError, Projection};
use async_trait::async_trait;
use schemas::metadata_keys as keys;
use schemas::supplier::SupplierEvent;
use schemas::Envelope;
use sqlx::PgConnection;
use std::collections::HashMap;

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

    fn views(&self) -> &'static [&'static str] {
        &["suppliers", "supplier_history"]
    }

    fn read_indexes(&self, schema: &str) -> Vec<String> {
        vec![
            format!("CREATE INDEX IF NOT EXISTS suppliers_status ON {schema}.suppliers (status, id)"),
            format!("CREATE INDEX IF NOT EXISTS suppliers_categories ON {schema}.suppliers USING gin (categories)"),
            format!(
                "CREATE INDEX IF NOT EXISTS suppliers_name_search ON {schema}.suppliers
                   USING gin (to_tsvector('simple', legal_name))"
            ),
        ]
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
            // Added with the hash chain; generations made before it gain the column here. Only
            // then: an ALTER locks readers out even when it has nothing to do.
            crate::runtime::add_column_if_missing(schema, "supplier_history", "hash", "text"),
            // The per-stream guard moved into the runtime (`applied_versions`); a generation
            // made before that carries its versions in the directory: seed the guard once.
            format!(
                "INSERT INTO {schema}.applied_versions (aggregate_type, aggregate_id, version)
                 SELECT '{supplier}', id::text, version FROM {schema}.suppliers
                  WHERE NOT EXISTS (SELECT 1 FROM {schema}.applied_versions
                                     WHERE aggregate_type = '{supplier}')
                 ON CONFLICT DO NOTHING",
                supplier = schemas::aggregate_types::SUPPLIER
            ),
        ]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        e: &Envelope,
    ) -> Result<(), ApplyError> {
        let mut out = self
            .apply_batch(conn, schema, std::slice::from_ref(e))
            .await?;
        match out.pop() {
            Some(Err(p)) => Err(ApplyError::Poison(p)),
            _ => Ok(()),
        }
    }

    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        events: &[Envelope],
    ) -> Result<Vec<Result<(), String>>, sqlx::Error> {
        let ids: Vec<uuid::Uuid> = events
            .iter()
            .filter_map(|e| uuid::Uuid::parse_str(&e.aggregate_id).ok())
            .collect();
        let mut rows: HashMap<uuid::Uuid, Row> = sqlx::query_as::<_, Row>(&format!(
            "SELECT id, owner, legal_name, registration_number, status, categories, contact_email,
                    phone, address, city, country, documents, version, created_at, updated_at
               FROM {schema}.suppliers WHERE id = ANY($1) FOR UPDATE"
        ))
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
        let mut history = History::default();
        let mut changed: Vec<uuid::Uuid> = Vec::new();
        let outcomes = events
            .iter()
            .map(|e| {
                let outcome = evolve(&mut rows, &mut history, e);
                if let (Ok(()), Ok(id)) = (&outcome, uuid::Uuid::parse_str(&e.aggregate_id)) {
                    if !changed.contains(&id) {
                        changed.push(id);
                    }
                }
                outcome
            })
            .collect();
        write_rows(conn, schema, changed.iter().filter_map(|id| rows.get(id))).await?;
        history.write(conn, schema).await?;
        Ok(outcomes)
    }
}

/// A directory row, as loaded and written.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct Row {
    pub(crate) id: uuid::Uuid,
    pub(crate) owner: Option<String>,
    pub(crate) legal_name: String,
    pub(crate) registration_number: String,
    pub(crate) status: String,
    pub(crate) categories: Vec<String>,
    pub(crate) contact_email: String,
    pub(crate) phone: String,
    pub(crate) address: serde_json::Value,
    pub(crate) city: String,
    pub(crate) country: String,
    pub(crate) documents: serde_json::Value,
    pub(crate) version: i64,
    pub(crate) created_at: chrono::DateTime<chrono::Utc>,
    pub(crate) updated_at: chrono::DateTime<chrono::Utc>,
}

/// History rows of a batch, written with one statement.
#[derive(Debug, Default)]
pub(crate) struct History {
    supplier_id: Vec<uuid::Uuid>,
    sequence: Vec<i64>,
    event_id: Vec<uuid::Uuid>,
    event_type: Vec<String>,
    event_version: Vec<i32>,
    from_status: Vec<Option<String>>,
    to_status: Vec<String>,
    actor: Vec<serde_json::Value>,
    reason: Vec<Option<String>>,
    occurred_at: Vec<chrono::DateTime<chrono::Utc>>,
    correlation_id: Vec<Option<String>>,
    payload: Vec<serde_json::Value>,
    hash: Vec<Option<String>>,
}

impl History {
    async fn write(self, conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
        if self.supplier_id.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!(
            "INSERT INTO {schema}.supplier_history (supplier_id, sequence, event_id, event_type, event_version,
                from_status, to_status, actor, reason, occurred_at, correlation_id, payload, hash)
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::int4[], $6::text[],
                                  $7::text[], $8::jsonb[], $9::text[], $10::timestamptz[], $11::text[], $12::jsonb[],
                                  $13::text[])
             ON CONFLICT DO NOTHING"
        ))
        .bind(self.supplier_id)
        .bind(self.sequence)
        .bind(self.event_id)
        .bind(self.event_type)
        .bind(self.event_version)
        .bind(self.from_status)
        .bind(self.to_status)
        .bind(self.actor)
        .bind(self.reason)
        .bind(self.occurred_at)
        .bind(self.correlation_id)
        .bind(self.payload)
        .bind(self.hash)
        .execute(conn)
        .await?;
        Ok(())
    }
}

async fn write_rows<'a>(
    conn: &mut PgConnection,
    schema: &str,
    rows: impl Iterator<Item = &'a Row>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<&Row> = rows.collect();
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: fn(&Row) -> String| rows.iter().map(|r| f(r)).collect::<Vec<String>>();
    sqlx::query(&format!(
        "INSERT INTO {schema}.suppliers (id, owner, legal_name, registration_number, status, categories,
            contact_email, phone, address, city, country, documents, version, created_at, updated_at)
         SELECT id, owner, legal_name, rn, status, ARRAY(SELECT jsonb_array_elements_text(cats)),
                email, phone, address, city, country, documents, version, created_at, updated_at
           FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[],
                       $8::text[], $9::jsonb[], $10::text[], $11::text[], $12::jsonb[], $13::int8[],
                       $14::timestamptz[], $15::timestamptz[])
             AS u(id, owner, legal_name, rn, status, cats, email, phone, address, city, country,
                  documents, version, created_at, updated_at)
         ON CONFLICT (id) DO UPDATE
           SET status = EXCLUDED.status, documents = EXCLUDED.documents,
               version = EXCLUDED.version, updated_at = EXCLUDED.updated_at"
    ))
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.owner.clone()).collect::<Vec<_>>())
    .bind(col(|r| r.legal_name.clone()))
    .bind(col(|r| r.registration_number.clone()))
    .bind(col(|r| r.status.clone()))
    .bind(rows.iter().map(|r| serde_json::json!(r.categories)).collect::<Vec<_>>())
    .bind(col(|r| r.contact_email.clone()))
    .bind(col(|r| r.phone.clone()))
    .bind(rows.iter().map(|r| r.address.clone()).collect::<Vec<_>>())
    .bind(col(|r| r.city.clone()))
    .bind(col(|r| r.country.clone()))
    .bind(rows.iter().map(|r| r.documents.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Applies one event to the in-memory rows and records its history row. Pure: the same
/// events always give the same rows.
pub(crate) fn evolve(
    rows: &mut HashMap<uuid::Uuid, Row>,
    history: &mut History,
    e: &Envelope,
) -> Result<(), String> {
    if e.aggregate_type != schemas::aggregate_types::SUPPLIER {
        return Err(format!("not a supplier event: {}", e.aggregate_type));
    }
    let id = uuid::Uuid::parse_str(&e.aggregate_id)
        .map_err(|_| format!("supplier id {:?} is not a UUID", e.aggregate_id))?;
    let event = SupplierEvent::decode(&e.event_type, e.event_version, e.payload.clone())
        .map_err(|err| err.to_string())?;
    let from_status = rows.get(&id).map(|r| r.status.clone());
    match &event {
        SupplierEvent::Registered(r) => {
            rows.insert(
                id,
                Row {
                    id,
                    owner: r.owner.clone(),
                    legal_name: r.legal_name.clone(),
                    registration_number: r.registration_number.clone(),
                    status: "pending".into(),
                    categories: r.categories.clone(),
                    contact_email: r.contact_email.clone(),
                    phone: r.phone.clone(),
                    address: serde_json::to_value(&r.address).map_err(|err| err.to_string())?,
                    city: r.address.city.clone(),
                    country: r.address.country.clone(),
                    documents: serde_json::json!([]),
                    version: e.sequence,
                    created_at: e.occurred_at,
                    updated_at: e.occurred_at,
                },
            );
        }
        other => {
            let row = rows
                .get_mut(&id)
                .ok_or_else(|| format!("{} before SupplierRegistered", e.event_type))?;
            match other {
                SupplierEvent::Approved(_) | SupplierEvent::Reinstated(_) => {
                    row.status = "approved".into()
                }
                SupplierEvent::Rejected(_) => row.status = "rejected".into(),
                SupplierEvent::Suspended(_) => row.status = "suspended".into(),
                SupplierEvent::DocumentSubmitted(d) => {
                    let doc = serde_json::to_value(d).map_err(|err| err.to_string())?;
                    let mut docs: Vec<serde_json::Value> = row
                        .documents
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter(|x| x["kind"] != doc["kind"])
                                .cloned()
                                .collect()
                        })
                        .unwrap_or_default();
                    docs.push(doc);
                    row.documents = serde_json::Value::Array(docs);
                }
                SupplierEvent::Registered(_) => {}
            }
            row.version = e.sequence;
            row.updated_at = e.occurred_at;
        }
    }
    let to_status = rows.get(&id).map_or_else(String::new, |r| r.status.clone());
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
    history.supplier_id.push(id);
    history.sequence.push(e.sequence);
    history.event_id.push(e.event_id);
    history.event_type.push(e.event_type.clone());
    // Stored in the current version: the history reads old events as the current version,
    // like every other reader.
    history
        .event_version
        .push(i32::try_from(event.event_version()).unwrap_or(i32::MAX));
    history.from_status.push(from_status);
    history.to_status.push(to_status);
    history.actor.push(serde_json::Value::Object(actor));
    history.reason.push(meta(keys::REASON));
    history.occurred_at.push(e.occurred_at);
    history.correlation_id.push(meta(keys::CORRELATION_ID));
    history.payload.push(event.payload());
    history.hash.push(e.hash.clone());
    Ok(())
}
