//! The one definition of an event module's registry: [`wire_events!`] declares the event type
//! names, the tagged enum kept in the store and published, the decoder, the list of event types
//! with their versions and the JSON Schema of each, from one table, so a new event type is
//! added in one line and nothing about it can drift.

/// Declares the events of one aggregate type:
///
/// ```ignore
/// wire_events! {
///     /// A supplier event, tagged with its event type.
///     SupplierEvent {
///         /// `OrderPlaced`: the variant's name is the event type.
///         PLACED = OrderPlaced(OrderPlacedV1),
///         /// `SupplierRegistered`: the event type, when it is not the variant's name.
///         REGISTERED = "SupplierRegistered" => Registered(RegisteredV1),
///         /// At version 2; version 1 payloads are read through an upcaster.
///         SUSPENDED = "SupplierSuspended" => Suspended(SuspendedV2) @ 2 {
///             1 => ReasonV1 => upcast_suspended_v1
///         },
///     }
/// }
/// ```
///
/// gives a `pub const` per event type name, the enum (serde's external tag is the event type),
/// `EVENT_TYPES` (each type with its current version), `current_version`, `json_schemas` (every
/// version, old ones first), `upcast_payload` (any known version's JSON to the current one),
/// and `event_type` / `event_version` / `payload` / `decode` (any known version, upcast) on the
/// enum.
#[macro_export]
macro_rules! wire_events {
    (
        $(#[$meta:meta])*
        $enum:ident {
            $(
                $(#[$vmeta:meta])*
                $konst:ident = $($name:literal =>)? $variant:ident($payload:ty)
                    $(@ $version:literal { $($old:literal => $old_ty:ty => $up:path),+ $(,)? })?
            ),+ $(,)?
        }
    ) => {
        $(
            $(#[$vmeta])*
            pub const $konst: &str = $crate::__wire_name!($($name)? ; $variant);
        )+

        /// Every event type of this module with its current version.
        pub const EVENT_TYPES: &[(&str, u32)] = &[ $( ($konst, $crate::__wire_version!($($version)?)) ),+ ];

        /// The current version of an event type of this module.
        pub fn current_version(event_type: &str) -> Option<u32> {
            EVENT_TYPES
                .iter()
                .find(|(t, _)| *t == event_type)
                .map(|(_, v)| *v)
        }

        /// The JSON Schema of every event type and version: `(event type, version, schema)`.
        pub fn json_schemas() -> Vec<(&'static str, u32, serde_json::Value)> {
            vec![
                $(
                    $($( ($konst, $old, schemars::schema_for!($old_ty).to_value()), )+)?
                    (
                        $konst,
                        $crate::__wire_version!($($version)?),
                        schemars::schema_for!($payload).to_value(),
                    ),
                )+
            ]
        }

        /// Brings a payload of any known version of `event_type` to the current version, as
        /// JSON: `(current version, payload)`. Payloads already current are returned unchanged
        /// (not validated; `decode` validates).
        ///
        /// # Errors
        /// [`EnvelopeError::Payload`](crate::EnvelopeError::Payload) when an old payload does
        /// not match its own version's schema.
        #[allow(unused_variables)]
        pub fn upcast_payload(
            event_type: &str,
            event_version: u32,
            payload: serde_json::Value,
        ) -> Result<(u32, serde_json::Value), $crate::EnvelopeError> {
            let bad = |source| $crate::EnvelopeError::Payload {
                event_type: event_type.to_owned(),
                event_version,
                source,
            };
            $($($(
                if event_type == $konst && event_version == $old {
                    let old: $old_ty = serde_json::from_value(payload).map_err(bad)?;
                    let current = serde_json::to_value($up(old)).map_err(bad)?;
                    return Ok(($crate::__wire_version!($version), current));
                }
            )+)?)+
            Ok((event_version, payload))
        }

        $(#[$meta])*
        // A wire value lives only while it is encoded or decoded; boxing the big payloads
        // would only add allocations.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $enum {
            $(
                #[doc = concat!("See [`", stringify!($konst), "`].")]
                $(#[serde(rename = $name)])?
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

            /// The payload in its current version, untagged (as in an envelope).
            pub fn payload(&self) -> serde_json::Value {
                let tagged = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
                $crate::envelope::untag_stored_payload(self.event_type(), tagged)
                    .unwrap_or(serde_json::Value::Null)
            }

            /// Decodes an envelope's (untagged) payload of any known version; old versions are
            /// upcast, so the result is always the current version.
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
                    if event_type == $konst {
                        if event_version == $crate::__wire_version!($($version)?) {
                            return serde_json::from_value(payload).map(Self::$variant).map_err(bad);
                        }
                        $($(
                            if event_version == $old {
                                return serde_json::from_value::<$old_ty>(payload)
                                    .map(|old| Self::$variant($up(old)))
                                    .map_err(bad);
                            }
                        )+)?
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

/// An event type's name: the literal given, else the variant's name (for [`wire_events!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __wire_name {
    ($name:literal ; $variant:ident) => {
        $name
    };
    (; $variant:ident) => {
        stringify!($variant)
    };
}

/// An event type's current version: the one given, else 1 (for [`wire_events!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __wire_version {
    ($version:literal) => {
        $version
    };
    () => {
        1
    };
}
