//! The cqrs-es adapter: gathers the facts a decision needs, then calls the pure rules.

use super::SupplierId;
use super::{Facts, RegisterSupplier, Supplier, SupplierCommand, SupplierError, SupplierEvent};
use crate::values::RegistrationNumber;
use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use std::fmt;
use std::sync::Arc;

/// Whether a registration number is free for a new supplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationAvailability {
    /// Free (or already this supplier's). The registration claims it when it is appended; a
    /// registration that loses a race for it is decided again.
    Available,
    /// Held by a pending, approved or suspended supplier.
    InUse,
    /// Held by a rejected supplier: blocked for good.
    Blocked,
}

/// The registry of registration numbers, which spans every supplier. Implemented by the write
/// service over the claims its events take.
#[async_trait]
pub trait RegistrationRegistry: Send + Sync {
    /// Whether `number` is free for `supplier`, or who holds it.
    ///
    /// # Errors
    /// When the registry cannot be reached.
    async fn availability(
        &self,
        number: &RegistrationNumber,
        supplier: SupplierId,
    ) -> Result<RegistrationAvailability, Box<dyn std::error::Error + Send + Sync>>;
}

/// What a supplier's command handler may consult.
#[derive(Clone)]
pub struct SupplierServices {
    /// The registration-number registry.
    pub registry: Arc<dyn RegistrationRegistry>,
}

impl fmt::Debug for SupplierServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupplierServices").finish_non_exhaustive()
    }
}

impl Aggregate for Supplier {
    const TYPE: &'static str = schemas::aggregate_types::SUPPLIER;
    type Command = SupplierCommand;
    type Event = SupplierEvent;
    type Error = SupplierError;
    type Services = SupplierServices;

    async fn handle(
        &mut self,
        command: SupplierCommand,
        services: &SupplierServices,
        sink: &EventSink<Self>,
    ) -> Result<(), SupplierError> {
        let mut facts = Facts::default();
        if let (
            None,
            SupplierCommand::Register(RegisterSupplier {
                registration_number,
                supplier_id,
                ..
            }),
        ) = (self.state(), &command)
        {
            facts.registration = Some(
                services
                    .registry
                    .availability(registration_number, *supplier_id)
                    .await
                    .map_err(SupplierError::FactsUnavailable)?,
            );
        }
        for event in self.decide(command, &facts)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: SupplierEvent) {
        self.evolve(event);
    }
}

/// Reads stored supplier events of older versions as the current version when the write side
/// loads an aggregate (the same upcasters the projections and exports use, from `schemas`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SupplierUpcaster;

impl cqrs_es::persist::EventUpcaster for SupplierUpcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        let current = schemas::supplier::current_version(event_type);
        matches!(
            (schemas::envelope::parse_version(event_version), current),
            (Ok(v), Some(c)) if v < c
        )
    }

    fn upcast(
        &self,
        mut event: cqrs_es::persist::SerializedEvent,
    ) -> cqrs_es::persist::SerializedEvent {
        let Ok(version) = schemas::envelope::parse_version(&event.event_version) else {
            return event;
        };
        let stored = std::mem::take(&mut event.payload);
        let upcast = schemas::envelope::untag_stored_payload(&event.event_type, stored.clone())
            .and_then(|p| schemas::supplier::upcast_payload(&event.event_type, version, p));
        match upcast {
            Ok((to, payload)) => {
                let mut tagged = serde_json::Map::new();
                tagged.insert(event.event_type.clone(), payload);
                event.payload = serde_json::Value::Object(tagged);
                event.event_version = to.to_string();
            }
            // Left as stored: deserialising it then fails with the store's own error.
            Err(_) => event.payload = stored,
        }
        event
    }
}

/// The upcasters of the supplier store, oldest version first.
pub fn supplier_upcasters() -> Vec<Box<dyn cqrs_es::persist::EventUpcaster>> {
    vec![Box::new(SupplierUpcaster)]
}
