//! Engine log lines for Ruby's `Prosody.logger`, delivered in batches.
//!
//! A `tracing` layer formats each event on whatever thread emits it and appends it to a bounded
//! buffer; it writes the wake-up pipe only when the buffer goes from empty to non-empty. A Ruby
//! thread (`Prosody::LogPump`) waits on that pipe and drains the buffer in one call, so logging
//! never costs a GVL round trip per line and never blocks the engine. When the buffer is full
//! (Ruby not draining), new lines are counted and dropped, and the count is reported.
//!
//! Which lines are made at all:
//! - **The Ruby logger's level.** The pump tells us `Prosody.logger.level` ([`set_level`]) when
//!   it starts, when the logger is replaced and on each of its turns, so a line the logger would
//!   discard is never formatted. `DEBUG` lets engine debug (and trace) lines through.
//! - **`PROSODY_LOG`**, read once when the layer is installed: `tracing`'s env-filter syntax
//!   by target (`prosody_engine::consumer=debug`, `warn,prosody_engine::timers=debug`), level
//!   and target directives only. Unset, every `prosody*` target passes. Either way the logger's
//!   level still applies. An invalid value is reported as one warning and ignored.
//!
//! Callsites register as "sometimes", so `tracing` asks [`ForRuby::enabled`] on each event
//! rather than caching a verdict made at another level: an atomic load and a prefix test.
//!
//! The same subscriber carries the engine's OpenTelemetry layer (`prosody_engine::otel`),
//! which exports spans once an exporter runs. Each layer has its own filter, so the logger's
//! level never hides a span and spans never reach the logger.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::EnvFilter;

use crate::helpers::wake::WakePipe;

/// Lines kept while Ruby is not draining.
const CAPACITY: usize = 10_000;

struct Sink {
    lines: Mutex<VecDeque<(u8, String)>>,
    dropped: AtomicU64,
    pipe: WakePipe,
}

static SINK: OnceLock<Option<Sink>> = OnceLock::new();

/// The Ruby logger's level as a Ruby `Logger` severity (0 debug … 3 error); INFO, the default
/// logger's, until the pump says otherwise.
static RUBY_LEVEL: AtomicU8 = AtomicU8::new(1);

/// The filter variable, in `tracing`'s env-filter syntax.
const FILTER_VARIABLE: &str = "PROSODY_LOG";

fn sink() -> Option<&'static Sink> {
    SINK.get_or_init(|| {
        let pipe = WakePipe::new().ok()?;
        let sink = Sink {
            lines: Mutex::new(VecDeque::new()),
            dropped: AtomicU64::new(0),
            pipe,
        };
        let (filter, problem) = match std::env::var(FILTER_VARIABLE) {
            Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(value.trim()) {
                Ok(filter) => (Some(filter), None),
                Err(error) => (
                    None,
                    Some(format!(
                        "{FILTER_VARIABLE} ignored: {value:?} is not a valid filter ({error}); expected e.g. prosody_engine::consumer=debug"
                    )),
                ),
            },
            _ => (None, None),
        };
        if let Some(problem) = problem {
            lock(&sink).push_back((2, problem));
        }
        let subscriber = tracing_subscriber::registry()
            .with(ToRuby.with_filter(ForRuby { filter }))
            .with(prosody_engine::otel::layer());
        // Another global subscriber (an embedding application's) wins; then Ruby sees nothing.
        let _ = tracing::subscriber::set_global_default(subscriber);
        Some(sink)
    })
    .as_ref()
}

/// Sets the most verbose level forwarded: a Ruby `Logger` severity (0 debug, 1 info, 2 warn,
/// 3 error, 4 fatal, 5 unknown); out-of-range values are clamped.
pub(crate) fn set_level(severity: i64) {
    let clamped = u8::try_from(severity.clamp(0, 5)).unwrap_or(1);
    RUBY_LEVEL.store(clamped, Ordering::Relaxed);
}

/// The Ruby `Logger` severity a line of `level` is logged at.
fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 2,
        Level::INFO => 1,
        _ => 0,
    }
}

/// The layer, which buffers the events [`ForRuby`] lets through.
struct ToRuby;

/// Which events reach Ruby; `filter` is `PROSODY_LOG`'s, if set and valid. Spans never do.
struct ForRuby {
    filter: Option<EnvFilter>,
}

impl<S: Subscriber> Filter<S> for ForRuby {
    /// Whether the callsite may ever pass, ignoring the Ruby level (which changes).
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() {
            return Interest::never();
        }
        let wanted = match &self.filter {
            Some(filter) => {
                !<EnvFilter as Filter<S>>::callsite_enabled(filter, metadata).is_never()
            }
            None => metadata.target().starts_with("prosody"),
        };
        if wanted {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, context: &Context<'_, S>) -> bool {
        if severity(*metadata.level()) < RUBY_LEVEL.load(Ordering::Relaxed) {
            return false;
        }
        match &self.filter {
            Some(filter) => <EnvFilter as Filter<S>>::enabled(filter, metadata, context),
            None => metadata.target().starts_with("prosody"),
        }
    }
}

impl<S: Subscriber> Layer<S> for ToRuby {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(sink) = SINK.get().and_then(Option::as_ref) else {
            return;
        };
        let mut line = Fields::default();
        event.record(&mut line);
        let severity = severity(*event.metadata().level());
        let mut lines = lock(sink);
        if lines.len() >= CAPACITY {
            sink.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = lines.is_empty();
        lines.push_back((severity, line.text));
        drop(lines);
        if was_empty {
            sink.pipe.wake();
        }
    }
}

#[derive(Default)]
struct Fields {
    text: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.text, " {}={value}", field.name());
        }
    }
}

fn lock(sink: &Sink) -> std::sync::MutexGuard<'_, VecDeque<(u8, String)>> {
    sink.lines
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The pipe that becomes readable when lines arrive (installing the layer on first use); `None`
/// if the pipe could not be created, in which case engine lines are not forwarded.
pub(crate) fn fileno() -> Option<i32> {
    sink().map(|sink| sink.pipe.read_fd())
}

/// What Ruby has not yet seen: how many lines were dropped since the last call, and the
/// buffered `(severity, line)` pairs (0 debug, 1 info, 2 warn, 3 error), oldest first.
pub(crate) fn drain() -> (u64, Vec<(u8, String)>) {
    let Some(sink) = sink() else {
        return (0, Vec::new());
    };
    sink.pipe.drain();
    let dropped = sink.dropped.swap(0, Ordering::Relaxed);
    let lines = sink
        .lines
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .drain(..)
        .collect();
    (dropped, lines)
}
