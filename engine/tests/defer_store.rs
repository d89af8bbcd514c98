//! Deferred-retry stores: one conformance suite run against [`MemoryDeferStore`] and against
//! [`CassandraDeferStore`] on the real Cassandra at `PROSODY_CASSANDRA_NODES` (default
//! 127.0.0.1:9042), then what only the Cassandra store does (paging, TTLs). Every test uses
//! its own segments.

mod support;

use support::shared_runtime::run;

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use prosody_engine::defer::{
    Backlog, CassandraDeferStore, DeferStore, DeferredTimer, MemoryDeferStore,
};
use prosody_engine::{
    Baggage, Cassandra, Config, Continuation, TimerSegment, TimerTime, TraceParent,
};

fn config() -> Config {
    Config::from_options_with_env([("cassandra_nodes", support::cassandra_nodes())], |_| None)
        .expect("valid configuration")
}

fn cassandra_store(retention: Duration) -> CassandraDeferStore {
    CassandraDeferStore::new(Cassandra::shared(&config()), retention)
}

fn segment() -> TimerSegment {
    TimerSegment::new(&support::unique("defer"), "topic", 0)
}

fn backlog(key: &str, offsets: &[i64], retries: u32, next_retry_ms: i64) -> Backlog {
    Backlog {
        key: key.into(),
        offsets: offsets.to_vec(),
        timers: Vec::new(),
        retries,
        next_retry_ms,
    }
}

/// A deferred timer at `time` seconds, placed after `after_offset`.
fn timer(time: u32, after_offset: i64) -> DeferredTimer {
    DeferredTimer::new(TimerTime::from_secs(time), after_offset)
}

fn with_timers(mut backlog: Backlog, timers: &[DeferredTimer]) -> Backlog {
    backlog.timers = timers.to_vec();
    backlog
}

async fn load(store: &dyn DeferStore, segment: &TimerSegment) -> Vec<Backlog> {
    store.load(segment).await.expect("load")
}

async fn load_orders_keys_and_their_offsets(store: &dyn DeferStore) {
    let segment = segment();
    for (key, offset) in [
        ("b", 70),
        ("a", 12),
        ("b", 3),
        ("a", 5),
        ("c", 1_000_000_000_000),
    ] {
        store.append(&segment, key, offset).await.expect("append");
    }
    assert_eq!(
        load(store, &segment).await,
        [
            backlog("a", &[5, 12], 0, 0),
            backlog("b", &[3, 70], 0, 0),
            backlog("c", &[1_000_000_000_000], 0, 0),
        ]
    );
}

async fn append_is_idempotent(store: &dyn DeferStore) {
    let segment = segment();
    for _ in 0..3 {
        store.append(&segment, "k", 42).await.expect("append");
    }
    assert_eq!(load(store, &segment).await, [backlog("k", &[42], 0, 0)]);
}

async fn reschedule_round_trips_and_replaces(store: &dyn DeferStore) {
    let segment = segment();
    store.append(&segment, "k", 1).await.expect("append");
    store
        .reschedule(&segment, "k", 1, 1_700_000_000_123)
        .await
        .expect("reschedule");
    assert_eq!(
        load(store, &segment).await,
        [backlog("k", &[1], 1, 1_700_000_000_123)]
    );
    store
        .reschedule(&segment, "k", 7, 1_800_000_000_000)
        .await
        .expect("reschedule");
    assert_eq!(
        load(store, &segment).await,
        [backlog("k", &[1], 7, 1_800_000_000_000)]
    );
}

async fn removing_the_head_keeps_the_rest(store: &dyn DeferStore) {
    let segment = segment();
    for offset in [10, 20, 30] {
        store.append(&segment, "k", offset).await.expect("append");
    }
    store
        .reschedule(&segment, "k", 2, 5_000)
        .await
        .expect("reschedule");
    store.remove(&segment, "k", 10).await.expect("remove head");
    store.remove(&segment, "k", 10).await.expect("remove again");
    store
        .remove(&segment, "k", 25)
        .await
        .expect("remove missing");
    assert_eq!(
        load(store, &segment).await,
        [backlog("k", &[20, 30], 2, 5_000)]
    );
}

async fn removing_the_last_offset_removes_the_key(store: &dyn DeferStore) {
    let segment = segment();
    store.append(&segment, "k", 10).await.expect("append");
    store.append(&segment, "other", 11).await.expect("append");
    store
        .reschedule(&segment, "k", 4, 9_000)
        .await
        .expect("reschedule");
    store.remove(&segment, "k", 10).await.expect("remove last");
    assert_eq!(load(store, &segment).await, [backlog("other", &[11], 0, 0)]);
    // Deferred again later, the key starts with a fresh retry record.
    store.append(&segment, "k", 50).await.expect("append");
    assert_eq!(
        load(store, &segment).await,
        [backlog("k", &[50], 0, 0), backlog("other", &[11], 0, 0)]
    );
}

async fn a_retry_record_without_offsets_is_not_loaded(store: &dyn DeferStore) {
    let segment = segment();
    store
        .reschedule(&segment, "k", 3, 1)
        .await
        .expect("reschedule");
    assert!(load(store, &segment).await.is_empty());
}

async fn segments_are_isolated(store: &dyn DeferStore) {
    let one = segment();
    let two = TimerSegment::new(one.group(), one.topic(), 1);
    let three = TimerSegment::new(&format!("{}-other", one.group()), one.topic(), 0);
    for segment in [&one, &two, &three] {
        store.append(segment, "k", 1).await.expect("append");
    }
    store.remove(&two, "k", 1).await.expect("remove");
    assert_eq!(load(store, &one).await, [backlog("k", &[1], 0, 0)]);
    assert!(load(store, &two).await.is_empty());
    assert_eq!(load(store, &three).await, [backlog("k", &[1], 0, 0)]);
}

async fn timers_load_with_their_place_next_to_the_offsets(store: &dyn DeferStore) {
    let segment = segment();
    let (first, second, third) = (timer(2_000, -1), timer(1_000, 7), timer(1_500, 7));
    store
        .append_timer(&segment, "k", first.clone())
        .await
        .expect("timer");
    store.append(&segment, "k", 7).await.expect("offset");
    store
        .append_timer(&segment, "k", second.clone())
        .await
        .expect("timer");
    store
        .append_timer(&segment, "k", third.clone())
        .await
        .expect("timer");
    store
        .append_timer(&segment, "k", third.clone())
        .await
        .expect("again");
    store
        .append_timer(&segment, "only-timers", first.clone())
        .await
        .expect("timer");
    store
        .reschedule(&segment, "only-timers", 2, 8_000)
        .await
        .expect("reschedule");
    assert_eq!(
        load(store, &segment).await,
        [
            with_timers(backlog("k", &[7], 0, 0), &[second, third, first.clone()]),
            with_timers(backlog("only-timers", &[], 2, 8_000), &[first]),
        ]
    );
}

async fn timers_keep_their_trace_context_and_baggage(store: &dyn DeferStore) {
    let segment = segment();
    let parent = TraceParent::new_root();
    let traced = timer(100, -1)
        .with_trace(Continuation::from(parent).with_baggage(Baggage::parse("tenant=acme,user=7")));
    let baggage_only =
        timer(200, -1).with_trace(Continuation::default().with_baggage(Baggage::parse("a=b")));
    let bare = timer(300, -1);
    for entry in [&traced, &baggage_only, &bare] {
        store
            .append_timer(&segment, "k", entry.clone())
            .await
            .expect("timer");
    }
    // Appending the same time again without a trace keeps what was stored with it.
    store
        .append_timer(&segment, "k", timer(100, -1))
        .await
        .expect("again");
    let loaded = load(store, &segment).await;
    assert_eq!(
        loaded,
        [with_timers(
            backlog("k", &[], 0, 0),
            &[traced.clone(), baggage_only, bare]
        )]
    );
    assert_eq!(loaded[0].timers[0].trace.parent, Some(parent));
    assert_eq!(
        loaded[0].timers[0]
            .trace
            .baggage
            .as_ref()
            .map(Baggage::as_str),
        Some("tenant=acme,user=7")
    );
}

async fn a_key_stays_deferred_while_it_has_an_offset_or_a_timer(store: &dyn DeferStore) {
    let segment = segment();
    let (early, late) = (timer(100, -1), timer(200, 3));
    store
        .append_timer(&segment, "k", early.clone())
        .await
        .expect("timer");
    store.append(&segment, "k", 3).await.expect("offset");
    store
        .append_timer(&segment, "k", late.clone())
        .await
        .expect("timer");
    store
        .reschedule(&segment, "k", 5, 9_000)
        .await
        .expect("reschedule");
    store
        .remove_timer(&segment, "k", early.time)
        .await
        .expect("remove timer");
    store.remove(&segment, "k", 3).await.expect("remove offset");
    assert_eq!(
        load(store, &segment).await,
        [with_timers(
            backlog("k", &[], 5, 9_000),
            std::slice::from_ref(&late)
        )],
        "a timer left keeps the key and its retry record"
    );
    store
        .remove_timer(&segment, "k", late.time)
        .await
        .expect("remove last");
    store
        .remove_timer(&segment, "k", late.time)
        .await
        .expect("remove again");
    assert!(load(store, &segment).await.is_empty());
    // Deferred again later, the key starts with a fresh retry record.
    store
        .append_timer(&segment, "k", late.clone())
        .await
        .expect("timer");
    assert_eq!(
        load(store, &segment).await,
        [with_timers(backlog("k", &[], 0, 0), &[late])]
    );
}

/// Declares `$name::{memory, cassandra}` running `$scenario` on each store.
macro_rules! conformance {
    ($($name:ident,)*) => {
        $(
            mod $name {
                #[test]
                fn memory() {
                    super::run(super::$name(&super::MemoryDeferStore::default()));
                }

                #[test]
                fn cassandra() {
                    let store = super::cassandra_store(std::time::Duration::from_secs(3_600));
                    super::run(super::$name(&store));
                }
            }
        )*
    };
}

conformance! {
    load_orders_keys_and_their_offsets,
    append_is_idempotent,
    reschedule_round_trips_and_replaces,
    removing_the_head_keeps_the_rest,
    removing_the_last_offset_removes_the_key,
    a_retry_record_without_offsets_is_not_loaded,
    segments_are_isolated,
    timers_load_with_their_place_next_to_the_offsets,
    timers_keep_their_trace_context_and_baggage,
    a_key_stays_deferred_while_it_has_an_offset_or_a_timer,
}

#[test]
fn cassandra_load_pages_through_more_rows_than_one_page() {
    run(async {
        let (store, segment) = (cassandra_store(Duration::from_secs(3_600)), segment());
        // 1,500 keys of 2 offsets: 3,000 offset rows and 1,500 retry records, against pages of
        // 1,000 rows.
        let keys: Vec<String> = (0..1_500).map(|i| format!("key-{i:05}")).collect();
        futures::stream::iter(&keys)
            .map(|key| {
                let (store, segment) = (&store, &segment);
                async move {
                    store.append(segment, key, 900).await?;
                    store.append(segment, key, 100).await?;
                    store.reschedule(segment, key, 1, 77).await
                }
            })
            .buffer_unordered(64)
            .try_collect::<()>()
            .await
            .expect("writes");
        let started = Instant::now();
        let loaded = load(&store, &segment).await;
        eprintln!(
            "loaded 1,500 keys (3,000 offsets) in {:?}",
            started.elapsed()
        );
        let expected: Vec<Backlog> = keys
            .iter()
            .map(|k| backlog(k, &[100, 900], 1, 77))
            .collect();
        assert_eq!(loaded, expected);
    });
}

#[test]
fn cassandra_rows_live_for_the_retention() {
    run(async {
        let (store, segment) = (cassandra_store(Duration::from_secs(3)), segment());
        store.append(&segment, "k", 5).await.expect("append");
        store
            .reschedule(&segment, "k", 1, 10)
            .await
            .expect("reschedule");
        let cassandra = Cassandra::shared(&config())
            .get()
            .await
            .expect("cassandra reachable");
        let cql = format!(
            "SELECT TTL(retries) FROM {}.deferred_keys WHERE segment = ? AND key = 'k'",
            cassandra.keyspace()
        );
        let (ttl,): (Option<i32>,) = cassandra
            .session()
            .query_unpaged(cql, (segment.id(),))
            .await
            .expect("ttl query")
            .into_rows_result()
            .expect("rows")
            .single_row()
            .expect("one row");
        assert!(matches!(ttl, Some(1..=3)), "retry record TTL {ttl:?}");
        assert_eq!(load(&store, &segment).await, [backlog("k", &[5], 1, 10)]);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !load(&store, &segment).await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "rows still there 15 s after a 3 s TTL"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // The offset row expired too: nothing is loaded even once the key is rescheduled.
        store
            .reschedule(&segment, "k", 1, 10)
            .await
            .expect("reschedule");
        assert!(load(&store, &segment).await.is_empty());
    });
}

#[test]
fn a_cassandra_outage_is_a_transient_error() {
    run(async {
        let unreachable =
            Config::from_options_with_env([("cassandra_nodes", "127.0.0.1:1")], |_| None)
                .expect("valid configuration");
        let store = CassandraDeferStore::from_config(&unreachable);
        let error = store
            .append(&segment(), "k", 1)
            .await
            .expect_err("no cassandra");
        assert!(error.is_transient(), "{error}");
    });
}
