use super::{ImageByteSize, ImageContentType, Rendition, Sha256Digest, StorageKey};
use crate::catalog_values::{ImageId, Money, Nutrition, ProductId, ProductTag, Quantity, Unit};
use crate::supplier::{Caller, SupplierId, SupplierStatus};
use crate::values::{CountryCode, ProductCategory, ProductName, Reason};
use std::collections::BTreeSet;

/// Commands a product accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductCommand {
    /// Put a new product in the catalog.
    List(ListProduct),
    /// Change some of name, price, tags and nutrition.
    Update(UpdateProduct),
    /// Stop selling the product, for good.
    Discontinue(DiscontinueProduct),
    /// Record an uploaded image that waits to be processed.
    RequestImage(RequestImage),
    /// Record that an image was processed (by the image worker).
    RecordImageProcessed(RecordImageProcessed),
    /// Record that an image could not be processed (by the image worker).
    RecordImageFailed(RecordImageFailed),
}

/// What the handler looked up about the supplier a product is listed for: the listing rule
/// needs its status and owner, and the product aggregate cannot read another aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierFacts {
    /// The supplier's id.
    pub supplier_id: SupplierId,
    /// Its status now.
    pub status: SupplierStatus,
    /// The subject of the supplier account that owns it, if any.
    pub owner: Option<String>,
}

/// Put a new product in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListProduct {
    /// Who lists.
    pub caller: Caller,
    /// The new product's id (chosen by the service).
    pub product_id: ProductId,
    /// The supplier selling it, as looked up by the handler.
    pub supplier: SupplierFacts,
    /// Display name.
    pub name: ProductName,
    /// Category.
    pub category: ProductCategory,
    /// Tags.
    pub tags: BTreeSet<ProductTag>,
    /// The unit it is sold and stocked in.
    pub unit: Unit,
    /// Price per unit.
    pub price: Money,
    /// Country of origin.
    pub origin_country: CountryCode,
    /// Nutrition facts per 100 g, if known.
    pub nutrition: Option<Nutrition>,
    /// Available stock below which `LowStock` is raised (zero: never).
    pub low_stock_threshold: Quantity,
}

/// Change some of name, price, tags and nutrition; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateProduct {
    /// Who updates.
    pub caller: Caller,
    /// New name.
    pub name: Option<ProductName>,
    /// New price per unit.
    pub price: Option<Money>,
    /// New full set of tags.
    pub tags: Option<BTreeSet<ProductTag>>,
    /// New nutrition facts.
    pub nutrition: Option<Nutrition>,
}

/// Stop selling the product, for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscontinueProduct {
    /// Who discontinues.
    pub caller: Caller,
    /// Why (required).
    pub reason: Reason,
}

/// Record an uploaded image: the original is stored, processing happens in the background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestImage {
    /// Who uploads.
    pub caller: Caller,
    /// The new image's id (chosen by the service).
    pub image_id: ImageId,
    /// Its format.
    pub content_type: ImageContentType,
    /// Its size.
    pub byte_size: ImageByteSize,
    /// SHA-256 of the original bytes.
    pub sha256: Sha256Digest,
    /// Where the original is stored.
    pub original_key: StorageKey,
}

/// Record that an image was resized and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordImageProcessed {
    /// Who reports (the image worker's service identity, or an admin).
    pub caller: Caller,
    /// The image.
    pub image_id: ImageId,
    /// The thumbnail.
    pub thumbnail: Rendition,
    /// The medium-size rendition.
    pub medium: Rendition,
}

/// Record that an image could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordImageFailed {
    /// Who reports (the image worker's service identity, or an admin).
    pub caller: Caller,
    /// The image.
    pub image_id: ImageId,
    /// Why.
    pub reason: Reason,
}
