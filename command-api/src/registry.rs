//! The registration-number registry: a supplier's registration number is unique across all
//! suppliers, and a rejected supplier's number is blocked for good.
//!
//! The number is a [`Claim`] of the `SupplierRegistered` event, written by the command bus in
//! the same statement as the event (`unique_claims`): a registration and its number commit
//! together or not at all, so there is nothing to reserve before, release after a failure, or
//! heal after a crash. Before deciding, the handler asks [`PgRegistrationRegistry`] who holds
//! the number (one read); two registrations racing for a free number both decide to register,
//! one append wins, and the other collides on the claim and is decided again, now seeing the
//! holder. A claim is never given up: a rejected holder blocks the number.

use async_trait::async_trait;
use domain::supplier::SupplierEvent;
use domain::values::RegistrationNumber;
use domain::{RegistrationAvailability, RegistrationRegistry, SupplierId};
use platform::store::Claim;
use sqlx::PgPool;

/// The claim kind of registration numbers.
pub const REGISTRATION_NUMBER: &str = "supplier.registration_number";

/// The unique values a supplier event claims: its registration number, on registration.
pub fn claims(event: &SupplierEvent) -> Vec<Claim> {
    match event {
        SupplierEvent::Registered {
            registration_number,
            ..
        } => vec![Claim {
            kind: REGISTRATION_NUMBER,
            value: registration_number.uniqueness_key(),
        }],
        _ => Vec::new(),
    }
}

/// Who holds a registration number, read from `unique_claims`.
#[derive(Debug, Clone)]
pub struct PgRegistrationRegistry {
    pool: PgPool,
}

impl PgRegistrationRegistry {
    /// A registry over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl RegistrationRegistry for PgRegistrationRegistry {
    async fn availability(
        &self,
        number: &RegistrationNumber,
        supplier: SupplierId,
    ) -> Result<RegistrationAvailability, Box<dyn std::error::Error + Send + Sync>> {
        let holder: Option<(String, bool)> = sqlx::query_as(
            "SELECT c.aggregate_id,
                    EXISTS (SELECT 1 FROM events e
                             WHERE e.aggregate_type = c.aggregate_type
                               AND e.aggregate_id = c.aggregate_id AND e.event_type = $3)
               FROM unique_claims c
              WHERE c.kind = $1 AND c.value = $2",
        )
        .bind(REGISTRATION_NUMBER)
        .bind(number.uniqueness_key())
        .bind(schemas::supplier::REJECTED)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match holder {
            None => RegistrationAvailability::Available,
            Some((id, _)) if id == supplier.to_string() => RegistrationAvailability::Available,
            Some((_, true)) => RegistrationAvailability::Blocked,
            Some((_, false)) => RegistrationAvailability::InUse,
        })
    }
}
