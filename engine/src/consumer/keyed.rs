//! Per-key FIFO queues inside one partition.
//!
//! At most one event per key runs at a time; later events for a busy key wait in that key's
//! queue, in arrival order. Different keys run concurrently. The queues need no bound of their
//! own: every queued event already counts against the consumer's `max_uncommitted`.
//!
//! Every event hashes its key here two to four times, so the table uses foldhash rather than
//! the standard library's SipHash (which once showed in the profile at about 4% of the engine's
//! time per message). Its seed is random per table, and the table never holds more keys than
//! `max_uncommitted`, which bounds what colliding keys could cost.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Which keys are busy, and what waits behind each.
#[derive(Debug)]
pub(crate) struct KeyQueues<T> {
    // A key is present iff an event for it is running; the deque holds the ones waiting.
    busy: HashMap<Arc<str>, VecDeque<T>, foldhash::fast::RandomState>,
}

impl<T> Default for KeyQueues<T> {
    fn default() -> Self {
        Self {
            busy: HashMap::default(),
        }
    }
}

impl<T> KeyQueues<T> {
    /// Offers an event for `key`. Returns it back if the key was idle (so the caller starts it
    /// now); otherwise queues it and returns `None`.
    pub(crate) fn offer(&mut self, key: &Arc<str>, event: T) -> Option<T> {
        match self.busy.get_mut(key) {
            Some(waiting) => {
                waiting.push_back(event);
                None
            }
            None => {
                self.busy.insert(Arc::clone(key), VecDeque::new());
                Some(event)
            }
        }
    }

    /// Records that the running event for `key` finished; returns the next one to start.
    pub(crate) fn finish(&mut self, key: &str) -> Option<T> {
        let waiting = self.busy.get_mut(key)?;
        match waiting.pop_front() {
            Some(next) => Some(next),
            None => {
                self.busy.remove(key);
                None
            }
        }
    }

    /// How many events are queued behind busy keys (not counting the running ones).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.busy.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::KeyQueues;

    #[test]
    fn one_event_per_key_in_order() {
        let mut queues = KeyQueues::default();
        let a: Arc<str> = "a".into();
        let b: Arc<str> = "b".into();
        assert_eq!(queues.offer(&a, 1), Some(1));
        assert_eq!(queues.offer(&a, 2), None);
        assert_eq!(queues.offer(&b, 3), Some(3));
        assert_eq!(queues.offer(&a, 4), None);
        assert_eq!(queues.queued(), 2);
        assert_eq!(queues.finish("a"), Some(2));
        assert_eq!(queues.finish("a"), Some(4));
        assert_eq!(queues.finish("a"), None);
        assert_eq!(queues.offer(&a, 5), Some(5));
        assert_eq!(queues.finish("b"), None);
    }
}
