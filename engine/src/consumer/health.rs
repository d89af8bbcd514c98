//! The consumer's health, as `Consumer::is_stalled` and the probe server see it: both read
//! [`Shared::stalls`], so they cannot disagree.
//!
//! Something has stalled when it has work and has not moved for `stall_threshold`:
//! - the poll loop, which beats on every turn and never waits longer than `poll_interval`
//!   unless something blocks it (a rebalance callback waiting on a drain, say);
//! - a partition whose oldest uncommitted work has seen no progress: taken offsets are
//!   outstanding and the watermark has not moved (nor work arrived on an idle partition) for
//!   that long. This covers its processor too, since only the processor moves the watermark;
//! - a partition's timer loader or scheduler, busy (loading, or handing a due timer over) for
//!   that long; they park while they sleep, so a quiet partition never stalls.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::consumer::shared::Shared;
use crate::metrics::Scrape;
use crate::probe::Probed;

impl Shared {
    /// One line for each stalled part of the consumer; empty when it is live.
    pub(crate) fn stalls(&self) -> Vec<String> {
        let threshold = self.settings.stall_threshold;
        let mut stalls = Vec::new();
        // The loop may sleep a whole `poll_interval` between turns; a longer interval than the
        // threshold must not read as a stall.
        let poll_threshold = threshold.max(self.settings.poll_interval.saturating_mul(2));
        if let Some(silent) = self.poll_heartbeat.stalled_for(poll_threshold) {
            stalls.push(format!(
                "poll loop: no turn for {} (stall_threshold {})",
                seconds(silent),
                seconds(poll_threshold)
            ));
        }
        let now = self.now_ms();
        let threshold_ms = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX);
        let mut partitions: Vec<String> = Vec::new();
        for ((topic, partition), handle) in self.partitions().iter() {
            let progress = &handle.progress;
            let idle = now.saturating_sub(progress.last_progress_ms.load(Ordering::Acquire));
            if progress.busy.load(Ordering::Acquire) && idle > threshold_ms {
                partitions.push(format!(
                    "partition {topic}/{partition}: uncommitted work without progress for {} (stall_threshold {})",
                    seconds(Duration::from_millis(idle)),
                    seconds(threshold)
                ));
            }
            for (name, heartbeat) in [
                ("timer loader", &progress.timer_loader),
                ("timer scheduler", &progress.timer_scheduler),
            ] {
                if let Some(silent) = heartbeat.stalled_for(threshold) {
                    partitions.push(format!(
                        "partition {topic}/{partition}: {name} stuck for {} (stall_threshold {})",
                        seconds(silent),
                        seconds(threshold)
                    ));
                }
            }
        }
        partitions.sort();
        stalls.extend(partitions);
        stalls
    }

    /// Whether anything has stalled; see [`Shared::stalls`].
    pub(crate) fn is_stalled(&self) -> bool {
        !self.stalls().is_empty()
    }
}

impl Probed for Shared {
    fn group(&self) -> &str {
        &self.settings.group_id
    }

    fn assigned_partitions(&self) -> usize {
        self.partitions().len()
    }

    fn stalls(&self) -> Vec<String> {
        Shared::stalls(self)
    }

    fn broker_error(&self) -> Option<String> {
        self.reachability.problem()
    }

    fn metrics(&self, scrape: &mut Scrape) {
        self.write_metrics(scrape);
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
