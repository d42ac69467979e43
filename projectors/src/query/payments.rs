//! Payments with their refunds, and the ledger's balances.

use super::common::{customer_filter, db_problem, parse_id, query_params, Params, VersionParams};
use super::state::QueryState;
use crate::read_your_writes::{read_your_writes, Stream};
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use platform::auth::Principal;
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A payment with its refunds.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct PaymentView {
    /// Id.
    pub id: Uuid,
    /// The order paid for.
    pub order_id: Uuid,
    /// The customer account.
    pub customer: String,
    /// `card` or `cash_on_delivery`.
    pub method: String,
    /// `pending`, `authorized`, `captured`, `declined`, `cancelled`, `partially_refunded` or
    /// `refunded`.
    pub status: String,
    /// Amount due, minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Authorised, minor units.
    pub authorized_minor: i64,
    /// Captured, minor units.
    pub captured_minor: i64,
    /// Paid back, minor units.
    pub refunded_minor: i64,
    /// Asked to be paid back (completed or not), minor units.
    pub refund_requested_minor: i64,
    /// The gateway's authorisation reference.
    pub authorization_ref: Option<String>,
    /// The gateway's capture reference.
    pub capture_ref: Option<String>,
    /// Why declined: code.
    pub decline_code: Option<String>,
    /// Why declined: what the gateway said.
    pub decline_reason: Option<String>,
    /// Why cancelled.
    pub cancel_reason: Option<String>,
    /// Refunds: `refund_id`, `amount_minor`, `reason`, `status` (`requested` or `completed`),
    /// `gateway_ref`, `requested_at`, `completed_at`.
    #[schema(value_type = Vec<Object>)]
    pub refunds: serde_json::Value,
    /// Suppliers' shares before commission: `supplier_id`, `amount_minor`, `currency`.
    #[schema(value_type = Vec<Object>)]
    pub payees: serde_json::Value,
    /// The platform's commission on each share, basis points.
    pub commission_bps: i32,
    /// The payment stream's version.
    pub version: i64,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A payment with its refunds.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Payment id"), VersionParams),
    responses((status = 200, body = PaymentView), (status = 404, body = platform::http::Problem),
              (status = 503, description = "`min_version` not reached in time", body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn get_payment(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    params: Params<VersionParams>,
) -> Result<Json<PaymentView>, ApiError> {
    let id = parse_id(&raw)?;
    let p = query_params(params)?;
    let customer = customer_filter(&principal);
    let sql = format!(
        "SELECT id, order_id, customer, method, status, amount_minor, currency, authorized_minor,
                captured_minor, refunded_minor, refund_requested_minor, authorization_ref,
                capture_ref, decline_code, decline_reason, cancel_reason, refunds, payees,
                commission_bps, version, created_at, updated_at
           FROM {}.payments WHERE id = $1 AND ($2::text IS NULL OR customer = $2)",
        s.schema
    );
    let view = read_your_writes(
        &s.fresh,
        &principal.subject,
        Stream {
            aggregate_type: schemas::aggregate_types::PAYMENT,
            id,
            what: "payment",
        },
        p.min_version,
        || async {
            let row: Option<PaymentView> = sqlx::query_as(&sql)
                .bind(id)
                .bind(&customer)
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
    Ok(Json(view))
}

/// Filters of the ledger balances.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerParams {
    /// Only accounts whose name starts with this (`supplier_payable:`).
    pub account_prefix: Option<String>,
}

/// An account's balance in one currency.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AccountBalance {
    /// `customers`, `platform_revenue`, `refunds`, `supplier_payable:<supplier id>` or
    /// `unallocated`.
    pub account: String,
    /// Currency.
    pub currency: String,
    /// Sum of its postings, minor units (signed).
    pub balance_minor: i64,
}

/// The sum over every account in one currency: 0 when double entry holds.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CurrencyTotal {
    /// Currency.
    pub currency: String,
    /// Sum of every posting, minor units.
    pub sum_minor: i64,
}

/// Ledger balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerBalances {
    /// Accounts (filtered by `account_prefix`), by name and currency.
    pub accounts: Vec<AccountBalance>,
    /// Per currency, the sum over the whole ledger (not only the accounts shown).
    pub totals: Vec<CurrencyTotal>,
}

/// Double-entry balances of captures and refunds; per currency they sum to zero.
#[utoipa::path(get, path = "/v1/ledger/balances", tag = "analytics", params(LedgerParams),
    responses((status = 200, body = LedgerBalances), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn ledger_balances(
    State(s): State<QueryState>,
    params: Params<LedgerParams>,
) -> Result<Json<LedgerBalances>, ApiError> {
    let p = query_params(params)?;
    if p.account_prefix.as_ref().is_some_and(|a| a.len() > 200) {
        return Err(ApiError::validation(vec![FieldError::new(
            "account_prefix",
            "at most 200 characters",
        )]));
    }
    let schema = &s.schema;
    let accounts: Vec<AccountBalance> = sqlx::query_as(&format!(
        "SELECT account, currency, sum(amount_minor)::int8 AS balance_minor
           FROM {schema}.ledger_entries
          WHERE ($1::text IS NULL OR starts_with(account, $1))
          GROUP BY account, currency ORDER BY account, currency"
    ))
    .bind(&p.account_prefix)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let totals: Vec<CurrencyTotal> = sqlx::query_as(&format!(
        "SELECT currency, sum(amount_minor)::int8 AS sum_minor
           FROM {schema}.ledger_entries GROUP BY currency ORDER BY currency"
    ))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(LedgerBalances { accounts, totals }))
}
