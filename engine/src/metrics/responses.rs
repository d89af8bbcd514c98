//! What a responding consumer counts: answers written, request headers refused, answers not
//! written because the requester's deadline had passed or the send failed.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::scrape::Scrape;

/// Why a record's request headers were refused, as metric labels.
pub(crate) const REJECTED_REASONS: [&str; 3] = ["missing", "repeated", "invalid"];

/// One responder's counters, shared by its consumer's partitions.
#[derive(Debug, Default)]
pub(crate) struct ResponseMetrics {
    succeeded: AtomicU64,
    failed: AtomicU64,
    late: AtomicU64,
    unsent: AtomicU64,
    rejected: [AtomicU64; 3],
}

impl ResponseMetrics {
    /// Counts an answer written: a success or a failure.
    pub(crate) fn answered(&self, success: bool) {
        let counter = if success {
            &self.succeeded
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer left unwritten because the requester had stopped waiting.
    pub(crate) fn late(&self) {
        self.late.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer whose send failed.
    pub(crate) fn unsent(&self) {
        self.unsent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a record whose request headers were refused for `reason` (one of
    /// [`REJECTED_REASONS`]).
    pub(crate) fn rejected(&self, reason: &str) {
        if let Some(index) = REJECTED_REASONS.iter().position(|known| *known == reason) {
            self.rejected[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records refused for `reason` so far.
    #[cfg(test)]
    pub(crate) fn rejected_total(&self, reason: &str) -> u64 {
        REJECTED_REASONS
            .iter()
            .position(|known| *known == reason)
            .map_or(0, |index| self.rejected[index].load(Ordering::Relaxed))
    }

    /// Adds the responder's series, labelled with its consumer `group`.
    pub(crate) fn write(&self, scrape: &mut Scrape, group: &str) {
        for (outcome, counter) in [("success", &self.succeeded), ("failure", &self.failed)] {
            scrape.counter(
                "prosody_responses_total",
                "Answers to requests written, by outcome.",
                &[("group", group), ("outcome", outcome)],
                counter.load(Ordering::Relaxed),
            );
        }
        for (reason, counter) in [("late", &self.late), ("send_failed", &self.unsent)] {
            scrape.counter(
                "prosody_responses_dropped_total",
                "Answers not written: the requester's deadline had passed, or the send failed.",
                &[("group", group), ("reason", reason)],
                counter.load(Ordering::Relaxed),
            );
        }
        for (reason, counter) in REJECTED_REASONS.iter().zip(&self.rejected) {
            scrape.counter(
                "prosody_requests_rejected_total",
                "Records with malformed request headers, handled without an answer.",
                &[("group", group), ("reason", reason)],
                counter.load(Ordering::Relaxed),
            );
        }
    }
}
