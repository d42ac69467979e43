//! The macros aggregates are written with: their id type, their cqrs-es adapter, and the
//! cqrs-es event name of an event that converts to its wire enum.

/// An id: a UUID newtype, serialised as the bare UUID, displayed as it.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

/// The cqrs-es adapter of an aggregate whose rules need nothing from outside: `handle` writes
/// what the pure `decide(&self, command) -> Result<Vec<Event>, Error>` answers, and `apply` is
/// `evolve`. (An aggregate that looks facts up first, like the supplier, writes its own.)
macro_rules! cqrs_aggregate {
    ($agg:ty, $type:expr, $command:ty, $event:ty, $error:ty) => {
        impl cqrs_es::Aggregate for $agg {
            const TYPE: &'static str = $type;
            type Command = $command;
            type Event = $event;
            type Error = $error;
            type Services = ();

            async fn handle(
                &mut self,
                command: $command,
                _services: &(),
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), $error> {
                for event in self.decide(command)? {
                    sink.write(event, self).await;
                }
                Ok(())
            }

            fn apply(&mut self, event: $event) {
                self.evolve(event);
            }
        }
    };
}

/// `cqrs_es::DomainEvent` for an event serialised through its wire enum: the event type is the
/// wire variant's name.
macro_rules! domain_event {
    ($event:ty, $wire:ty) => {
        impl cqrs_es::DomainEvent for $event {
            fn event_type(&self) -> String {
                <$wire>::from(self.clone()).event_type().to_owned()
            }

            fn event_version(&self) -> String {
                "1".to_owned()
            }
        }
    };
}

pub(crate) use {cqrs_aggregate, domain_event, id_type};
