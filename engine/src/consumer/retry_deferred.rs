//! Running a partition's deferred work: parking a message in its key's backlog, and retrying
//! the head of a backlog when it comes due (see [`super::deferral`] for the design).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::consumer::decode::Record;
use crate::consumer::deferral::{epoch_ms, epoch_ms_after};
use crate::consumer::event::Scope;
use crate::error::ErrorClass;
use crate::handler::Context;

/// What becomes of a backlog's head after a retry.
enum Next {
    /// Done with it (handled, or given up with a logged reason): the next offset comes due.
    Advance,
    /// Try it again later, with a longer delay.
    Later,
}

impl Scope {
    /// Whether `key` has a backlog, so its message must join it instead of running.
    pub(crate) fn joins_backlog(&self, key: &str) -> bool {
        self.backlogs
            .as_ref()
            .is_some_and(|backlogs| backlogs.holds(key))
    }

    /// Parks `offset` in `key`'s backlog: in the store, then in memory. `true` once it is safe
    /// to commit; `false` if the partition stopped first (the offset stays uncommitted).
    pub(crate) async fn defer(&self, key: &Arc<str>, offset: i64) -> bool {
        let (Some(backlogs), Some(deferral)) = (&self.backlogs, &self.shared.deferral) else {
            return false;
        };
        let segment = &self.segment;
        let first = !backlogs.holds(key);
        let stored = deferral
            .write(&self.terminate, "add a deferred offset", || {
                deferral.store.append(segment, key, offset)
            })
            .await;
        if !stored {
            return false;
        }
        let delay = deferral.delay(1);
        if first {
            let due = epoch_ms_after(delay);
            let scheduled = deferral
                .write(&self.terminate, "schedule a deferred retry", || {
                    deferral.store.reschedule(segment, key, 0, due)
                })
                .await;
            if !scheduled {
                return false;
            }
        }
        backlogs.push(key, offset, delay);
        tracing::debug!(partition = %self.label, key = &**key, offset, ?delay, "offset deferred");
        self.shared.stats.deferred.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Retries the head of `key`'s backlog: reads it back from Kafka and runs it as a retry.
    pub(crate) async fn retry_deferred(&self, key: &Arc<str>, context: Context) {
        let (Some(backlogs), Some(deferral)) = (&self.backlogs, &self.shared.deferral) else {
            return;
        };
        let Some(head) = backlogs.head(key) else {
            return;
        };
        let (label, offset) = (&self.label, head.offset);
        tracing::debug!(partition = %label, key = &**key, offset, retries = head.retries, "retrying a deferred message");
        let loaded = deferral.load(&self.segment, offset).await;
        tracing::debug!(partition = %label, key = &**key, offset, loaded = loaded.is_ok(), "deferred message read back");
        let next = match loaded {
            Err(error) if error.is_transient() => {
                tracing::warn!(partition = %label, key = &**key, offset, %error, "could not read a deferred message back; will try again");
                Next::Later
            }
            Err(error) => {
                tracing::warn!(partition = %label, key = &**key, offset, %error, "skipping a deferred message Kafka no longer has");
                Next::Advance
            }
            Ok(record) => match Record::from_loaded(&record).decode(&self.shared.stats.skipped) {
                None => Next::Advance,
                Some(message) if message.key() != &**key => {
                    tracing::warn!(partition = %label, key = &**key, offset, found = message.key(), "skipping a deferred offset that now holds another key");
                    Next::Advance
                }
                Some(message) => {
                    self.shared.stats.dispatched.fetch_add(1, Ordering::Relaxed);
                    let retry = context.into_deferred_retry();
                    match self
                        .call(retry, true, |handler, retry| {
                            handler.on_message(retry, message)
                        })
                        .await
                    {
                        Some(Ok(())) => Next::Advance,
                        Some(Err(error))
                            if error.class() == ErrorClass::Permanent && !error.is_deferred() =>
                        {
                            tracing::warn!(partition = %label, key = &**key, offset, %error, "deferred message failed permanently; moving on");
                            Next::Advance
                        }
                        Some(Err(error)) => {
                            tracing::info!(partition = %label, key = &**key, offset, retries = head.retries + 1, %error, "deferred message failed again");
                            Next::Later
                        }
                        None => Next::Later,
                    }
                }
            },
        };
        let segment = &self.segment;
        match next {
            Next::Advance => {
                let removed = deferral
                    .write(&self.terminate, "remove a deferred offset", || {
                        deferral.store.remove(segment, key, offset)
                    })
                    .await;
                if !removed {
                    return;
                }
                self.shared.stats.undeferred.fetch_add(1, Ordering::Relaxed);
                if backlogs.advance(key) {
                    let now = epoch_ms();
                    deferral
                        .write(&self.terminate, "schedule a deferred retry", || {
                            deferral.store.reschedule(segment, key, 0, now)
                        })
                        .await;
                }
            }
            Next::Later => {
                let retries = head.retries.saturating_add(1);
                let delay = deferral.delay(retries.saturating_add(1));
                let due = epoch_ms_after(delay);
                let scheduled = deferral
                    .write(&self.terminate, "schedule a deferred retry", || {
                        deferral.store.reschedule(segment, key, retries, due)
                    })
                    .await;
                if scheduled {
                    backlogs.retry_later(key, retries, delay);
                }
            }
        }
    }
}
