//! The query API's shared state.

use crate::read_your_writes::Freshness;
use platform::evidence::EvidenceSigner;
use prometheus::Registry;
use sqlx::PgPool;
use std::sync::Arc;

/// Shared state.
#[derive(Debug, Clone)]
pub struct QueryState {
    pub(crate) pool: PgPool,
    pub(crate) schema: String,
    pub(crate) registry: Registry,
    /// Signs history exports; none configured means exports answer 503.
    pub(crate) evidence: Option<Arc<EvidenceSigner>>,
    /// Reads waiting for a version or a position (see `read_your_writes`).
    pub(crate) fresh: Arc<Freshness>,
}
