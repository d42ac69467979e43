//! Catalog and stock queries: product search (full text over name and tags, filters, sorts,
//! `in_stock`), a product with its images, an image's processing status, stock by product and
//! warehouse, batches (optionally expiring within N hours), inventory aging and spoilage.

use crate::query::{db_problem, owner_filter, parse_id, query_params, QueryState};
use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use platform::auth::Principal;
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

type Params<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

const CATEGORIES: &[&str] = &["fruit", "vegetable", "herb", "dairy", "bakery", "other"];
const TAGS: &[&str] = &["organic", "imported", "seasonal", "local"];
const SORTS: &[&str] = &["relevance", "price_asc", "price_desc", "newest", "name"];

/// Money.
#[derive(Debug, Serialize, ToSchema)]
pub struct Money {
    /// Amount in minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A product image and its processing outcome.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ImageView {
    /// Image id.
    pub image_id: Uuid,
    /// Product id.
    pub product_id: Uuid,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    /// Declared content type of the upload.
    pub content_type: String,
    /// Size of the upload.
    pub byte_size: i64,
    /// The thumbnail (`key`, `width`, `height`) once ready.
    #[schema(value_type = Option<Object>)]
    pub thumbnail: Option<serde_json::Value>,
    /// The medium size once ready.
    #[schema(value_type = Option<Object>)]
    pub medium: Option<serde_json::Value>,
    /// Why it failed.
    pub reason: Option<String>,
    /// When it was uploaded.
    pub requested_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A product as the catalog shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    /// Id.
    pub id: Uuid,
    /// The supplier.
    pub supplier_id: Uuid,
    /// The supplier's name.
    pub supplier_name: Option<String>,
    /// The supplier's status; only an `approved` supplier's products are orderable.
    pub supplier_status: Option<String>,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `kg`, `piece`, `bunch` or `box`.
    pub unit: String,
    /// Price per unit.
    pub price: Money,
    /// ISO country of origin.
    pub origin_country: String,
    /// Per 100 g.
    #[schema(value_type = Option<Object>)]
    pub nutrition: Option<serde_json::Value>,
    /// `active` or `discontinued`.
    pub status: String,
    /// Whether it can be ordered now: active, and its supplier approved.
    pub orderable: bool,
    /// Available quantity over all warehouses (decimal string).
    pub available: String,
    /// Whether any is available.
    pub in_stock: bool,
    /// Low-stock threshold per warehouse (decimal string).
    pub low_stock_threshold: String,
    /// Images, newest first (only in single-product answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<ImageView>>,
    /// Version of the product stream.
    pub version: i64,
    /// Listed at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    supplier_id: Uuid,
    supplier_name: Option<String>,
    supplier_status: Option<String>,
    name: String,
    category: String,
    tags: Vec<String>,
    unit: String,
    price_minor: i64,
    currency: String,
    origin_country: String,
    nutrition: Option<serde_json::Value>,
    status: String,
    available: String,
    low_stock_threshold: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ProductRow> for ProductView {
    fn from(r: ProductRow) -> Self {
        let in_stock = r
            .available
            .trim_start_matches(['0', '.'])
            .chars()
            .any(|c| c != '0')
            && !r.available.starts_with('-');
        Self {
            orderable: r.status == "active" && r.supplier_status.as_deref() == Some("approved"),
            in_stock,
            id: r.id,
            supplier_id: r.supplier_id,
            supplier_name: r.supplier_name,
            supplier_status: r.supplier_status,
            name: r.name,
            category: r.category,
            tags: r.tags,
            unit: r.unit,
            price: Money {
                amount_minor: r.price_minor,
                currency: r.currency,
            },
            origin_country: r.origin_country,
            nutrition: r.nutrition,
            status: r.status,
            available: r.available,
            low_stock_threshold: r.low_stock_threshold,
            images: None,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const PRODUCT_COLUMNS: &str = "p.id, p.supplier_id, s.legal_name AS supplier_name,
    s.status AS supplier_status, p.name, p.category, p.tags, p.unit, p.price_minor, p.currency,
    p.origin_country, p.nutrition, p.status, trim_scale(p.available)::text AS available,
    trim_scale(p.low_stock_threshold)::text AS low_stock_threshold, p.version, p.created_at,
    p.updated_at";

/// Search filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductSearch {
    /// Words to find in name and tags (web-search syntax: `"exact phrase"`, `-not`, `or`).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Category.
    #[param(pattern = "^(fruit|vegetable|herb|dairy|bakery|other)$")]
    pub category: Option<String>,
    /// A tag the product has.
    #[param(pattern = "^(organic|imported|seasonal|local)$")]
    pub tag: Option<String>,
    /// Only this supplier's products.
    pub supplier_id: Option<Uuid>,
    /// ISO country of origin.
    #[param(pattern = "^[A-Z]{2}$")]
    pub origin: Option<String>,
    /// Minimum price, minor units.
    #[param(minimum = 0)]
    pub min_price: Option<i64>,
    /// Maximum price, minor units.
    #[param(minimum = 0)]
    pub max_price: Option<i64>,
    /// `true`: only products with stock available; `false`: only without.
    pub in_stock: Option<bool>,
    /// Include discontinued products (default false).
    pub include_discontinued: Option<bool>,
    /// `relevance` (default with `q`), `price_asc`, `price_desc`, `newest` (default), `name`.
    #[param(pattern = "^(relevance|price_asc|price_desc|newest|name)$")]
    pub sort: Option<String>,
    /// Page size, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// From `next_cursor`.
    #[param(pattern = "^o\\+?[0-9]{1,18}$")]
    pub cursor: Option<String>,
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    /// The products.
    pub items: Vec<ProductView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn validate_search(p: &ProductSearch) -> Result<(i64, i64, &str), ApiError> {
    let mut errors = Vec::new();
    let one_of =
        |field: &str, v: &Option<String>, allowed: &[&str], errors: &mut Vec<FieldError>| {
            if let Some(v) = v {
                if !allowed.contains(&v.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        format!("one of {}", allowed.join(", ")),
                    ));
                }
            }
        };
    one_of("category", &p.category, CATEGORIES, &mut errors);
    one_of("tag", &p.tag, TAGS, &mut errors);
    one_of("sort", &p.sort, SORTS, &mut errors);
    if p.origin
        .as_ref()
        .is_some_and(|o| o.len() != 2 || !o.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.push(FieldError::new("origin", "an ISO 3166-1 alpha-2 code"));
    }
    for (field, v) in [("min_price", p.min_price), ("max_price", p.max_price)] {
        if v.is_some_and(|v| v < 0) {
            errors.push(FieldError::new(field, "not negative"));
        }
    }
    if let (Some(lo), Some(hi)) = (p.min_price, p.max_price) {
        if lo > hi {
            errors.push(FieldError::new("max_price", "not below min_price"));
        }
    }
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        errors.push(FieldError::new("q", "at most 200 characters"));
    }
    let limit = p.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 100"));
    }
    let offset = match &p.cursor {
        None => 0,
        Some(c) => match c.strip_prefix("o").and_then(|n| n.parse::<i64>().ok()) {
            Some(n) if n >= 0 => n,
            _ => {
                errors.push(FieldError::new("cursor", "not a cursor from this API"));
                0
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let sort = match p.sort.as_deref() {
        Some(s) => s,
        None if p.q.is_some() => "relevance",
        None => "newest",
    };
    Ok((limit, offset, sort))
}

/// Search the catalog.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", params(ProductSearch),
    responses((status = 200, body = ProductPage), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["catalog:read"])))]
pub async fn search_products(
    State(s): State<QueryState>,
    params: Params<ProductSearch>,
) -> Result<Json<ProductPage>, ApiError> {
    let p = query_params(params)?;
    let (limit, offset, sort) = validate_search(&p)?;
    let order = match sort {
        "relevance" if p.q.is_some() => {
            "ts_rank(p.search, websearch_to_tsquery('english', $1)) DESC, p.id"
        }
        "price_asc" => "p.price_minor, p.id",
        "price_desc" => "p.price_minor DESC, p.id",
        "name" => "p.name, p.id",
        _ => "p.created_at DESC, p.id",
    };
    let schema = &s.schema;
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS}
           FROM {schema}.products p LEFT JOIN {schema}.catalog_suppliers s ON s.id = p.supplier_id
          WHERE ($1::text IS NULL OR p.search @@ websearch_to_tsquery('english', $1))
            AND ($2::text IS NULL OR p.category = $2)
            AND ($3::text IS NULL OR $3 = ANY(p.tags))
            AND ($4::uuid IS NULL OR p.supplier_id = $4)
            AND ($5::text IS NULL OR p.origin_country = $5)
            AND ($6::int8 IS NULL OR p.price_minor >= $6)
            AND ($7::int8 IS NULL OR p.price_minor <= $7)
            AND ($8::bool IS NULL OR (p.available > 0) = $8)
            AND ($9 OR p.status = 'active')
          ORDER BY {order}
          LIMIT $10 OFFSET $11"
    );
    let rows: Vec<ProductRow> = sqlx::query_as(&sql)
        .bind(&p.q)
        .bind(&p.category)
        .bind(&p.tag)
        .bind(p.supplier_id)
        .bind(&p.origin)
        .bind(p.min_price)
        .bind(p.max_price)
        .bind(p.in_stock)
        .bind(p.include_discontinued.unwrap_or(false))
        .bind(limit + 1)
        .bind(offset)
        .fetch_all(&s.pool)
        .await
        .map_err(|e| db_problem(&e))?;
    let more = rows.len() as i64 > limit;
    let items: Vec<ProductView> = rows
        .into_iter()
        .take(usize::try_from(limit).unwrap_or(0))
        .map(ProductView::from)
        .collect();
    Ok(Json(ProductPage {
        next_cursor: more.then(|| format!("o{}", offset + limit)),
        items,
    }))
}

/// A product with its images and availability.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = ProductView), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["catalog:read"])))]
pub async fn get_product(
    State(s): State<QueryState>,
    Path(raw): Path<String>,
) -> Result<Json<ProductView>, ApiError> {
    let id = parse_id(&raw)?;
    let schema = &s.schema;
    let row: Option<ProductRow> = sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS}
           FROM {schema}.products p LEFT JOIN {schema}.catalog_suppliers s ON s.id = p.supplier_id
          WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_optional(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    let mut view =
        ProductView::from(row.ok_or_else(|| ApiError::not_found("no product with this id"))?);
    let images: Vec<ImageView> = sqlx::query_as(&format!(
        "SELECT image_id, product_id, status, content_type, byte_size, thumbnail, medium, reason,
                requested_at, updated_at
           FROM {schema}.product_images WHERE product_id = $1 ORDER BY requested_at DESC"
    ))
    .bind(id)
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    view.images = Some(images);
    Ok(Json(view))
}

/// An uploaded image's processing status (the `status_url` of an upload).
#[utoipa::path(get, path = "/v1/products/{id}/images/{image_id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "Product id"), ("image_id" = Uuid, Path, description = "Image id")),
    responses((status = 200, body = ImageView), (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["catalog:read"])))]
pub async fn get_image(
    State(s): State<QueryState>,
    Path((raw, raw_image)): Path<(String, String)>,
) -> Result<Json<ImageView>, ApiError> {
    let id = parse_id(&raw)?;
    let image = Uuid::parse_str(&raw_image)
        .map_err(|_| ApiError::validation(vec![FieldError::new("image_id", "must be a UUID")]))?;
    let schema = &s.schema;
    let row: Option<ImageView> = sqlx::query_as(&format!(
        "SELECT image_id, product_id, status, content_type, byte_size, thumbnail, medium, reason,
                requested_at, updated_at
           FROM {schema}.product_images WHERE product_id = $1 AND image_id = $2"
    ))
    .bind(id)
    .bind(image)
    .fetch_optional(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    row.map(Json)
        .ok_or_else(|| ApiError::not_found("no such image (it may still be on its way: retry)"))
}

/// Stock filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StockParams {
    /// Product.
    pub product_id: Option<Uuid>,
    /// Warehouse.
    pub warehouse_id: Option<Uuid>,
}

/// Stock of a product in a warehouse.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct StockView {
    /// Product.
    pub product_id: Uuid,
    /// Warehouse.
    pub warehouse_id: Uuid,
    /// On hand (decimal string).
    pub on_hand: String,
    /// Reserved for orders.
    pub reserved: String,
    /// On hand minus reserved.
    pub available: String,
    /// Active batches.
    pub batches: i64,
    /// Earliest expiry among them.
    pub next_expiry: Option<DateTime<Utc>>,
}

/// Stock by product and warehouse (active batches only).
#[utoipa::path(get, path = "/v1/inventory/stock", tag = "inventory", params(StockParams),
    responses((status = 200, body = [StockView]), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["inventory:read"])))]
pub async fn stock(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<StockParams>,
) -> Result<Json<Vec<StockView>>, ApiError> {
    let p = query_params(params)?;
    if p.product_id.is_none() && p.warehouse_id.is_none() {
        return Err(ApiError::validation(vec![FieldError::new(
            "product_id",
            "give product_id, warehouse_id or both",
        )]));
    }
    let schema = &s.schema;
    let rows: Vec<StockView> = sqlx::query_as(&format!(
        "SELECT product_id, warehouse_id, trim_scale(sum(on_hand))::text AS on_hand,
                trim_scale(sum(reserved))::text AS reserved,
                trim_scale(sum(on_hand - reserved))::text AS available,
                count(*) AS batches, min(expires_at) AS next_expiry
           FROM {schema}.batches
          WHERE status = 'active' AND ($1::uuid IS NULL OR product_id = $1)
            AND ($2::uuid IS NULL OR warehouse_id = $2) AND {}
          GROUP BY product_id, warehouse_id ORDER BY product_id, warehouse_id LIMIT 1000",
        own_batches(schema, "supplier_id", 3)
    ))
    .bind(p.product_id)
    .bind(p.warehouse_id)
    .bind(owner_filter(&principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Batch filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    /// Product.
    pub product_id: Option<Uuid>,
    /// Warehouse.
    pub warehouse_id: Option<Uuid>,
    /// Only active batches expiring within this many hours (1-8760).
    #[param(minimum = 1, maximum = 8760)]
    pub expiring_within: Option<i64>,
    /// Page size, 1-500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A batch.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct BatchView {
    /// Batch id.
    pub id: Uuid,
    /// Product.
    pub product_id: Uuid,
    /// Supplier.
    pub supplier_id: Uuid,
    /// Warehouse.
    pub warehouse_id: Uuid,
    /// Received quantity.
    pub received: String,
    /// On hand.
    pub on_hand: String,
    /// Reserved.
    pub reserved: String,
    /// Available.
    pub available: String,
    /// Received at.
    pub received_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// Needs the cold chain.
    pub cold_chain: bool,
    /// Procurement price per unit, minor units.
    pub procurement_price_minor: i64,
    /// Currency.
    pub currency: String,
    /// `active` or `expired`.
    pub status: String,
    /// Whether the expiring-soon alert was raised.
    pub expiring_soon: bool,
}

/// Batches, earliest expiry first.
#[utoipa::path(get, path = "/v1/inventory/batches", tag = "inventory", params(BatchParams),
    responses((status = 200, body = [BatchView]), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["inventory:read"])))]
pub async fn batches(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<BatchParams>,
) -> Result<Json<Vec<BatchView>>, ApiError> {
    let p = query_params(params)?;
    let mut errors = Vec::new();
    if p.expiring_within.is_some_and(|h| !(1..=8760).contains(&h)) {
        errors.push(FieldError::new(
            "expiring_within",
            "between 1 and 8760 hours",
        ));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "between 1 and 500"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let schema = &s.schema;
    let rows: Vec<BatchView> = sqlx::query_as(&format!(
        "SELECT id, product_id, supplier_id, warehouse_id, trim_scale(received)::text AS received,
                trim_scale(on_hand)::text AS on_hand, trim_scale(reserved)::text AS reserved,
                trim_scale(on_hand - reserved)::text AS available, received_at, expires_at,
                cold_chain, price_minor AS procurement_price_minor, currency, status, expiring_soon
           FROM {schema}.batches
          WHERE ($1::uuid IS NULL OR product_id = $1) AND ($2::uuid IS NULL OR warehouse_id = $2)
            AND ($3::int8 IS NULL OR (status = 'active'
                 AND expires_at <= now() + make_interval(hours => $3::int)))
            AND {}
          ORDER BY expires_at, id LIMIT $4",
        own_batches(schema, "supplier_id", 5)
    ))
    .bind(p.product_id)
    .bind(p.warehouse_id)
    .bind(p.expiring_within)
    .bind(limit)
    .bind(owner_filter(&principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Aging filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgingParams {
    /// Warehouse (default: all).
    pub warehouse_id: Option<Uuid>,
}

/// Stock by days to expiry.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AgingBucket {
    /// `expired_pending` (past expiry, not yet written off), `0-1d`, `1-2d`, `2-3d`, `3-7d`,
    /// `7d+`.
    pub bucket: String,
    /// Batches in it.
    pub batches: i64,
    /// Quantity on hand (mixed units: a count of stock, per unit of each product).
    pub on_hand: String,
    /// Procurement value on hand, minor units.
    pub value_minor: i64,
}

/// Inventory aging: active stock by days to expiry.
#[utoipa::path(get, path = "/v1/inventory/aging", tag = "inventory", params(AgingParams),
    responses((status = 200, body = [AgingBucket])),
    security(("bearer" = ["inventory:read"])))]
pub async fn aging(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<AgingParams>,
) -> Result<Json<Vec<AgingBucket>>, ApiError> {
    let p = query_params(params)?;
    let schema = &s.schema;
    let rows: Vec<AgingBucket> = sqlx::query_as(&format!(
        "WITH b AS (
            SELECT on_hand, (on_hand * price_minor)::int8 AS value,
                   extract(epoch FROM expires_at - now()) / 86400 AS days
              FROM {schema}.batches
             WHERE status = 'active' AND on_hand > 0 AND ($1::uuid IS NULL OR warehouse_id = $1)
               AND {})
         SELECT bucket, count(*) AS batches, trim_scale(sum(on_hand))::text AS on_hand,
                sum(value)::int8 AS value_minor
           FROM (SELECT *, CASE WHEN days < 0 THEN 'expired_pending' WHEN days < 1 THEN '0-1d'
                                WHEN days < 2 THEN '1-2d' WHEN days < 3 THEN '2-3d'
                                WHEN days < 7 THEN '3-7d' ELSE '7d+' END AS bucket,
                        CASE WHEN days < 0 THEN 0 WHEN days < 1 THEN 1 WHEN days < 2 THEN 2
                             WHEN days < 3 THEN 3 WHEN days < 7 THEN 4 ELSE 5 END AS ord
                   FROM b) x
          GROUP BY bucket, ord ORDER BY ord",
        own_batches(schema, "supplier_id", 2)
    ))
    .bind(p.warehouse_id)
    .bind(owner_filter(&principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Spoilage filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpoilageParams {
    /// Warehouse (default: all).
    pub warehouse_id: Option<Uuid>,
    /// From this instant (RFC 3339; default: all time).
    pub since: Option<DateTime<Utc>>,
}

/// Stock written off for one reason.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct SpoilageByReason {
    /// `damaged`, `temperature_breach`, `quality`, `pest`, `other`, or `expired`.
    pub reason: String,
    /// Write-offs.
    pub records: i64,
    /// Quantity written off.
    pub quantity: String,
    /// Procurement value lost, minor units.
    pub value_lost_minor: i64,
    /// Currency.
    pub currency: String,
}

/// Spoilage by reason, with the procurement value lost.
#[utoipa::path(get, path = "/v1/inventory/spoilage", tag = "inventory", params(SpoilageParams),
    responses((status = 200, body = [SpoilageByReason])),
    security(("bearer" = ["inventory:read"])))]
pub async fn spoilage(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<SpoilageParams>,
) -> Result<Json<Vec<SpoilageByReason>>, ApiError> {
    let p = query_params(params)?;
    spoilage_between(&s, &principal, p.warehouse_id, p.since, None).await
}

/// Spoilage between two days (API.md's analytics route).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpoilageReportParams {
    /// First day (UTC, `YYYY-MM-DD`, inclusive); default: all time.
    #[param(format = Date)]
    pub from: Option<NaiveDate>,
    /// Last day (UTC, `YYYY-MM-DD`, inclusive); default: today.
    #[param(format = Date)]
    pub to: Option<NaiveDate>,
}

/// Quantity and procurement value lost, by reason, between two days (a supplier: its own).
#[utoipa::path(get, path = "/v1/analytics/spoilage", tag = "analytics", params(SpoilageReportParams),
    responses((status = 200, body = [SpoilageByReason]), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["inventory:read"])))]
pub async fn spoilage_report(
    State(s): State<QueryState>,
    principal: Principal,
    params: Params<SpoilageReportParams>,
) -> Result<Json<Vec<SpoilageByReason>>, ApiError> {
    let p = query_params(params)?;
    if let (Some(from), Some(to)) = (p.from, p.to) {
        if from > to {
            return Err(ApiError::validation(vec![FieldError::new(
                "to",
                "not before from",
            )]));
        }
    }
    let day = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    let until = p.to.and_then(|d| d.succ_opt()).map(day);
    spoilage_between(&s, &principal, None, p.from.map(day), until).await
}

async fn spoilage_between(
    s: &QueryState,
    principal: &Principal,
    warehouse_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<Json<Vec<SpoilageByReason>>, ApiError> {
    let schema = &s.schema;
    let rows: Vec<SpoilageByReason> = sqlx::query_as(&format!(
        "SELECT reason, count(*) AS records, trim_scale(sum(quantity))::text AS quantity,
                sum(value_lost)::int8 AS value_lost_minor, currency
           FROM {schema}.spoilage
          WHERE ($1::uuid IS NULL OR warehouse_id = $1)
            AND ($2::timestamptz IS NULL OR occurred_at >= $2)
            AND ($3::timestamptz IS NULL OR occurred_at < $3)
            AND ($4::text IS NULL OR batch_id IN (
                 SELECT id FROM {schema}.batches WHERE {}))
          GROUP BY reason, currency ORDER BY value_lost_minor DESC, reason",
        own_batches(schema, "supplier_id", 4)
    ))
    .bind(warehouse_id)
    .bind(since)
    .bind(until)
    .bind(owner_filter(principal))
    .fetch_all(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    Ok(Json(rows))
}

/// Stock by days to expiry (API.md's analytics route; the same as `/v1/inventory/aging`).
#[utoipa::path(get, path = "/v1/analytics/inventory-aging", tag = "analytics", params(AgingParams),
    responses((status = 200, body = [AgingBucket])),
    security(("bearer" = ["inventory:read"])))]
pub async fn aging_report(
    state: State<QueryState>,
    principal: Principal,
    params: Params<AgingParams>,
) -> Result<Json<Vec<AgingBucket>>, ApiError> {
    aging(state, principal, params).await
}

/// `column` names a batch of a supplier the account `$param` owns, or `$param` is null (every
/// batch): a supplier account reads only its own stock, batches and procurement prices.
fn own_batches(schema: &str, column: &str, param: u8) -> String {
    format!(
        "(${param}::text IS NULL OR {column} IN (SELECT id FROM {schema}.suppliers WHERE owner = ${param}))"
    )
}
