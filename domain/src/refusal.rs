//! What every aggregate's refusal says about itself, so one mapping (in the API) can turn any
//! of them into a problem document: a stable `code`, a [`RefusalKind`] that decides the
//! status, and the details a client needs to act on it.

/// The kind of a refusal; each kind is answered with one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalKind {
    /// The thing acted on does not exist (404).
    NotFound,
    /// The command names a value that breaks a rule; `field` is its path in the request
    /// (`lines[2].quantity`) and `message` what is wrong with it (422).
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The command does not fit the current state (409).
    Conflict,
    /// The caller may not do this to this thing (403).
    Forbidden,
    /// A fact the decision needs could not be gathered; the command may be retried (503).
    Unavailable,
    /// The command was wired wrongly: a defect, not the caller's fault (500).
    Fault,
}

impl RefusalKind {
    /// An invalid `field`, described by the refusal's own message.
    pub fn invalid(field: impl Into<String>, refusal: &impl std::fmt::Display) -> Self {
        Self::Invalid {
            field: field.into(),
            message: refusal.to_string(),
        }
    }
}

/// A refusal of a command, by any aggregate. Its `Display` is the human-readable detail.
pub trait Refusal: std::error::Error + Send + Sync + 'static {
    /// The stable machine-readable code (`invalid_transition`, `not_found`, ...). An
    /// [`Invalid`](RefusalKind::Invalid) refusal's code is `validation_failed`.
    fn code(&self) -> &'static str;

    /// What kind of refusal it is.
    fn kind(&self) -> RefusalKind;

    /// Further members for the problem body (`current_status`, `available`, ...).
    fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
}

/// A detail value (anything `Into<serde_json::Value>`), for [`Refusal::details`].
pub fn detail(
    key: &'static str,
    value: impl Into<serde_json::Value>,
) -> (&'static str, serde_json::Value) {
    (key, value.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{DeliveryError, DeliveryStatus};
    use crate::order::{OrderError, OrderStatus};
    use crate::payment::{PaymentError, PaymentStatus};
    use crate::rider::RiderError;
    use crate::slot::SlotError;
    use crate::{InventoryError, ProductError, SupplierError, SupplierStatus};

    fn every_kind_of_refusal() -> Vec<Box<dyn Refusal>> {
        vec![
            Box::new(SupplierError::NotFound),
            Box::new(SupplierError::InvalidTransition {
                current: SupplierStatus::Pending,
                attempted: "suspend",
            }),
            Box::new(SupplierError::VerificationIncomplete { missing: vec![] }),
            Box::new(SupplierError::NotOwner),
            Box::new(SupplierError::DocumentExpired {
                expires_on: chrono::NaiveDate::MIN,
            }),
            Box::new(SupplierError::FactsUnavailable("down".into())),
            Box::new(SupplierError::RegistrationNotReserved),
            Box::new(InventoryError::NotFound),
            Box::new(InventoryError::ValueTooLarge),
            Box::new(InventoryError::NoReservation {
                order_id: crate::OrderId(uuid::Uuid::nil()),
            }),
            Box::new(ProductError::NotPermitted {
                attempted: "update",
            }),
            Box::new(ProductError::SupplierNotActive {
                status: SupplierStatus::Suspended,
            }),
            Box::new(ProductError::ThresholdNotInUnit {
                unit: crate::Unit::Piece,
            }),
            Box::new(OrderError::UnknownProduct { index: 2 }),
            Box::new(OrderError::QuantityNotInUnit {
                index: 1,
                message: "whole pieces".into(),
            }),
            Box::new(OrderError::SupplierNotActive {
                index: 0,
                status: SupplierStatus::Pending,
            }),
            Box::new(OrderError::InvalidTransition {
                current: OrderStatus::Created,
                attempted: "pack",
            }),
            Box::new(OrderError::NotOwner),
            Box::new(PaymentError::EmptyRefund),
            Box::new(PaymentError::InvalidTransition {
                current: PaymentStatus::Pending,
                attempted: "capture",
            }),
            Box::new(SlotError::BadCapacity { max: 1 }),
            Box::new(RiderError::RiderBusy {
                current: crate::fulfilment_values::DeliveryId(uuid::Uuid::nil()),
            }),
            Box::new(DeliveryError::InvalidTransition {
                current: DeliveryStatus::Scheduled,
                attempted: "deliver",
            }),
            Box::new(crate::stock_alert::NoRejection),
        ]
    }

    #[test]
    fn a_refusal_is_invalid_exactly_when_its_code_is_validation_failed() {
        for r in every_kind_of_refusal() {
            let invalid = matches!(r.kind(), RefusalKind::Invalid { .. });
            assert_eq!(
                invalid,
                r.code() == "validation_failed",
                "{r:?}: {:?}",
                r.kind()
            );
        }
    }

    #[test]
    fn codes_are_snake_case_and_details_are_named() {
        for r in every_kind_of_refusal() {
            let code = r.code();
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{r:?}: {code}"
            );
            for (key, value) in r.details() {
                assert!(!key.is_empty() && !value.is_null(), "{r:?}: {key}");
            }
        }
    }

    #[test]
    fn an_invalid_line_names_the_field_at_fault() {
        let kind = OrderError::UnknownProduct { index: 2 }.kind();
        assert_eq!(
            kind,
            RefusalKind::Invalid {
                field: "lines[2].product_id".into(),
                message: "no such product".into()
            }
        );
    }
}
