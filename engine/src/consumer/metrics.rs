//! The consumer's side of `/metrics`: the event counters the stack and partition tasks keep,
//! and gauges read from the consumer's state when a scrape asks.
//!
//! Gauges cost nothing between scrapes. Lag is librdkafka's: every statistics interval the
//! poll thread stores each owned partition's high watermark minus committed offset (see
//! `poll/stats.rs`); a partition appears once both are known, and leaves with its
//! assignment, so a rebalance never leaves stale partitions behind.

use std::sync::atomic::Ordering;

use crate::consumer::shared::Shared;
use crate::metrics::Scrape;

impl Shared {
    /// Adds this consumer's series to `scrape`.
    pub(crate) fn write_metrics(&self, scrape: &mut Scrape) {
        let group = self.settings.group_id.as_str();
        let labels = [("group", group)];
        let partitions = self.partitions();
        let assigned = i64::try_from(partitions.len()).unwrap_or(i64::MAX);
        let paused = self.paused.load(Ordering::Acquire) || self.quiet.load(Ordering::Acquire);
        let in_flight = i64::try_from(self.in_flight.load(Ordering::Acquire)).unwrap_or(i64::MAX);
        scrape.gauge(
            "prosody_events_in_flight",
            "Messages taken and not yet committable (bounded by max_uncommitted).",
            &labels,
            in_flight,
        );
        scrape.gauge(
            "prosody_partitions_assigned",
            "Partitions this consumer owns.",
            &labels,
            assigned,
        );
        scrape.gauge(
            "prosody_partitions_paused",
            "Owned partitions paused, by backpressure or pause.",
            &labels,
            if paused { assigned } else { 0 },
        );
        let mut rows: Vec<_> = partitions
            .iter()
            .map(|((topic, partition), handle)| {
                let lag = handle.progress.lag.load(Ordering::Relaxed);
                let pending = handle.timers.pending();
                (topic.clone(), partition.to_string(), lag, pending)
            })
            .collect();
        drop(partitions);
        rows.sort();
        for (topic, partition, lag, pending) in &rows {
            let labels = [
                ("group", group),
                ("topic", &**topic),
                ("partition", partition.as_str()),
            ];
            if *lag >= 0 {
                scrape.gauge(
                    "prosody_partition_lag",
                    "High watermark minus committed offset, per owned partition.",
                    &labels,
                    *lag,
                );
            }
            scrape.gauge(
                "prosody_timers_pending",
                "Timers loaded for firing and not yet handled, per owned partition.",
                &labels,
                i64::try_from(*pending).unwrap_or(i64::MAX),
            );
        }
        self.metrics.write(scrape);
    }
}
