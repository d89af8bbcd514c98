//! Timer stores: one conformance suite run against [`MemoryTimerStore`] and against
//! [`CassandraTimerStore`] on the real Cassandra at `PROSODY_CASSANDRA_NODES` (default
//! 127.0.0.1:9042), then what only the Cassandra store does (slab sizes, expiry, index
//! clean-up, outages; in `timer_store/cassandra_only.rs`). Every test uses its own segments.

mod support;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use prosody_engine::{
    Baggage, Cassandra, CassandraTimerStore, Config, Continuation, MemoryTimerStore, TimerSegment,
    TimerStore, TimerTime, TraceParent,
};

const HOUR: u32 = 3_600;

/// Runs `test` on the runtime every test shares: the process-wide Cassandra session keeps its
/// connections on the runtime that first used it, so per-test runtimes would break it.
fn run<F: Future>(test: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("test runtime")
        })
        .block_on(test)
}

fn t(secs: u32) -> TimerTime {
    TimerTime::from_secs(secs)
}

/// A whole hour a day from now, so the conformance timers sit in future slabs.
fn base() -> u32 {
    (TimerTime::now().as_secs() / HOUR + 24) * HOUR
}

fn segment(partition: i32) -> TimerSegment {
    TimerSegment::new(&support::unique("timers"), "topic", partition)
}

fn config(nodes: &str) -> Config {
    Config::from_options_with_env([("cassandra_nodes", nodes)], |_| None)
        .expect("valid configuration")
}

fn cassandra_store(slab_secs: u64, retention_secs: u64) -> CassandraTimerStore {
    CassandraTimerStore::new(
        Cassandra::shared(&config(&support::cassandra_nodes())),
        Duration::from_secs(slab_secs),
        Duration::from_secs(retention_secs),
    )
}

/// Every timer of `segment` in `[from, until)`, sorted.
async fn loaded(
    store: &dyn TimerStore,
    segment: &TimerSegment,
    from: u32,
    until: u32,
) -> Vec<(String, TimerTime)> {
    let mut due = store.load(segment, t(from), t(until)).await.expect("load");
    due.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    due
}

/// Inserts every `(key, time)`, 64 at a time.
async fn insert_all(store: &dyn TimerStore, segment: &TimerSegment, timers: &[(String, u32)]) {
    futures::stream::iter(timers)
        .map(|(key, time)| store.insert(segment, key, t(*time)))
        .buffer_unordered(64)
        .try_collect::<()>()
        .await
        .expect("inserts");
}

fn timers(list: &[(&str, u32)]) -> Vec<(String, TimerTime)> {
    list.iter().map(|(k, s)| (k.to_string(), t(*s))).collect()
}

async fn insert_is_idempotent(store: &dyn TimerStore) {
    let (segment, at) = (segment(0), base() + 10);
    store.insert(&segment, "k", t(at)).await.expect("insert");
    store
        .insert(&segment, "k", t(at))
        .await
        .expect("insert again");
    assert_eq!(store.times(&segment, "k").await.expect("times"), [t(at)]);
    assert_eq!(
        loaded(store, &segment, 0, u32::MAX).await,
        timers(&[("k", at)])
    );
}

async fn remove_deletes_one_timer(store: &dyn TimerStore) {
    let (segment, b) = (segment(0), base());
    for time in [b + 5, b + 90] {
        store.insert(&segment, "k", t(time)).await.expect("insert");
    }
    store.remove(&segment, "k", t(b + 5)).await.expect("remove");
    store
        .remove(&segment, "k", t(b + 5))
        .await
        .expect("remove twice");
    store
        .remove(&segment, "never", t(b))
        .await
        .expect("remove missing");
    assert_eq!(
        store.times(&segment, "k").await.expect("times"),
        [t(b + 90)]
    );
    assert_eq!(
        loaded(store, &segment, b, b + HOUR).await,
        timers(&[("k", b + 90)])
    );
}

async fn times_are_ascending_per_key(store: &dyn TimerStore) {
    let (segment, b) = (segment(0), base());
    for time in [b + 500, b + 5, b + 2 * HOUR, b + 60] {
        store.insert(&segment, "k", t(time)).await.expect("insert");
    }
    store
        .insert(&segment, "other", t(b + 1))
        .await
        .expect("insert");
    let times = store.times(&segment, "k").await.expect("times");
    assert_eq!(times, [t(b + 5), t(b + 60), t(b + 500), t(b + 2 * HOUR)]);
    assert!(store
        .times(&segment, "none")
        .await
        .expect("times")
        .is_empty());
}

async fn load_includes_from_and_excludes_until(store: &dyn TimerStore) {
    let (segment, b) = (segment(0), base());
    let (from, until) = (b + 30, b + 150);
    for (key, time) in [("a", from - 1), ("b", from), ("c", until - 1), ("d", until)] {
        store.insert(&segment, key, t(time)).await.expect("insert");
    }
    let expected = timers(&[("b", from), ("c", until - 1)]);
    assert_eq!(loaded(store, &segment, from, until).await, expected);
    assert!(loaded(store, &segment, from + 1, until - 1)
        .await
        .is_empty());
    assert!(loaded(store, &segment, from, from).await.is_empty());
}

async fn segments_are_isolated(store: &dyn TimerStore) {
    let (one, b) = (segment(0), base());
    let two = TimerSegment::new(one.group(), one.topic(), 1);
    let three = TimerSegment::new(&format!("{}-other", one.group()), one.topic(), 0);
    for segment in [&one, &two, &three] {
        store.insert(segment, "k", t(b + 1)).await.expect("insert");
    }
    store.remove(&two, "k", t(b + 1)).await.expect("remove");
    assert_eq!(loaded(store, &one, b, b + 2).await, timers(&[("k", b + 1)]));
    assert!(loaded(store, &two, b, b + 2).await.is_empty());
    assert_eq!(store.times(&three, "k").await.expect("times"), [t(b + 1)]);
}

async fn many_keys_share_a_slab(store: &dyn TimerStore) {
    let (segment, b) = (segment(0), base());
    let all: Vec<_> = (0..500).map(|i| (format!("key-{i}"), b + i % 60)).collect();
    insert_all(store, &segment, &all).await;
    let mut expected: Vec<_> = all.iter().map(|(k, s)| (k.clone(), t(*s))).collect();
    expected.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    assert_eq!(loaded(store, &segment, b, b + 60).await, expected);
}

async fn timers_span_several_slabs(store: &dyn TimerStore) {
    let (segment, b) = (segment(0), base());
    let all: Vec<_> = (0..195)
        .map(|i| (format!("k{}", i % 7), b + i * 37))
        .collect();
    insert_all(store, &segment, &all).await;
    for (from, until) in [(b, b + 2 * HOUR), (b + 100, b + 1_000), (b + 59, b + 61)] {
        let mut expected: Vec<_> = all
            .iter()
            .filter(|(_, s)| from <= *s && *s < until)
            .map(|(k, s)| (k.clone(), t(*s)))
            .collect();
        expected.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        assert_eq!(
            loaded(store, &segment, from, until).await,
            expected,
            "{from}..{until}"
        );
    }
}

/// A timer keeps what its scheduler carried on: the trace context and the baggage, each
/// alone or together, and nothing for a timer stored without either.
async fn keeps_trace_context_and_baggage(store: &dyn TimerStore) {
    let (segment, b) = (segment(0), base());
    let parent = Some(TraceParent::new_root());
    let baggage = Baggage::parse("tenant=acme,user=J%C3%B6rg;p");
    let cases = [
        (
            "both",
            Continuation {
                parent,
                baggage: baggage.clone(),
            },
        ),
        ("parent", Continuation::from(parent)),
        ("baggage", Continuation::default().with_baggage(baggage)),
        ("neither", Continuation::default()),
    ];
    for (key, carried) in &cases {
        store
            .insert_traced(&segment, key, t(b), carried.clone())
            .await
            .expect("insert");
    }
    store.insert(&segment, "plain", t(b)).await.expect("insert");
    for (key, carried) in &cases {
        let stored = store.trace(&segment, key, t(b)).await.expect("trace");
        assert_eq!(&stored, carried, "{key}");
    }
    let plain = store.trace(&segment, "plain", t(b)).await.expect("trace");
    assert!(plain.is_empty());
    store.remove(&segment, "both", t(b)).await.expect("remove");
    let removed = store.trace(&segment, "both", t(b)).await.expect("trace");
    assert!(removed.is_empty(), "a removed timer keeps nothing");
}

/// Declares `$name::{memory, cassandra}` running `$scenario` on each store.
macro_rules! conformance {
    ($($name:ident,)*) => {
        $(
            mod $name {
                #[test]
                fn memory() {
                    super::run(super::$name(&super::MemoryTimerStore::default()));
                }

                #[test]
                fn cassandra() {
                    super::run(super::$name(&super::cassandra_store(60, 3_600)));
                }
            }
        )*
    };
}

conformance! {
    insert_is_idempotent,
    remove_deletes_one_timer,
    times_are_ascending_per_key,
    load_includes_from_and_excludes_until,
    segments_are_isolated,
    many_keys_share_a_slab,
    timers_span_several_slabs,
    keeps_trace_context_and_baggage,
}

#[path = "timer_store/cassandra_only.rs"]
mod cassandra_only;
