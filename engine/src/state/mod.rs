//! Keyed state: per-key values, maps, sets and deques that commit with the event.
//!
//! Every Kafka key of a consumer group gets its own durable collections.
//!
//! - [`Definition`]: a collection's name, [`StateKind`], [`Payload`] and validated
//!   [`Options`]; [`Registry`]: a client's collections, checked together.
//! - [`StateValue`]: opaque bytes or a [`MessageRef`].

mod definition;
mod error;
mod registry;
mod value;

pub use definition::{
    Definition, DefinitionBuilder, Options, Payload, StateKind, MAX_KEYSET_LIMIT, MAX_NAME_BYTES,
    MAX_TTL_SECS,
};
pub use error::StateError;
pub use registry::Registry;
pub use value::{MessageRef, StateValue};
