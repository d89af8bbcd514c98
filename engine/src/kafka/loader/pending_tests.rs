use std::time::{Duration, Instant};

use super::{Pending, Read, Step, Waiter};

fn waiter(id: u32) -> Waiter<u32> {
    Waiter {
        deadline: Instant::now() + Duration::from_secs(60),
        reply: id,
    }
}

fn ids(waiters: Vec<Waiter<u32>>) -> Vec<u32> {
    waiters.into_iter().map(|w| w.reply).collect()
}

/// Feeds the record at `offset`; returns the ids answered deleted and found.
fn read(pending: &mut Pending<u32>, offset: i64) -> (Vec<u32>, Vec<u32>) {
    match pending.on_record(offset) {
        Read::Advanced { deleted, found } => (
            ids(deleted.into_iter().map(|(_, w)| w).collect()),
            ids(found),
        ),
        Read::BeforeSeek { sought } => panic!("record {offset} before the seek to {sought}"),
    }
}

#[test]
fn an_unpositioned_partition_seeks_to_its_lowest_load() {
    let mut pending = Pending::default();
    assert_eq!(pending.next_step(100), Step::Read, "nothing to load");
    pending.add(40, waiter(1));
    pending.add(12, waiter(2));
    assert_eq!(pending.next_step(100), Step::Seek(12));
    pending.sought(12);
    assert_eq!(pending.next_step(100), Step::Read, "the seek is under way");
}

#[test]
fn reads_forward_within_the_threshold_and_seeks_beyond_it() {
    let mut pending = Pending::default();
    pending.add(10, waiter(1));
    pending.sought(10);
    assert_eq!(read(&mut pending, 10), (vec![], vec![1]));
    pending.add(111, waiter(2));
    assert_eq!(
        pending.next_step(100),
        Step::Read,
        "100 records ahead: read on"
    );
    pending.add(200, waiter(3));
    assert_eq!(read(&mut pending, 11), (vec![], vec![]));
    assert_eq!(pending.next_step(100), Step::Read);
    let mut far = Pending::default();
    far.add(10, waiter(1));
    far.sought(10);
    read(&mut far, 10);
    far.add(112, waiter(2));
    assert_eq!(
        far.next_step(100),
        Step::Seek(112),
        "101 records ahead: seek"
    );
}

#[test]
fn a_load_behind_the_position_or_the_seek_seeks_back() {
    let mut pending = Pending::default();
    pending.add(50, waiter(1));
    pending.sought(50);
    pending.add(20, waiter(2));
    assert_eq!(
        pending.next_step(100),
        Step::Seek(20),
        "below the seek under way"
    );
    pending.sought(20);
    assert_eq!(read(&mut pending, 20), (vec![], vec![2]));
    assert_eq!(read(&mut pending, 21), (vec![], vec![]));
    pending.add(5, waiter(3));
    assert_eq!(
        pending.next_step(100),
        Step::Seek(5),
        "the position passed it"
    );
}

#[test]
fn loads_in_the_gap_after_a_seek_are_deleted_and_later_ones_wait() {
    let mut pending = Pending::default();
    for (offset, id) in [(3, 1), (5, 2), (5, 3), (9, 4), (12, 5)] {
        pending.add(offset, waiter(id));
    }
    pending.sought(3);
    // Retention deleted offsets below 9: the first record after seeking to 3 is 9.
    assert_eq!(read(&mut pending, 9), (vec![1, 2, 3], vec![4]));
    assert_eq!(pending.len(), 1);
    // Compaction left a gap at 10 and 11 too: 12 is read next.
    pending.add(10, waiter(6));
    assert_eq!(read(&mut pending, 12), (vec![6], vec![5]));
    assert!(pending.is_empty());
}

#[test]
fn loads_below_the_seek_point_are_never_marked_deleted() {
    let mut pending = Pending::default();
    pending.add(30, waiter(1));
    pending.sought(30);
    // Arrives after the seek, below it: it must trigger a seek, not be swept by the gap rule.
    pending.add(10, waiter(2));
    assert_eq!(read(&mut pending, 31), (vec![1], vec![]));
    assert_eq!(pending.len(), 1);
    assert_eq!(pending.next_step(100), Step::Seek(10));
}

#[test]
fn a_record_before_the_seek_point_is_reported() {
    let mut pending = Pending::default();
    pending.add(500, waiter(1));
    pending.sought(500);
    assert!(matches!(
        pending.on_record(0),
        Read::BeforeSeek { sought: 500 }
    ));
    // The worker found the seek was past the end, and the log restarted at 0.
    assert_eq!(pending.take_from(20).len(), 1);
    pending.restarted_at(0);
    assert_eq!(read(&mut pending, 0), (vec![], vec![]));
    assert!(pending.is_empty());
}

#[test]
fn expired_and_abandoned_loads_are_taken_out() {
    let mut pending = Pending::default();
    let now = Instant::now();
    pending.add(
        1,
        Waiter {
            deadline: now,
            reply: 1,
        },
    );
    pending.add(1, waiter(2));
    pending.add(2, waiter(3));
    let expired = pending.take_expired(now);
    assert_eq!(
        expired
            .iter()
            .map(|(o, w)| (*o, w.reply))
            .collect::<Vec<_>>(),
        [(1, 1)]
    );
    assert_eq!(pending.retain(|id| *id != 3), 1);
    assert_eq!(pending.len(), 1);
    pending.unpositioned();
    assert_eq!(pending.next_step(100), Step::Seek(1));
}
