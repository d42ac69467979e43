//! What a projection is: its tables and how one event changes them. The runtime
//! ([`crate::runtime`]), the per-stream guard ([`crate::guard`]) and the watermark keeper
//! depend on this, and it on none of them.

use async_trait::async_trait;
use schemas::Envelope;
use sqlx::PgConnection;

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The event will never apply (undecodable, or out of place for the read model).
    #[error("{0}")]
    Poison(String),
    /// The database refused or failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// A projection: its tables and how one event changes them. Replayable: no clock, no
/// randomness, no HTTP inside `apply`. The runtime hands it each stream's events once and in
/// order (see [`crate::runtime`]): no duplicates, no gaps.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The projection's name (consumer group, offsets, dead events).
    fn name(&self) -> &'static str;
    /// The topics it reads (without prefix).
    fn topics(&self) -> &'static [&'static str];
    /// DDL creating its tables in `schema` (idempotent).
    fn ddl(&self, schema: &str) -> Vec<String>;
    /// The tables readers see, as views of the live generation in the view schema.
    fn views(&self) -> &'static [&'static str];
    /// Indexes only readers use (applying events never needs them; idempotent DDL): a rebuild
    /// builds them in bulk after its replay instead of row by row during it.
    fn read_indexes(&self, _schema: &str) -> Vec<String> {
        Vec::new()
    }
    /// Applies one event inside the batch's transaction.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        event: &Envelope,
    ) -> Result<(), ApplyError>;

    /// Applies events in order, set-based where the projection can. One outcome per event:
    /// applied, or poison (its reason). A database error fails the whole call.
    ///
    /// The default applies them one by one.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        schema: &str,
        events: &[Envelope],
    ) -> Result<Vec<Result<(), String>>, sqlx::Error> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            out.push(match self.apply(conn, schema, e).await {
                Ok(()) => Ok(()),
                Err(ApplyError::Poison(p)) => Err(p),
                Err(ApplyError::Database(d)) => return Err(d),
            });
        }
        Ok(out)
    }
}

/// The aggregate types whose events reach a projection (those of its topics).
pub fn aggregate_types(projection: &dyn Projection) -> Vec<String> {
    schemas::topics::ALL
        .iter()
        .filter(|t| projection.topics().contains(&t.name))
        .map(|t| t.aggregate_type.to_owned())
        .collect()
}
