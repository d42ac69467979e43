//! Catalog and stock queries: product search (full text over name and tags, filters, sorts,
//! `in_stock`), a product with its images, an image's processing status, stock by product and
//!

use super::common::{db_problem, parse_id, query_params, Money, Params, CATEGORIES};
use super::page::PageRequest;
use super::state::QueryState;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use platform::http::{ApiError, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const TAGS: &[&str] = &["organic", "imported", "seasonal", "local"];

const SORTS: &[&str] = &["relevance", "price_asc", "price_desc", "newest", "name"];

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
    /// Only products with stock available that keeps at least this many days (a batch with
    /// stock free expiring that late or later), 0-365.
    #[param(minimum = 0, maximum = 365)]
    pub min_days_to_expiry: Option<i32>,
    /// Include discontinued products (default false).
    pub include_discontinued: Option<bool>,
    /// `relevance` (default with `q`), `price_asc`, `price_desc`, `newest` (default), `name`.
    #[param(pattern = "^(relevance|price_asc|price_desc|newest|name)$")]
    pub sort: Option<String>,
    /// Page size, 1-500 (default 20).
    #[param(minimum = 1, maximum = 500)]
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

fn validate_search(p: &ProductSearch) -> Result<(PageRequest<i64>, &str), ApiError> {
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
    if p.min_days_to_expiry
        .is_some_and(|d| !(0..=365).contains(&d))
    {
        errors.push(FieldError::new("min_days_to_expiry", "0 to 365"));
    }
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        errors.push(FieldError::new("q", "at most 200 characters"));
    }
    // A product list pages by offset (its sorts are not keysets): the cursor holds the next
    // page's offset.
    let page: PageRequest<i64> = PageRequest::new(p.limit, 20, p.cursor.as_deref(), &mut errors);
    if page.after.is_some_and(|o| o < 0) {
        errors.push(FieldError::new("cursor", "not a cursor from this API"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let sort = match p.sort.as_deref() {
        Some(s) => s,
        None if p.q.is_some() => "relevance",
        None => "newest",
    };
    Ok((page, sort))
}

/// Search the catalog.
#[utoipa::path(get, path = "/v1/products", tag = "catalog", params(ProductSearch),
    responses((status = 200, body = ProductPage), (status = 422, body = platform::http::Problem)),
    security((), ("bearer" = ["catalog:read"])))]
pub async fn search_products(
    State(s): State<QueryState>,
    params: Params<ProductSearch>,
) -> Result<Json<ProductPage>, ApiError> {
    let p = query_params(params)?;
    let (page, sort) = validate_search(&p)?;
    let offset = page.after.unwrap_or(0);
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
            AND ($12::int4 IS NULL OR EXISTS (
                  SELECT 1 FROM {schema}.batches b
                   WHERE b.product_id = p.id AND b.status = 'active' AND b.on_hand > b.reserved
                     AND b.expires_at >= now() + make_interval(days => $12)))
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
        .bind(page.fetch())
        .bind(offset)
        .bind(p.min_days_to_expiry)
        .fetch_all(&s.pool)
        .await
        .map_err(|e| db_problem(&e))?;
    let rows: Vec<ProductView> = rows.into_iter().map(ProductView::from).collect();
    let (items, next_cursor) = page.page(rows, |_| offset + page.limit);
    Ok(Json(ProductPage { items, next_cursor }))
}

/// A product with its images and availability.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = ProductView), (status = 404, body = platform::http::Problem)),
    security((), ("bearer" = ["catalog:read"])))]
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
    security((), ("bearer" = ["catalog:read"])))]
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
