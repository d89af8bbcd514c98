//! Helpers shared by the integration tests: broker selection, unique names, and handlers that
//! record what they saw.
#![allow(dead_code, unreachable_pub)]

pub mod logs;
pub mod offsets;
pub mod proxy;
pub mod retention;
pub mod shared_runtime;
pub mod timed;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// Most scenarios read commits; not every test binary does.
#[allow(unused_imports)]
pub use offsets::committed;
use prosody_engine::{Admin, Config, Context, Handler, HandlerFuture, Message, Producer};

/// Which broker a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// librdkafka's in-process mock cluster.
    Mock,
    /// The Kafka broker at `PROSODY_BOOTSTRAP_SERVERS` (default 127.0.0.1:9092).
    Real,
}

impl Broker {
    /// The bootstrap servers of this broker.
    pub fn servers(self) -> String {
        match self {
            Broker::Mock => prosody_engine::mock_bootstrap_servers().expect("mock cluster"),
            Broker::Real => bootstrap(),
        }
    }
}

pub fn bootstrap() -> String {
    std::env::var("PROSODY_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The Cassandra contact point: `PROSODY_CASSANDRA_NODES`, default 127.0.0.1:9042.
pub fn cassandra_nodes() -> String {
    std::env::var("PROSODY_CASSANDRA_NODES").unwrap_or_else(|_| "127.0.0.1:9042".into())
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// A configuration for `broker`, ignoring the process environment apart from the broker
/// address (and, on real Kafka, the Cassandra nodes that deduplication uses), with `options`
/// on top.
pub fn config(broker: Broker, options: &[(&str, &str)]) -> Config {
    init_logging();
    // No probe server and no telemetry emitter unless a test asks: tests would fight over
    // port 8000, and every real-Kafka client would write to the shared telemetry topic.
    let mut all: Vec<(String, String)> = vec![
        ("probe_port".into(), "none".into()),
        ("telemetry_enabled".into(), "false".into()),
    ];
    match broker {
        Broker::Mock => all.push(("mock".into(), "true".into())),
        Broker::Real => {
            all.push(("bootstrap_servers".into(), bootstrap()));
            all.push(("cassandra_nodes".into(), cassandra_nodes()));
        }
    }
    all.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_options_with_env(all, |_| None).expect("test configuration is valid")
}

/// Creates `topic` with `partitions` partitions on `broker`.
pub async fn create_topic(broker: Broker, topic: &str, partitions: i32) {
    let admin = Admin::new(&config(broker, &[])).expect("admin client");
    admin
        .create_topic(topic, partitions, 1)
        .await
        .expect("topic created");
}

/// A producer for test data, with a generous `send_timeout` for busy machines.
pub fn test_producer(broker: Broker) -> Producer {
    Producer::new(&config(
        broker,
        &[("source_system", "test-producer"), ("send_timeout", "30s")],
    ))
    .expect("producer")
}

/// Sends `count` messages round-robin over `keys` keys; each payload carries its key-local
/// sequence number in `seq`. Returns the number sent per key.
pub async fn produce(
    broker: Broker,
    topic: &str,
    keys: usize,
    count: usize,
) -> HashMap<String, i64> {
    let producer = test_producer(broker);
    let mut next: HashMap<String, i64> = HashMap::new();
    let mut pending = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for i in 0..count {
        let key = format!("key-{}", i % keys);
        let seq = next.entry(key.clone()).or_insert(0);
        let payload = serde_json::json!({ "seq": *seq, "n": i });
        *seq += 1;
        let producer = producer.clone();
        let topic = topic.to_string();
        pending.push(async move { producer.send(&topic, &key, &payload).await });
        if pending.len() >= 1000 {
            pending
                .next()
                .await
                .expect("pending send")
                .expect("send succeeds");
        }
    }
    while let Some(result) = pending.next().await {
        result.expect("send succeeds");
    }
    next
}

/// What a [`Recorder`] saw.
#[derive(Default)]
pub struct Seen {
    pub by_key: Mutex<HashMap<String, Vec<i64>>>,
    pub total: AtomicUsize,
    pub running: AtomicUsize,
    pub peak_running: AtomicUsize,
    pub notify: tokio::sync::Notify,
}

/// Records every message it handles, per key, with optional pseudo-random delays, and tracks
/// how many handlers ran at once. Clones share what they saw.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Seen>,
    pub max_delay_ms: u64,
}

impl Recorder {
    pub fn with_delay(max_delay_ms: u64) -> Self {
        Self {
            max_delay_ms,
            ..Self::default()
        }
    }

    /// Waits until at least `count` messages were handled, or panics after `limit`.
    pub async fn wait_for(&self, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.handled() < count {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                panic!(
                    "handled {} of {count} messages within {limit:?}",
                    self.handled()
                );
            }
            let _ = tokio::time::timeout(
                remaining.min(Duration::from_millis(100)),
                self.seen.notify.notified(),
            )
            .await;
        }
    }

    pub fn handled(&self) -> usize {
        self.seen.total.load(Ordering::SeqCst)
    }

    pub fn peak_running(&self) -> usize {
        self.seen.peak_running.load(Ordering::SeqCst)
    }

    pub fn by_key(&self) -> HashMap<String, Vec<i64>> {
        self.seen.by_key.lock().unwrap().clone()
    }
}

impl Handler for Recorder {
    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let seen = Arc::clone(&self.seen);
        let max_delay_ms = self.max_delay_ms;
        Box::pin(async move {
            let now = seen.running.fetch_add(1, Ordering::SeqCst) + 1;
            seen.peak_running.fetch_max(now, Ordering::SeqCst);
            if max_delay_ms > 0 {
                let spread =
                    (message.offset() as u64).wrapping_mul(7919) ^ message.key().len() as u64;
                tokio::time::sleep(Duration::from_millis(spread % (max_delay_ms + 1))).await;
            }
            let seq = message.payload()["seq"].as_i64().unwrap_or(-1);
            seen.by_key
                .lock()
                .unwrap()
                .entry(message.key().to_string())
                .or_default()
                .push(seq);
            seen.running.fetch_sub(1, Ordering::SeqCst);
            seen.total.fetch_add(1, Ordering::SeqCst);
            seen.notify.notify_waiters();
            Ok(())
        })
    }
}

/// Starts a consumer for `topic` in `group` with extra `options`.
pub fn consume(
    broker: Broker,
    group: &str,
    topic: &str,
    options: &[(&str, &str)],
    handler: Arc<dyn Handler>,
) -> prosody_engine::Consumer {
    let mut all = vec![("group_id", group), ("subscribed_topics", topic)];
    all.extend_from_slice(options);
    prosody_engine::Consumer::subscribe(
        &config(broker, &all),
        handler,
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts")
}

/// Prints engine logs when `RUST_LOG` is set, and feeds the watches of [`logs::watch`].
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let print = std::env::var_os("RUST_LOG").is_some().then(|| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(tracing_subscriber::EnvFilter::from_default_env())
        });
        let _ = tracing_subscriber::registry()
            .with(logs::Capture.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
            .with(print)
            .with(prosody_engine::otel::layer())
            .try_init();
    });
}

// ---------------------------------------------------------------------------------------------
// Helpers for the backpressure, rebalance and shutdown tests.

/// Sends `count` messages like [`produce`], but `per_batch` at a time with `pause` between
/// batches, so the stream lasts a while. Each batch is acknowledged before the pause. Returns the
/// number sent per key.
pub async fn produce_paced(
    broker: Broker,
    topic: &str,
    keys: usize,
    count: usize,
    per_batch: usize,
    pause: Duration,
) -> HashMap<String, i64> {
    let producer = test_producer(broker);
    let mut next: HashMap<String, i64> = HashMap::new();
    let mut sent = 0;
    while sent < count {
        let mut batch = Vec::new();
        for i in sent..(sent + per_batch).min(count) {
            let key = format!("key-{}", i % keys);
            let seq = next.entry(key.clone()).or_insert(0);
            batch.push((key, serde_json::json!({ "seq": *seq, "n": i })));
            *seq += 1;
        }
        sent += batch.len();
        let sends = batch
            .iter()
            .map(|(key, payload)| producer.send(topic, key, payload));
        for result in futures::future::join_all(sends).await {
            result.expect("send succeeds");
        }
        tokio::time::sleep(pause).await;
    }
    next
}

/// Polls `condition` every 20 ms until it holds; returns false if `limit` passes first.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Recorder {
    /// Every (key, seq) pair handled, duplicates included, in no particular order.
    pub fn pairs(&self) -> Vec<(String, i64)> {
        let mut all = Vec::new();
        for (key, seqs) in self.by_key() {
            all.extend(seqs.into_iter().map(|seq| (key.clone(), seq)));
        }
        all
    }
}

/// Wraps a handler so each message first sleeps `delay` (a fixed-cost "slow" handler).
pub struct Slow<H> {
    pub inner: H,
    pub delay: Duration,
}

impl<H: Handler> Handler for Slow<H> {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let delay = self.delay;
        let inner = self.inner.on_message(context, message);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            inner.await
        })
    }
}

/// Declares a test module `$name` with a `mock` and a `real` test that run
/// `$scenario(Broker, args...)` on the mock cluster and on real Kafka.
#[macro_export]
macro_rules! on_both_brokers {
    ($($name:ident => $scenario:ident($($arg:expr),*);)*) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mock() {
                    super::$scenario(super::Broker::Mock $(, $arg)*).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn real() {
                    super::$scenario(super::Broker::Real $(, $arg)*).await;
                }
            }
        )*
    };
}

/// Options under which a failing event retries in place once, briefly, and is then deferred,
/// as long as under half of recent events failed.
pub const DEFERRING: &[(&str, &str)] = &[
    ("defer_failure_threshold", "0.5"),
    ("retry_base", "5ms"),
    ("max_retry_delay", "20ms"),
    ("max_retries", "1"),
    ("defer_base", "200ms"),
    ("defer_max_delay", "400ms"),
];

/// Sends 20 messages that succeed to `topic`: they keep the failure rate under the deferral
/// threshold of [`DEFERRING`], so that a failure sent next is deferred.
pub async fn send_successes(producer: &Producer, topic: &str) {
    for n in 0..20 {
        producer
            .send(topic, &format!("well-{n}"), &serde_json::json!({}))
            .await
            .expect("send");
    }
}
