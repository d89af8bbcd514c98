use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::{DedupKey, DedupLayer, DedupStore, MemoryDedupStore};
use crate::error::{Error, ErrorClass, Result};
use crate::handler::Handler;
use crate::middleware::test_support::{
    context, message, permanent, terminal, timer, transient, Scripted,
};
use crate::middleware::Layer;

fn layer(store: &Arc<MemoryDedupStore>, version: &str) -> DedupLayer {
    DedupLayer::new(store.clone(), "billing", version)
}

fn store() -> Arc<MemoryDedupStore> {
    Arc::new(MemoryDedupStore::new(64))
}

async fn deliver(handler: &impl Handler, key: &str, payload: serde_json::Value) {
    let _ = handler
        .on_message(context(key).0, message(key, payload))
        .await;
}

#[tokio::test]
async fn the_same_id_on_the_same_key_is_handled_once() {
    let inner = Scripted::new([]);
    let dedup = layer(&store(), "v1").layer(Arc::clone(&inner));
    for _ in 0..3 {
        let result = dedup
            .on_message(context("k").0, message("k", json!({"id": "e-1"})))
            .await;
        assert_eq!(result, Ok(()));
    }
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test]
async fn a_different_key_or_id_is_handled() {
    let inner = Scripted::new([]);
    let dedup = layer(&store(), "v1").layer(Arc::clone(&inner));
    deliver(&dedup, "k1", json!({"id": "e-1"})).await;
    deliver(&dedup, "k2", json!({"id": "e-1"})).await;
    deliver(&dedup, "k1", json!({"id": "e-2"})).await;
    assert_eq!(inner.call_count(), 3);
}

#[tokio::test]
async fn bumping_the_version_handles_again() {
    let shared = store();
    let inner = Scripted::new([]);
    deliver(
        &layer(&shared, "v1").layer(Arc::clone(&inner)),
        "k",
        json!({"id": 1}),
    )
    .await;
    deliver(
        &layer(&shared, "v2").layer(Arc::clone(&inner)),
        "k",
        json!({"id": 1}),
    )
    .await;
    deliver(
        &layer(&shared, "v2").layer(Arc::clone(&inner)),
        "k",
        json!({"id": 1}),
    )
    .await;
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test]
async fn numeric_ids_count_and_messages_without_an_id_always_run() {
    let inner = Scripted::new([]);
    let dedup = layer(&store(), "v1").layer(Arc::clone(&inner));
    for payload in [json!({"id": 42}), json!({"id": 42})] {
        deliver(&dedup, "k", payload).await;
    }
    assert_eq!(inner.call_count(), 1);
    for payload in [
        json!({}),
        json!({}),
        json!({"id": null}),
        json!({"id": [1]}),
        json!("x"),
    ] {
        deliver(&dedup, "k", payload).await;
    }
    assert_eq!(inner.call_count(), 6);
}

#[tokio::test]
async fn permanent_failures_are_recorded_but_transient_and_terminal_ones_are_not() {
    let inner = Scripted::new([transient("busy"), terminal("fatal"), permanent("bad")]);
    let dedup = layer(&store(), "v1").layer(Arc::clone(&inner));
    let classes = [
        Some(ErrorClass::Transient),
        Some(ErrorClass::Terminal),
        Some(ErrorClass::Permanent),
        None,
    ];
    for expected in classes {
        let result = dedup
            .on_message(context("k").0, message("k", json!({"id": "e"})))
            .await;
        assert_eq!(result.err().map(|error| error.class()), expected);
    }
    assert_eq!(inner.call_count(), 3, "skipped after the permanent failure");
}

/// Records the keys it was asked to prefetch; answers every lookup with "not found".
#[derive(Debug, Default)]
struct Prefetches(std::sync::Mutex<Vec<DedupKey>>);

impl DedupStore for Prefetches {
    fn contains(&self, _key: DedupKey) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(false) })
    }

    fn insert(&self, _key: DedupKey) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn prefetch(&self, key: DedupKey) {
        self.0.lock().unwrap().push(key);
    }

    fn prefetches(&self) -> bool {
        true
    }
}

#[test]
fn prefetch_hands_the_events_key_to_the_store_and_passes_the_hint_on() {
    let store = Arc::new(Prefetches::default());
    let inner = Scripted::new([]);
    let dedup = DedupLayer::new(store.clone(), "billing", "v1").layer(Arc::clone(&inner));
    dedup.prefetch(&message("k", json!({"id": "e-1"})));
    dedup.prefetch(&message("k", json!({"seq": 2})));
    assert_eq!(
        *store.0.lock().unwrap(),
        [DedupKey::new("billing", "orders", "k", "e-1", "v1")],
        "a message without an id has nothing to look up"
    );
    assert_eq!(
        inner.prefetched(),
        [7, 7],
        "every hint reaches the inner handler"
    );
}

#[derive(Debug)]
struct Down;

impl DedupStore for Down {
    fn contains(&self, _key: DedupKey) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async {
            Err(Error::Cassandra {
                operation: "query",
                reason: "no hosts".into(),
            })
        })
    }

    fn insert(&self, _key: DedupKey) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn a_store_failure_is_a_transient_error_and_skips_the_handler() {
    let inner = Scripted::new([]);
    let dedup = DedupLayer::new(Arc::new(Down), "g", "v1").layer(Arc::clone(&inner));
    let error = dedup
        .on_message(context("k").0, message("k", json!({"id": "e"})))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(
        error.message(),
        "deduplication store failed: cassandra query failed: no hosts"
    );
    assert_eq!(inner.call_count(), 0);
}

/// Answers lookups, and fails every record.
#[derive(Debug)]
struct ReadOnly;

impl DedupStore for ReadOnly {
    fn contains(&self, _key: DedupKey) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async { Ok(false) })
    }

    fn insert(&self, _key: DedupKey) -> BoxFuture<'_, Result<()>> {
        Box::pin(async {
            Err(Error::Cassandra {
                operation: "query",
                reason: "no hosts".into(),
            })
        })
    }
}

#[tokio::test]
async fn a_failed_record_keeps_the_handlers_outcome_instead_of_running_it_again() {
    let inner = Scripted::new([permanent("bad")]);
    let dedup = DedupLayer::new(Arc::new(ReadOnly), "g", "v1").layer(Arc::clone(&inner));
    let first = dedup
        .on_message(context("k").0, message("k", json!({"id": "e"})))
        .await;
    assert_eq!(first.err().map(|e| e.class()), Some(ErrorClass::Permanent));
    let second = dedup
        .on_message(context("k").0, message("k", json!({"id": "f"})))
        .await;
    assert!(second.is_ok(), "{second:?}");
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test]
async fn timers_pass_through() {
    let inner = Scripted::new([]);
    let dedup = layer(&store(), "v1").layer(Arc::clone(&inner));
    dedup.on_timer(context("k").0, timer("k")).await.unwrap();
    dedup.on_timer(context("k").0, timer("k")).await.unwrap();
    assert_eq!(inner.call_count(), 2);
}

fn key(n: usize) -> DedupKey {
    DedupKey::new("g", "t", "k", &n.to_string(), "v1")
}

#[tokio::test]
async fn the_memory_store_forgets_the_least_recently_used_key() {
    let store = MemoryDedupStore::new(2);
    store.insert(key(1)).await.unwrap();
    store.insert(key(2)).await.unwrap();
    assert!(store.contains(key(1)).await.unwrap(), "refreshes key 1");
    store.insert(key(3)).await.unwrap();

    assert!(store.contains(key(1)).await.unwrap());
    assert!(
        !store.contains(key(2)).await.unwrap(),
        "least recently used"
    );
    assert!(store.contains(key(3)).await.unwrap());
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn the_memory_store_stays_bounded_under_churn_and_hits() {
    let store = MemoryDedupStore::new(10);
    for n in 0..1000 {
        store.insert(key(n)).await.unwrap();
        assert!(store.contains(key(n)).await.unwrap());
        assert!(store.contains(key(n)).await.unwrap());
    }
    assert_eq!(store.len(), 10);
    assert!(store.queue_len() <= 2 * 10 + 16 + 1);
    for n in 990..1000 {
        assert!(store.contains(key(n)).await.unwrap(), "recent key {n}");
    }
}

#[test]
fn dedup_keys_separate_fields() {
    let a = DedupKey::new("g", "t", "ab", "c", "v");
    let b = DedupKey::new("g", "t", "a", "bc", "v");
    assert_ne!(a, b);
    assert_ne!(
        DedupKey::new("g1", "t", "k", "i", "v"),
        DedupKey::new("g2", "t", "k", "i", "v")
    );
    assert_ne!(
        DedupKey::new("g", "t1", "k", "i", "v"),
        DedupKey::new("g", "t2", "k", "i", "v")
    );
    assert_eq!(a.to_bytes(), a.as_u128().to_le_bytes());
}

#[test]
fn a_store_that_does_not_prefetch_is_not_asked_to() {
    /// Counts prefetch calls while saying it does not prefetch.
    #[derive(Default)]
    struct Idle(std::sync::atomic::AtomicUsize);
    impl DedupStore for Idle {
        fn contains(&self, _key: DedupKey) -> BoxFuture<'_, Result<bool>> {
            Box::pin(async { Ok(false) })
        }
        fn insert(&self, _key: DedupKey) -> BoxFuture<'_, Result<()>> {
            Box::pin(async { Ok(()) })
        }
        fn prefetch(&self, _key: DedupKey) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let store = Arc::new(Idle::default());
    let inner = Scripted::new([]);
    let dedup = DedupLayer::new(store.clone(), "billing", "v1").layer(Arc::clone(&inner));
    dedup.prefetch(&message("k", json!({"id": "e-1"})));
    assert_eq!(store.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(inner.prefetched(), [7], "the hint still goes inward");
}
