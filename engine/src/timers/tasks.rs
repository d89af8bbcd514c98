//! The two background tasks of an owned partition's timers.
//!
//! - The **loader** keeps every stored timer due within one window (`slab_size`) of now in
//!   memory: it loads `[horizon, end of the window after now)`, moves the horizon there, and
//!   sleeps until the horizon is less than a window ahead. The first load starts at the epoch,
//!   so overdue timers (a previous owner's, or ones due while nobody owned the partition) fire
//!   as soon as the partition is assigned. A failed load is retried every second; timers due
//!   meanwhile fire late, never not at all.
//! - The **scheduler** waits for the earliest timer to come due, takes a permit from the
//!   consumer's timer semaphore (`max_uncommitted` permits shared by all partitions) and sends
//!   the timer to the partition task through a small bounded channel. The permit travels with
//!   the timer and is released when its handler finishes, so a burst of due timers waits in
//!   the store and the queue rather than piling up in memory behind busy keys.
//!
//! Both stop when the partition drains. Each beats a [`Heartbeat`] while it works and parks it
//! while it sleeps, so the liveness probe sees a load or a hand-over that hangs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::partition::PartitionTimers;
use super::TimerTime;
use crate::probe::Heartbeat;

/// A due timer on its way to the partition's per-key queue.
#[derive(Debug)]
pub(crate) struct DueTimer {
    pub(crate) key: Arc<str>,
    pub(crate) time: TimerTime,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// How long a failed load waits before trying again.
const RETRY_LOAD: Duration = Duration::from_secs(1);

/// Keeps the in-memory queue loaded one window ahead; see the module docs.
pub(crate) async fn load(timers: Arc<PartitionTimers>, heartbeat: Arc<Heartbeat>) {
    loop {
        heartbeat.beat();
        let until = window_end(TimerTime::now(), timers.window);
        let horizon = timers.horizon();
        let wait = if until > horizon {
            let from = timers.begin_load(until);
            let loaded = tokio::select! {
                () = timers.closed.cancelled() => return,
                loaded = timers.store.load(&timers.segment, from, until) => loaded,
            };
            match loaded {
                Ok(loaded) => {
                    tracing::debug!(segment = %timers.segment, count = loaded.len(), %until, "timers loaded");
                    timers.end_load(Some(loaded));
                    next_load_in(until, timers.window)
                }
                Err(error) => {
                    tracing::warn!(segment = %timers.segment, %error, "could not load timers; retrying");
                    timers.end_load(None);
                    RETRY_LOAD
                }
            }
        } else {
            next_load_in(horizon, timers.window)
        };
        heartbeat.park();
        tokio::select! {
            () = timers.closed.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The end of the window-aligned slab after `now + window`.
fn window_end(now: TimerTime, window: u64) -> TimerTime {
    let ahead = u64::from(now.as_secs()).saturating_add(window);
    let aligned = (ahead / window).saturating_add(1).saturating_mul(window);
    TimerTime::MIN.saturating_add(aligned)
}

/// How long until `horizon` is only one window ahead of now.
fn next_load_in(horizon: TimerTime, window: u64) -> Duration {
    let at = u64::from(horizon.as_secs()).saturating_sub(window);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(at);
    at.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_millis(100))
}

/// Sends due timers to the partition task; see the module docs.
///
/// It takes a permit only once a timer is due, so an idle partition holds none: with more
/// partitions than permits, every partition still gets its turn.
pub(crate) async fn schedule(
    timers: Arc<PartitionTimers>,
    heartbeat: Arc<Heartbeat>,
    permits: Arc<Semaphore>,
    sender: mpsc::Sender<DueTimer>,
) {
    loop {
        loop {
            heartbeat.beat();
            // Registered before looking, so a timer added in between still wakes us.
            let notified = timers.wake.notified();
            let Some(wait) = timers.wait_until_due(SystemTime::now()) else {
                break;
            };
            // Wall-clock time can jump; never sleep more than a minute unchecked.
            let wait = wait.map_or(MAX_SLEEP, |wait| wait.min(MAX_SLEEP));
            heartbeat.park();
            tokio::select! {
                () = timers.closed.cancelled() => return,
                () = notified => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        heartbeat.beat();
        let permit = tokio::select! {
            () = timers.closed.cancelled() => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        // Unscheduled while we waited for the permit: look again.
        let Some((key, time)) = timers.pop_due(SystemTime::now()) else {
            continue;
        };
        if sender.send(DueTimer { key, time, permit }).await.is_err() {
            return;
        }
    }
}

/// The longest the scheduler sleeps without looking at the clock again.
const MAX_SLEEP: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::{window_end, TimerTime};

    #[test]
    fn windows_are_aligned_and_at_least_one_ahead() {
        let t = TimerTime::from_secs;
        assert_eq!(window_end(t(0), 60), t(120));
        assert_eq!(window_end(t(59), 60), t(120));
        assert_eq!(window_end(t(3_600), 3_600), t(10_800));
        assert_eq!(window_end(TimerTime::MAX, 60), TimerTime::MAX);
    }
}
