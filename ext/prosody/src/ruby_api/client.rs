//! `Prosody::Native::Client`: the engine's producer and consumer behind one handle.
//!
//! Positional and minimal: `Prosody::Client` (Ruby) owns keyword options, defaults and docs.
//! Operations that wait (a send, unsubscribe) return a [`Pending`] at once.

use std::sync::Mutex;

use magnus::{
    function, method, prelude::*, DataTypeFunctions, Error, RArray, RHash, Ruby, Symbol, TypedData,
    Value,
};
use prosody_engine::request::Requester;
use prosody_engine::state::Registry;
use prosody_engine::{Config, Consumer, Producer, Telemetry};

use crate::helpers::errors::{prosody_class, prosody_error, to_ruby};
use crate::helpers::runtime::{runtime, ProcessBound};
use crate::ruby_api::bridge::Bridge;
use crate::ruby_api::pending::{Outcome, Pending};
use crate::ruby_api::send_context::continuation;
use crate::ruby_api::state_definition::StateDefinition;
use crate::ruby_api::state_ops::StateOp;
use crate::ruby_api::state_reader::StateReader;

/// The Ruby-visible native client.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Native::Client", free_immediately)]
pub(crate) struct NativeClient {
    config: Config,
    producer: ProcessBound<Producer>,
    /// Sends requests with `producer`; its reply consumer starts with the first request.
    requester: ProcessBound<Requester>,
    /// The client's one telemetry emitter, shared by its producer and consumer; it stops
    /// (after a bounded flush) once the client and its consumer are gone.
    telemetry: ProcessBound<Telemetry>,
    consumer: Mutex<Option<ProcessBound<Consumer>>>,
    /// The keyed-state collections its consumer registers (`state_collections`).
    state: Mutex<Registry>,
    /// Reads of other subsystems' published state.
    reader: StateReader,
}

impl NativeClient {
    fn new(ruby: &Ruby, options: RHash) -> Result<Self, Error> {
        let config = crate::ruby_api::config::resolve(ruby, options)?;
        let runtime = runtime().map_err(|message| prosody_error(ruby, message))?;
        // The producer's delivery futures need a runtime; create it inside one.
        let _guard = runtime.enter();
        // The first client in this process starts the span exporter, when one is configured.
        if let Err(error) = prosody_engine::otel::start(runtime.handle()) {
            tracing::warn!(%error, "spans will not be exported");
        }
        let telemetry =
            Telemetry::start(&config, runtime.handle()).map_err(|error| to_ruby(ruby, &error))?;
        let producer = Producer::with_telemetry(&config, telemetry.clone())
            .map_err(|error| to_ruby(ruby, &error))?;
        let requester = Requester::new(&config, producer.clone());
        Ok(Self {
            config,
            requester: ProcessBound::new(requester),
            producer: ProcessBound::new(producer),
            telemetry: ProcessBound::new(telemetry),
            consumer: Mutex::new(None),
            state: Mutex::default(),
            reader: StateReader::default(),
        })
    }

    /// The producer, unless this object was inherited across `fork`.
    fn local_producer(&self, ruby: &Ruby) -> Result<Producer, Error> {
        if !self.producer.is_local() {
            return Err(prosody_error(ruby, "this client was created before fork; create a new Prosody::Client in the child process"));
        }
        Ok((*self.producer).clone())
    }

    /// The requester, unless this object was inherited across `fork`.
    pub(crate) fn local_requester(&self, ruby: &Ruby) -> Result<Requester, Error> {
        self.local_producer(ruby)?;
        Ok((*self.requester).clone())
    }

    /// Starts a send; the `Pending` finishes when the broker acknowledged the record. The
    /// payload is encoded here, on the calling Ruby thread. `within` is the trace the send
    /// continues: the `Prosody::Message` whose handler is sending, the `Prosody::Context`
    /// of a timer whose handler is sending, a W3C `traceparent` String (Ruby's current
    /// OpenTelemetry span), or nil for a new trace. `baggage` is a Hash of String keys and
    /// values (Ruby's current OpenTelemetry baggage) for the record's `baggage` header, or nil
    /// for the baggage of the message or timer in `within`, if any.
    fn send_message(
        ruby: &Ruby,
        rb_self: &Self,
        topic: String,
        key: String,
        payload: Value,
        within: Value,
        baggage: Option<RHash>,
    ) -> Result<Pending, Error> {
        let json = crate::helpers::json::to_json(ruby, payload)?;
        let producer = rb_self.local_producer(ruby)?;
        let trace = continuation(ruby, within, baggage)?;
        Pending::start_engine(ruby, async move {
            producer.send_in_trace(&topic, &key, &json, trace).await
        })
    }

    /// Sends an excise record (`key` with no payload, a tombstone) to `topic`, continuing the
    /// trace as `send_message` does; returns a `Pending`.
    fn excise(
        ruby: &Ruby,
        rb_self: &Self,
        topic: String,
        key: String,
        within: Value,
        baggage: Option<RHash>,
    ) -> Result<Pending, Error> {
        let producer = rb_self.local_producer(ruby)?;
        let trace = continuation(ruby, within, baggage)?;
        Pending::start_engine(ruby, async move {
            producer.excise_in_trace(&topic, &key, trace).await
        })
    }

    /// Registers the keyed-state collections (an Array of `Native::StateDefinition`) that the
    /// next subscription's handlers use, and the `subsystem` (or nil) that publishes them;
    /// ArgumentError for a duplicate name or a published collection without a subsystem.
    fn register_state(
        ruby: &Ruby,
        rb_self: &Self,
        definitions: RArray,
        subsystem: Option<String>,
    ) -> Result<(), Error> {
        let registry =
            crate::ruby_api::state_definition::registry(ruby, definitions, subsystem.as_deref())?;
        *rb_self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = registry;
        Ok(())
    }

    /// Starts read `operation` with `args` on `key` of `subsystem`'s published `definition`
    /// (see `state_reader.rs`) and returns its `Pending`.
    fn state_read(
        ruby: &Ruby,
        rb_self: &Self,
        subsystem: String,
        definition: &StateDefinition,
        key: String,
        operation: Symbol,
        args: RArray,
    ) -> Result<Pending, Error> {
        let operation = StateOp::parse(ruby, definition.definition(), operation, args)?;
        let read = rb_self.reader.read(
            &rb_self.config,
            subsystem,
            definition.definition().clone(),
            key,
            operation,
        );
        Pending::start(ruby, async move { Outcome::State(read.await) })
    }

    fn subscribe(ruby: &Ruby, rb_self: &Self, bridge: &Bridge) -> Result<(), Error> {
        let mut slot = rb_self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_some() {
            return Err(Error::new(
                prosody_class(ruby, "AlreadySubscribedError")?,
                "the client is already subscribed; call unsubscribe first",
            ));
        }
        let runtime = runtime().map_err(|message| prosody_error(ruby, message))?;
        let telemetry = if rb_self.telemetry.is_local() {
            (*rb_self.telemetry).clone()
        } else {
            Telemetry::disabled()
        };
        let collections = rb_self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let consumer = Consumer::subscribe_with_state(
            &rb_self.config,
            bridge.handler(),
            runtime.handle().clone(),
            telemetry,
            collections,
        )
        .map_err(|error| to_ruby(ruby, &error))?;
        // The client's sends appear in `/metrics` beside its consumer's events.
        if rb_self.producer.is_local() {
            consumer.report_sends_of(&rb_self.producer);
        }
        *slot = Some(ProcessBound::new(consumer));
        Ok(())
    }

    /// Stops the requester's reply consumer, if a request started it, so its thread and
    /// librdkafka handle end now rather than when Ruby collects this object. Later requests
    /// fail. Does nothing in a process this client was inherited into.
    fn close_requests(&self) {
        if self.requester.is_local() {
            self.requester.close();
        }
    }

    /// Starts draining and stopping the consumer (at most `shutdown_timeout`); nil when not
    /// subscribed. Its `Pending` must be waited on without holding up the processor thread,
    /// which keeps finishing in-flight handlers meanwhile: `Pending#value` does that.
    fn unsubscribe(ruby: &Ruby, rb_self: &Self) -> Result<Option<Pending>, Error> {
        let consumer = rb_self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(consumer) = consumer else {
            return Ok(None);
        };
        if !consumer.is_local() {
            return Err(prosody_error(
                ruby,
                "this client was subscribed before fork; subscribe a new Prosody::Client in the child process",
            ));
        }
        let consumer = consumer.into_inner();
        Pending::start(ruby, async move {
            consumer.shutdown().await;
            Outcome::Done
        })
        .map(Some)
    }

    /// Mock mode's test hook: fires `key`'s timers in the owned partitions now. A `Pending`
    /// whose value is how many fired; it raises outside mock mode or when not subscribed.
    fn fire_timers(ruby: &Ruby, rb_self: &Self, key: String) -> Result<Pending, Error> {
        let slot = rb_self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(consumer) = slot.as_ref().filter(|consumer| consumer.is_local()) else {
            return Err(Error::new(
                prosody_class(ruby, "NotSubscribedError")?,
                "not subscribed: mock_fire_timers needs a subscribed client (in this process)",
            ));
        };
        let firing = consumer.fire_timers(&key);
        drop(slot);
        Pending::start(ruby, async move {
            match firing.await {
                Ok(count) => Outcome::Count(count),
                Err(error) => Outcome::Failed(error),
            }
        })
    }

    /// Mock mode's test hook: whether `key` is deferred in an owned partition (false when not
    /// subscribed).
    fn is_deferred(&self, key: String) -> bool {
        self.consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|consumer| consumer.is_local())
            .is_some_and(|consumer| consumer.is_deferred(&key))
    }

    /// Every option as this client resolved it, by Symbol name.
    fn effective(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        crate::ruby_api::config::effective_hash(ruby, &rb_self.config)
    }

    /// The options that do nothing in this client's mode, as Symbols.
    fn inapplicable(ruby: &Ruby, rb_self: &Self) -> RArray {
        let names = rb_self.config.inapplicable_options();
        ruby.ary_from_iter(names.into_iter().map(|name| ruby.to_symbol(name)))
    }

    fn state(&self) -> &'static str {
        if self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some()
        {
            "running"
        } else if self.config.group_id.is_some() && !self.config.subscribed_topics.is_empty() {
            "configured"
        } else {
            "unconfigured"
        }
    }

    /// Why the consumer reaches no broker; nil while one answers or when not subscribed.
    fn broker_error(&self) -> Option<String> {
        let consumer = self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        consumer.as_ref().and_then(|c| c.broker_error())
    }

    fn assigned_partitions(&self) -> usize {
        let consumer = self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        consumer.as_ref().map_or(0, |c| c.assigned_partitions())
    }

    /// Pauses (`quiet`) or resumes the consumer; false when not subscribed.
    fn set_paused(&self, quiet: bool) -> bool {
        let consumer = self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(consumer) = consumer.as_ref() else {
            return false;
        };
        if quiet {
            consumer.pause();
        } else {
            consumer.resume();
        }
        true
    }

    fn is_paused(&self) -> bool {
        let consumer = self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        consumer.as_ref().is_some_and(|c| c.is_paused())
    }

    fn is_stalled(&self) -> bool {
        let consumer = self
            .consumer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        consumer.as_ref().is_some_and(|c| c.is_stalled())
    }

    fn source_system(&self) -> Option<String> {
        self.config.effective_source_system().map(str::to_string)
    }

    fn max_concurrency(&self) -> usize {
        self.config.max_concurrency
    }
}

/// Defines `Prosody::Native::Client`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_module("Native")?
        .define_class("Client", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeClient::new, 1))?;
    class.define_method("send_message", method!(NativeClient::send_message, 5))?;
    class.define_method("excise", method!(NativeClient::excise, 4))?;
    class.define_method("request", method!(crate::ruby_api::request::request, 8))?;
    class.define_method("subscribe", method!(NativeClient::subscribe, 1))?;
    class.define_method("register_state", method!(NativeClient::register_state, 2))?;
    class.define_method("state_read", method!(NativeClient::state_read, 5))?;
    class.define_method("unsubscribe", method!(NativeClient::unsubscribe, 0))?;
    class.define_method("close_requests", method!(NativeClient::close_requests, 0))?;
    class.define_method("fire_timers", method!(NativeClient::fire_timers, 1))?;
    class.define_method("deferred?", method!(NativeClient::is_deferred, 1))?;
    class.define_method("state", method!(NativeClient::state, 0))?;
    class.define_method(
        "assigned_partitions",
        method!(NativeClient::assigned_partitions, 0),
    )?;
    class.define_method("stalled?", method!(NativeClient::is_stalled, 0))?;
    class.define_method("broker_error", method!(NativeClient::broker_error, 0))?;
    class.define_method("set_paused", method!(NativeClient::set_paused, 1))?;
    class.define_method("paused?", method!(NativeClient::is_paused, 0))?;
    class.define_method("source_system", method!(NativeClient::source_system, 0))?;
    class.define_method("max_concurrency", method!(NativeClient::max_concurrency, 0))?;
    class.define_method("effective", method!(NativeClient::effective, 0))?;
    class.define_method("inapplicable", method!(NativeClient::inapplicable, 0))?;
    Ok(())
}
