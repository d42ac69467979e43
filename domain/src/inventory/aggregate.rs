//! The cqrs-es adapter. A batch's decisions need nothing from outside (the clock arrives in the
//! commands that need it), so `handle` only calls the pure rules.

use super::{InventoryBatch, InventoryCommand, InventoryError, InventoryEvent};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;

impl Aggregate for InventoryBatch {
    const TYPE: &'static str = schemas::aggregate_types::INVENTORY_BATCH;
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Error = InventoryError;
    type Services = ();

    async fn handle(
        &mut self,
        command: InventoryCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), InventoryError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: InventoryEvent) {
        self.evolve(event);
    }
}
