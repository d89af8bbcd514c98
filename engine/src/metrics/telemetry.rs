//! What a telemetry emitter counts: events handed to its producer and events dropped.
//!
//! An event is dropped when the emitter's channel is full (it fell behind), when its producer's
//! queue is full, or when the broker refused it. Each count is one relaxed add, made off the
//! handler path apart from a drop at the channel, which is rare by design.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::scrape::Scrape;

/// One emitter's counters, shared by every handle of it.
#[derive(Debug, Default)]
pub(crate) struct TelemetryMetrics {
    written: AtomicU64,
    dropped: AtomicU64,
}

impl TelemetryMetrics {
    /// Counts one event handed to the producer.
    pub(crate) fn written(&self) {
        self.written.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `count` events dropped; returns the total dropped so far.
    pub(crate) fn dropped(&self, count: u64) -> u64 {
        self.dropped.fetch_add(count, Ordering::Relaxed) + count
    }

    /// The events dropped so far.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Adds the emitter's series, labelled with the consumer `group` it reports with.
    pub(crate) fn write(&self, scrape: &mut Scrape, group: &str) {
        let labels = [("group", group)];
        scrape.counter(
            "prosody_telemetry_events_total",
            "Telemetry events handed to the telemetry topic's producer.",
            &labels,
            self.written.load(Ordering::Relaxed),
        );
        scrape.counter(
            "prosody_telemetry_dropped_total",
            "Telemetry events dropped because the emitter fell behind or the broker refused them.",
            &labels,
            self.dropped_total(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_and_dropped_events_are_reported_with_the_group() {
        let metrics = TelemetryMetrics::default();
        metrics.written();
        metrics.written();
        assert_eq!(metrics.dropped(3), 3);
        let mut scrape = Scrape::default();
        metrics.write(&mut scrape, "billing");
        let text = scrape.encode();
        for line in [
            "prosody_telemetry_events_total{group=\"billing\"} 2\n",
            "prosody_telemetry_dropped_total{group=\"billing\"} 3\n",
            "# TYPE prosody_telemetry_dropped_total counter\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
