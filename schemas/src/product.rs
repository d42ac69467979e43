//! Product (catalog) events on the wire (topic [`crate::topics::PRODUCT`]).
//!
//! Prices are [`MoneyV1`] (integer minor units); nutrition figures and the low-stock threshold
//! are decimal strings with at most 3 decimals ([`crate::common::DECIMAL_PATTERN`]), never JSON
//! floats. Published versions are never edited: a change that breaks a reader gets a new
//! version and an upcaster from the old one.

use crate::common::{MoneyV1, DECIMAL_PATTERN};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

crate::wire_events! {
    /// A product event in its current wire version, tagged with its event type. This is also
    /// the exact form kept in the event store's `payload` column.
    ProductEvent {
        /// `ProductListed`: a supplier put a product in the catalog.
        LISTED = "ProductListed" => Listed(ListedV1),
        /// `ProductUpdated`: some of name, price, tags and nutrition changed.
        UPDATED = "ProductUpdated" => Updated(UpdatedV1),
        /// `ProductDiscontinued`: the product is no longer sold (final).
        DISCONTINUED = "ProductDiscontinued" => Discontinued(DiscontinuedV1),
        /// `ProductImageRequested`: an image was uploaded and waits to be processed.
        IMAGE_REQUESTED = "ProductImageRequested" => ImageRequested(ImageRequestedV1),
        /// `ProductImageProcessed`: an uploaded image was resized and stored.
        IMAGE_PROCESSED = "ProductImageProcessed" => ImageProcessed(ImageProcessedV1),
        /// `ProductImageFailed`: an uploaded image could not be processed.
        IMAGE_FAILED = "ProductImageFailed" => ImageFailed(ImageFailedV1),
    }
}

/// Nutrition facts per 100 g, each a decimal string (at most 3 decimals, never negative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NutritionV1 {
    /// Energy in kcal per 100 g, e.g. `"52"`.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub energy_kcal: String,
    /// Protein in grams per 100 g, e.g. `"0.3"`.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub protein_g: String,
    /// Carbohydrates in grams per 100 g.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub carbs_g: String,
    /// Fat in grams per 100 g.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub fat_g: String,
    /// Dietary fibre in grams per 100 g.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub fiber_g: String,
}

/// `ProductListed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListedV1 {
    /// The product's id.
    pub product_id: Uuid,
    /// The supplier selling it.
    pub supplier_id: Uuid,
    /// Subject of the supplier account that owns the product (the supplier's owner), if any.
    pub owner: Option<String>,
    /// Display name.
    pub name: String,
    /// `fruit`, `vegetable`, `herb`, `dairy`, `bakery` or `other`.
    pub category: String,
    /// Any of `organic`, `imported`, `seasonal`, `local`, sorted, no repeats.
    pub tags: Vec<String>,
    /// The unit it is sold and stocked in: `kg`, `piece`, `bunch` or `box`.
    pub unit: String,
    /// Price per unit.
    pub price: MoneyV1,
    /// ISO 3166-1 alpha-2 country of origin.
    pub origin_country: String,
    /// Nutrition facts per 100 g, when given.
    pub nutrition: Option<NutritionV1>,
    /// Stock (in `unit`) below which a `LowStock` alert is raised, as a decimal string.
    #[schemars(pattern(DECIMAL_PATTERN))]
    pub low_stock_threshold: String,
}

/// `ProductUpdated` v1: only the fields that changed are present; an absent field is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpdatedV1 {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New price per unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<MoneyV1>,
    /// The new full set of tags (replaces the old set), sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// New nutrition facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nutrition: Option<NutritionV1>,
}

/// `ProductDiscontinued` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiscontinuedV1 {
    /// Why.
    pub reason: String,
}

/// `ProductImageRequested` v1: the original is stored; resizing happens in the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageRequestedV1 {
    /// The image's id.
    pub image_id: Uuid,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
    /// Size of the original in bytes (at most 10 MiB).
    pub byte_size: u64,
    /// SHA-256 of the original, 64 lower-case hex digits.
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Storage key of the original.
    pub original_key: String,
}

/// One stored rendition of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RenditionV1 {
    /// Storage key.
    pub key: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// `ProductImageProcessed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageProcessedV1 {
    /// The image's id.
    pub image_id: Uuid,
    /// The thumbnail.
    pub thumbnail: RenditionV1,
    /// The medium-size rendition.
    pub medium: RenditionV1,
}

/// `ProductImageFailed` v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageFailedV1 {
    /// The image's id.
    pub image_id: Uuid,
    /// Why it could not be processed.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::EnvelopeError;

    #[test]
    fn stored_form_is_the_payload_tagged_with_its_event_type() {
        let e = ProductEvent::Discontinued(DiscontinuedV1 {
            reason: "season is over".into(),
        });
        let stored = serde_json::to_value(&e).expect("serialise");
        assert_eq!(
            stored,
            serde_json::json!({"ProductDiscontinued": {"reason": "season is over"}})
        );
        let payload =
            crate::envelope::untag_stored_payload(e.event_type(), stored).expect("tagged");
        assert_eq!(
            ProductEvent::decode(e.event_type(), 1, payload).expect("decodes"),
            e
        );
    }

    #[test]
    fn an_update_carries_only_the_fields_that_changed() {
        let e = ProductEvent::Updated(UpdatedV1 {
            price: Some(MoneyV1 {
                amount_minor: 349,
                currency: "EUR".into(),
            }),
            ..UpdatedV1::default()
        });
        assert_eq!(
            serde_json::to_value(&e).expect("serialise"),
            serde_json::json!({"ProductUpdated": {"price": {"amount_minor": 349, "currency": "EUR"}}})
        );
        let decoded = ProductEvent::decode(
            UPDATED,
            1,
            serde_json::json!({"price": {"amount_minor": 349, "currency": "EUR"}, "name": null}),
        )
        .expect("decodes");
        assert_eq!(decoded, e);
    }

    #[test]
    fn unknown_versions_are_refused_not_guessed() {
        let err = ProductEvent::decode(DISCONTINUED, 2, serde_json::json!({"reason": "x"}));
        assert!(matches!(err, Err(EnvelopeError::UnknownEventType { .. })));
    }
}
