//! A catalog product: listed by an approved supplier, updated, discontinued (final), and its
//! images, each uploaded and then processed or failed in the background.
//!
//! ```text
//!          list (supplier approved)          discontinue
//! (none) ---------------------------> active -------------> discontinued (final)
//!                                     |   ^                 no updates, no new images
//!                                     +---+ update, request image
//!
//! image:  request -> processing --processed--> ready
//!                              \--failed-----> failed
//! ```
//!
//! Who may act: the supplier account that owns the product (its supplier's owner) and admins
//! for everything a person does; image outcomes are reported by a service (the image worker,
//! whose scope the edge checks) or an admin, never by a supplier account.

mod aggregate;
mod command;
mod error;
mod event;
mod image;
#[cfg(test)]
mod tests;

pub use command::{
    DiscontinueProduct, ListProduct, ProductCommand, RecordImageFailed, RecordImageProcessed,
    RequestImage, SupplierFacts, UpdateProduct,
};
pub use error::ProductError;
pub use event::ProductEvent;
pub use image::{
    recognise_refused_format, sniff, ImageByteSize, ImageContentType, ImageFormat, Rendition,
    Sha256Digest, StorageKey, MAX_IMAGE_BYTES,
};

use crate::catalog_values::{ImageId, Money, Nutrition, ProductId, ProductTag, Quantity, Unit};
use crate::supplier::{Caller, SupplierId, SupplierStatus};
use crate::values::{CountryCode, ProductCategory, ProductName, Reason};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Where a product is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// On sale.
    Active,
    /// No longer sold (final).
    Discontinued,
}

impl ProductStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Discontinued => "discontinued",
        }
    }
}

impl fmt::Display for ProductStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an uploaded image is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// Uploaded; being resized and stored.
    Processing,
    /// Processed: its renditions.
    Ready {
        /// The thumbnail.
        thumbnail: Rendition,
        /// The medium-size rendition.
        medium: Rendition,
    },
    /// Could not be processed.
    Failed {
        /// Why.
        reason: Reason,
    },
}

impl ImageStatus {
    /// The wire name: `processing`, `ready` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Ready { .. } => "ready",
            Self::Failed { .. } => "failed",
        }
    }
}

/// An image of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductImage {
    /// Its format.
    pub content_type: ImageContentType,
    /// Size of the original.
    pub byte_size: ImageByteSize,
    /// SHA-256 of the original.
    pub sha256: Sha256Digest,
    /// Where the original is stored.
    pub original_key: StorageKey,
    /// Processing status.
    pub status: ImageStatus,
}

/// Everything known about a listed product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductState {
    /// Its id.
    pub id: ProductId,
    /// The supplier selling it.
    pub supplier_id: SupplierId,
    /// The subject of the supplier account that owns it (its supplier's owner at listing).
    pub owner: Option<String>,
    /// Display name.
    pub name: ProductName,
    /// Category.
    pub category: ProductCategory,
    /// Tags.
    pub tags: BTreeSet<ProductTag>,
    /// Unit it is sold and stocked in.
    pub unit: Unit,
    /// Price per unit.
    pub price: Money,
    /// Country of origin.
    pub origin_country: CountryCode,
    /// Nutrition facts per 100 g.
    pub nutrition: Option<Nutrition>,
    /// Available stock below which `LowStock` is raised.
    pub low_stock_threshold: Quantity,
    /// Lifecycle status.
    pub status: ProductStatus,
    /// Its images, by id.
    pub images: BTreeMap<ImageId, ProductImage>,
}

/// The product aggregate: `None` until listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    state: Option<ProductState>,
}

impl Product {
    /// The current state, `None` before listing.
    pub fn state(&self) -> Option<&ProductState> {
        self.state.as_ref()
    }

    /// The current status, `None` before listing.
    pub fn status(&self) -> Option<ProductStatus> {
        self.state.as_ref().map(|s| s.status)
    }

    /// Decides what happens when `command` is given to this product. Repeating a command whose
    /// effect is already there (the same listing, an update to the current values, a second
    /// discontinuation, the same upload, the same image outcome) produces no events.
    ///
    /// # Errors
    /// A [`ProductError`] naming the rule the command breaks; no events are produced then.
    pub fn decide(&self, command: ProductCommand) -> Result<Vec<ProductEvent>, ProductError> {
        let Some(state) = &self.state else {
            return match command {
                ProductCommand::List(cmd) => Self::decide_list(cmd),
                _ => Err(ProductError::NotFound),
            };
        };
        match command {
            ProductCommand::List(cmd) if Self::same_listing(state, &cmd) => Ok(vec![]),
            ProductCommand::List(_) => Err(ProductError::AlreadyListed),
            ProductCommand::Update(cmd) => {
                Self::check_owner(state, &cmd.caller, "update")?;
                Self::check_active(state, "update")?;
                Ok(Self::decide_update(state, cmd))
            }
            ProductCommand::Discontinue(cmd) => {
                Self::check_owner(state, &cmd.caller, "discontinue")?;
                match state.status {
                    ProductStatus::Discontinued => Ok(vec![]),
                    ProductStatus::Active => {
                        Ok(vec![ProductEvent::Discontinued { reason: cmd.reason }])
                    }
                }
            }
            ProductCommand::RequestImage(cmd) => {
                Self::check_owner(state, &cmd.caller, "request_image")?;
                match state.images.get(&cmd.image_id) {
                    Some(image) if Self::same_upload(image, &cmd) => return Ok(vec![]),
                    Some(_) => {
                        return Err(ProductError::ImageIdInUse {
                            image_id: cmd.image_id,
                        })
                    }
                    None => {}
                }
                Self::check_active(state, "request_image")?;
                Ok(vec![ProductEvent::ImageRequested {
                    image_id: cmd.image_id,
                    content_type: cmd.content_type,
                    byte_size: cmd.byte_size,
                    sha256: cmd.sha256,
                    original_key: cmd.original_key,
                }])
            }
            ProductCommand::RecordImageProcessed(cmd) => {
                Self::check_image_worker(&cmd.caller, "record_image_processed")?;
                match Self::image_status(state, cmd.image_id)? {
                    ImageStatus::Processing => Ok(vec![ProductEvent::ImageProcessed {
                        image_id: cmd.image_id,
                        thumbnail: cmd.thumbnail,
                        medium: cmd.medium,
                    }]),
                    ImageStatus::Ready { .. } => Ok(vec![]),
                    ImageStatus::Failed { .. } => Err(ProductError::ImageAlreadyFinished {
                        image_id: cmd.image_id,
                        status: "failed",
                    }),
                }
            }
            ProductCommand::RecordImageFailed(cmd) => {
                Self::check_image_worker(&cmd.caller, "record_image_failed")?;
                match Self::image_status(state, cmd.image_id)? {
                    ImageStatus::Processing => Ok(vec![ProductEvent::ImageFailed {
                        image_id: cmd.image_id,
                        reason: cmd.reason,
                    }]),
                    ImageStatus::Failed { .. } => Ok(vec![]),
                    ImageStatus::Ready { .. } => Err(ProductError::ImageAlreadyFinished {
                        image_id: cmd.image_id,
                        status: "ready",
                    }),
                }
            }
        }
    }

    fn decide_list(cmd: ListProduct) -> Result<Vec<ProductEvent>, ProductError> {
        // Who first, so a stranger learns nothing about the supplier's status.
        match &cmd.caller {
            Caller::Admin => {}
            Caller::Supplier { subject } if cmd.supplier.owner.as_deref() == Some(subject) => {}
            Caller::Supplier { .. } => return Err(ProductError::NotOwner),
            Caller::Service { .. } => return Err(ProductError::NotPermitted { attempted: "list" }),
        }
        if cmd.supplier.status != SupplierStatus::Approved {
            return Err(ProductError::SupplierNotActive {
                status: cmd.supplier.status,
            });
        }
        if cmd.unit.check(cmd.low_stock_threshold).is_err() {
            return Err(ProductError::ThresholdNotInUnit { unit: cmd.unit });
        }
        Ok(vec![ProductEvent::Listed {
            product_id: cmd.product_id,
            supplier_id: cmd.supplier.supplier_id,
            owner: cmd.supplier.owner,
            name: cmd.name,
            category: cmd.category,
            tags: cmd.tags,
            unit: cmd.unit,
            price: cmd.price,
            origin_country: cmd.origin_country,
            nutrition: cmd.nutrition,
            low_stock_threshold: cmd.low_stock_threshold,
        }])
    }

    fn decide_update(state: &ProductState, cmd: UpdateProduct) -> Vec<ProductEvent> {
        let name = cmd.name.filter(|n| *n != state.name);
        let price = cmd.price.filter(|p| *p != state.price);
        let tags = cmd.tags.filter(|t| *t != state.tags);
        let nutrition = cmd
            .nutrition
            .filter(|n| state.nutrition.as_ref() != Some(n));
        if name.is_none() && price.is_none() && tags.is_none() && nutrition.is_none() {
            return vec![];
        }
        vec![ProductEvent::Updated {
            name,
            price,
            tags,
            nutrition,
        }]
    }

    fn same_listing(state: &ProductState, cmd: &ListProduct) -> bool {
        state.id == cmd.product_id
            && state.supplier_id == cmd.supplier.supplier_id
            && state.owner == cmd.supplier.owner
            && state.name == cmd.name
            && state.category == cmd.category
            && state.tags == cmd.tags
            && state.unit == cmd.unit
            && state.price == cmd.price
            && state.origin_country == cmd.origin_country
            && state.nutrition == cmd.nutrition
            && state.low_stock_threshold == cmd.low_stock_threshold
    }

    fn same_upload(image: &ProductImage, cmd: &RequestImage) -> bool {
        image.content_type == cmd.content_type
            && image.byte_size == cmd.byte_size
            && image.sha256 == cmd.sha256
            && image.original_key == cmd.original_key
    }

    fn check_owner(
        state: &ProductState,
        caller: &Caller,
        attempted: &'static str,
    ) -> Result<(), ProductError> {
        match caller {
            Caller::Admin => Ok(()),
            Caller::Supplier { subject } if state.owner.as_deref() == Some(subject) => Ok(()),
            Caller::Supplier { .. } => Err(ProductError::NotOwner),
            Caller::Service { .. } => Err(ProductError::NotPermitted { attempted }),
        }
    }

    fn check_image_worker(caller: &Caller, attempted: &'static str) -> Result<(), ProductError> {
        match caller {
            Caller::Admin | Caller::Service { .. } => Ok(()),
            Caller::Supplier { .. } => Err(ProductError::NotPermitted { attempted }),
        }
    }

    fn check_active(state: &ProductState, attempted: &'static str) -> Result<(), ProductError> {
        match state.status {
            ProductStatus::Active => Ok(()),
            ProductStatus::Discontinued => Err(ProductError::Discontinued { attempted }),
        }
    }

    fn image_status(state: &ProductState, image_id: ImageId) -> Result<&ImageStatus, ProductError> {
        state
            .images
            .get(&image_id)
            .map(|i| &i.status)
            .ok_or(ProductError::ImageNotFound { image_id })
    }

    /// Applies an event that has happened. Never fails: events are facts.
    pub fn evolve(&mut self, event: ProductEvent) {
        if let ProductEvent::Listed {
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
        } = event
        {
            self.state = Some(ProductState {
                id: product_id,
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
                status: ProductStatus::Active,
                images: BTreeMap::new(),
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        match event {
            ProductEvent::Listed { .. } => {}
            ProductEvent::Updated {
                name,
                price,
                tags,
                nutrition,
            } => {
                if let Some(name) = name {
                    state.name = name;
                }
                if let Some(price) = price {
                    state.price = price;
                }
                if let Some(tags) = tags {
                    state.tags = tags;
                }
                if let Some(nutrition) = nutrition {
                    state.nutrition = Some(nutrition);
                }
            }
            ProductEvent::Discontinued { .. } => state.status = ProductStatus::Discontinued,
            ProductEvent::ImageRequested {
                image_id,
                content_type,
                byte_size,
                sha256,
                original_key,
            } => {
                state.images.insert(
                    image_id,
                    ProductImage {
                        content_type,
                        byte_size,
                        sha256,
                        original_key,
                        status: ImageStatus::Processing,
                    },
                );
            }
            ProductEvent::ImageProcessed {
                image_id,
                thumbnail,
                medium,
            } => {
                if let Some(image) = state.images.get_mut(&image_id) {
                    image.status = ImageStatus::Ready { thumbnail, medium };
                }
            }
            ProductEvent::ImageFailed { image_id, reason } => {
                if let Some(image) = state.images.get_mut(&image_id) {
                    image.status = ImageStatus::Failed { reason };
                }
            }
        }
    }
}
