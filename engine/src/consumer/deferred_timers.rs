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
    pub(crate) backlogs: Arc<Backlogs>,
    pub(crate) deferral: Arc<Deferral>,
    pub(crate) segment: TimerSegment,
}

impl PartitionDeferredTimers {
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
