//! What a send from Ruby continues: the trace and baggage of the message or event being
//! handled, or a `traceparent` String, with Ruby's own baggage on top when it has some. Not a
//! class: `Native::Client#send_message` and `#excise` share it.

use magnus::{prelude::*, Error, RHash, Ruby, Value};
use prosody_engine::Continuation;

use crate::ruby_api::event::Event;
use crate::ruby_api::message::RubyMessage;

/// What a send continues: the trace of `within` (a `Message`, a `Context` or a
/// `traceparent` String; anything else starts a new trace), with `baggage` when given.
pub(crate) fn continuation(
    ruby: &Ruby,
    within: Value,
    baggage: Option<RHash>,
) -> Result<Continuation, Error> {
    let handled = if let Ok(message) = <&RubyMessage>::try_convert(within) {
        Continuation::from(message.trace_parent()).with_baggage(message.baggage_value())
    } else if let Ok(event) = <&Event>::try_convert(within) {
        event.continuation()
    } else {
        let parent = String::try_convert(within)
            .ok()
            .and_then(|text| prosody_engine::TraceParent::parse(&text));
        Continuation::from(parent)
    };
    Ok(match baggage {
        Some(entries) => handled.with_baggage(baggage_from_hash(ruby, entries)?),
        None => handled,
    })
}

/// Baggage from a Hash of Strings; entries the header cannot carry are dropped with a warning
/// (see [`prosody_engine::Baggage::from_entries`]), a key or value that is not a String is a
/// TypeError naming it.
fn baggage_from_hash(
    ruby: &Ruby,
    entries: RHash,
) -> Result<Option<prosody_engine::Baggage>, Error> {
    let mut pairs = Vec::with_capacity(entries.len());
    entries.foreach(|key: Value, value: Value| {
        let name = String::try_convert(key).map_err(|_| {
            Error::new(
                ruby.exception_type_error(),
                format!("baggage keys must be Strings, got {}", key.inspect()),
            )
        })?;
        let value = String::try_convert(value).map_err(|_| {
            Error::new(
                ruby.exception_type_error(),
                format!(
                    "baggage value of {name:?} must be a String, got {}",
                    value.inspect()
                ),
            )
        })?;
        pairs.push((name, value));
        Ok(magnus::r_hash::ForEach::Continue)
    })?;
    Ok(prosody_engine::Baggage::from_entries(pairs))
}
