//! Pausing the assignment when the consumer stays full, and resuming it.
//!
//! The poll thread stops taking records as soon as `max_uncommitted` are buffered or running,
//! while librdkafka keeps prefetching, bounded by `queued.min.messages`, after which its
//! fetcher idles by itself. A consumer that is full but still finishing messages (a slow
//! handler, a slow deduplication store) is therefore never paused: a pause would discard the
//! prefetch, and each resume would fetch and parse it again, which once cost a deduplicating
//! consumer on real Kafka about a third of its CPU per message. Only a stalled consumer, full with
//! nothing finished for a whole `poll_interval`, pauses its assignment to give that prefetch
//! back; it resumes once buffered work has fallen to half the limit.
//!
//! [`Consumer::pause`](crate::Consumer::pause) uses the same pause, at once and until
//! [`Consumer::resume`](crate::Consumer::resume).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use crate::consumer::poll::PollLoop;
use crate::consumer::shared::resume_mark;

impl PollLoop {
    /// Pauses the assignment when the consumer has been full for a whole `poll_interval`, and
    /// resumes it at the low-water mark. Returns whether the consumer is full.
    pub(super) fn apply_backpressure(&mut self) -> bool {
        let max = self.shared.settings.max_uncommitted;
        let in_flight = self.shared.in_flight.load(Ordering::Acquire);
        let paused = self.shared.paused.load(Ordering::Acquire);
        if self.shared.quiet.load(Ordering::Acquire) {
            // Paused at once: a quiet consumer must not keep prefetching for hours.
            if !paused {
                self.set_paused(true);
            }
            return true;
        }
        if in_flight < max {
            self.full_since = None;
        }
        if paused {
            if in_flight <= resume_mark(max) {
                self.set_paused(false);
            }
        } else if in_flight >= max && self.stalled_for(self.shared.settings.poll_interval) {
            self.set_paused(true);
        }
        in_flight >= max
    }

    /// Whether nothing has been released for `period` while full; each release restarts the
    /// clock.
    fn stalled_for(&mut self, period: std::time::Duration) -> bool {
        let released = self.shared.released.load(Ordering::Acquire);
        match self.full_since {
            Some((since, seen)) if seen == released => since.elapsed() >= period,
            _ => {
                self.full_since = Some((Instant::now(), released));
                false
            }
        }
    }

    fn set_paused(&mut self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else {
            return;
        };
        let result = if pause {
            self.consumer.pause(&assignment)
        } else {
            self.consumer.resume(&assignment)
        };
        match result {
            Ok(()) => {
                if !pause {
                    self.restart_fetchers();
                }
                self.shared.paused.store(pause, Ordering::Release);
                let counter = if pause {
                    &self.shared.stats.pauses
                } else {
                    &self.shared.stats.resumes
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%error, pause, "could not change the pause state"),
        }
    }

    /// Makes librdkafka fetch again right after a resume.
    ///
    /// A resume does not wake the broker thread, which idles for up to a second once every
    /// partition it serves is paused (librdkafka 2.12's `rd_kafka_max_block_ms`), so each
    /// pause/resume cycle used to cost that second. An epoch-less seek to the position the
    /// consumer has reached restarts the partition's fetcher at once, which wakes the thread; it
    /// moves nothing, as the pause already discarded the prefetched records.
    fn restart_fetchers(&self) {
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        let mut seek = TopicPartitionList::new();
        for element in positions.elements() {
            if let Offset::Offset(offset) = element.offset() {
                let _ = seek.add_partition_offset(
                    element.topic(),
                    element.partition(),
                    Offset::Offset(offset),
                );
            }
        }
        if seek.count() > 0 {
            tracing::debug!(positions = ?seek.to_topic_map(), "restarting fetchers after a resume");
            // A zero timeout makes the seek asynchronous.
            if let Err(error) = self.consumer.seek_partitions(seek, Duration::ZERO) {
                tracing::debug!(%error, "could not restart fetching after a resume");
            }
        }
    }
}
