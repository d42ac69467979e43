//! Catalog products: listing, updates, nutrition, image outcomes.

use super::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Nutrition per 100 g; each a number with at most 3 decimals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NutritionBody {
    /// kcal per 100 g (0-900).
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 900, multiple_of = 0.001)]
    pub energy_kcal: serde_json::Number,
    /// g per 100 g.
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 100, multiple_of = 0.001)]
    pub protein_g: serde_json::Number,
    /// g per 100 g.
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 100, multiple_of = 0.001)]
    pub carbs_g: serde_json::Number,
    /// g per 100 g.
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 100, multiple_of = 0.001)]
    pub fat_g: serde_json::Number,
    /// g per 100 g.
    #[schema(value_type = f64)]
    #[schema(minimum = 0, maximum = 100, multiple_of = 0.001)]
    pub fiber_g: serde_json::Number,
}

/// `POST /v1/suppliers/{id}/products`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListProductBody {
    /// Name (2-150 characters).
    #[schema(format = "product-name")]
    pub name: String,
    /// Category.
    pub category: CategoryBody,
    /// Tags: `organic`, `imported`, `seasonal`, `local`.
    #[serde(default)]
    #[schema(format = "product-tag")]
    pub tags: Vec<String>,
    /// `kg`, `piece`, `bunch` or `box`.
    #[schema(format = "unit")]
    pub unit: String,
    /// Price per unit.
    pub price: MoneyBody,
    /// ISO 3166-1 alpha-2 country of origin.
    #[schema(format = "country")]
    pub origin_country: String,
    /// Per 100 g.
    pub nutrition: Option<NutritionBody>,
    /// Below this available quantity in a warehouse a `LowStock` alert is raised (default 5).
    #[schema(value_type = Option<f64>)]
    #[schema(minimum = 0, maximum = 1_000_000_000, multiple_of = 0.001)]
    pub low_stock_threshold: Option<serde_json::Number>,
}

/// `PATCH /v1/products/{id}`: any of these.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductBody {
    /// New name.
    #[schema(format = "product-name")]
    pub name: Option<String>,
    /// New price.
    pub price: Option<MoneyBody>,
    /// New tags (replace the old ones).
    #[schema(format = "product-tag")]
    pub tags: Option<Vec<String>>,
    /// New nutrition facts.
    pub nutrition: Option<NutritionBody>,
}

/// `POST /v1/products/{id}/images/{image_id}/processed` (the image worker).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageProcessedBody {
    /// The thumbnail.
    pub thumbnail: RenditionBody,
    /// The medium size.
    pub medium: RenditionBody,
}

/// A stored rendition.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenditionBody {
    /// Storage key.
    pub key: String,
    /// Width in pixels.
    #[serde(deserialize_with = "super::whole")]
    pub width: u32,
    /// Height in pixels.
    #[serde(deserialize_with = "super::whole")]
    pub height: u32,
}

/// `POST /v1/suppliers/{id}/products/bulk`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkListBody {
    /// 1 to 100 listings (and the body within the 64 KiB limit).
    #[schema(min_items = 1, max_items = 100)]
    pub products: Vec<ListProductBody>,
}
