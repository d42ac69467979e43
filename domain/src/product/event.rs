use super::{ImageByteSize, ImageContentType, Rendition, Sha256Digest, StorageKey};
use crate::catalog_values::{
    stored, stored_quantity, ImageId, Money, Nutrition, ProductId, ProductTag, Quantity,
    StoredValueError, Unit,
};
use crate::supplier::SupplierId;
use crate::values::{CountryCode, ProductCategory, ProductName, Reason};
use schemas::product::{self as wire, NutritionV1, RenditionV1};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Something that happened to a product.
///
/// Serialised through its wire form ([`schemas::product::ProductEvent`]): the event store
/// keeps exactly what is published, and the conversions below are the only mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::ProductEvent", try_from = "wire::ProductEvent")]
pub enum ProductEvent {
    /// Listed in the catalog; now `active`.
    Listed {
        /// Its id.
        product_id: ProductId,
        /// The supplier selling it.
        supplier_id: SupplierId,
        /// Subject of the supplier account that owns it.
        owner: Option<String>,
        /// Display name.
        name: ProductName,
        /// Category.
        category: ProductCategory,
        /// Tags.
        tags: BTreeSet<ProductTag>,
        /// Unit.
        unit: Unit,
        /// Price per unit.
        price: Money,
        /// Country of origin.
        origin_country: CountryCode,
        /// Nutrition facts per 100 g.
        nutrition: Option<Nutrition>,
        /// Low-stock threshold.
        low_stock_threshold: Quantity,
    },
    /// Some fields changed; `None` fields did not.
    Updated {
        /// New name.
        name: Option<ProductName>,
        /// New price.
        price: Option<Money>,
        /// New tags.
        tags: Option<BTreeSet<ProductTag>>,
        /// New nutrition facts.
        nutrition: Option<Nutrition>,
    },
    /// `active` -> `discontinued`.
    Discontinued {
        /// Why.
        reason: Reason,
    },
    /// An image was uploaded; now `processing`.
    ImageRequested {
        /// The image.
        image_id: ImageId,
        /// Its format.
        content_type: ImageContentType,
        /// Its size.
        byte_size: ImageByteSize,
        /// SHA-256 of the original.
        sha256: Sha256Digest,
        /// Where the original is stored.
        original_key: StorageKey,
    },
    /// An image was processed; now `ready`.
    ImageProcessed {
        /// The image.
        image_id: ImageId,
        /// The thumbnail.
        thumbnail: Rendition,
        /// The medium-size rendition.
        medium: Rendition,
    },
    /// An image could not be processed; now `failed`.
    ImageFailed {
        /// The image.
        image_id: ImageId,
        /// Why.
        reason: Reason,
    },
}

impl ProductEvent {
    /// The reason recorded with the event, if it has one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Discontinued { reason } | Self::ImageFailed { reason, .. } => {
                Some(reason.as_str())
            }
            _ => None,
        }
    }
}

fn nutrition_to_wire(n: &Nutrition) -> NutritionV1 {
    NutritionV1 {
        energy_kcal: n.energy_kcal().to_string(),
        protein_g: n.protein_g().to_string(),
        carbs_g: n.carbs_g().to_string(),
        fat_g: n.fat_g().to_string(),
        fiber_g: n.fiber_g().to_string(),
    }
}

fn nutrition_from_wire(n: NutritionV1) -> Result<Nutrition, StoredValueError> {
    Ok(Nutrition::trusted(
        stored_quantity(n.energy_kcal)?,
        stored_quantity(n.protein_g)?,
        stored_quantity(n.carbs_g)?,
        stored_quantity(n.fat_g)?,
        stored_quantity(n.fiber_g)?,
    ))
}

fn tags_to_wire(tags: &BTreeSet<ProductTag>) -> Vec<String> {
    let mut names: Vec<String> = tags.iter().map(|t| t.as_str().to_owned()).collect();
    names.sort_unstable();
    names
}

fn tags_from_wire(tags: Vec<String>) -> Result<BTreeSet<ProductTag>, StoredValueError> {
    tags.into_iter()
        .map(|t| stored("tag", t, ProductTag::parse))
        .collect()
}

fn rendition_to_wire(r: &Rendition) -> RenditionV1 {
    RenditionV1 {
        key: r.key().as_str().to_owned(),
        width: r.width(),
        height: r.height(),
    }
}

fn rendition_from_wire(r: RenditionV1) -> Rendition {
    Rendition::trusted(r.key, r.width, r.height)
}

impl From<ProductEvent> for wire::ProductEvent {
    fn from(e: ProductEvent) -> Self {
        match e {
            ProductEvent::Listed {
                product_id,
                supplier_id,
                owner,
                name,
                category,
                tags,
                unit,
                price,
                origin_country,
                nutrition,
                low_stock_threshold,
            } => Self::Listed(wire::ListedV1 {
                product_id: product_id.0,
                supplier_id: supplier_id.0,
                owner,
                name: name.as_str().to_owned(),
                category: category.as_str().to_owned(),
                tags: tags_to_wire(&tags),
                unit: unit.as_str().to_owned(),
                price: price.into(),
                origin_country: origin_country.as_str().to_owned(),
                nutrition: nutrition.as_ref().map(nutrition_to_wire),
                low_stock_threshold: low_stock_threshold.to_string(),
            }),
            ProductEvent::Updated {
                name,
                price,
                tags,
                nutrition,
            } => Self::Updated(wire::UpdatedV1 {
                name: name.map(|n| n.as_str().to_owned()),
                price: price.map(Into::into),
                tags: tags.as_ref().map(tags_to_wire),
                nutrition: nutrition.as_ref().map(nutrition_to_wire),
            }),
            ProductEvent::Discontinued { reason } => Self::Discontinued(wire::DiscontinuedV1 {
                reason: reason.as_str().to_owned(),
            }),
            ProductEvent::ImageRequested {
                image_id,
                content_type,
                byte_size,
                sha256,
                original_key,
            } => Self::ImageRequested(wire::ImageRequestedV1 {
                image_id: image_id.0,
                content_type: content_type.as_str().to_owned(),
                byte_size: byte_size.get(),
                sha256: sha256.as_str().to_owned(),
                original_key: original_key.as_str().to_owned(),
            }),
            ProductEvent::ImageProcessed {
                image_id,
                thumbnail,
                medium,
            } => Self::ImageProcessed(wire::ImageProcessedV1 {
                image_id: image_id.0,
                thumbnail: rendition_to_wire(&thumbnail),
                medium: rendition_to_wire(&medium),
            }),
            ProductEvent::ImageFailed { image_id, reason } => {
                Self::ImageFailed(wire::ImageFailedV1 {
                    image_id: image_id.0,
                    reason: reason.as_str().to_owned(),
                })
            }
        }
    }
}

impl TryFrom<wire::ProductEvent> for ProductEvent {
    type Error = StoredValueError;

    fn try_from(e: wire::ProductEvent) -> Result<Self, StoredValueError> {
        Ok(match e {
            wire::ProductEvent::Listed(l) => Self::Listed {
                product_id: ProductId(l.product_id),
                supplier_id: SupplierId(l.supplier_id),
                owner: l.owner,
                name: ProductName::trusted(l.name),
                category: stored("category", l.category, ProductCategory::parse)?,
                tags: tags_from_wire(l.tags)?,
                unit: stored("unit", l.unit, Unit::parse)?,
                price: l.price.into(),
                origin_country: CountryCode::trusted(l.origin_country),
                nutrition: l.nutrition.map(nutrition_from_wire).transpose()?,
                low_stock_threshold: stored_quantity(l.low_stock_threshold)?,
            },
            wire::ProductEvent::Updated(u) => Self::Updated {
                name: u.name.map(ProductName::trusted),
                price: u.price.map(Into::into),
                tags: u.tags.map(tags_from_wire).transpose()?,
                nutrition: u.nutrition.map(nutrition_from_wire).transpose()?,
            },
            wire::ProductEvent::Discontinued(d) => Self::Discontinued {
                reason: Reason::trusted(d.reason),
            },
            wire::ProductEvent::ImageRequested(i) => Self::ImageRequested {
                image_id: ImageId(i.image_id),
                content_type: stored("content type", i.content_type, ImageContentType::parse)?,
                byte_size: ImageByteSize::trusted(i.byte_size),
                sha256: Sha256Digest::trusted(i.sha256),
                original_key: StorageKey::trusted(i.original_key),
            },
            wire::ProductEvent::ImageProcessed(p) => Self::ImageProcessed {
                image_id: ImageId(p.image_id),
                thumbnail: rendition_from_wire(p.thumbnail),
                medium: rendition_from_wire(p.medium),
            },
            wire::ProductEvent::ImageFailed(f) => Self::ImageFailed {
                image_id: ImageId(f.image_id),
                reason: Reason::trusted(f.reason),
            },
        })
    }
}

impl cqrs_es::DomainEvent for ProductEvent {
    fn event_type(&self) -> String {
        match self {
            Self::Listed { .. } => wire::LISTED,
            Self::Updated { .. } => wire::UPDATED,
            Self::Discontinued { .. } => wire::DISCONTINUED,
            Self::ImageRequested { .. } => wire::IMAGE_REQUESTED,
            Self::ImageProcessed { .. } => wire::IMAGE_PROCESSED,
            Self::ImageFailed { .. } => wire::IMAGE_FAILED,
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        wire::current_version(&self.event_type())
            .unwrap_or(1)
            .to_string()
    }
}
