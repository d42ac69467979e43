//! Topic names: one topic per aggregate type, `freshline.<aggregate>.v1`.

use crate::aggregate_types;

/// The supplier event stream.
pub const SUPPLIER: &str = "freshline.supplier.v1";
/// The product (catalog) event stream.
pub const PRODUCT: &str = "freshline.product.v1";
/// The inventory batch event stream.
pub const INVENTORY: &str = "freshline.inventory.v1";
/// The stock alert stream (`LowStock`, `StockRecovered`).
pub const STOCK_ALERT: &str = "freshline.stock-alert.v1";
/// The order event stream.
pub const ORDER: &str = "freshline.order.v1";
/// The payment event stream.
pub const PAYMENT: &str = "freshline.payment.v1";
/// The delivery event stream.
pub const DELIVERY: &str = "freshline.delivery.v1";
/// The delivery slot event stream.
pub const DELIVERY_SLOT: &str = "freshline.delivery-slot.v1";
/// The rider event stream.
pub const RIDER: &str = "freshline.rider.v1";
/// The customer event stream.
pub const CUSTOMER: &str = "freshline.customer.v1";
/// The cart event stream.
pub const CART: &str = "freshline.cart.v1";

/// A topic and what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name (without any environment prefix).
    pub name: &'static str,
    /// The aggregate type whose events it carries.
    pub aggregate_type: &'static str,
    /// Partition count; events are keyed by aggregate id, so one aggregate stays in order.
    pub partitions: i32,
}

/// Every event topic.
pub const ALL: &[TopicSpec] = &[
    TopicSpec {
        name: SUPPLIER,
        aggregate_type: aggregate_types::SUPPLIER,
        partitions: 6,
    },
    TopicSpec {
        name: PRODUCT,
        aggregate_type: aggregate_types::PRODUCT,
        partitions: 6,
    },
    TopicSpec {
        name: INVENTORY,
        aggregate_type: aggregate_types::INVENTORY_BATCH,
        partitions: 6,
    },
    TopicSpec {
        name: STOCK_ALERT,
        aggregate_type: aggregate_types::STOCK_ALERT,
        partitions: 3,
    },
    TopicSpec {
        name: ORDER,
        aggregate_type: aggregate_types::ORDER,
        partitions: 6,
    },
    TopicSpec {
        name: PAYMENT,
        aggregate_type: aggregate_types::PAYMENT,
        partitions: 6,
    },
    TopicSpec {
        name: DELIVERY,
        aggregate_type: aggregate_types::DELIVERY,
        partitions: 6,
    },
    TopicSpec {
        name: DELIVERY_SLOT,
        aggregate_type: aggregate_types::DELIVERY_SLOT,
        partitions: 3,
    },
    TopicSpec {
        name: RIDER,
        aggregate_type: aggregate_types::RIDER,
        partitions: 3,
    },
    TopicSpec {
        name: CUSTOMER,
        aggregate_type: aggregate_types::CUSTOMER,
        partitions: 6,
    },
    TopicSpec {
        name: CART,
        aggregate_type: aggregate_types::CART,
        partitions: 6,
    },
];

/// The topic carrying an aggregate type's events.
pub fn for_aggregate(aggregate_type: &str) -> Option<&'static TopicSpec> {
    ALL.iter().find(|t| t.aggregate_type == aggregate_type)
}

/// `name` with an environment prefix (tests give each run its own prefix).
pub fn prefixed(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aggregate_type_has_exactly_one_topic_and_every_topic_one_aggregate_type() {
        for aggregate_type in aggregate_types::ALL {
            let carrying: Vec<&str> = ALL
                .iter()
                .filter(|t| t.aggregate_type == *aggregate_type)
                .map(|t| t.name)
                .collect();
            assert_eq!(
                carrying.len(),
                1,
                "{aggregate_type} is carried by {carrying:?}"
            );
            assert_eq!(
                for_aggregate(aggregate_type).map(|t| t.name),
                carrying.first().copied()
            );
        }
        assert_eq!(
            ALL.len(),
            aggregate_types::ALL.len(),
            "a topic of no aggregate type"
        );
        assert!(for_aggregate("Nope").is_none());
        let mut names: Vec<&str> = ALL.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        // Named `freshline.<aggregate>.v1`.
        for t in ALL {
            assert!(
                t.name.starts_with("freshline.") && t.name.ends_with(".v1") && t.partitions > 0,
                "{t:?}"
            );
        }
    }
}
