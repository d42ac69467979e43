//! First-expired-first-out allocation of an order line across a product's batches in one
//! warehouse. Pure: the caller (the order saga, through a read model) supplies the candidate
//! batches; each resulting line becomes a `Reserve` command on its batch, and a batch that
//! refuses (stock moved since the read) is the saga's to retry or compensate.

use crate::catalog_values::{BatchId, PositiveQuantity, Quantity};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// A batch that could serve the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCandidate {
    /// The batch.
    pub batch_id: BatchId,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// What it has available (on hand, not reserved).
    pub available: Quantity,
}

/// Take `quantity` from `batch_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationLine {
    /// The batch.
    pub batch_id: BatchId,
    /// How much to reserve on it.
    pub quantity: PositiveQuantity,
}

/// The outcome: lines in the order they were taken (earliest expiry first), and what could not
/// be allocated. A partial allocation is reported as it is, never rounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// What to reserve where.
    pub lines: Vec<AllocationLine>,
    /// What is missing: the request minus everything allocated (zero when complete).
    pub shortfall: Quantity,
}

impl Allocation {
    /// The total allocated.
    pub fn allocated(&self) -> Quantity {
        self.lines.iter().fold(Quantity::ZERO, |sum, l| {
            sum.saturating_add(l.quantity.get())
        })
    }

    /// Whether the whole request was allocated.
    pub fn is_complete(&self) -> bool {
        self.shortfall.is_zero()
    }
}

/// Allocates `requested` across `candidates`, earliest expiry first.
///
/// A batch is eligible when it still has stock and expires strictly after `slot_ends_at`: the
/// food must still be good at the latest moment it can be delivered, so a batch expiring at
/// or before the end of the slot (or already expired) is skipped. Among batches with the same
/// expiry the smaller id goes first, so the result is deterministic. If a batch id appears more
/// than once, its first entry counts and the others are ignored.
pub fn allocate_fefo(
    requested: PositiveQuantity,
    slot_ends_at: DateTime<Utc>,
    candidates: &[BatchCandidate],
) -> Allocation {
    let mut seen = BTreeSet::new();
    let mut eligible: Vec<&BatchCandidate> = candidates
        .iter()
        .filter(|c| seen.insert(c.batch_id))
        .filter(|c| c.expires_at > slot_ends_at && !c.available.is_zero())
        .collect();
    eligible.sort_by_key(|c| (c.expires_at, c.batch_id));

    let mut remaining = requested.get();
    let mut lines = Vec::new();
    for c in eligible {
        if remaining.is_zero() {
            break;
        }
        let take = remaining.min(c.available);
        if let Ok(quantity) = PositiveQuantity::try_from(take) {
            lines.push(AllocationLine {
                batch_id: c.batch_id,
                quantity,
            });
            remaining = remaining.saturating_sub(take);
        }
    }
    Allocation {
        lines,
        shortfall: remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use std::collections::BTreeMap;

    fn at(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
            .single()
            .expect("valid time")
            + chrono::TimeDelta::hours(hour)
    }

    fn q(s: &str) -> Quantity {
        Quantity::try_from(s).expect("valid quantity")
    }

    fn pq(s: &str) -> PositiveQuantity {
        PositiveQuantity::try_from(s).expect("valid quantity")
    }

    fn batch(n: u128, expires_hour: i64, available: &str) -> BatchCandidate {
        BatchCandidate {
            batch_id: BatchId(uuid::Uuid::from_u128(n)),
            expires_at: at(expires_hour),
            available: q(available),
        }
    }

    fn line(n: u128, quantity: &str) -> AllocationLine {
        AllocationLine {
            batch_id: BatchId(uuid::Uuid::from_u128(n)),
            quantity: pq(quantity),
        }
    }

    #[test]
    fn the_batch_expiring_first_is_used_first() {
        let a = allocate_fefo(
            pq("7.5"),
            at(10),
            &[batch(1, 72, "10"), batch(2, 24, "5"), batch(3, 48, "1.25")],
        );
        assert_eq!(
            a.lines,
            vec![line(2, "5"), line(3, "1.25"), line(1, "1.25")]
        );
        assert!(a.is_complete());
        assert_eq!(a.allocated(), q("7.5"));
    }

    #[test]
    fn batches_expiring_before_the_slot_ends_are_skipped() {
        let a = allocate_fefo(
            pq("3"),
            at(24),
            &[batch(1, 12, "10"), batch(2, 24, "10"), batch(3, 36, "10")],
        );
        assert_eq!(a.lines, vec![line(3, "3")]);
    }

    #[test]
    fn a_shortfall_is_reported_exactly_and_empty_batches_are_skipped() {
        let a = allocate_fefo(
            pq("10"),
            at(0),
            &[batch(1, 24, "0"), batch(2, 48, "2.125"), batch(3, 6, "4")],
        );
        assert_eq!(a.lines, vec![line(3, "4"), line(2, "2.125")]);
        assert_eq!(a.shortfall, q("3.875"));
        assert!(!a.is_complete());
    }

    #[test]
    fn nothing_eligible_means_everything_is_short() {
        let a = allocate_fefo(pq("1.5"), at(100), &[batch(1, 24, "10")]);
        assert!(a.lines.is_empty());
        assert_eq!(a.shortfall, q("1.5"));
    }

    #[test]
    fn equal_expiries_go_by_batch_id_and_a_repeated_batch_counts_once() {
        let a = allocate_fefo(
            pq("6"),
            at(0),
            &[batch(2, 24, "4"), batch(1, 24, "4"), batch(1, 24, "100")],
        );
        assert_eq!(a.lines, vec![line(1, "4"), line(2, "2")]);
    }

    fn any_candidates() -> impl Strategy<Value = Vec<BatchCandidate>> {
        proptest::collection::vec((0u128..12, -24i64..96, 0i64..20_000), 0..10).prop_map(|cs| {
            cs.into_iter()
                .map(|(id, hour, milli)| BatchCandidate {
                    batch_id: BatchId(uuid::Uuid::from_u128(id)),
                    expires_at: at(hour),
                    available: Quantity::try_from(Decimal::new(milli, 3)).expect("valid"),
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn fefo_allocation_keeps_its_promises(
            milli in 1i64..50_000,
            slot_hour in -12i64..72,
            candidates in any_candidates(),
        ) {
            let requested = PositiveQuantity::try_from(Decimal::new(milli, 3)).expect("valid");
            let slot_ends_at = at(slot_hour);
            let a = allocate_fefo(requested, slot_ends_at, &candidates);

            // First entry per id is the batch as the function sees it.
            let mut by_id: BTreeMap<BatchId, BatchCandidate> = BTreeMap::new();
            for c in &candidates {
                by_id.entry(c.batch_id).or_insert(*c);
            }
            let eligible = |c: &BatchCandidate| c.expires_at > slot_ends_at && !c.available.is_zero();

            let mut used: BTreeMap<BatchId, Decimal> = BTreeMap::new();
            for l in &a.lines {
                let c = by_id.get(&l.batch_id).expect("a line names a candidate");
                // Never a batch expiring before (or at) the end of the slot.
                prop_assert!(c.expires_at > slot_ends_at);
                *used.entry(l.batch_id).or_default() += l.quantity.get().as_decimal();
            }
            prop_assert_eq!(used.len(), a.lines.len(), "one line per batch");
            // Never more than a batch has.
            for (id, u) in &used {
                prop_assert!(*u <= by_id[id].available.as_decimal());
            }
            // Never more than requested, and allocated + shortfall is exactly the request.
            let total: Decimal = used.values().sum();
            prop_assert!(total <= requested.get().as_decimal());
            prop_assert_eq!(total + a.shortfall.as_decimal(), requested.get().as_decimal());
            // Earlier expiry first: a batch is used only when every eligible batch expiring
            // strictly earlier is used up.
            for id in used.keys() {
                let later = &by_id[id];
                for earlier in by_id.values().filter(|c| eligible(c) && c.expires_at < later.expires_at) {
                    prop_assert_eq!(
                        used.get(&earlier.batch_id).copied().unwrap_or_default(),
                        earlier.available.as_decimal(),
                        "{:?} used while {:?} had stock left", later.batch_id, earlier.batch_id
                    );
                }
            }
            // Exactly the request when eligible stock suffices; else all eligible stock.
            let eligible_stock: Decimal = by_id.values().filter(|c| eligible(c)).map(|c| c.available.as_decimal()).sum();
            if eligible_stock >= requested.get().as_decimal() {
                prop_assert_eq!(total, requested.get().as_decimal());
                prop_assert!(a.is_complete());
            } else {
                prop_assert_eq!(total, eligible_stock);
            }
        }
    }
}
