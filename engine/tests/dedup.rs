//! Deduplication through a real consumer on real Kafka, with records in the real Cassandra
//! (issue 5): repeats of an event are skipped and committed, other keys and a new
//! `idempotence_version` are not, records outlive the consumer that wrote them, and
//! `idempotence_cache_size: 0` turns it all off.

mod support;

use std::sync::Arc;
use std::time::Duration;

use prosody_engine::{Consumer, Producer};
use support::{
    committed, consume, create_topic, eventually, test_producer, unique, Broker, Recorder,
};

const LIMIT: Duration = Duration::from_secs(60);

/// A one-partition topic and a group of its own, with a producer for it.
struct Scenario {
    topic: String,
    group: String,
    producer: Producer,
    sent: i64,
}

impl Scenario {
    async fn new(name: &str) -> Self {
        let topic = unique(name);
        create_topic(Broker::Real, &topic, 1).await;
        Self {
            group: format!("{topic}-group"),
            topic,
            producer: test_producer(Broker::Real),
            sent: 0,
        }
    }

    /// A consumer with a fresh dedup cache and `options` on top.
    fn consumer(&self, recorder: &Recorder, options: &[(&str, &str)]) -> Consumer {
        let mut all = vec![("commit_interval", "50ms"), ("retry_base", "50ms")];
        all.extend_from_slice(options);
        consume(
            Broker::Real,
            &self.group,
            &self.topic,
            &all,
            Arc::new(recorder.clone()),
        )
    }

    /// Sends event `id` on `key`; the payload's `seq` is the message's offset.
    async fn send(&mut self, key: &str, id: &str) {
        let payload = serde_json::json!({ "id": id, "seq": self.sent });
        self.producer
            .send(&self.topic, key, &payload)
            .await
            .expect("send succeeds");
        self.sent += 1;
    }

    /// Waits until every message sent so far is committed (handled or skipped).
    async fn settled(&self) {
        let done = eventually(LIMIT, || {
            committed(Broker::Real, &self.group, &self.topic, 1) == vec![self.sent]
        })
        .await;
        assert!(
            done,
            "{} messages not all committed within {LIMIT:?}; committed {:?}",
            self.sent,
            committed(Broker::Real, &self.group, &self.topic, 1)
        );
    }
}

/// The offsets handled on `key`, in order.
fn handled(recorder: &Recorder, key: &str) -> Vec<i64> {
    recorder.by_key().remove(key).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_id_on_the_same_key_is_handled_once_and_other_keys_are_handled() {
    let mut scenario = Scenario::new("dedup-same").await;
    let recorder = Recorder::default();
    let consumer = scenario.consumer(&recorder, &[]);
    for (key, id) in [
        ("k1", "x"),
        ("k1", "x"),
        ("k2", "x"),
        ("k1", "y"),
        ("k1", "x"),
    ] {
        scenario.send(key, id).await;
    }
    scenario.settled().await;
    consumer.shutdown().await;
    assert_eq!(handled(&recorder, "k1"), vec![0, 3], "x once, then y");
    assert_eq!(
        handled(&recorder, "k2"),
        vec![2],
        "the same id on another key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_survives_a_consumer_restart() {
    let mut scenario = Scenario::new("dedup-restart").await;
    let first = Recorder::default();
    let consumer = scenario.consumer(&first, &[]);
    scenario.send("k", "x").await;
    scenario.settled().await;
    consumer.shutdown().await;
    assert_eq!(handled(&first, "k"), vec![0]);

    // Same group, new consumer: its cache is empty, so only Cassandra remembers `x`.
    let second = Recorder::default();
    let consumer = scenario.consumer(&second, &[]);
    scenario.send("k", "x").await;
    scenario.send("k", "z").await;
    scenario.settled().await;
    consumer.shutdown().await;
    assert_eq!(
        handled(&second, "k"),
        vec![2],
        "x skipped (and committed), z handled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bumping_the_idempotence_version_handles_again() {
    let mut scenario = Scenario::new("dedup-version").await;
    let first = Recorder::default();
    let consumer = scenario.consumer(&first, &[("idempotence_version", "1")]);
    scenario.send("k", "x").await;
    scenario.settled().await;
    consumer.shutdown().await;

    let second = Recorder::default();
    let consumer = scenario.consumer(&second, &[("idempotence_version", "2")]);
    scenario.send("k", "x").await;
    scenario.send("k", "x").await;
    scenario.settled().await;
    consumer.shutdown().await;
    assert_eq!(handled(&first, "k"), vec![0]);
    assert_eq!(
        handled(&second, "k"),
        vec![1],
        "handled again under v2, then skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_size_of_zero_disables_dedup() {
    let mut scenario = Scenario::new("dedup-off").await;
    let recorder = Recorder::default();
    let consumer = scenario.consumer(&recorder, &[("idempotence_cache_size", "0")]);
    for _ in 0..3 {
        scenario.send("k", "x").await;
    }
    scenario.settled().await;
    consumer.shutdown().await;
    assert_eq!(handled(&recorder, "k"), vec![0, 1, 2]);
}

/// `idempotence_ttl` may be up to 7300 days, but Cassandra 5 rejects a write that would expire
/// after 2038-01-19: such a record is kept as long as Cassandra allows, not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_idempotence_ttl_is_accepted() {
    use prosody_engine::middleware::{CassandraDedupStore, DedupKey, DedupStore};
    let config = support::config(Broker::Real, &[("idempotence_ttl", "7300d")]);
    let key = DedupKey::new("g", "t", "k", &support::unique("id"), "1");
    let writer = CassandraDedupStore::from_config(&config);
    writer
        .insert(key)
        .await
        .expect("recorded despite the 20-year TTL");
    let reader = CassandraDedupStore::from_config(&config);
    assert!(
        reader.contains(key).await.expect("read"),
        "found in Cassandra, not a cache"
    );
}

/// Concurrent records and lookups travel in shared statements (an unlogged batch, one
/// `SELECT ... IN`): every record of a burst reaches Cassandra, and each lookup of a mixed burst
/// gets its own key's answer (issue 15).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_and_lookups_each_get_their_own_answer() {
    use futures::future::join_all;
    use prosody_engine::middleware::{CassandraDedupStore, DedupKey, DedupStore};
    let config = support::config(Broker::Real, &[]);
    let run = support::unique("burst");
    let keys: Vec<DedupKey> = (0..200)
        .map(|n| DedupKey::new("g", "t", "k", &format!("{run}-{n}"), "1"))
        .collect();
    let (written, unwritten) = keys.split_at(100);
    let writer = CassandraDedupStore::from_config(&config);
    for result in join_all(written.iter().map(|key| writer.insert(*key))).await {
        result.expect("recorded");
    }
    // A fresh store has an empty cache, so every answer comes from Cassandra.
    let reader = CassandraDedupStore::from_config(&config);
    let found = join_all(keys.iter().map(|key| reader.contains(*key))).await;
    for (n, result) in found.into_iter().enumerate() {
        let found = result.expect("read");
        assert_eq!(found, n < written.len(), "key {n} of {}", keys.len());
    }
    assert_eq!(unwritten.len(), 100);
}

/// The consumer starts each message's dedup read when it receives the message (issue 15), so a
/// duplicate queued behind its original holds an early "not found". It must still be skipped:
/// the store asks its cache, which the original's record filled, before the early answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_read_early_behind_its_original_is_still_skipped() {
    let mut scenario = Scenario::new("dedup-early").await;
    // A slow handler, so the copies wait behind the first while their reads are parked.
    let recorder = Recorder::with_delay(30);
    let consumer = scenario.consumer(&recorder, &[]);
    // The first read connects the store; reads start early only once it is connected.
    scenario.send("warm-up", "w").await;
    scenario.settled().await;
    for _ in 0..10 {
        scenario.send("k", "x").await;
    }
    scenario.send("k", "y").await;
    scenario.settled().await;
    consumer.shutdown().await;
    assert_eq!(handled(&recorder, "k"), vec![1, 11], "x once, then y");
}
