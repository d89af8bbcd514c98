//! The store's data model: a key's cells and its head (bookkeeping) row.
//!
//! Every collection of one (group, key) lives in one store partition. A cell is addressed by
//! the collection's name, its generation, a section and an item:
//!
//! | kind | section 1 (entries) | section 2 (bounds) |
//! |---|---|---|
//! | value | item empty | — |
//! | map | item = the map key's bytes | — |
//! | set | item = the member's bytes, data empty | — |
//! | deque | item = the index, big-endian with the sign bit flipped | item empty, data = head and tail |
//!
//! Clearing a collection bumps its generation in the head instead of deleting its cells, so a
//! clear is one write whatever the collection's size, and a clear followed by writes in one
//! event never races its own deletes. Cells of older generations are invisible and are removed
//! after the commit, best effort.

use std::collections::BTreeMap;

/// Section of a collection's entries.
pub(crate) const ENTRIES: u8 = 1;
/// Section of a deque's bounds.
pub(crate) const BOUNDS: u8 = 2;

/// Where a cell lives within its key's partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    /// The collection.
    pub name: String,
    /// The collection's generation, bumped by each clear.
    pub generation: i64,
    /// 1 for entries, 2 for a deque's bounds.
    pub section: u8,
    /// The item within the section.
    pub item: Vec<u8>,
}

/// One cell of a commit: its new data (`None` deletes it) and how long it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellWrite {
    /// The cell.
    pub cell: CellKey,
    /// The new data, or `None` to delete.
    pub data: Option<Vec<u8>>,
    /// Seconds the data lives; `None` keeps it.
    pub ttl: Option<u32>,
}

/// The event a commit belongs to: a message's (topic, partition, offset), or a timer of the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventRef {
    /// The topic (empty for a timer).
    pub topic: String,
    /// The partition (-1 for a timer).
    pub partition: i32,
    /// The offset, or a timer's due time in milliseconds since the Unix epoch.
    pub offset: i64,
    /// Whether the event is a timer of the key ([`EventRef::timer`]).
    pub timer: bool,
}

/// The head's marker name for the key's last applied timer.
const TIMER_MARKER: &str = "timer";

impl EventRef {
    /// The message at `topic`/`partition`/`offset`.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        Self {
            topic: topic.into(),
            partition,
            offset,
            timer: false,
        }
    }

    /// The key's timer due at `time_ms` (milliseconds since the Unix epoch).
    ///
    /// A timer that fires again is one whose state committed but whose deletion from the timer
    /// store did not (a crash in between), so it is the key's last applied timer: its head
    /// marks that timer's time, and only an equal time counts as applied. (An order would not
    /// do: a handler may schedule a timer earlier than one that already fired.)
    pub fn timer(time_ms: i64) -> Self {
        Self {
            topic: String::new(),
            partition: -1,
            offset: time_ms,
            timer: true,
        }
    }

    /// The head's marker name for the event's source: `partition:topic`, or `timer`.
    pub(crate) fn source(&self) -> String {
        if self.timer {
            TIMER_MARKER.to_owned()
        } else {
            format!("{}:{}", self.partition, self.topic)
        }
    }
}

/// A key's head: the commit sequence and owner epoch that fence its writes, the last applied
/// offset per source partition, and each cleared collection's generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// How many commits the key has had (0: none, or the head expired).
    pub seq: i64,
    /// The epoch of the owner that made the last commit.
    pub epoch: i64,
    /// `partition:topic` to the last applied offset.
    pub markers: BTreeMap<String, i64>,
    /// Collection name to generation, for collections cleared at least once.
    pub generations: BTreeMap<String, i64>,
}

impl Head {
    /// Whether `event` was applied already: its partition's marker is at or past its offset
    /// (one owner applies a key's events in offset order), or, for a timer, the key's last
    /// applied timer is due at the same time.
    pub fn has_applied(&self, event: &EventRef) -> bool {
        self.markers.get(&event.source()).is_some_and(|&marked| {
            if event.timer {
                marked == event.offset
            } else {
                marked >= event.offset
            }
        })
    }

    /// The current generation of `name`.
    pub fn generation(&self, name: &str) -> i64 {
        self.generations.get(name).copied().unwrap_or(0)
    }
}

/// One atomic commit to a key: applied only when the key's head still has `expected_seq` and
/// `expected_epoch`, and then all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The head's `seq` this commit was computed from.
    pub expected_seq: i64,
    /// The head's `epoch` this commit was computed from.
    pub expected_epoch: i64,
    /// The committing owner's epoch, at least `expected_epoch`.
    pub epoch: i64,
    /// The event to mark applied, if any.
    pub event: Option<EventRef>,
    /// Generations this commit moves to (collection, new generation, old generation).
    pub generations: Vec<(String, i64, i64)>,
    /// Cell changes, at most one per cell.
    pub cells: Vec<CellWrite>,
    /// How long the head lives after this commit; `None` keeps it.
    pub head_ttl: Option<u32>,
}

/// Items and their data, as a scan returns them.
pub type ItemRows = Vec<(Vec<u8>, Vec<u8>)>;

/// A bound of an item range, over the items of one section.
pub type ItemBound = std::ops::Bound<Vec<u8>>;

/// An ordered read of one collection section's items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellScan {
    /// The collection.
    pub name: String,
    /// Its generation.
    pub generation: i64,
    /// The section.
    pub section: u8,
    /// The lowest item.
    pub lower: ItemBound,
    /// The highest item.
    pub upper: ItemBound,
    /// Highest first.
    pub reverse: bool,
    /// At most this many items.
    pub limit: Option<usize>,
}

/// The item of a deque's element at `index`: big-endian with the sign bit flipped, so that
/// byte order is numeric order.
pub(crate) fn deque_item(index: i64) -> Vec<u8> {
    ((index as u64) ^ (1 << 63)).to_be_bytes().to_vec()
}

/// The index of a deque item made by [`deque_item`].
pub(crate) fn deque_index(item: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = item.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deque_items_sort_like_their_indices() {
        let indices = [i64::MIN, -2, -1, 0, 1, i64::MAX];
        let items: Vec<_> = indices.iter().map(|&i| deque_item(i)).collect();
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(items, sorted);
        for index in indices {
            assert_eq!(deque_index(&deque_item(index)), Some(index));
        }
    }

    #[test]
    fn an_event_is_applied_once_its_partition_marker_reaches_it() {
        let mut head = Head::default();
        let event = EventRef::new("orders", 2, 10);
        assert!(!head.has_applied(&event));
        head.markers.insert(event.source(), 10);
        assert!(head.has_applied(&event));
        assert!(!head.has_applied(&EventRef::new("orders", 2, 11)));
        assert!(!head.has_applied(&EventRef::new("orders", 3, 1)));
    }

    #[test]
    fn a_timer_is_applied_when_it_is_the_keys_last_applied_timer() {
        let mut head = Head::default();
        let timer = EventRef::timer(60_000);
        assert!(!head.has_applied(&timer));
        head.markers.insert(timer.source(), 60_000);
        assert!(head.has_applied(&timer));
        // Earlier and later timers are other timers, and messages have markers of their own.
        assert!(!head.has_applied(&EventRef::timer(30_000)));
        assert!(!head.has_applied(&EventRef::timer(90_000)));
        assert!(!head.has_applied(&EventRef::new("orders", 0, 0)));
    }
}
