//! What a consumer counts per event: outcomes by topic, handler durations and timer fire lag.
//!
//! The handler stack and the consumer share one [`ConsumerMetrics`]: the stack's `Measure`
//! layer times each handler attempt and counts it handled, failed or retried; the filter and
//! dedup layers count what they skip; the consumer counts what it defers. Each is a relaxed add
//! to a sharded counter (see [`super::shards`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::metrics::histogram::Histogram;
use crate::metrics::producer::ProducerMetrics;
use crate::metrics::responses::ResponseMetrics;
use crate::metrics::scrape::Scrape;
use crate::metrics::shards::Sharded;
use crate::metrics::telemetry::TelemetryMetrics;
use crate::metrics::topics::{Topics, MAX_TOPICS};

/// A message or a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Message = 0,
    Timer = 1,
}

const KINDS: [(Kind, &str); 2] = [(Kind::Message, "message"), (Kind::Timer, "timer")];

/// What happened to an event (or one attempt at it); see the README's metrics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A handler attempt succeeded.
    Handled = 0,
    /// A handler attempt failed (or timed out).
    Failed = 1,
    /// An attempt after the first, in place or a deferred event coming back.
    Retried = 2,
    /// Parked in its key's deferred backlog.
    Deferred = 3,
    /// Skipped by the filter (own output, or not in `allowed_events`).
    Filtered = 4,
    /// Skipped as already handled.
    Deduplicated = 5,
}

const OUTCOMES: [(Outcome, &str); 6] = [
    (Outcome::Handled, "handled"),
    (Outcome::Failed, "failed"),
    (Outcome::Retried, "retried"),
    (Outcome::Deferred, "deferred"),
    (Outcome::Filtered, "filtered"),
    (Outcome::Deduplicated, "deduplicated"),
];

const PER_TOPIC: usize = KINDS.len() * OUTCOMES.len();

/// One consumer's event metrics; see the module docs.
#[derive(Debug)]
pub(crate) struct ConsumerMetrics {
    group: Box<str>,
    topics: Topics,
    events: Sharded,
    durations: [Histogram; 2],
    fire_lag: Histogram,
    /// Producers whose sends this consumer's scrape reports (the client's own, the failure
    /// topic's). Locked only when one is attached and when scraped.
    producers: Mutex<Vec<Arc<ProducerMetrics>>>,
    /// The client's telemetry emitter, when it has one.
    telemetry: Mutex<Option<Arc<TelemetryMetrics>>>,
    /// The consumer's answers to requests, when it has a subsystem.
    responses: Mutex<Option<Arc<ResponseMetrics>>>,
}

impl ConsumerMetrics {
    pub(crate) fn new<'a>(group: &str, topics: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            group: group.into(),
            topics: Topics::new(topics),
            events: Sharded::new(MAX_TOPICS * PER_TOPIC),
            durations: [Histogram::default(), Histogram::default()],
            fire_lag: Histogram::default(),
            producers: Mutex::default(),
            telemetry: Mutex::default(),
            responses: Mutex::default(),
        }
    }

    /// The slot of `topic`, for callers that count many events of one topic.
    pub(crate) fn topic_slot(&self, topic: &str) -> usize {
        self.topics.index(topic)
    }

    /// Counts one `outcome` of a `kind` event of `topic`.
    #[inline]
    pub(crate) fn count(&self, topic: &str, kind: Kind, outcome: Outcome) {
        self.count_in(self.topic_slot(topic), kind, outcome);
    }

    /// [`ConsumerMetrics::count`] with the topic's slot already known.
    #[inline]
    pub(crate) fn count_in(&self, slot: usize, kind: Kind, outcome: Outcome) {
        let cell = slot * PER_TOPIC + kind as usize * OUTCOMES.len() + outcome as usize;
        self.events.add(cell, 1);
    }

    /// Records how long one handler attempt took.
    #[inline]
    pub(crate) fn observe_handler(&self, kind: Kind, duration: Duration) {
        self.durations[kind as usize].observe(duration);
    }

    /// Records how late a timer was handed to its key's queue.
    pub(crate) fn observe_fire_lag(&self, lag: Duration) {
        self.fire_lag.observe(lag);
    }

    /// Reports `producer`'s sends with this consumer's.
    pub(crate) fn attach_producer(&self, producer: Arc<ProducerMetrics>) {
        let mut producers = self
            .producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !producers.iter().any(|known| Arc::ptr_eq(known, &producer)) {
            producers.push(producer);
        }
    }

    /// Reports a responder's answers with this consumer.
    pub(crate) fn attach_responses(&self, responses: Arc<ResponseMetrics>) {
        *self
            .responses
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(responses);
    }

    /// Reports the client's telemetry emitter with this consumer.
    pub(crate) fn attach_telemetry(&self, telemetry: Arc<TelemetryMetrics>) {
        *self
            .telemetry
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(telemetry);
    }

    /// Adds the counters and histograms to `scrape`; series never counted are left out.
    pub(crate) fn write(&self, scrape: &mut Scrape) {
        let group = &*self.group;
        for (slot, topic) in self.topics.each() {
            for (kind, kind_label) in KINDS {
                for (outcome, outcome_label) in OUTCOMES {
                    let cell = slot * PER_TOPIC + kind as usize * OUTCOMES.len() + outcome as usize;
                    let value = self.events.sum(cell);
                    if value > 0 {
                        scrape.counter(
                            "prosody_events_total",
                            "Events by topic, kind and outcome (handled, failed and retried count handler attempts).",
                            &[
                                ("group", group),
                                ("topic", topic),
                                ("kind", kind_label),
                                ("outcome", outcome_label),
                            ],
                            value,
                        );
                    }
                }
            }
        }
        for (kind, kind_label) in KINDS {
            scrape.histogram(
                "prosody_handler_duration_seconds",
                "Time one handler attempt took, timeouts included.",
                &[("group", group), ("kind", kind_label)],
                &self.durations[kind as usize].snapshot(),
            );
        }
        scrape.histogram(
            "prosody_timer_fire_lag_seconds",
            "How long after its time a timer was handed to its key's queue.",
            &[("group", group)],
            &self.fire_lag.snapshot(),
        );
        for producer in attached(&self.producers) {
            producer.write(scrape, group);
        }
        if let Some(telemetry) = attached(&self.telemetry) {
            telemetry.write(scrape, group);
        }
        if let Some(responses) = attached(&self.responses) {
            responses.write(scrape, group);
        }
    }
}

/// A copy of what is attached in `slot`, so a scrape holds no lock while it writes.
fn attached<T: Clone>(slot: &Mutex<T>) -> T {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_counted_per_topic_and_kind() {
        let metrics = ConsumerMetrics::new("billing", ["orders"]);
        metrics.count("orders", Kind::Message, Outcome::Handled);
        metrics.count("orders", Kind::Message, Outcome::Handled);
        metrics.count("orders", Kind::Timer, Outcome::Failed);
        metrics.count("refunds", Kind::Message, Outcome::Filtered);
        metrics.observe_handler(Kind::Message, Duration::from_millis(2));
        let mut scrape = Scrape::default();
        metrics.write(&mut scrape);
        let text = scrape.encode();
        for line in [
            "prosody_events_total{group=\"billing\",topic=\"orders\",kind=\"message\",outcome=\"handled\"} 2\n",
            "prosody_events_total{group=\"billing\",topic=\"orders\",kind=\"timer\",outcome=\"failed\"} 1\n",
            "prosody_events_total{group=\"billing\",topic=\"refunds\",kind=\"message\",outcome=\"filtered\"} 1\n",
            "prosody_handler_duration_seconds_count{group=\"billing\",kind=\"message\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        assert!(
            !text.contains("outcome=\"deferred\""),
            "zero series are left out"
        );
    }
}
