//! A supplier's history, every event with who, what, when and why, and its signed export for
//! auditors.

use super::common::{db_problem, owner_filter, parse_id};
use super::state::QueryState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::Principal;
use platform::http::ApiError;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One entry of a supplier's history.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct HistoryEntry {
    /// Position in the supplier's stream.
    pub sequence: i64,
    /// Event type.
    pub event_type: String,
    /// Version of `payload` (always the current one: older events are upcast).
    pub event_version: i32,
    /// Status before (absent for the registration).
    pub from_status: Option<String>,
    /// Status after.
    pub to_status: String,
    /// Who: `sub` and `role` or `service`.
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    /// The reason or note given.
    pub reason: Option<String>,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Correlation id of the request.
    pub correlation_id: Option<String>,
    /// Event id.
    pub event_id: Uuid,
    /// The event's payload, in the current version of its type.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The event's link in the supplier's hash chain (hex SHA-256 over the previous link and
    /// the canonical envelope as stored); `GET .../history/export` gives the stored envelopes
    /// to recompute it. Absent for events older than the chain.
    pub hash: Option<String>,
}

pub(crate) const HISTORY_COLUMNS: &str =
    "sequence, event_type, event_version, from_status, to_status, \
     actor, reason, occurred_at, correlation_id, event_id, payload, hash";

/// A supplier's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The supplier.
    pub supplier_id: Uuid,
    /// Every event, in order.
    pub items: Vec<HistoryEntry>,
}

/// A supplier's history, every event in order.
#[utoipa::path(get, path = "/v1/suppliers/{id}/history", tag = "suppliers",
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses((status = 200, body = HistoryPage), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["suppliers:read"])))]
pub async fn supplier_history(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Json<HistoryPage>, ApiError> {
    let id = parse_id(&raw)?;
    let visible: bool = sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {}.suppliers WHERE id = $1 AND ($2::text IS NULL OR owner = $2))",
        s.schema
    ))
    .bind(id)
    .bind(owner_filter(&principal))
    .fetch_one(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    if !visible {
        return Err(ApiError::not_found("no supplier with this id"));
    }
    let items: Vec<HistoryEntry> = sqlx::query_as(&format!(
        "SELECT {HISTORY_COLUMNS}
           FROM {}.supplier_history WHERE supplier_id = $1 ORDER BY sequence",
        s.schema
    ))
    .bind(id)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(HistoryPage {
        supplier_id: id,
        items,
    }))
}

/// A supplier's whole history as stored, signed: the envelopes with their hash chain, the
/// chain's head, who exported it and when, and an Ed25519 signature (`kid` included) over the
/// canonical JSON of the rest. `freshline audit check FILE --jwks KEYS` verifies it offline
/// (keys from `GET /v1/audit/keys`). Read from the event store itself, not a read model, and
/// signed only after its chain has been verified.
#[utoipa::path(get, path = "/v1/suppliers/{id}/history/export", tag = "suppliers",
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 200, description = "The signed history document", body = Object),
        (status = 404, body = platform::http::Problem),
        (status = 409, description = "`chain_broken`: the stored history fails its hash chain; nothing is signed", body = platform::http::Problem),
        (status = 503, description = "`evidence_unavailable`: no signing key configured", body = platform::http::Problem),
    ),
    security(("bearer" = ["audit:export"])))]
pub async fn export_supplier_history(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    let id = parse_id(&raw)?;
    let Some(signer) = s.evidence.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "evidence_unavailable",
            "Evidence signing unavailable",
            "no evidence signing key is configured (FRESHLINE_EVIDENCE_KEY)",
        ));
    };
    let events =
        platform::store::load_stream(&s.pool, schemas::aggregate_types::SUPPLIER, &id.to_string())
            .await
            .map_err(|e| match e {
                platform::store::StoreError::Db(e) => {
                    ApiError::database("loading a supplier stream", &e)
                }
                other => ApiError::internal("loading a supplier stream", &other),
            })?;
    if events.is_empty() {
        return Err(ApiError::not_found("no supplier with this id"));
    }
    if let Err(link) = schemas::chain::verify_envelopes(&events) {
        tracing::error!(supplier_id = %id, %link, "refusing to sign a broken history");
        return Err(ApiError::conflict(
            "chain_broken",
            format!("the stored history of this supplier fails its hash chain at {link}"),
        ));
    }
    let document = platform::evidence::history_document(
        &id.to_string(),
        &events,
        Utc::now(),
        &principal.subject,
    );
    let signed = signer
        .sign(document)
        .map_err(|e| ApiError::internal("signing evidence", &e))?;
    let disposition = format!("attachment; filename=\"supplier-{id}-history.json\"");
    Ok((
        [(axum::http::header::CONTENT_DISPOSITION, disposition)],
        Json(signed),
    )
        .into_response())
}

/// The public keys that sign history exports (a JWKS). Keep a copy: an export is checked
/// against the keys an auditor trusts, not against whatever a server says later.
#[utoipa::path(get, path = "/v1/audit/keys", tag = "suppliers",
    responses((status = 200, description = "JWKS", body = Object), (status = 503, body = platform::http::Problem)))]
pub async fn evidence_keys(
    State(s): State<QueryState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match s.evidence.as_ref() {
        Some(signer) => Ok(Json(signer.jwks())),
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "evidence_unavailable",
            "Evidence signing unavailable",
            "no evidence signing key is configured (FRESHLINE_EVIDENCE_KEY)",
        )),
    }
}
