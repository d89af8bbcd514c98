//! A sink that records what the emitter hands it, for tests of the emitter and its callers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Sink, Telemetry};
use crate::metrics::TelemetryMetrics;

/// Records each event as parsed JSON, with its Kafka key.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    events: Mutex<Vec<(String, serde_json::Value)>>,
    pub(crate) flushes: AtomicUsize,
}

impl Recording {
    /// A telemetry handle writing into a new recording, with a channel of `capacity`.
    pub(crate) fn start(capacity: usize) -> (Telemetry, Arc<Self>) {
        let sink = Arc::new(Self::default());
        let telemetry = Telemetry::spawn(
            Arc::clone(&sink) as Arc<dyn Sink>,
            capacity,
            "test-host".into(),
            Arc::new(TelemetryMetrics::default()),
        );
        (telemetry, sink)
    }

    pub(crate) fn events(&self) -> Vec<(String, serde_json::Value)> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The `type` of each event, in order.
    pub(crate) fn types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|(_, event)| event["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Sink for Recording {
    fn send(&self, key: &str, payload: &[u8]) -> bool {
        let Ok(event) = serde_json::from_slice(payload) else {
            return false;
        };
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((key.to_owned(), event));
        true
    }

    fn flush(&self, _timeout: Duration) {
        self.flushes.fetch_add(1, Ordering::SeqCst);
    }
}
