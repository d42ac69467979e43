//! When the bus snapshots an aggregate, which stored snapshot it may trust, and writing one
//! (the SQL is `crate::snapshots`).

use super::CommandBus;
use crate::snapshots::{self, StoredSnapshot};
use cqrs_es::Aggregate;

/// The format of the snapshots this bus writes (`snapshots.format`). Bump it when an
/// aggregate's state keeps its serialised shape but changes its meaning, or when an upcaster
/// starts reading old events differently: a snapshot cannot tell, so every stored one is then
/// ignored, replayed over and rewritten on its next load. A change of shape needs no bump: a
/// stored payload that does not serialise back to exactly the same text once read (a field
/// added, even with a serde default, removed, renamed or retyped) is not used.
pub const SNAPSHOT_FORMAT: i32 = 1;

/// When the bus snapshots an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshots {
    every: usize,
}

impl Snapshots {
    /// The default interval (`FRESHLINE_SNAPSHOT_EVERY`).
    pub const DEFAULT_EVERY: usize = 100;

    /// A snapshot whenever `n` events have been appended (or replayed) since the last one, so
    /// that no load replays `n` events or more; `0` turns snapshots off (neither read nor
    /// written).
    pub const fn every(n: usize) -> Self {
        Self { every: n }
    }

    /// No snapshots: every load replays the whole stream.
    pub const fn off() -> Self {
        Self { every: 0 }
    }

    /// Whether snapshots are read and written.
    pub const fn is_on(self) -> bool {
        self.every > 0
    }

    /// Whether a state `since` events past the last snapshot should be snapshotted.
    pub(super) const fn due(self, since: usize) -> bool {
        self.is_on() && since >= self.every
    }
}

impl Default for Snapshots {
    fn default() -> Self {
        Self::every(Self::DEFAULT_EVERY)
    }
}

/// Why a stored snapshot was not used.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unusable {
    #[error("written in format {0}, not {SNAPSHOT_FORMAT}")]
    Format(i32),
    #[error("its event is no longer in the store with the same chain link")]
    Unanchored,
    #[error("it does not read as the aggregate")]
    Unreadable(#[source] serde_json::Error),
    #[error("it reads, but the aggregate's shape changed (it does not serialise back the same)")]
    Reshaped,
}

impl<A> CommandBus<A>
where
    A: Aggregate,
    A::Command: Clone,
{
    /// The snapshot's aggregate, if it may be used: written in this format, still anchored to
    /// its event, and read back exactly (serialising what was read gives the stored text).
    pub(super) fn read_snapshot(snapshot: &StoredSnapshot) -> Result<A, Unusable> {
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(Unusable::Format(snapshot.format));
        }
        if !snapshot.anchored {
            return Err(Unusable::Unanchored);
        }
        let aggregate: A = serde_json::from_str(&snapshot.payload).map_err(Unusable::Unreadable)?;
        match serde_json::to_string(&aggregate) {
            Ok(text) if text == snapshot.payload => Ok(aggregate),
            _ => Err(Unusable::Reshaped),
        }
    }

    /// Writes the snapshot of `aggregate` at `version`; a failure is logged and counted, never
    /// returned (the command it follows has succeeded). Returns whether it was written.
    pub(super) async fn save_snapshot(
        &self,
        id: &str,
        version: usize,
        aggregate: &A,
        replace: bool,
    ) -> bool {
        let written = match serde_json::to_string(aggregate) {
            Ok(payload) => snapshots::save(
                &self.pool,
                A::TYPE,
                id,
                i64::try_from(version).unwrap_or(i64::MAX),
                SNAPSHOT_FORMAT,
                &payload,
                replace,
            )
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match written {
            Ok(true) => {
                self.count_snapshot("written");
                true
            }
            Ok(false) => false,
            Err(error) => {
                self.count_snapshot("failed");
                tracing::warn!(
                    aggregate = A::TYPE,
                    aggregate_id = id,
                    version,
                    error,
                    "snapshot not written (the command was committed)"
                );
                false
            }
        }
    }

    pub(super) fn count_snapshot(&self, outcome: &str) {
        self.metrics
            .snapshots
            .with_label_values(&[A::TYPE, outcome])
            .inc();
    }
}
