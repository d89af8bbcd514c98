//! The topics a client's counters are kept for: an append-only table of at most
//! [`MAX_TOPICS`] names, found by a scan without a lock.
//!
//! A consumer starts with its `subscribed_topics`; a producer learns topics as it sends. The
//! table never shrinks and is bounded, so a client writing to ever new topics cannot grow its
//! series without limit: past the bound, topics share the [`OTHER`] slot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Distinct topics counted by name, the last slot being [`OTHER`].
pub(crate) const MAX_TOPICS: usize = 32;
/// The label of the slot shared by topics past the bound.
pub(crate) const OTHER: &str = "_other";

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Topics {
    names: [OnceLock<Box<str>>; MAX_TOPICS],
    /// Slots filled; each one below this is set.
    len: AtomicUsize,
    grow: Mutex<()>,
}

impl Topics {
    pub(crate) fn new<'a>(initial: impl IntoIterator<Item = &'a str>) -> Self {
        let topics = Self {
            names: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicUsize::new(0),
            grow: Mutex::new(()),
        };
        for topic in initial {
            topics.index(topic);
        }
        topics
    }

    /// The slot of `topic`, adding it if there is room. A hit costs a scan of short string
    /// comparisons; only a topic's first sighting takes the lock.
    pub(crate) fn index(&self, topic: &str) -> usize {
        if let Some(index) = self.find(topic, self.len.load(Ordering::Acquire)) {
            return index;
        }
        let _guard = self.grow.lock().unwrap_or_else(PoisonError::into_inner);
        let len = self.len.load(Ordering::Acquire);
        if let Some(index) = self.find(topic, len) {
            return index;
        }
        if len >= MAX_TOPICS - 1 {
            return MAX_TOPICS - 1;
        }
        let _ = self.names[len].set(topic.into());
        self.len.store(len + 1, Ordering::Release);
        len
    }

    fn find(&self, topic: &str, len: usize) -> Option<usize> {
        self.names[..len]
            .iter()
            .position(|name| name.get().is_some_and(|name| &**name == topic))
    }

    /// Each slot in use with its label.
    pub(crate) fn each(&self) -> impl Iterator<Item = (usize, &str)> {
        let len = self.len.load(Ordering::Acquire);
        self.names[..len]
            .iter()
            .enumerate()
            .filter_map(|(index, name)| Some((index, &**name.get()?)))
            .chain(std::iter::once((MAX_TOPICS - 1, OTHER)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_keep_their_slots_and_overflow_into_other() {
        let topics = Topics::new(["orders", "payments"]);
        assert_eq!(topics.index("payments"), 1);
        assert_eq!(topics.index("refunds"), 2);
        for n in 0..100 {
            topics.index(&format!("t{n}"));
        }
        assert_eq!(topics.index("brand-new"), MAX_TOPICS - 1);
        assert_eq!(topics.index("orders"), 0);
        let labels: Vec<&str> = topics.each().map(|(_, name)| name).collect();
        assert_eq!(labels.len(), MAX_TOPICS);
        assert_eq!(labels.last(), Some(&OTHER));
    }
}
