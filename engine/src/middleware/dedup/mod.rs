//! Skips a message whose event was already handled.
//!
//! A message whose payload has a string or number `id` is identified by a [`DedupKey`] over
//! the consumer group, topic, message key, `id` and `idempotence_version`. If the
//! [`DedupStore`] holds that key, the message is skipped (`Ok(())`, so its offset commits)
//! without calling the inner handler. Otherwise the inner handler runs, and the key is recorded
//! once it succeeded or failed permanently (both are final); transient and terminal failures
//! are not recorded, so a retry or redelivery runs the handler again.
//!
//! Messages without an `id`, and timers, pass through. A failed lookup becomes a transient
//! handler error, retried per the mode: in pipeline mode a message waits (uncommitted, its key
//! blocked) until the store answers again, and is then handled once. A failed record after the
//! handler ran is a WARN, and the handler's outcome stands: retrying would run it twice. With
//! `idempotence_cache_size: 0` the stack leaves this layer out.
//!
//! # Stores
//!
//! With `mock: true` the stack uses a [`MemoryDedupStore`] alone: records last as long as the
//! consumer. Otherwise it uses a [`CassandraDedupStore`]: a per-consumer [`MemoryDedupStore`]
//! of `idempotence_cache_size` keys answers repeat lookups without I/O, and the `dedup` table
//! (rows expire after `idempotence_ttl`) answers the rest, so a record survives restarts and
//! rebalances and is shared by every consumer of the group. A key is written to Cassandra
//! before it is cached. Lookups that miss the cache and records made at the same time are
//! coalesced: one task per store and kind sends each burst as one `SELECT ... WHERE id IN ?` or
//! one unlogged batch of inserts, and each caller waits for the statement carrying its key
//! (`coalesce.rs`), so a record is still acknowledged by Cassandra before its handler future
//! completes and the offset past it can commit. A message's read is usually queued when the
//! consumer receives it ([`Handler::prefetch`]), and its attempt takes the parked answer
//! (`lookahead.rs`). Two consumers racing on the same event (a rebalance mid-handling) may
//! both run it: the check and the record are not one atomic step.

mod cassandra;
mod coalesce;
mod cql;
mod key;
mod layer;
mod lookahead;
mod store;

#[cfg(test)]
mod coalesce_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

pub use cassandra::{CassandraDedupStore, DEDUP_REQUEST_TIMEOUT};
pub use key::DedupKey;
pub use layer::DedupLayer;
pub use store::{DedupStore, MemoryDedupStore};

use crate::error::{Error, ErrorClass, HandlerError};
use crate::handler::{Context, Handler, HandlerFuture, Message, Timer};
use crate::metrics::Outcome;

/// Skips already handled events; built by [`DedupLayer`], see its example.
pub struct Dedup<H: ?Sized> {
    settings: DedupLayer,
    inner: Arc<H>,
}

impl<H: ?Sized> Dedup<H> {
    /// Wraps `inner` with the store, group and version of `settings`.
    pub fn new(inner: Arc<H>, settings: DedupLayer) -> Self {
        Self { settings, inner }
    }

    /// The `idempotence_version` mixed into every key.
    pub fn version(&self) -> &str {
        &self.settings.version
    }

    /// The wrapped handler.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }

    /// Unwraps the inner handler.
    pub fn into_inner(self) -> Arc<H> {
        self.inner
    }

    fn key(&self, message: &Message) -> Option<DedupKey> {
        let id = key::event_id(message.payload())?;
        let settings = &self.settings;
        Some(DedupKey::new(
            &settings.group_id,
            message.topic(),
            message.key(),
            &id,
            &settings.version,
        ))
    }
}

impl<H: ?Sized> Clone for Dedup<H> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.inner), self.settings.clone())
    }
}

impl<H: ?Sized> fmt::Debug for Dedup<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<H: Handler + ?Sized> Handler for Dedup<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let Some(key) = self.key(&message) else {
            return self.inner.on_message(context, message);
        };
        let inner = Arc::clone(&self.inner);
        let store = Arc::clone(&self.settings.store);
        let meter = self.settings.meter.clone();
        Box::pin(async move {
            if store.contains(key).await.map_err(store_failed)? {
                meter.count_message(message.topic(), Outcome::Deduplicated);
                context.note_duplicate();
                crate::otel::note_skipped("deduplicated");
                tracing::debug!(
                    topic = message.topic(),
                    partition = message.partition(),
                    offset = message.offset(),
                    key = message.key(),
                    "message skipped: event already handled"
                );
                return Ok(());
            }
            let result = inner.on_message(context, message).await;
            let settled = match &result {
                Ok(()) => true,
                Err(error) => error.class() == ErrorClass::Permanent,
            };
            if settled {
                // The handler's outcome is final whether or not the record lands: turning a
                // failed write into a retry would run the handler again now, a certain
                // duplicate, where a missing record risks one only if the message comes back.
                if let Err(error) = store.insert(key).await {
                    tracing::warn!(
                        %error,
                        "could not record a handled event for deduplication; a redelivery of \
                         it would run the handler again"
                    );
                }
            }
            result
        })
    }

    fn prefetch(&self, message: &Message) {
        let store = &self.settings.store;
        // The key's hash costs about as much as the rest of the hint; skip it when unused.
        if store.prefetches() {
            if let Some(key) = self.key(message) {
                store.prefetch(key);
            }
        }
        self.inner.prefetch(message);
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.inner.on_timer(context, timer)
    }
}

fn store_failed(error: Error) -> HandlerError {
    HandlerError::transient(format!("deduplication store failed: {error}"))
}
