//! The supplier directory: list (filters, cursor pagination) and get (with `min_version` for
//! read-your-writes and `as_of` for the state at any past instant). Suppliers see only their
//! own records; admins, auditors and services holding `suppliers:read` see all.

use super::common::{db_problem, owner_filter, parse_id, query_params, CATEGORIES};
use super::history::{HistoryEntry, HISTORY_COLUMNS};
use super::page::PageRequest;
use super::state::QueryState;
use crate::suppliers::{evolve, History, Row};
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::Principal;
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A supplier as the directory shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierView {
    /// Id.
    pub id: Uuid,
    /// Legal name.
    pub legal_name: String,
    /// Registration number (normalised).
    pub registration_number: String,
    /// `pending`, `approved`, `rejected` or `suspended`.
    pub status: String,
    /// Categories sold.
    pub categories: Vec<String>,
    /// Contact e-mail.
    pub contact_email: String,
    /// Contact phone.
    pub phone: String,
    /// Address (`line1`, `city`, `postal_code`, `country`).
    #[schema(value_type = Object)]
    pub address: serde_json::Value,
    /// Verification documents on file (`kind`, `reference`, `expires_on`).
    #[schema(value_type = Vec<Object>)]
    pub documents: serde_json::Value,
    /// Owning supplier account.
    pub owner: Option<String>,
    /// Version (the sequence of the last event applied).
    pub version: i64,
    /// Registered at.
    pub created_at: DateTime<Utc>,
    /// Last changed at.
    pub updated_at: DateTime<Utc>,
}

impl From<Row> for SupplierView {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            legal_name: r.legal_name,
            registration_number: r.registration_number,
            status: r.status,
            categories: r.categories,
            contact_email: r.contact_email,
            phone: r.phone,
            address: r.address,
            documents: r.documents,
            owner: r.owner,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A page of suppliers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierPage {
    /// The suppliers, oldest first.
    pub items: Vec<SupplierView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `pending`, `approved`, `rejected` or `suspended`.
    #[param(pattern = "^(pending|approved|rejected|suspended)$")]
    pub status: Option<String>,
    /// A category the supplier sells.
    #[param(pattern = "^(fruit|vegetable|herb|dairy|bakery|other)$")]
    pub category: Option<String>,
    /// Words of the legal name.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    #[param(pattern = "^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// Options of a get.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Wait until the read model has reached this version (read-your-writes).
    #[param(minimum = 0)]
    pub min_version: Option<i64>,
    /// The state at this instant (RFC 3339).
    pub as_of: Option<DateTime<Utc>>,
}

const STATUSES: &[&str] = &["pending", "approved", "rejected", "suspended"];

const ROW_COLUMNS: &str =
    "id, owner, legal_name, registration_number, status, categories, contact_email,
     phone, address, city, country, documents, version, created_at, updated_at";

/// List suppliers.
#[utoipa::path(get, path = "/v1/suppliers", tag = "suppliers", params(ListParams),
    responses((status = 200, body = SupplierPage), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["suppliers:read"])))]
pub async fn list_suppliers(
    State(s): State<QueryState>,
    principal: Principal,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SupplierPage>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    if let Some(st) = &p.status {
        if !STATUSES.contains(&st.as_str()) {
            errors.push(FieldError::new(
                "status",
                format!("one of {}", STATUSES.join(", ")),
            ));
        }
    }
    if let Some(c) = &p.category {
        if !CATEGORIES.contains(&c.as_str()) {
            errors.push(FieldError::new(
                "category",
                format!("one of {}", CATEGORIES.join(", ")),
            ));
        }
    }
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        errors.push(FieldError::new("q", "at most 200 characters"));
    }
    let page: PageRequest<Uuid> = PageRequest::new(p.limit, 50, p.cursor.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {ROW_COLUMNS} FROM {}.suppliers
          WHERE ($1::text IS NULL OR status = $1)
            AND ($2::text IS NULL OR categories @> ARRAY[$2::text])
            AND ($3::text IS NULL OR to_tsvector('simple', legal_name) @@ plainto_tsquery('simple', $3))
            AND ($4::uuid IS NULL OR id > $4)
            AND ($5::text IS NULL OR owner = $5)
          ORDER BY id LIMIT $6",
        s.schema
    ))
    .bind(&p.status)
    .bind(&p.category)
    .bind(p.q.as_deref().filter(|q| !q.trim().is_empty()))
    .bind(page.after)
    .bind(owner_filter(&principal))
    .bind(page.fetch())
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let rows: Vec<SupplierView> = rows.into_iter().map(SupplierView::from).collect();
    let (items, next_cursor) = page.page(rows, |r| r.id);
    Ok(Json(SupplierPage { items, next_cursor }))
}

/// Get one supplier.
#[utoipa::path(get, path = "/v1/suppliers/{id}", tag = "suppliers",
    params(("id" = Uuid, Path, description = "Supplier id"), GetParams),
    responses((status = 200, body = SupplierView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time; retry after `Retry-After`", body = platform::http::Problem)),
    security(("bearer" = ["suppliers:read"])))]
pub async fn get_supplier(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Result<Query<GetParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<SupplierView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    crate::read_your_writes::check_min_version(p.min_version)?;
    let owner = owner_filter(&principal);
    if let Some(at) = p.as_of {
        let row = state_as_of(&s, id, at).await?;
        return match row {
            Some(r) if owner.is_none() || r.owner == owner => Ok(Json(r.into())),
            _ => Err(ApiError::not_found("no supplier with this id at that time")),
        };
    }
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM {}.suppliers WHERE id = $1 AND ($2::text IS NULL OR owner = $2)",
        s.schema
    );
    let stream = crate::read_your_writes::Stream {
        aggregate_type: schemas::aggregate_types::SUPPLIER,
        id,
        what: "supplier",
    };
    let row = crate::read_your_writes::read_your_writes(
        &s.fresh,
        &principal.subject,
        stream,
        p.min_version,
        || async {
            let row: Option<Row> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&owner)
                .fetch_optional(&s.pool)
                .await
                .map_err(|e| db_problem(&e))?;
            Ok(row.map(|r| {
                let v = r.version;
                (r, v)
            }))
        },
    )
    .await?;
    Ok(Json(row.into()))
}

/// The supplier's state at `at`, replayed from its history with the projection's own rules:
/// the stream up to its first event recorded after `at`. (The writer records a stream's
/// events at non-decreasing times; events written before it did, by hosts with skewed clocks,
/// may not be, and a gap in the replayed sequence must never reach `evolve`.)
async fn state_as_of(s: &QueryState, id: Uuid, at: DateTime<Utc>) -> Result<Option<Row>, ApiError> {
    let entries: Vec<HistoryEntry> = sqlx::query_as(&format!(
        "SELECT {HISTORY_COLUMNS}
           FROM {0}.supplier_history
          WHERE supplier_id = $1
            AND sequence < coalesce((SELECT min(sequence) FROM {0}.supplier_history
                                      WHERE supplier_id = $1 AND occurred_at > $2),
                                    9223372036854775807)
          ORDER BY sequence",
        s.schema
    ))
    .bind(id)
    .bind(at)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let mut rows = HashMap::new();
    let mut scratch = History::default();
    for e in entries {
        let envelope = schemas::Envelope {
            event_id: e.event_id,
            aggregate_type: schemas::aggregate_types::SUPPLIER.to_owned(),
            aggregate_id: id.to_string(),
            sequence: e.sequence,
            global_position: 0,
            event_type: e.event_type,
            event_version: u32::try_from(e.event_version).unwrap_or(0),
            occurred_at: e.occurred_at,
            metadata: serde_json::Map::new(),
            payload: e.payload,
            hash: None,
        };
        if let Err(reason) = evolve(&mut rows, &mut scratch, &envelope) {
            return Err(ApiError::internal(
                "as_of replay",
                &std::io::Error::other(reason),
            ));
        }
    }
    Ok(rows.remove(&id))
}
