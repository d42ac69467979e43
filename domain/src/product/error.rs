use crate::catalog_values::{ImageId, Unit};
use crate::supplier::SupplierStatus;

/// Why a product command was refused. Each variant has a stable [`code`](Self::code) for the
/// problem body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// No product with that id.
    #[error("no such product")]
    NotFound,
    /// Listing an id that is already listed (with other details).
    #[error("a product with this id is already listed")]
    AlreadyListed,
    /// Listing for a supplier that is not `approved`.
    #[error("the supplier is {status}; only approved suppliers list products")]
    SupplierNotActive {
        /// The supplier's status now.
        status: SupplierStatus,
    },
    /// A supplier account acting on another supplier's product.
    #[error("this product belongs to another supplier account")]
    NotOwner,
    /// The caller's kind may not do this at all (a service editing a product, a supplier
    /// reporting an image outcome).
    #[error("this caller may not {attempted} a product")]
    NotPermitted {
        /// What was attempted (`update`, `record_image_processed`, ...).
        attempted: &'static str,
    },
    /// The product is discontinued: it takes no updates or images.
    #[error("cannot {attempted} a discontinued product")]
    Discontinued {
        /// What was attempted.
        attempted: &'static str,
    },
    /// A low-stock threshold with a fraction of a countable unit.
    #[error("the low-stock threshold must be a whole number of {unit}")]
    ThresholdNotInUnit {
        /// The product's unit.
        unit: Unit,
    },
    /// An image id already used for another upload.
    #[error("image {image_id} is already recorded with other details")]
    ImageIdInUse {
        /// The image.
        image_id: ImageId,
    },
    /// No image with that id on this product.
    #[error("no image {image_id} on this product")]
    ImageNotFound {
        /// The image.
        image_id: ImageId,
    },
    /// The image already ended the other way (processed vs failed).
    #[error("image {image_id} is already {status}")]
    ImageAlreadyFinished {
        /// The image.
        image_id: ImageId,
        /// How it ended: `ready` or `failed`.
        status: &'static str,
    },
}

impl crate::Refusal for ProductError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::AlreadyListed => "already_exists",
            Self::SupplierNotActive { .. } => "supplier_not_active",
            Self::NotOwner => "not_owner",
            Self::NotPermitted { .. } => "forbidden",
            Self::Discontinued { .. } => "product_discontinued",
            Self::ThresholdNotInUnit { .. } => "validation_failed",
            Self::ImageIdInUse { .. } => "image_id_in_use",
            Self::ImageNotFound { .. } => "image_not_found",
            Self::ImageAlreadyFinished { .. } => "image_already_finished",
        }
    }

    fn kind(&self) -> crate::RefusalKind {
        use crate::RefusalKind as K;
        match self {
            Self::NotFound | Self::ImageNotFound { .. } => K::NotFound,
            Self::NotOwner | Self::NotPermitted { .. } => K::Forbidden,
            Self::ThresholdNotInUnit { .. } => K::invalid("low_stock_threshold", self),
            Self::AlreadyListed
            | Self::SupplierNotActive { .. }
            | Self::Discontinued { .. }
            | Self::ImageIdInUse { .. }
            | Self::ImageAlreadyFinished { .. } => K::Conflict,
        }
    }

    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::SupplierNotActive { status } => {
                vec![crate::detail("supplier_status", status.as_str())]
            }
            _ => Vec::new(),
        }
    }
}
