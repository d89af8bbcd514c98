//! Timers held in memory, for mock mode and tests.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use futures::future::BoxFuture;

use super::{TimerSegment, TimerStore, TimerTime};
use crate::error::Result;
use crate::trace::Continuation;

/// A [`TimerStore`] in process memory. Timers survive a partition moving between consumers of
/// the same process (as they would with Cassandra), but not the process.
///
/// ```
/// use prosody_engine::{MemoryTimerStore, TimerSegment, TimerStore, TimerTime};
///
/// # futures::executor::block_on(async {
/// let store = MemoryTimerStore::default();
/// let segment = TimerSegment::new("group", "topic", 0);
/// store.insert(&segment, "key", TimerTime::from_secs(20)).await?;
/// store.insert(&segment, "key", TimerTime::from_secs(10)).await?;
/// assert_eq!(store.times(&segment, "key").await?, [TimerTime::from_secs(10), TimerTime::from_secs(20)]);
/// let due = store.load(&segment, TimerTime::MIN, TimerTime::from_secs(15)).await?;
/// assert_eq!(due, [("key".to_string(), TimerTime::from_secs(10))]);
/// # Ok::<(), prosody_engine::Error>(()) }).unwrap();
/// ```
#[derive(Default)]
pub struct MemoryTimerStore {
    segments: Mutex<HashMap<Arc<str>, Segment>>,
}

#[derive(Default)]
struct Segment {
    by_key: HashMap<Arc<str>, BTreeSet<TimerTime>>,
    by_time: BTreeSet<(TimerTime, Arc<str>)>,
    /// What the scheduling code carried on, for the timers stored with a trace context or
    /// baggage.
    traces: HashMap<(Arc<str>, TimerTime), Continuation>,
}

impl MemoryTimerStore {
    /// The store every mock-mode consumer in this process shares, like the mock cluster.
    pub fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<MemoryTimerStore>> = OnceLock::new();
        Arc::clone(SHARED.get_or_init(Arc::default))
    }

    /// How many timers are stored, over all segments.
    pub fn len(&self) -> usize {
        self.lock().values().map(|s| s.by_time.len()).sum()
    }

    /// Whether no timer is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Segment>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryTimerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTimerStore")
            .field("len", &self.len())
            .finish()
    }
}

impl TimerStore for MemoryTimerStore {
    fn insert_traced<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
        trace: Continuation,
    ) -> BoxFuture<'a, Result<()>> {
        let stored = self.insert(segment, key, time);
        if !trace.is_empty() {
            let mut segments = self.lock();
            let entry = segments.entry(segment.id().into()).or_default();
            entry.traces.insert((key.into(), time), trace);
        }
        stored
    }

    fn trace<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<Continuation>> {
        let trace = self
            .lock()
            .get(segment.id())
            .and_then(|entry| entry.traces.get(&(Arc::from(key), time)).cloned())
            .unwrap_or_default();
        Box::pin(async move { Ok(trace) })
    }

    fn insert<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>> {
        let mut segments = self.lock();
        let entry = segments.entry(segment.id().into()).or_default();
        let key: Arc<str> = match entry.by_key.get_key_value(key) {
            Some((shared, _)) => Arc::clone(shared),
            None => key.into(),
        };
        entry
            .by_key
            .entry(Arc::clone(&key))
            .or_default()
            .insert(time);
        entry.by_time.insert((time, key));
        Box::pin(async { Ok(()) })
    }

    fn remove<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
        time: TimerTime,
    ) -> BoxFuture<'a, Result<()>> {
        let mut segments = self.lock();
        if let Some(entry) = segments.get_mut(segment.id()) {
            if let Some(times) = entry.by_key.get_mut(key) {
                times.remove(&time);
                if times.is_empty() {
                    entry.by_key.remove(key);
                }
            }
            entry.by_time.remove(&(time, Arc::from(key)));
            entry.traces.remove(&(Arc::from(key), time));
        }
        Box::pin(async { Ok(()) })
    }

    fn times<'a>(
        &'a self,
        segment: &'a TimerSegment,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TimerTime>>> {
        let times = self
            .lock()
            .get(segment.id())
            .and_then(|entry| entry.by_key.get(key))
            .map(|times| times.iter().copied().collect())
            .unwrap_or_default();
        Box::pin(async { Ok(times) })
    }

    fn load<'a>(
        &'a self,
        segment: &'a TimerSegment,
        from: TimerTime,
        until: TimerTime,
    ) -> BoxFuture<'a, Result<Vec<(String, TimerTime)>>> {
        let due = self
            .lock()
            .get(segment.id())
            .map(|entry| {
                let start = (from, Arc::<str>::from(""));
                entry
                    .by_time
                    .range(start..)
                    .take_while(|(time, _)| *time < until)
                    .map(|(time, key)| (key.to_string(), *time))
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(async { Ok(due) })
    }
}

#[cfg(test)]
mod tests {
    use super::{MemoryTimerStore, TimerSegment, TimerStore, TimerTime};

    fn t(secs: u32) -> TimerTime {
        TimerTime::from_secs(secs)
    }

    #[tokio::test]
    async fn indexes_by_key_and_time_per_segment() {
        let store = MemoryTimerStore::default();
        let (a, b) = (
            TimerSegment::new("g", "t", 0),
            TimerSegment::new("g", "t", 1),
        );
        store.insert(&a, "k1", t(30)).await.unwrap();
        store.insert(&a, "k1", t(30)).await.unwrap();
        store.insert(&a, "k2", t(10)).await.unwrap();
        store.insert(&b, "k1", t(20)).await.unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.times(&a, "k1").await.unwrap(), [t(30)]);
        let mut due = store.load(&a, t(10), t(31)).await.unwrap();
        due.sort();
        assert_eq!(due, [("k1".into(), t(30)), ("k2".into(), t(10))]);
        assert!(store.load(&a, t(11), t(30)).await.unwrap().is_empty());
        store.remove(&a, "k1", t(30)).await.unwrap();
        store.remove(&a, "k1", t(30)).await.unwrap();
        assert!(store.times(&a, "k1").await.unwrap().is_empty());
        assert_eq!(store.times(&b, "k1").await.unwrap(), [t(20)]);
    }
}
