//! The waiting tasks of one scheduling class, in the order the fair scheduler serves them.
//!
//! A task's priority is its key's recent handler time (decayed) less a boost for waiting, which
//! grows as `wait_weight * min(wait / max_wait, 1)^2`; the lowest goes first, the earliest on a
//! tie. The boost changes as time passes, so no single heap order holds. Tasks are instead
//! grouped by when they arrived, in slots of `max_wait / SLOTS`: within a slot the boosts differ
//! by at most one slot's worth, so a heap ordered by handler time serves it (and a plain queue
//! its keys with no recent work, which all go first), and a selection compares only the slot
//! heads. Slots older than `max_wait` all have the full boost and merge
//! into one heap. A selection therefore costs O(SLOTS + log n), not O(n).
//!
//! Within a slot's heap, handler times count by power-of-two band ([`band`]): keys whose work is
//! in one band are served in arrival order. A consumer whose handlers are all slow (such as
//! one feeding Ruby) has every key busy with nearly the same work; ordering them by the small
//! differences would serve them in a scrambled order, which holds back the partitions' commits
//! and fetches and costs throughput, for no fairness a key could notice.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::decay::Decaying;

/// Arrival slots per `max_wait`.
const SLOTS: u32 = 64;

/// Recent handler time below this, in seconds, counts as none. The scheduler tells apart keys
/// that hog seconds, not milliseconds: short runs are recorded by sampling in whole
/// milliseconds, so below this the differences between keys are mostly the sampling's noise.
/// Such keys are served first come, first served, which also keeps a busy consumer close to
/// offset order, so its commits keep moving.
const IDLE_BELOW: f64 = 0.1;

/// The scheduler's tuning, shared by its queues.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Weights {
    /// Wait at which a task earns the full boost.
    pub(crate) max_wait: Duration,
    /// The full boost, in seconds of handler time.
    pub(crate) wait_weight: f64,
    /// Half-life of a key's handler time.
    pub(crate) half_life: Duration,
}

impl Weights {
    /// The boost a task that has waited `wait` earns.
    fn boost(&self, wait: Duration) -> f64 {
        let max_wait = self.max_wait.as_secs_f64();
        let share = if max_wait > 0.0 {
            (wait.as_secs_f64() / max_wait).min(1.0)
        } else {
            1.0
        };
        self.wait_weight * share * share
    }
}

/// Tasks of one class, each carrying an item handed back when it is chosen.
#[derive(Debug)]
pub(crate) struct FairQueue<T> {
    origin: Instant,
    /// A slot's width in nanoseconds (at least 1,000).
    slot_nanos: u64,
    slots: BTreeMap<u64, Arrivals<T>>,
    saturated: Arrivals<T>,
    /// The buffers of the last slot to empty, for the next new slot. Under load the queue fills
    /// and drains many times a second; growing a fresh slot's buffers to hundreds of entries
    /// each time costs allocations large enough to make the allocator sweep its free lists.
    spare: Option<Arrivals<T>>,
    next_seq: u64,
    len: usize,
}

#[derive(Debug)]
struct Entry<T> {
    /// Orders handler times as if decayed to a common instant (see [`Decaying::order_key`]),
    /// by [`band`].
    order: f64,
    seq: u64,
    enqueued: Instant,
    work: Decaying,
    item: T,
}

impl<T> Entry<T> {
    fn priority(&self, now: Instant, weights: &Weights) -> f64 {
        self.work.at(now, weights.half_life)
            - weights.boost(now.saturating_duration_since(self.enqueued))
    }
}

// BinaryHeap pops the greatest: the greatest entry is the one with the least handler time, then
// the earliest arrival.
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .order
            .total_cmp(&self.order)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl<T> Eq for Entry<T> {}

/// Where the next task would come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Saturated,
    Slot(u64),
}

/// The tasks of one arrival slot. Those of keys with no recent work all go first, in arrival
/// order, so they wait in a plain queue: a busy consumer's waiters are mostly such, and popping
/// a large heap would cost a cache miss per level.
#[derive(Debug)]
struct Arrivals<T> {
    idle: VecDeque<Entry<T>>,
    busy: BinaryHeap<Entry<T>>,
}

impl<T> Default for Arrivals<T> {
    fn default() -> Self {
        Self {
            idle: VecDeque::new(),
            busy: BinaryHeap::new(),
        }
    }
}

impl<T> Arrivals<T> {
    fn push(&mut self, entry: Entry<T>) {
        if entry.order == f64::NEG_INFINITY {
            self.idle.push_back(entry);
        } else {
            self.busy.push(entry);
        }
    }

    fn peek(&self) -> Option<&Entry<T>> {
        self.idle.front().or_else(|| self.busy.peek())
    }

    fn pop(&mut self) -> Option<Entry<T>> {
        self.idle.pop_front().or_else(|| self.busy.pop())
    }

    fn is_empty(&self) -> bool {
        self.idle.is_empty() && self.busy.is_empty()
    }

    /// Takes in a later slot's tasks, keeping the idle ones in arrival order.
    fn append(&mut self, later: Self) {
        self.idle.extend(later.idle);
        self.busy.extend(later.busy);
    }
}

/// The band of an order key (a base-2 logarithm of handler time, see [`Decaying::order_key`]):
/// keys in one band have recent work within a factor of two of each other.
fn band(order: f64) -> f64 {
    order.floor()
}

impl<T> FairQueue<T> {
    /// An empty queue; arrival slots count from `origin`.
    pub(crate) fn new(origin: Instant, weights: &Weights) -> Self {
        let slot_width = (weights.max_wait / SLOTS).max(Duration::from_micros(1));
        Self {
            origin,
            slot_nanos: u64::try_from(slot_width.as_nanos()).unwrap_or(u64::MAX),
            slots: BTreeMap::new(),
            saturated: Arrivals::default(),
            spare: None,
            next_seq: 0,
            len: 0,
        }
    }

    /// Tasks waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no task waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a task whose key has done `work` recently.
    pub(crate) fn push(&mut self, item: T, work: Decaying, now: Instant, weights: &Weights) {
        let work = if work.at(now, weights.half_life) < IDLE_BELOW {
            Decaying::zero(now)
        } else {
            work
        };
        let entry = Entry {
            order: band(work.order_key(self.origin, weights.half_life)),
            seq: self.next_seq,
            enqueued: now,
            work,
            item,
        };
        self.next_seq += 1;
        self.len += 1;
        let slot = self.slot_of(now);
        let spare = &mut self.spare;
        self.slots
            .entry(slot)
            .or_insert_with(|| spare.take().unwrap_or_default())
            .push(entry);
    }

    /// Removes and returns the task to serve next, if any.
    pub(crate) fn pop(&mut self, now: Instant, weights: &Weights) -> Option<T> {
        self.saturate(now, weights.max_wait);
        let source = match self.oldest_idle() {
            Some(source) => {
                debug_assert_eq!(Some(source), self.best(now, weights));
                source
            }
            None => self.best(now, weights)?,
        };
        let entry = match source {
            Source::Saturated => self.saturated.pop(),
            Source::Slot(slot) => {
                let arrivals = self.slots.get_mut(&slot)?;
                let entry = arrivals.pop();
                if arrivals.is_empty() {
                    self.spare = self.slots.remove(&slot);
                }
                entry
            }
        }?;
        self.len -= 1;
        Some(entry.item)
    }

    fn slot_of(&self, at: Instant) -> u64 {
        // In u64: a u128 division is a library call, and 2^64 ns is over 500 years.
        let since = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(since).unwrap_or(u64::MAX) / self.slot_nanos
    }

    /// Moves slots whose every task has waited at least `max_wait` into the saturated heap.
    fn saturate(&mut self, now: Instant, max_wait: Duration) {
        let Some(arrived_by) = now.checked_sub(max_wait) else {
            return;
        };
        // Slot s holds arrivals before the start of slot s + 1.
        let first_unsaturated = self.slot_of(arrived_by);
        while let Some(entry) = self.slots.first_entry() {
            if *entry.key() >= first_unsaturated {
                break;
            }
            let arrivals = entry.remove();
            self.saturated.append(arrivals);
        }
    }

    /// The choice [`Self::best`] would make, when it is plain without weighing priorities: the
    /// earliest task of a key with no recent work, if it is at the head of the oldest group. It
    /// has waited longest of all such tasks, so it has the largest boost and no work, which no
    /// task of a busy key (whose work is above zero, and boost no larger) can beat. A saturated
    /// heap led by a busy key needs weighing, as its boost may be the larger.
    fn oldest_idle(&self) -> Option<Source> {
        if !self.saturated.is_empty() {
            return (!self.saturated.idle.is_empty()).then_some(Source::Saturated);
        }
        let (slot, arrivals) = self.slots.first_key_value()?;
        (!arrivals.idle.is_empty()).then_some(Source::Slot(*slot))
    }

    fn best(&self, now: Instant, weights: &Weights) -> Option<Source> {
        let heads = self
            .saturated
            .peek()
            .map(|entry| (Source::Saturated, entry))
            .into_iter()
            .chain(self.slots.iter().filter_map(|(slot, arrivals)| {
                arrivals.peek().map(|entry| (Source::Slot(*slot), entry))
            }));
        heads
            .map(|(source, entry)| (entry.priority(now, weights), entry.seq, source))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, _, source)| source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> Weights {
        Weights {
            max_wait: Duration::from_secs(120),
            wait_weight: 200.0,
            half_life: Duration::from_secs(120),
        }
    }

    fn work(seconds: u64, at: Instant) -> Decaying {
        let mut work = Decaying::zero(at);
        work.add(Duration::from_secs(seconds), at, weights().half_life);
        work
    }

    #[test]
    fn serves_the_key_with_least_recent_work_first_then_arrival_order() {
        let now = Instant::now();
        let w = weights();
        let mut queue = FairQueue::new(now, &w);
        queue.push("busy", work(30, now), now, &w);
        queue.push("fresh-1", Decaying::zero(now), now, &w);
        queue.push("light", work(1, now), now, &w);
        queue.push("fresh-2", Decaying::zero(now), now, &w);

        let order: Vec<_> = std::iter::from_fn(|| queue.pop(now, &w)).collect();
        assert_eq!(order, ["fresh-1", "fresh-2", "light", "busy"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn keys_with_a_few_milliseconds_of_work_are_served_in_arrival_order() {
        let now = Instant::now();
        let w = weights();
        let mut queue = FairQueue::new(now, &w);
        let mut sampled = Decaying::zero(now);
        sampled.add(Duration::from_millis(3), now, w.half_life);
        queue.push("sampled-first", sampled, now, &w);
        queue.push("fresh", Decaying::zero(now), now, &w);
        queue.push("busy", work(1, now), now, &w);
        queue.push("sampled-again", sampled, now, &w);

        let order: Vec<_> = std::iter::from_fn(|| queue.pop(now, &w)).collect();
        assert_eq!(order, ["sampled-first", "fresh", "sampled-again", "busy"]);
    }

    #[test]
    fn waiting_earns_a_boost_that_overtakes_recent_work() {
        let start = Instant::now();
        let w = weights();
        let mut queue = FairQueue::new(start, &w);
        // 50 s of recent work; waiting 60 s (a boost of 200 * 0.25 = 50 s) and a little decay
        // bring it level with, then ahead of, a fresh key that just arrived.
        queue.push("waited", work(50, start), start, &w);
        let later = start + Duration::from_secs(61);
        queue.push("fresh", Decaying::zero(later), later, &w);

        assert_eq!(queue.pop(later, &w), Some("waited"));
        assert_eq!(queue.pop(later, &w), Some("fresh"));
    }

    #[test]
    fn the_shortcut_for_idle_keys_picks_what_weighing_would() {
        // `pop` checks its shortcut against the full weighing (a debug assertion); this mixes
        // idle and busy keys across slots and past `max_wait` to reach every branch.
        let start = Instant::now();
        let w = Weights {
            max_wait: Duration::from_secs(64),
            ..weights()
        };
        let mut queue = FairQueue::new(start, &w);
        let mut popped = 0;
        for step in 0..2_000_u64 {
            let now = start + Duration::from_millis(step * 97);
            let seconds = [0, 0, 1, 40][(step % 4) as usize];
            queue.push(step, work(seconds, now), now, &w);
            if step % 3 != 0 {
                popped += usize::from(queue.pop(now, &w).is_some());
            }
        }
        assert_eq!(queue.len(), 2_000 - popped);
    }

    #[test]
    fn keys_with_work_within_a_factor_of_two_are_served_in_arrival_order() {
        let now = Instant::now();
        let w = weights();
        let mut queue = FairQueue::new(now, &w);
        // 8 s and 9 s share a band; 20 s is two bands up, 4 s one band down.
        queue.push("nine", work(9, now), now, &w);
        queue.push("twenty", work(20, now), now, &w);
        queue.push("eight", work(8, now), now, &w);
        queue.push("four", work(4, now), now, &w);

        let order: Vec<_> = std::iter::from_fn(|| queue.pop(now, &w)).collect();
        assert_eq!(order, ["four", "nine", "eight", "twenty"]);
    }

    #[test]
    fn tasks_past_max_wait_compare_by_work_alone() {
        let start = Instant::now();
        let w = weights();
        let mut queue = FairQueue::new(start, &w);
        queue.push("heavy-early", work(500, start), start, &w);
        let second = start + Duration::from_secs(30);
        queue.push("light-late", work(10, second), second, &w);

        let now = start + Duration::from_secs(600);
        assert_eq!(queue.pop(now, &w), Some("light-late"));
        assert_eq!(queue.pop(now, &w), Some("heavy-early"));
        assert_eq!(queue.pop(now, &w), None);
    }
}
