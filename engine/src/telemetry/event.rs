//! One lifecycle event as the handler path hands it over, and its JSON form.
//!
//! An [`Event`] is plain data whose strings are shared (`Arc`) with the message or timer it
//! describes, so making one on the handler path copies pointers and reads the clock, nothing
//! more. The emitter task turns it into JSON ([`Event::write_json`]); the field names and event
//! types are those of the reference design (camelCase, optional fields left out).

use std::io::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use crate::error::ErrorClass;
use crate::trace::TraceParent;

/// Headers as a consumed record carries them.
pub(crate) type Headers = Arc<[(String, Option<Vec<u8>>)]>;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    MessageDispatched,
    MessageSucceeded,
    MessageFailed,
    MessageSent,
    TimerScheduled,
    TimerCancelled,
    TimerDispatched,
    TimerSucceeded,
    TimerFailed,
}

impl EventType {
    /// The `type` field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::MessageDispatched => "prosody.message.dispatched",
            Self::MessageSucceeded => "prosody.message.succeeded",
            Self::MessageFailed => "prosody.message.failed",
            Self::MessageSent => "prosody.message.sent",
            Self::TimerScheduled => "prosody.timer.scheduled",
            Self::TimerCancelled => "prosody.timer.cancelled",
            Self::TimerDispatched => "prosody.timer.dispatched",
            Self::TimerSucceeded => "prosody.timer.succeeded",
            Self::TimerFailed => "prosody.timer.failed",
        }
    }
}

/// Whether an attempt is first-time work or a retry of earlier work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Demand {
    Normal,
    Failure,
}

/// The trace context an event carries, read only when it is written.
#[derive(Debug, Clone, Default)]
pub(crate) enum Trace {
    #[default]
    None,
    /// A consumed record's `traceparent` and `tracestate` headers.
    Headers(Headers),
    /// The context a send stamped on its record.
    Parent(TraceParent),
}

/// One lifecycle event; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) kind: EventType,
    /// When it happened, read on the path that made the event.
    pub(crate) at: SystemTime,
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: Option<i64>,
    pub(crate) key: Arc<str>,
    /// The consumer group, or a producer's source system.
    pub(crate) source: Arc<str>,
    pub(crate) demand: Option<Demand>,
    /// A timer's time.
    pub(crate) scheduled: Option<SystemTime>,
    /// A failure's class and text.
    pub(crate) error: Option<(ErrorClass, Box<str>)>,
    pub(crate) trace: Trace,
}

impl Event {
    /// An event of `kind` now, for `key` in `topic`/`partition`, with no optional field set.
    pub(crate) fn new(
        kind: EventType,
        topic: Arc<str>,
        partition: i32,
        key: Arc<str>,
        source: Arc<str>,
    ) -> Self {
        Self {
            kind,
            at: SystemTime::now(),
            topic,
            partition,
            offset: None,
            key,
            source,
            demand: None,
            scheduled: None,
            error: None,
            trace: Trace::None,
        }
    }

    /// Appends the event as one JSON object to `out`, naming `hostname` as where it happened.
    pub(crate) fn write_json(&self, hostname: &str, out: &mut Vec<u8>) {
        let mut json = Object::open(out);
        json.text("type", self.kind.name());
        json.display("eventTime", humantime::format_rfc3339_millis(self.at));
        if let Some(time) = self.scheduled {
            json.display("scheduledTime", humantime::format_rfc3339_seconds(time));
            json.text("timerType", "application");
        }
        json.text("topic", &self.topic);
        json.number("partition", i64::from(self.partition));
        if let Some(offset) = self.offset {
            json.number("offset", offset);
        }
        json.text("key", &self.key);
        json.text("source", &self.source);
        json.text("hostname", hostname);
        if let Some(demand) = self.demand {
            let demand = match demand {
                Demand::Normal => "normal",
                Demand::Failure => "failure",
            };
            json.text("demandType", demand);
        }
        if let Some((class, text)) = &self.error {
            let category = match class {
                ErrorClass::Transient => "transient",
                ErrorClass::Permanent => "permanent",
                ErrorClass::Terminal => "terminal",
            };
            json.text("errorCategory", category);
            json.text("exception", text);
        }
        match &self.trace {
            Trace::None => {}
            Trace::Parent(parent) => json.display("traceParent", parent),
            Trace::Headers(headers) => {
                if let Some(parent) = header(headers, "traceparent").and_then(TraceParent::parse) {
                    json.display("traceParent", parent);
                    if let Some(state) = header(headers, "tracestate") {
                        json.text("traceState", state);
                    }
                }
            }
        }
        json.close();
    }
}

fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .and_then(|(_, value)| std::str::from_utf8(value.as_deref()?).ok())
}

/// A JSON object written field by field.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    fn name(&mut self, name: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.string(name);
        self.out.push(b':');
    }

    fn string(&mut self, value: &str) {
        // Writing a string into a Vec cannot fail; serde_json does the escaping.
        let _ = serde_json::to_writer(&mut *self.out, value);
    }

    fn text(&mut self, name: &str, value: &str) {
        self.name(name);
        self.string(value);
    }

    fn number(&mut self, name: &str, value: i64) {
        self.name(name);
        // Writing into a Vec cannot fail.
        let _ = write!(self.out, "{value}");
    }

    /// A value whose text needs no escaping (a timestamp), written without a copy.
    fn display(&mut self, name: &str, value: impl std::fmt::Display) {
        self.name(name);
        let _ = write!(self.out, "\"{value}\"");
    }

    fn close(self) {
        self.out.push(b'}');
    }
}
