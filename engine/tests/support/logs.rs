//! Captures engine log lines a test watches for, so a test can assert that something was
//! logged (and why).
//!
//! [`super::init_logging`] installs [`Capture`] as part of the process-wide subscriber (engine
//! events come from the runtime's threads and the loader's thread, so a thread-local subscriber
//! would miss them). Only events at INFO or above whose message contains a watched pattern are
//! formatted and kept; with nothing watched, an event costs one lock-free check.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Live watches; dead ones are pruned as events arrive.
static WATCHES: Mutex<Vec<Weak<Watched>>> = Mutex::new(Vec::new());
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Watched {
    pattern: String,
    lines: Mutex<Vec<String>>,
}

/// Log lines whose message contains a pattern, kept from [`watch`] until this is dropped.
pub struct Watch(Arc<Watched>);

/// Starts keeping every log line (INFO or above) whose message contains `pattern`.
pub fn watch(pattern: &str) -> Watch {
    super::init_logging();
    let watched = Arc::new(Watched {
        pattern: pattern.to_owned(),
        lines: Mutex::new(Vec::new()),
    });
    WATCHES.lock().unwrap().push(Arc::downgrade(&watched));
    LIVE.fetch_add(1, Ordering::SeqCst);
    Watch(watched)
}

impl Watch {
    /// The lines kept so far: the message, then each field as ` name=value`.
    pub fn lines(&self) -> Vec<String> {
        self.0.lines.lock().unwrap().clone()
    }

    /// The lines kept so far that also contain `text` (a topic name, say).
    pub fn lines_with(&self, text: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.contains(text))
            .collect()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The layer that feeds the watches.
pub struct Capture;

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        if LIVE.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut line = Line::default();
        event.record(&mut line);
        let text = format!("{}{}", line.message, line.fields);
        let mut watches = WATCHES.lock().unwrap();
        watches.retain(|watch| watch.strong_count() > 0);
        for watch in watches.iter().filter_map(Weak::upgrade) {
            if line.message.contains(&watch.pattern) {
                watch.lines.lock().unwrap().push(text.clone());
            }
        }
    }
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}
