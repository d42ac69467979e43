//! The cqrs-es adapter. A product's decisions need no lookup of their own: the one outside fact
//! (the supplier's status and owner, for a listing) arrives in the command, looked up by the
//! handler, so `handle` only calls the pure rules.

use super::{Product, ProductCommand, ProductError, ProductEvent};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;

impl Aggregate for Product {
    const TYPE: &'static str = schemas::aggregate_types::PRODUCT;
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ProductCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ProductError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ProductEvent) {
        self.evolve(event);
    }
}
