//! `Prosody::Message`: a thin Ruby view of an engine message.
//!
//! Nothing is converted up front. The payload is turned into Ruby objects on first access and
//! cached (the cache is marked for the GC); key and topic are new Strings per call.

use std::sync::OnceLock;

use magnus::gc::Marker;
use magnus::value::Opaque;
use magnus::{method, prelude::*, DataTypeFunctions, Error, RHash, Ruby, TypedData, Value};

use crate::helpers::json;

/// The Ruby-visible message.
#[derive(TypedData)]
#[magnus(class = "Prosody::Message", free_immediately, mark)]
pub(crate) struct RubyMessage {
    message: prosody_engine::Message,
    payload: OnceLock<Opaque<Value>>,
}

impl DataTypeFunctions for RubyMessage {
    fn mark(&self, marker: &Marker) {
        if let Some(payload) = self.payload.get() {
            marker.mark(*payload);
        }
    }
}

impl RubyMessage {
    /// The trace context sends made while the message is handled continue: its `receive`
    /// span's while spans are exported, else the one it arrived with.
    pub(crate) fn trace_parent(&self) -> Option<prosody_engine::TraceParent> {
        self.message.trace_context()
    }

    /// The W3C baggage the message arrived with, checked (see [`prosody_engine::Baggage`]).
    pub(crate) fn baggage_value(&self) -> Option<prosody_engine::Baggage> {
        self.message.baggage()
    }

    /// Where the message lives: what a message collection stores of it.
    pub(crate) fn reference(&self) -> prosody_engine::state::MessageRef {
        prosody_engine::state::MessageRef::new(
            self.message.topic(),
            self.message.partition(),
            self.message.offset(),
        )
    }

    pub(crate) fn new(message: prosody_engine::Message) -> Self {
        Self {
            message,
            payload: OnceLock::new(),
        }
    }

    /// `Message#traceparent`: the W3C `traceparent` of the context the handler runs in (see
    /// [`RubyMessage::trace_parent`]), or nil when the record carried none and no span is made.
    fn traceparent(&self) -> Option<String> {
        self.trace_parent().map(|parent| parent.to_string())
    }

    /// `Message#baggage`: the record's W3C baggage as a Hash of decoded values (member
    /// properties left out), empty when it carried none.
    fn baggage(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let hash = ruby.hash_new();
        if let Some(baggage) = rb_self.baggage_value() {
            for (key, value) in baggage.entries() {
                hash.aset(key, value)?;
            }
        }
        Ok(hash)
    }

    fn topic(&self) -> String {
        self.message.topic().to_string()
    }

    fn partition(&self) -> i32 {
        self.message.partition()
    }

    fn offset(&self) -> i64 {
        self.message.offset()
    }

    fn key(&self) -> String {
        self.message.key().to_string()
    }

    fn timestamp(ruby: &Ruby, rb_self: &Self) -> Result<magnus::Time, Error> {
        let since = rb_self
            .message
            .timestamp()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        ruby.time_nano_new(since.as_secs() as i64, i64::from(since.subsec_nanos()))
    }

    fn payload(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        if let Some(cached) = rb_self.payload.get() {
            return Ok(ruby.get_inner(*cached));
        }
        let value = json::to_ruby(ruby, rb_self.message.payload())?;
        let _ = rb_self.payload.set(Opaque::from(value));
        Ok(rb_self
            .payload
            .get()
            .map(|cached| ruby.get_inner(*cached))
            .unwrap_or(value))
    }

    fn is_excise(&self) -> bool {
        self.message.is_excise()
    }

    fn headers(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let headers = ruby.hash_new();
        for (name, value) in rb_self.message.headers() {
            let value = value.as_ref().map(|bytes| ruby.str_from_slice(bytes));
            headers.aset(name.as_str(), value)?;
        }
        Ok(headers)
    }

    fn inspect(&self) -> String {
        format!(
            "#<Prosody::Message topic={:?} partition={} offset={} key={:?}>",
            self.message.topic(),
            self.message.partition(),
            self.message.offset(),
            self.message.key()
        )
    }
}

/// Defines `Prosody::Message`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_class("Message", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("topic", method!(RubyMessage::topic, 0))?;
    class.define_method("traceparent", method!(RubyMessage::traceparent, 0))?;
    class.define_method("baggage", method!(RubyMessage::baggage, 0))?;
    class.define_method("partition", method!(RubyMessage::partition, 0))?;
    class.define_method("offset", method!(RubyMessage::offset, 0))?;
    class.define_method("key", method!(RubyMessage::key, 0))?;
    class.define_method("timestamp", method!(RubyMessage::timestamp, 0))?;
    class.define_method("payload", method!(RubyMessage::payload, 0))?;
    class.define_method("headers", method!(RubyMessage::headers, 0))?;
    class.define_method("excise?", method!(RubyMessage::is_excise, 0))?;
    class.define_method("inspect", method!(RubyMessage::inspect, 0))?;
    Ok(())
}
