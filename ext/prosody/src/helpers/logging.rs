//! Engine log lines for Ruby's `Prosody.logger`, delivered in batches.
//!
//! A `tracing` layer formats each event on whatever thread emits it and appends it to a bounded
//! buffer; it writes the wake-up pipe only when the buffer goes from empty to non-empty. A Ruby
//! thread (`Prosody::LogPump`) waits on that pipe and drains the buffer in one call, so logging
//! never costs a GVL round trip per line and never blocks the engine. When the buffer is full
//! (Ruby not draining), new lines are counted and dropped, and the count is reported.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::helpers::wake::WakePipe;

/// Lines kept while Ruby is not draining.
const CAPACITY: usize = 10_000;

struct Sink {
    lines: Mutex<VecDeque<(u8, String)>>,
    dropped: AtomicU64,
    pipe: WakePipe,
}

static SINK: OnceLock<Option<Sink>> = OnceLock::new();

fn sink() -> Option<&'static Sink> {
    SINK.get_or_init(|| {
        let pipe = WakePipe::new().ok()?;
        let sink = Sink {
            lines: Mutex::new(VecDeque::new()),
            dropped: AtomicU64::new(0),
            pipe,
        };
        let subscriber = tracing_subscriber::registry().with(ToRuby);
        // Another global subscriber (an embedding application's) wins; then Ruby sees nothing.
        let _ = tracing::subscriber::set_global_default(subscriber);
        Some(sink)
    })
    .as_ref()
}

struct ToRuby;

impl<S: Subscriber> Layer<S> for ToRuby {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        *metadata.level() <= Level::INFO && metadata.target().starts_with("prosody")
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(sink) = SINK.get().and_then(Option::as_ref) else {
            return;
        };
        let mut line = Fields::default();
        event.record(&mut line);
        let severity = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 2,
            _ => 1,
        };
        let mut lines = sink
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
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

/// The pipe that becomes readable when lines arrive (installing the layer on first use); `None`
/// if the pipe could not be created, in which case engine lines are not forwarded.
pub(crate) fn fileno() -> Option<i32> {
    sink().map(|sink| sink.pipe.read_fd())
}

/// What Ruby has not yet seen: how many lines were dropped since the last call, and the
/// buffered `(severity, line)` pairs (1 info, 2 warn, 3 error), oldest first.
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
