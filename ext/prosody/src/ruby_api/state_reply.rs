//! What a keyed-state operation answers, and how the waiting Ruby thread turns it into Ruby
//! values.
//!
//! A bytes collection's values are JSON, decoded here with the GVL. A message collection's
//! values are references ([`MessageRef`]) that [`StateReply::reload`] reads back from Kafka on
//! the runtime, after the operation released its transaction, so the waiter only wraps
//! ready [`prosody_engine::Message`]s as `Prosody::Message` objects.

use magnus::{prelude::*, Error, Ruby, Value};
use prosody_engine::state::{MessageRef, Outcome, StateValue};
use prosody_engine::Reloader;

use crate::helpers::errors::prosody_class;
use crate::helpers::json;
use crate::ruby_api::message::RubyMessage;

/// One stored value, as far as the runtime took it.
pub(crate) enum Item {
    /// A bytes collection's JSON.
    Json(Vec<u8>),
    /// A message collection's reference, not yet reloaded.
    Reference(MessageRef),
    /// A message collection's message, reloaded.
    Message(prosody_engine::Message),
}

impl From<StateValue> for Item {
    fn from(value: StateValue) -> Self {
        match value {
            StateValue::Bytes(bytes) => Item::Json(bytes),
            StateValue::Message(reference) => Item::Reference(reference),
        }
    }
}

impl Item {
    async fn reload(self, reloader: &Reloader, collection: &str) -> prosody_engine::Result<Self> {
        match self {
            Item::Reference(reference) => {
                Ok(Item::Message(reloader.load(collection, &reference).await?))
            }
            ready => Ok(ready),
        }
    }

    fn into_ruby(self, ruby: &Ruby) -> Result<Value, Error> {
        match self {
            Item::Json(data) => decode(ruby, &data),
            Item::Message(message) => Ok(ruby.obj_wrap(RubyMessage::new(message)).as_value()),
            // Published readers never see message collections (the definition refuses
            // `published`), and a handler's replies are reloaded before they get here.
            Item::Reference(reference) => Err(Error::new(
                prosody_class(ruby, "PermanentStateError")?,
                format!(
                    "offset {} of `{}`/{} was not reloaded: message collections can be read only in their consumer's handlers",
                    reference.offset, reference.topic, reference.partition
                ),
            )),
        }
    }
}

/// What an operation produced.
pub(crate) enum StateReply {
    /// A stored value, or nil.
    Value(Option<Item>),
    /// Several values (nil for absent ones).
    Values(Vec<Option<Item>>),
    /// `[key, value]` pairs.
    Pairs(Vec<(Vec<u8>, Item)>),
    /// Map keys or set members.
    Keys(Vec<Vec<u8>>),
    Bool(bool),
    Count(u64),
    /// nil.
    Nothing,
    /// `:applied` or `:no_op`.
    Outcome(Outcome),
    Failed(prosody_engine::Error),
}

impl StateReply {
    /// The same reply with every message reference read back through `reloader`, all at once
    /// (the loader coalesces and reads forward); the first that cannot be read fails the reply
    /// with [`StateError::MessageUnavailable`](prosody_engine::state::StateError) naming
    /// `collection`.
    pub(crate) async fn reload(self, reloader: &Reloader, collection: &str) -> Self {
        let items = |items: Vec<Option<Item>>| async move {
            let loads = items.into_iter().map(|item| async move {
                match item {
                    Some(item) => item.reload(reloader, collection).await.map(Some),
                    None => Ok(None),
                }
            });
            futures::future::try_join_all(loads).await
        };
        let reloaded = match self {
            Self::Value(item) => items(vec![item])
                .await
                .map(|mut one| Self::Value(one.pop().flatten())),
            Self::Values(values) => items(values).await.map(Self::Values),
            Self::Pairs(pairs) => {
                let (keys, values): (Vec<_>, Vec<_>) =
                    pairs.into_iter().map(|(k, v)| (k, Some(v))).unzip();
                items(values).await.map(|values| {
                    Self::Pairs(
                        keys.into_iter()
                            .zip(values)
                            .filter_map(|(key, value)| Some((key, value?)))
                            .collect(),
                    )
                })
            }
            other => Ok(other),
        };
        reloaded.unwrap_or_else(Self::Failed)
    }

    /// The reply as a Ruby value, or the error as `Prosody::PermanentStateError` (a mistake
    /// in the program or its deploy, a fenced owner, a finished transaction) or
    /// `Prosody::TransientStateError` (a store failure, a lost race, or a message Kafka can
    /// no longer give back).
    pub(crate) fn into_ruby(self, ruby: &Ruby) -> Result<Value, Error> {
        let item = |item: Option<Item>| -> Result<Value, Error> {
            match item {
                Some(item) => item.into_ruby(ruby),
                None => Ok(ruby.qnil().as_value()),
            }
        };
        let key = |key: &[u8]| ruby.str_new(&String::from_utf8_lossy(key)).as_value();
        Ok(match self {
            Self::Value(value) => item(value)?,
            Self::Values(values) => {
                let array = ruby.ary_new_capa(values.len());
                for value in values {
                    array.push(item(value)?)?;
                }
                array.as_value()
            }
            Self::Pairs(pairs) => {
                let array = ruby.ary_new_capa(pairs.len());
                for (name, value) in pairs {
                    array.push(ruby.ary_new_from_values(&[key(&name), item(Some(value))?]))?;
                }
                array.as_value()
            }
            Self::Keys(keys) => ruby.ary_from_iter(keys.iter().map(|k| key(k))).as_value(),
            Self::Bool(on) => magnus::IntoValue::into_value_with(on, ruby),
            Self::Count(count) => ruby.integer_from_u64(count).as_value(),
            Self::Nothing => ruby.qnil().as_value(),
            Self::Outcome(Outcome::Applied) => ruby.to_symbol("applied").as_value(),
            Self::Outcome(Outcome::NoOp) => ruby.to_symbol("no_op").as_value(),
            Self::Failed(error) => {
                let class = if error.is_transient() {
                    "TransientStateError"
                } else {
                    "PermanentStateError"
                };
                return Err(Error::new(prosody_class(ruby, class)?, error.to_string()));
            }
        })
    }
}

fn decode(ruby: &Ruby, data: &[u8]) -> Result<Value, Error> {
    let json: serde_json::Value =
        serde_json::from_slice(data).map_err(|error| {
            match prosody_class(ruby, "PermanentStateError") {
                Ok(class) => Error::new(class, format!("stored state is not JSON: {error}")),
                Err(lookup) => lookup,
            }
        })?;
    json::to_ruby(ruby, &json)
}
