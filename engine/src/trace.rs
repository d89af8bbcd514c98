//! W3C trace context (`traceparent`) values.
//!
//! A message sent while a handler runs continues the trace of the message being handled (a
//! [`TraceParent::child`] of its `traceparent`); any other send starts a new sampled trace, so
//! downstream systems can still correlate it. With an OTLP exporter running (see
//! [`crate::otel`]) the span id is that of an exported span; without one only the trace id
//! means anything, and it still travels from hop to hop through Kafka.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::baggage::Baggage;

/// What a piece of work carries on from the work that caused it: the trace context it
/// continues and the W3C baggage it passes along. A send writes both as record headers; a
/// timer keeps both in its store.
///
/// ```
/// use prosody_engine::{Baggage, Continuation, TraceParent};
/// let parent = TraceParent::new_root();
/// let carried = Continuation::from(Some(parent)).with_baggage(Baggage::parse("tenant=acme"));
/// assert_eq!(carried.parent, Some(parent));
/// assert_eq!(carried.baggage.unwrap().as_str(), "tenant=acme");
/// assert_eq!(Continuation::default().parent, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Continuation {
    /// The trace context continued; `None` starts a new trace.
    pub parent: Option<TraceParent>,
    /// The baggage passed along, if any.
    pub baggage: Option<Baggage>,
}

impl Continuation {
    /// The same, carrying `baggage` instead.
    #[must_use]
    pub fn with_baggage(mut self, baggage: Option<Baggage>) -> Self {
        self.baggage = baggage;
        self
    }

    /// Whether there is nothing to carry on.
    pub fn is_empty(&self) -> bool {
        self.parent.is_none() && self.baggage.is_none()
    }
}

impl From<Option<TraceParent>> for Continuation {
    fn from(parent: Option<TraceParent>) -> Self {
        Self {
            parent,
            baggage: None,
        }
    }
}

impl From<TraceParent> for Continuation {
    fn from(parent: TraceParent) -> Self {
        Some(parent).into()
    }
}

/// A `traceparent` header value: version 00, trace id, parent span id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    span_id: u64,
    sampled: bool,
}

impl TraceParent {
    /// A new root context with fresh random identifiers.
    ///
    /// ```
    /// let value = prosody_engine::TraceParent::new_root().to_string();
    /// assert_eq!(value.len(), 55);
    /// assert!(value.starts_with("00-"));
    /// ```
    pub fn new_root() -> Self {
        let high = next_random();
        let low = next_random();
        Self {
            trace_id: (u128::from(high) << 64) | u128::from(low),
            span_id: next_random() | 1,
            sampled: true,
        }
    }

    /// A context for a new span in the same trace: the trace id and the sampling decision are
    /// kept, the span id is new.
    ///
    /// ```
    /// # use prosody_engine::TraceParent;
    /// let parent = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    /// let child = parent.child().to_string();
    /// assert!(child.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
    /// assert!(child.ends_with("-01"));
    /// assert_ne!(child, parent.to_string());
    /// ```
    #[must_use]
    pub fn child(&self) -> Self {
        Self {
            span_id: next_random() | 1,
            ..*self
        }
    }

    /// A context from its parts; `None` for the all-zero identifiers W3C calls invalid.
    pub(crate) fn from_ids(trace_id: u128, span_id: u64, sampled: bool) -> Option<Self> {
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// The trace's identifier.
    pub(crate) fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The identifier of the span this context names.
    pub(crate) fn span_id(&self) -> u64 {
        self.span_id
    }

    /// Whether the trace was sampled upstream.
    pub(crate) fn sampled(&self) -> bool {
        self.sampled
    }

    /// Parses a header value; `None` if it is malformed.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|id| *id != 0)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id,
            self.span_id,
            u8::from(self.sampled)
        )
    }
}

// A splitmix64 stream seeded from the clock: identifiers need to be unique, not secret.
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut seed = STATE.load(Ordering::Relaxed);
    if seed == 0 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let _ = STATE.compare_exchange(
            0,
            now ^ u64::from(std::process::id()),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    seed = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn round_trips_through_text() {
        let parent = TraceParent::new_root();
        assert_eq!(TraceParent::parse(&parent.to_string()), Some(parent));
    }

    #[test]
    fn rejects_malformed_values() {
        assert_eq!(TraceParent::parse("00-zz-11-01"), None);
        assert_eq!(
            TraceParent::parse(&format!("00-{}-{}-01", "0".repeat(32), "1".repeat(16))),
            None
        );
    }

    #[test]
    fn identifiers_differ() {
        assert_ne!(TraceParent::new_root(), TraceParent::new_root());
    }
}
