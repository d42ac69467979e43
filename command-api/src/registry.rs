//! The registration-number registry: a uniqueness table spanning all suppliers.
//!
//! Registration reserves the number (`reserved`, with the new supplier's id) inside the
//! aggregate's handler, before the `SupplierRegistered` event is appended; when the command
//! fails, the service releases it. A reservation whose supplier has events *is* the holding:
//! no confirmation step (and no extra commit) is needed. A rejection blocks the number for
//! good (`blocked`). Crash windows heal themselves: a reservation older than two minutes whose
//! supplier has no events is taken over, and a number whose holder was rejected but never
//! blocked is blocked when someone tries to use it.

use async_trait::async_trait;
use domain::values::RegistrationNumber;
use domain::{RegistrationAvailability, RegistrationRegistry, SupplierId};
use sqlx::PgPool;

/// The registry over `supplier_registration_numbers`.
#[derive(Debug, Clone)]
pub struct PgRegistrationRegistry {
    pool: PgPool,
}

impl PgRegistrationRegistry {
    /// A registry over `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Releases a reservation whose registration did not happen. A reservation whose supplier
    /// does have events (the append succeeded but its answer was lost) is kept.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn release(
        &self,
        number: &RegistrationNumber,
        supplier: SupplierId,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "DELETE FROM supplier_registration_numbers r
              WHERE r.registration_number = $1 AND r.supplier_id = $2 AND r.state = 'reserved'
                AND NOT EXISTS (SELECT 1 FROM events e
                                 WHERE e.aggregate_type = $3 AND e.aggregate_id = $2::text)",
        )
        .bind(number.uniqueness_key())
        .bind(supplier.0)
        .bind(schemas::aggregate_types::SUPPLIER)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Blocks the number of a rejected supplier for good.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn block(&self, supplier: SupplierId) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE supplier_registration_numbers SET state = 'blocked', updated_at = now()
              WHERE supplier_id = $1",
        )
        .bind(supplier.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn holder_was_rejected(&self, holder: uuid::Uuid) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM events
                             WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = $3)",
        )
        .bind(schemas::aggregate_types::SUPPLIER)
        .bind(holder.to_string())
        .bind(schemas::supplier::REJECTED)
        .fetch_one(&self.pool)
        .await
    }
}

#[async_trait]
impl RegistrationRegistry for PgRegistrationRegistry {
    async fn reserve(
        &self,
        number: &RegistrationNumber,
        supplier: SupplierId,
    ) -> Result<RegistrationAvailability, Box<dyn std::error::Error + Send + Sync>> {
        let reserved: Option<uuid::Uuid> = sqlx::query_scalar(
            "INSERT INTO supplier_registration_numbers (registration_number, supplier_id, state)
             VALUES ($1, $2, 'reserved')
             ON CONFLICT (registration_number) DO UPDATE
               SET supplier_id = EXCLUDED.supplier_id, reserved_at = now(), updated_at = now()
               WHERE supplier_registration_numbers.state = 'reserved'
                 AND (supplier_registration_numbers.supplier_id = EXCLUDED.supplier_id
                      OR (supplier_registration_numbers.reserved_at < now() - interval '2 minutes'
                          AND NOT EXISTS (
                            SELECT 1 FROM events e
                             WHERE e.aggregate_type = $3
                               AND e.aggregate_id = supplier_registration_numbers.supplier_id::text)))
             RETURNING supplier_id",
        )
        .bind(number.uniqueness_key())
        .bind(supplier.0)
        .bind(schemas::aggregate_types::SUPPLIER)
        .fetch_optional(&self.pool)
        .await?;
        if reserved.is_some() {
            return Ok(RegistrationAvailability::Reserved);
        }
        let held: Option<(String, uuid::Uuid)> = sqlx::query_as(
            "SELECT state, supplier_id FROM supplier_registration_numbers WHERE registration_number = $1",
        )
        .bind(number.uniqueness_key())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match held {
            Some((state, _)) if state == "blocked" => RegistrationAvailability::Blocked,
            Some((_, holder)) if self.holder_was_rejected(holder).await? => {
                self.block(SupplierId(holder)).await?;
                RegistrationAvailability::Blocked
            }
            _ => RegistrationAvailability::InUse,
        })
    }
}
