use std::sync::Arc;
use std::time::Duration;

use super::{Admission, Backlogs, Deferred};
use crate::defer::{Backlog, DeferredTimer};
use crate::timers::TimerTime;

fn timer(time: u32, after_offset: i64) -> Deferred {
    Deferred::Timer(DeferredTimer::new(TimerTime::from_secs(time), after_offset))
}

fn entries(backlogs: &Backlogs, key: &Arc<str>) -> Vec<Deferred> {
    let mut seen = Vec::new();
    while let Some(head) = backlogs.head(key) {
        seen.push(head.entry);
        backlogs.advance(key);
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_backlog_comes_due_once_then_moves_through_its_entries() {
    let backlogs = Backlogs::default();
    let key: Arc<str> = "k".into();
    backlogs.push(&key, Deferred::Offset(5), Duration::from_secs(1));
    backlogs.push(&key, Deferred::Offset(9), Duration::from_secs(1));
    assert!(backlogs.holds("k"));
    let due = backlogs
        .next_due()
        .unwrap_or_else(tokio::time::Instant::now);
    assert!(backlogs.take_due(due - Duration::from_millis(1)).is_empty());
    assert_eq!(backlogs.take_due(due), std::slice::from_ref(&key));
    assert!(backlogs.take_due(due).is_empty(), "queued once");
    assert_eq!(
        backlogs.head("k").map(|h| h.entry),
        Some(Deferred::Offset(5))
    );

    backlogs.retry_later(&key, 1, Duration::from_secs(2));
    assert_eq!(backlogs.head("k").map(|h| h.retries), Some(1));
    assert!(backlogs.advance(&key));
    assert_eq!(
        backlogs.head("k").map(|h| (h.entry, h.retries)),
        Some((Deferred::Offset(9), 0))
    );
    assert_eq!(
        backlogs.take_due(tokio::time::Instant::now()),
        std::slice::from_ref(&key)
    );
    assert!(!backlogs.advance(&key));
    assert!(!backlogs.holds("k"));
    assert_eq!(backlogs.next_due(), None);
}

#[tokio::test(start_paused = true)]
async fn messages_and_timers_keep_the_order_they_were_deferred_in() {
    let backlogs = Backlogs::default();
    let key: Arc<str> = "k".into();
    let delay = Duration::from_secs(1);
    assert_eq!(backlogs.timer_after("k"), -1);
    backlogs.push(&key, timer(100, -1), delay);
    backlogs.push(&key, Deferred::Offset(7), delay);
    assert_eq!(backlogs.timer_after("k"), 7);
    backlogs.push(&key, timer(105, 7), delay);
    // Made due late (scheduled in the past): sorts among the timers after offset 7.
    backlogs.push(&key, timer(103, 7), delay);
    backlogs.push(&key, Deferred::Offset(8), delay);
    // Never ahead of the head, whose retry may be running.
    backlogs.push(&key, timer(50, -1), delay);
    assert!(backlogs.holds_timer("k", TimerTime::from_secs(103)));
    assert!(!backlogs.holds_timer("k", TimerTime::from_secs(104)));
    let expected = [
        timer(100, -1),
        timer(50, -1),
        Deferred::Offset(7),
        timer(103, 7),
        timer(105, 7),
        Deferred::Offset(8),
    ];
    assert_eq!(entries(&backlogs, &key), expected);

    // The store's copy loads back in the same order.
    let restored = Backlogs::default();
    restored.restore(vec![Backlog {
        key: "k".into(),
        offsets: vec![7, 8],
        timers: expected
            .iter()
            .filter_map(|entry| match entry {
                Deferred::Timer(timer) => Some(timer.clone()),
                Deferred::Offset(_) => None,
            })
            .collect(),
        retries: 2,
        next_retry_ms: 0,
    }]);
    let mut expected = expected.to_vec();
    expected.swap(0, 1);
    assert_eq!(entries(&restored, &key), expected);
}

#[tokio::test(start_paused = true)]
async fn a_redelivery_of_what_a_restored_backlog_covers_completes_as_is() {
    use Admission::{Join, Redelivered, Run};
    let backlogs = Backlogs::default();
    let backlog = |key: &str| Backlog {
        key: key.into(),
        offsets: vec![4, 9],
        timers: Vec::new(),
        retries: 0,
        next_retry_ms: 0,
    };
    backlogs.restore(vec![backlog("k"), backlog("j")]);
    assert_eq!(
        backlogs.admit("j", 10),
        Join,
        "a message after the backlog joins it"
    );
    let key: Arc<str> = "k".into();
    assert_eq!(backlogs.admit("k", 4), Redelivered, "an entry it holds");
    assert_eq!(
        backlogs.admit("k", 2),
        Redelivered,
        "handled before the key was deferred"
    );
    assert_eq!(backlogs.admit("other", 1), Run, "a key without a backlog");

    assert!(backlogs.advance(&key));
    assert_eq!(
        backlogs.admit("k", 4),
        Redelivered,
        "an entry handled since"
    );
    assert!(!backlogs.advance(&key));
    assert!(!backlogs.holds("k"));
    assert_eq!(
        backlogs.admit("k", 9),
        Redelivered,
        "handled, and the backlog worked through"
    );
    assert_eq!(backlogs.admit("k", 10), Run, "after what the store knew");
    assert_eq!(
        backlogs.admit("k", 9),
        Run,
        "forgotten once the stream passed it"
    );
}

#[tokio::test(start_paused = true)]
async fn a_live_backlog_takes_later_messages_and_covers_earlier_ones() {
    use Admission::{Join, Redelivered, Run};
    let backlogs = Backlogs::default();
    let key: Arc<str> = "k".into();
    assert_eq!(backlogs.admit("k", 3), Run);
    backlogs.push(&key, Deferred::Offset(3), Duration::ZERO);
    assert_eq!(backlogs.admit("k", 5), Join);
    backlogs.push(&key, Deferred::Offset(5), Duration::ZERO);
    assert_eq!(backlogs.admit("k", 5), Redelivered);
    backlogs.push(&key, timer(50, 12), Duration::ZERO);
    assert_eq!(
        backlogs.admit("k", 12),
        Redelivered,
        "behind a timer deferred after it"
    );
    assert_eq!(backlogs.admit("k", 13), Join);
    while backlogs.advance(&key) {}
    assert_eq!(backlogs.admit("k", 4), Run, "no backlog, nothing restored");
}

#[tokio::test(start_paused = true)]
async fn listed_timers_leave_out_the_one_being_retried_and_removal_drops_an_empty_backlog() {
    let backlogs = Backlogs::default();
    let key: Arc<str> = "k".into();
    let t = TimerTime::from_secs;
    backlogs.push(&key, timer(10, -1), Duration::ZERO);
    backlogs.push(&key, timer(30, -1), Duration::ZERO);
    backlogs.push(&key, timer(20, -1), Duration::ZERO);
    assert_eq!(backlogs.timers("k"), [t(10), t(20), t(30)]);
    assert_eq!(backlogs.take_due(tokio::time::Instant::now()).len(), 1);
    assert_eq!(backlogs.timers("k"), [t(20), t(30)], "10 is firing");

    backlogs.remove_timer(&key, t(10));
    backlogs.remove_timer(&key, t(20));
    assert_eq!(backlogs.timers("k"), [t(30)]);
    assert_eq!(entries(&backlogs, &key), [timer(10, -1), timer(30, -1)]);

    backlogs.push(&key, timer(40, -1), Duration::from_secs(60));
    backlogs.push(&key, timer(50, -1), Duration::from_secs(60));
    backlogs.remove_timer(&key, t(40));
    assert_eq!(
        backlogs.next_due(),
        Some(tokio::time::Instant::now()),
        "a removed head makes the next one due at once"
    );
    backlogs.remove_timer(&key, t(50));
    assert!(!backlogs.holds("k"));
    assert_eq!(backlogs.next_due(), None, "its retry is gone too");
}
