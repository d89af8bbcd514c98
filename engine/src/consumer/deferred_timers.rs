//! A partition's deferred timers as its handlers' timer operations see them (see
//! [`crate::timers::DeferredTimers`]): listed from the in-memory backlogs, removed from the
//! store first and then from memory.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::consumer::backlogs::Backlogs;
use crate::consumer::deferral::{Deferral, STORE_TIMEOUT};
use crate::error::{Error, Result};
use crate::timers::{DeferredTimers, TimerSegment, TimerTime};

/// One partition's view of its deferred timers.
pub(crate) struct PartitionDeferredTimers {
    backlogs: Arc<Backlogs>,
    deferral: Arc<Deferral>,
    segment: TimerSegment,
}

impl PartitionDeferredTimers {
    /// A new partition's backlogs, and the view of them its timers get, when deferral is on.
    pub(crate) fn for_partition(
        deferral: Option<&Arc<Deferral>>,
        segment: &TimerSegment,
    ) -> Option<(Arc<Backlogs>, Arc<dyn DeferredTimers>)> {
        let backlogs = Arc::new(Backlogs::default());
        let view = Self {
            backlogs: Arc::clone(&backlogs),
            deferral: Arc::clone(deferral?),
            segment: segment.clone(),
        };
        Some((backlogs, Arc::new(view)))
    }

    async fn remove_timer(&self, key: &Arc<str>, time: TimerTime) -> Result<()> {
        if !self.backlogs.timers(key).contains(&time) {
            return Ok(());
        }
        // One bounded attempt, like any timer operation: a failure reaches the handler as a
        // transient error and its event is retried.
        let removed = tokio::time::timeout(
            STORE_TIMEOUT,
            self.deferral.store.remove_timer(&self.segment, key, time),
        )
        .await
        .unwrap_or_else(|_| Err(Error::State("the deferral store did not answer within 5 s")));
        removed.map_err(|error| Error::Timer {
            operation: "unschedule",
            key: key.to_string(),
            reason: format!("could not remove the deferred timer at {time}: {error}"),
        })?;
        self.backlogs.remove_timer(key, time);
        Ok(())
    }
}

impl DeferredTimers for PartitionDeferredTimers {
    fn times(&self, key: &str) -> Vec<TimerTime> {
        self.backlogs.timers(key)
    }

    fn remove<'a>(&'a self, key: &'a Arc<str>, time: TimerTime) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.remove_timer(key, time))
    }
}
