//! Sales analytics over paid orders: by day, category or supplier.

use super::common::{day_start, db_problem, one_of, parse_date, query_params, Params};
use super::state::QueryState;
use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Statuses counted as sales: paid and not cancelled.
const SOLD: &[&str] = &["paid", "packed", "shipped", "delivered"];

const GROUPS: &[&str] = &["day", "category", "supplier"];

/// Sales analytics parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SalesParams {
    /// First day (UTC, `YYYY-MM-DD`, inclusive); default: all time.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day (UTC, `YYYY-MM-DD`, inclusive); default: all time.
    #[param(format = Date)]
    pub to: Option<String>,
    /// `day` (default), `category` or `supplier`.
    #[param(pattern = "^(day|category|supplier)$")]
    pub group_by: Option<String>,
}

/// Sales of one group in one currency.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SalesGroup {
    /// The day (`YYYY-MM-DD`), the category, or the supplier id.
    pub key: String,
    /// Currency.
    pub currency: String,
    /// Orders with lines in the group.
    pub orders: i64,
    /// Quantity sold (decimal string; units as each product's).
    pub quantity: String,
    /// Line totals, minor units (before refunds).
    pub revenue_minor: i64,
}

/// Sales.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesReport {
    /// `day`, `category` or `supplier`.
    pub group_by: String,
    /// First day included, when given.
    pub from: Option<NaiveDate>,
    /// Last day included, when given.
    pub to: Option<NaiveDate>,
    /// The groups, by key and currency.
    pub groups: Vec<SalesGroup>,
}

/// Sales of orders paid and not cancelled (status paid, packed, shipped or delivered), by day
/// placed, category or supplier.
#[utoipa::path(get, path = "/v1/analytics/sales", tag = "analytics", params(SalesParams),
    responses((status = 200, body = SalesReport), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn sales(
    State(s): State<QueryState>,
    params: Params<SalesParams>,
) -> Result<Json<SalesReport>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    one_of("group_by", p.group_by.as_deref(), GROUPS, &mut errors);
    let from = parse_date("from", p.from.as_deref(), &mut errors);
    let to = parse_date("to", p.to.as_deref(), &mut errors);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            errors.push(FieldError::new("to", "not before from"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let group_by = p.group_by.unwrap_or_else(|| "day".to_owned());
    let key = match group_by.as_str() {
        "category" => "l.category",
        "supplier" => "l.supplier_id::text",
        _ => "to_char(l.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    };
    let sold: Vec<String> = SOLD.iter().map(|s| (*s).to_owned()).collect();
    let groups: Vec<SalesGroup> = sqlx::query_as(&format!(
        "SELECT {key} AS key, l.currency, count(DISTINCT l.order_id) AS orders,
                trim_scale(sum(l.quantity))::text AS quantity,
                sum(l.line_total_minor)::int8 AS revenue_minor
           FROM {}.order_lines l
          WHERE l.status = ANY($1)
            AND ($2::timestamptz IS NULL OR l.placed_at >= $2)
            AND ($3::timestamptz IS NULL OR l.placed_at < $3)
          GROUP BY 1, 2 ORDER BY 1, 2",
        s.schema
    ))
    .bind(&sold)
    .bind(from.map(day_start))
    .bind(to.map(|t| day_start(t) + chrono::Duration::days(1)))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(SalesReport {
        group_by,
        from,
        to,
        groups,
    }))
}
