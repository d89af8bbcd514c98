//! Draining partition tasks, on revocation and at shutdown.
//!
//! New work stops at once; running handlers are asked to cancel at four fifths of
//! `shutdown_timeout` and dropped when it runs out. Only offsets whose handlers completed are
//! reported, so whatever was abandoned is redelivered to the partition's next owner.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::consumer::shared::{PartitionHandle, Shared, TopicPartition};

/// Drains partitions concurrently within `shutdown_timeout`: new work stops at once, running
/// handlers are asked to cancel at four fifths of the budget, and dropped at the end. Returns
/// each partition's final next-offset-to-commit.
pub(crate) fn drain(
    shared: &Arc<Shared>,
    handles: Vec<(TopicPartition, PartitionHandle)>,
) -> Vec<(TopicPartition, i64)> {
    if handles.is_empty() {
        return Vec::new();
    }
    let budget = shared.settings.shutdown_timeout;
    let start = tokio::time::Instant::from_std(Instant::now());
    let (cancel_at, deadline) = (start + budget.mul_f64(0.8), start + budget);
    for (_, handle) in &handles {
        handle.drain.cancel();
    }
    let waits = handles.into_iter().map(|(key, handle)| async move {
        let PartitionHandle {
            progress,
            cancel,
            terminate,
            mut task,
            ..
        } = handle;
        tokio::select! {
            _ = &mut task => {}
            () = tokio::time::sleep_until(cancel_at) => {
                cancel.cancel();
                tokio::select! {
                    _ = &mut task => {}
                    () = tokio::time::sleep_until(deadline) => {
                        terminate.cancel();
                        let _ = task.await;
                    }
                }
            }
        }
        (key, progress.next_commit.load(Ordering::Acquire))
    });
    let joined = futures::future::join_all(waits);
    shared.runtime.block_on(joined)
}
