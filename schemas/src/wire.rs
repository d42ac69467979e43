//! The one definition of an event module's registry: [`wire_events!`] declares the event type
//! names, the tagged enum kept in the store and published, the decoder, the list of event types
//! with their versions and the JSON Schema of each, from one table, so a new event type is
//! added in one line and nothing about it can drift.

/// Declares the events of one aggregate type, all at version 1:
///
/// ```ignore
/// wire_events! {
///     /// An order event, tagged with its event type.
///     OrderEvent {
///         /// `OrderPlaced`: ...
///         PLACED = OrderPlaced(OrderPlacedV1),
///     }
/// }
/// ```
///
/// gives `pub const PLACED: &str = "OrderPlaced"`, the enum (its variant names are the event
/// type names, so serde's external tag is the event type), `EVENT_TYPES`, `current_version`,
/// `json_schemas`, and `event_type` / `event_version` / `decode` on the enum.
#[macro_export]
macro_rules! wire_events {
    (
        $(#[$meta:meta])*
        $enum:ident {
            $( $(#[$vmeta:meta])* $konst:ident = $variant:ident($payload:ty) ),+ $(,)?
        }
    ) => {
        $(
            $(#[$vmeta])*
            pub const $konst: &str = stringify!($variant);
        )+

        /// Every event type of this module with its current version.
        pub const EVENT_TYPES: &[(&str, u32)] = &[ $( ($konst, 1) ),+ ];

        /// The current version of an event type of this module.
        pub fn current_version(event_type: &str) -> Option<u32> {
            EVENT_TYPES
                .iter()
                .find(|(t, _)| *t == event_type)
                .map(|(_, v)| *v)
        }

        /// The JSON Schema of every event type and version: `(event type, version, schema)`.
        pub fn json_schemas() -> Vec<(&'static str, u32, serde_json::Value)> {
            vec![ $( ($konst, 1, schemars::schema_for!($payload).to_value()) ),+ ]
        }

        $(#[$meta])*
        // A wire value lives only while it is encoded or decoded; boxing the big payloads
        // would only add allocations.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $enum {
            $(
                #[doc = concat!("See [`", stringify!($konst), "`].")]
                $variant($payload),
            )+
        }

        impl $enum {
            /// The event type name.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $konst, )+
                }
            }

            /// The version of this event type's payload.
            pub fn event_version(&self) -> u32 {
                current_version(self.event_type()).unwrap_or(1)
            }

            /// Decodes an envelope's (untagged) payload.
            ///
            /// # Errors
            /// [`EnvelopeError::UnknownEventType`](crate::EnvelopeError::UnknownEventType) for
            /// a type or version this module does not know,
            /// [`EnvelopeError::Payload`](crate::EnvelopeError::Payload) when the payload does
            /// not match its schema.
            pub fn decode(
                event_type: &str,
                event_version: u32,
                payload: serde_json::Value,
            ) -> Result<Self, $crate::EnvelopeError> {
                let bad = |source| $crate::EnvelopeError::Payload {
                    event_type: event_type.to_owned(),
                    event_version,
                    source,
                };
                $(
                    if event_type == $konst && event_version == 1 {
                        return serde_json::from_value(payload).map(Self::$variant).map_err(bad);
                    }
                )+
                Err($crate::EnvelopeError::UnknownEventType {
                    event_type: event_type.to_owned(),
                    event_version,
                })
            }
        }
    };
}
