//! Topic names: one topic per aggregate type, `freshline.<aggregate>.v1`.

use crate::aggregate_types;

/// The supplier event stream.
pub const SUPPLIER: &str = "freshline.supplier.v1";

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
pub const ALL: &[TopicSpec] = &[TopicSpec {
    name: SUPPLIER,
    aggregate_type: aggregate_types::SUPPLIER,
    partitions: 6,
}];

/// The topic carrying an aggregate type's events.
pub fn for_aggregate(aggregate_type: &str) -> Option<&'static TopicSpec> {
    ALL.iter().find(|t| t.aggregate_type == aggregate_type)
}

/// `name` with an environment prefix (tests give each run its own prefix).
pub fn prefixed(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}
