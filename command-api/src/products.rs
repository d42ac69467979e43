//! Catalog commands: list a product (for an approved supplier), update, discontinue, and the
//! outcomes of background image processing. Image uploads are in [`crate::images`].

use crate::context::CommandContext;
use crate::request::{Fields, Parse, ProductPath, SupplierPath, MAX_BULK};
use crate::response::resource;
use crate::response::Accepted;
use crate::response::{command_problem, refusal_problem};
use crate::AppState;
use axum::extract::{FromRequestParts, State};
use domain::catalog_values::{ImageId, Money, Nutrition, ProductId, ProductTag, Quantity, Unit};
use domain::product::{
    DiscontinueProduct, ListProduct, Product, ProductCommand, RecordImageFailed,
    RecordImageProcessed, Rendition, StorageKey, SupplierFacts, UpdateProduct,
};
use domain::values::{CountryCode, ProductCategory, ProductName, Reason};
use domain::{Supplier, SupplierError, SupplierId};
use platform::bus::{CommandBus, Committed, Reply};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{
    BulkListBody, ImageProcessedBody, ListProductBody, MoneyBody, NutritionBody, ReasonBody,
    RenditionBody, UpdateProductBody,
};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Runs product commands; reads suppliers for the facts a listing needs.
#[derive(Debug)]
pub struct ProductService {
    pub(crate) bus: CommandBus<Product>,
    pub(crate) suppliers: CommandBus<Supplier>,
}

impl ProductService {
    pub(crate) async fn execute(
        &self,
        ctx: &CommandContext,
        id: ProductId,
        name: &'static str,
        command: ProductCommand,
        reason: Option<&str>,
        reply: Reply,
    ) -> Result<Committed, ApiError> {
        crate::response::execute(&self.bus, ctx, id, name, command, reason, reply).await
    }

    /// The supplier's status and owner, from the write side's own store.
    async fn supplier_facts(&self, id: SupplierId) -> Result<SupplierFacts, ApiError> {
        let (supplier, _) = self
            .suppliers
            .load(&id.to_string())
            .await
            .map_err(command_problem)?;
        let state = supplier
            .state()
            .ok_or_else(|| refusal_problem(&SupplierError::NotFound))?;
        Ok(SupplierFacts {
            supplier_id: id,
            status: state.status,
            owner: state.owner.clone(),
        })
    }
}

// --- request bodies ---------------------------------------------------------------------

/// A listing's fields, parsed.
struct Listing {
    name: ProductName,
    category: ProductCategory,
    tags: BTreeSet<ProductTag>,
    unit: Unit,
    price: Money,
    origin_country: CountryCode,
    nutrition: Option<Nutrition>,
    low_stock_threshold: Quantity,
}

impl Listing {
    fn command(
        self,
        ctx: &CommandContext,
        id: ProductId,
        supplier: SupplierFacts,
    ) -> ProductCommand {
        ProductCommand::List(ListProduct {
            caller: ctx.caller(),
            product_id: id,
            supplier,
            name: self.name,
            category: self.category,
            tags: self.tags,
            unit: self.unit,
            price: self.price,
            origin_country: self.origin_country,
            nutrition: self.nutrition,
            low_stock_threshold: self.low_stock_threshold,
        })
    }
}

impl Fields {
    /// Parses a listing, naming fields with `prefix` (`products[3].` in a bulk request).
    fn listing(&mut self, prefix: &str, body: &ListProductBody) -> Option<Listing> {
        let field = |name: &str| format!("{prefix}{name}");
        let name = self.take::<ProductName>(&field("name"), &body.name);
        let tags = self.tags_at(prefix, &body.tags);
        let unit = self.take::<Unit>(&field("unit"), &body.unit);
        let price = self.money(&field("price"), &body.price);
        let origin = self.take::<CountryCode>(&field("origin_country"), &body.origin_country);
        let nutrition = match &body.nutrition {
            Some(n) => self.nutrition_at(prefix, n).map(Some),
            None => Some(None),
        };
        let threshold = match &body.low_stock_threshold {
            Some(n) => self.quantity(&field("low_stock_threshold"), n),
            None => Quantity::try_from("5").ok(),
        };
        Some(Listing {
            name: name?,
            category: ProductCategory::from(body.category),
            tags: tags?,
            unit: unit?,
            price: price?,
            origin_country: origin?,
            nutrition: nutrition?,
            low_stock_threshold: threshold?,
        })
    }

    fn money(&mut self, name: &str, m: &MoneyBody) -> Option<Money> {
        Money::try_from((m.amount_minor, m.currency.as_str()))
            .map_err(|e| self.0.push(FieldError::new(name, e)))
            .ok()
    }

    fn quantity(&mut self, name: &str, n: &serde_json::Number) -> Option<Quantity> {
        self.take::<Quantity>(name, &n.to_string())
    }

    fn tags(&mut self, raw: &[String]) -> Option<BTreeSet<ProductTag>> {
        self.tags_at("", raw)
    }

    fn tags_at(&mut self, prefix: &str, raw: &[String]) -> Option<BTreeSet<ProductTag>> {
        let mut out = BTreeSet::new();
        let mut ok = true;
        for (i, t) in raw.iter().enumerate() {
            match self.take::<ProductTag>(&format!("{prefix}tags[{i}]"), t) {
                Some(tag) => {
                    out.insert(tag);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn nutrition(&mut self, n: &NutritionBody) -> Option<Nutrition> {
        self.nutrition_at("", n)
    }

    fn nutrition_at(&mut self, prefix: &str, n: &NutritionBody) -> Option<Nutrition> {
        let field = |name: &str| format!("{prefix}nutrition.{name}");
        let e = self.quantity(&field("energy_kcal"), &n.energy_kcal);
        let p = self.quantity(&field("protein_g"), &n.protein_g);
        let c = self.quantity(&field("carbs_g"), &n.carbs_g);
        let f = self.quantity(&field("fat_g"), &n.fat_g);
        let fi = self.quantity(&field("fiber_g"), &n.fiber_g);
        Nutrition::new(e?, p?, c?, f?, fi?)
            .map_err(|err| {
                self.0
                    .push(FieldError::new(format!("{prefix}{}", err.field), err.error))
            })
            .ok()
    }

    fn rendition(&mut self, name: &str, r: &RenditionBody) -> Option<Rendition> {
        let key = self.take::<StorageKey>(&format!("{name}.key"), &r.key)?;
        Rendition::new(key, r.width, r.height)
            .map_err(|e| self.0.push(FieldError::new(name, e)))
            .ok()
    }
}

/// An image id from the path.
#[derive(Debug, Clone, Copy)]
pub struct ImagePath(pub ImageId);

impl<S: Send + Sync> FromRequestParts<S> for ImagePath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        crate::request::path_uuid(parts, state, "image_id")
            .await
            .map(|u| Self(ImageId(u)))
    }
}

// --- routes -----------------------------------------------------------------------------

/// List a product; the supplier must be `approved`.
#[utoipa::path(
    post, path = "/v1/suppliers/{id}/products", tag = "catalog",
    request_body = ListProductBody,
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 201, description = "Listed", body = crate::response::CommandAccepted),
        (status = 403, description = "`insufficient_scope` or `not_owner`", body = platform::http::Problem),
        (status = 404, description = "No such supplier", body = platform::http::Problem),
        (status = 409, description = "`supplier_not_active`", body = platform::http::Problem),
        (status = 422, description = "`validation_failed`", body = platform::http::Problem),
    ),
    security(("bearer" = ["catalog:write"]))
)]
pub async fn list(
    State(app): State<AppState>,
    ctx: CommandContext,
    SupplierPath(supplier_id): SupplierPath,
    ValidJson(body): ValidJson<ListProductBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let parsed = f.listing("", &body);
    let listing = f.finish(parsed)?;
    let supplier = app.products.supplier_facts(supplier_id).await?;
    // With an Idempotency-Key the id derives from it: a retry lists the same product again
    // (a no-op answering like the first time).
    let id = ProductId(crate::request::new_id(&ctx, "product"));
    let cmd = listing.command(&ctx, id, supplier);
    resource(&app.products.bus, "/v1/products")
        .create(&ctx, id, "list", cmd)
        .await
}

/// Change any of name, price, tags and nutrition (an unchanged body appends nothing).
#[utoipa::path(
    patch, path = "/v1/products/{id}", tag = "catalog",
    request_body = UpdateProductBody,
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 202, description = "Updated", body = crate::response::CommandAccepted),
        (status = 403, description = "`insufficient_scope` or `not_owner`", body = platform::http::Problem),
        (status = 409, description = "`product_discontinued`", body = platform::http::Problem),
    ),
    security(("bearer" = ["catalog:write"]))
)]
pub async fn update(
    State(app): State<AppState>,
    ctx: CommandContext,
    ProductPath(id): ProductPath,
    ValidJson(body): ValidJson<UpdateProductBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    if body.name.is_none()
        && body.price.is_none()
        && body.tags.is_none()
        && body.nutrition.is_none()
    {
        f.0.push(FieldError::new(
            "body",
            "give at least one of name, price, tags, nutrition",
        ));
    }
    let name = f.optional::<ProductName>("name", body.name.as_deref());
    let price = match &body.price {
        Some(m) => f.money("price", m).map(Some),
        None => Some(None),
    };
    let tags = match &body.tags {
        Some(t) => f.tags(t).map(Some),
        None => Some(None),
    };
    let nutrition = match &body.nutrition {
        Some(n) => f.nutrition(n).map(Some),
        None => Some(None),
    };
    let parsed = (|| Some((name?, price?, tags?, nutrition?)))();
    let (name, price, tags, nutrition) = f.finish(parsed)?;
    let cmd = ProductCommand::Update(UpdateProduct {
        caller: ctx.caller(),
        name,
        price,
        tags,
        nutrition,
    });
    resource(&app.products.bus, "/v1/products")
        .change(&ctx, id, "update", cmd, None)
        .await
}

/// Stop selling a product (final).
#[utoipa::path(
    post, path = "/v1/products/{id}/discontinue", tag = "catalog",
    request_body = ReasonBody,
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 202, description = "Discontinued", body = crate::response::CommandAccepted),
        (status = 403, description = "`insufficient_scope` or `not_owner`", body = platform::http::Problem),
    ),
    security(("bearer" = ["catalog:write"]))
)]
pub async fn discontinue(
    State(app): State<AppState>,
    ctx: CommandContext,
    ProductPath(id): ProductPath,
    ValidJson(body): ValidJson<ReasonBody>,
) -> Result<Accepted, ApiError> {
    let reason: Reason = body.parse()?;
    let text = reason.as_str().to_owned();
    let cmd = ProductCommand::Discontinue(DiscontinueProduct {
        caller: ctx.caller(),
        reason,
    });
    resource(&app.products.bus, "/v1/products")
        .change(&ctx, id, "discontinue", cmd, Some(&text))
        .await
}

/// Record that an uploaded image was processed (the image worker).
#[utoipa::path(
    post, path = "/v1/products/{id}/images/{image_id}/processed", tag = "catalog",
    request_body = ImageProcessedBody,
    params(("id" = Uuid, Path, description = "Product id"), ("image_id" = Uuid, Path, description = "Image id")),
    responses(
        (status = 202, description = "Recorded", body = crate::response::CommandAccepted),
        (status = 409, description = "`image_already_finished`", body = platform::http::Problem),
    ),
    security(("bearer" = ["catalog:images"]))
)]
pub async fn image_processed(
    State(app): State<AppState>,
    ctx: CommandContext,
    ProductPath(id): ProductPath,
    ImagePath(image_id): ImagePath,
    ValidJson(body): ValidJson<ImageProcessedBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let thumbnail = f.rendition("thumbnail", &body.thumbnail);
    let medium = f.rendition("medium", &body.medium);
    let (thumbnail, medium) = f.finish((|| Some((thumbnail?, medium?)))())?;
    let cmd = ProductCommand::RecordImageProcessed(RecordImageProcessed {
        caller: ctx.caller(),
        image_id,
        thumbnail,
        medium,
    });
    let recorded = resource(&app.products.bus, "/v1/products")
        .change(&ctx, id, "image_processed", cmd, None)
        .await;
    if recorded.is_ok() {
        crate::image_quota::settle(&app.pool, image_id.0, true).await;
    }
    recorded
}

/// Record that an uploaded image could not be processed (the image worker).
#[utoipa::path(
    post, path = "/v1/products/{id}/images/{image_id}/failed", tag = "catalog",
    request_body = ReasonBody,
    params(("id" = Uuid, Path, description = "Product id"), ("image_id" = Uuid, Path, description = "Image id")),
    responses(
        (status = 202, description = "Recorded", body = crate::response::CommandAccepted),
        (status = 409, description = "`image_already_finished`", body = platform::http::Problem),
    ),
    security(("bearer" = ["catalog:images"]))
)]
pub async fn image_failed(
    State(app): State<AppState>,
    ctx: CommandContext,
    ProductPath(id): ProductPath,
    ImagePath(image_id): ImagePath,
    ValidJson(body): ValidJson<ReasonBody>,
) -> Result<Accepted, ApiError> {
    let reason = body.parse()?;
    let text = reason.as_str().to_owned();
    let cmd = ProductCommand::RecordImageFailed(RecordImageFailed {
        caller: ctx.caller(),
        image_id,
        reason,
    });
    let recorded = resource(&app.products.bus, "/v1/products")
        .change(&ctx, id, "image_failed", cmd, Some(&text))
        .await;
    if recorded.is_ok() {
        crate::image_quota::settle(&app.pool, image_id.0, false).await;
    }
    recorded
}

/// List up to 100 products at once (a supplier's catalog import): every listing is decided by
/// the same rules as a single one, and all are appended in one transaction, or none is.
#[utoipa::path(
    post, path = "/v1/suppliers/{id}/products/bulk", tag = "catalog",
    request_body = BulkListBody,
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 201, description = "Listed, ids in request order", body = crate::response::BulkCreated),
        (status = 409, description = "`supplier_not_active` (nothing listed)", body = platform::http::Problem),
        (status = 422, description = "`validation_failed`, fields named `products[i].…`", body = platform::http::Problem),
    ),
    security(("bearer" = ["catalog:write"]))
)]
pub async fn list_bulk(
    State(app): State<AppState>,
    ctx: CommandContext,
    SupplierPath(supplier_id): SupplierPath,
    ValidJson(body): ValidJson<BulkListBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    if body.products.is_empty() || body.products.len() > MAX_BULK {
        f.0.push(FieldError::new(
            "products",
            format!("1 to {MAX_BULK} items"),
        ));
    }
    let listings: Vec<Option<Listing>> = body
        .products
        .iter()
        .enumerate()
        .map(|(i, p)| f.listing(&format!("products[{i}]."), p))
        .collect();
    let listings: Vec<Listing> = f.finish(listings.into_iter().collect::<Option<Vec<_>>>())?;
    let supplier = app.products.supplier_facts(supplier_id).await?;
    let items: Vec<(String, ProductCommand)> = listings
        .into_iter()
        .map(|l| {
            let id = ProductId(Uuid::now_v7());
            (id.to_string(), l.command(&ctx, id, supplier.clone()))
        })
        .collect();
    crate::response::create_many(&app.products.bus, "list", items, &ctx).await
}
