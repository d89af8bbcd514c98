//! A Cassandra outage under deduplication, on real Kafka and the real Cassandra reached through
//! a TCP proxy the test cuts and restores (issue 5): a message with an `id` waits, uncommitted,
//! while Cassandra is unreachable, and is handled exactly once after it comes back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use prosody_engine::middleware::{CassandraDedupStore, DedupKey, DedupStore};
use prosody_engine::Cassandra;
use support::proxy::Proxy;
use support::{
    cassandra_nodes, committed, config, consume, create_topic, eventually, test_producer, unique,
    Broker, Recorder,
};

const LIMIT: Duration = Duration::from_secs(45);

/// Options for a consumer (or store) that reaches Cassandra through `proxy`.
fn through(proxy: &Proxy) -> Vec<(&'static str, String)> {
    vec![
        ("cassandra_nodes", proxy.address()),
        ("commit_interval", "50ms".into()),
        ("retry_base", "100ms".into()),
        ("max_retry_delay", "500ms".into()),
    ]
}

fn options<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Waits until `store` fails, proving Cassandra is unreachable through the proxy, and returns
/// the error.
async fn failure(store: &CassandraDedupStore) -> prosody_engine::Error {
    let key = DedupKey::new("probe", "probe", "probe", &unique("probe"), "1");
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        match store.contains(key).await {
            Err(error) => return error,
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(_) => panic!("cassandra still answered through the cut proxy after {LIMIT:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_out_a_cassandra_outage_and_is_handled_once() {
    let proxy = Proxy::start(&cassandra_nodes()).await;
    let settings = through(&proxy);
    let topic = unique("dedup-outage");
    let group = format!("{topic}-group");
    create_topic(Broker::Real, &topic, 1).await;
    let producer = test_producer(Broker::Real);
    let send = |id: &str, seq: i64| {
        let payload = serde_json::json!({ "id": id, "seq": seq });
        let (producer, topic) = (producer.clone(), topic.clone());
        async move { producer.send(&topic, "k", &payload).await.expect("sent") }
    };
    let committed_now = || committed(Broker::Real, &group, &topic, 1)[0];
    let recorder = Recorder::default();
    let consumer = consume(
        Broker::Real,
        &group,
        &topic,
        &options(&settings),
        Arc::new(recorder.clone()),
    );

    // Healthy: the session connects through the proxy and the first event is handled.
    send("before", 0).await;
    recorder.wait_for(1, LIMIT).await;
    assert!(
        eventually(LIMIT, || committed_now() == 1).await,
        "offset 0 committed"
    );
    assert!(
        proxy.forwarded() > 0,
        "cassandra was reached through the proxy"
    );

    // Outage: a store on the same session now fails, naming Cassandra.
    proxy.cut();
    let probe = CassandraDedupStore::from_config(&config(Broker::Real, &options(&settings)));
    let error = failure(&probe).await;
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("cassandra"), "{error}");

    send("during", 1).await;
    assert!(
        eventually(LIMIT, || consumer.in_flight() == 1).await,
        "the consumer received the message"
    );
    // Give the pipeline several retry rounds: the message must stay unhandled and uncommitted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(recorder.handled(), 1, "not handled without a dedup answer");
    assert_eq!(committed_now(), 1, "not committed while cassandra is down");
    assert_eq!(consumer.in_flight(), 1, "still pending, not dropped");

    // Recovery: the driver reconnects and the retried message is handled once.
    proxy.restore();
    recorder.wait_for(2, LIMIT).await;
    assert!(
        eventually(LIMIT, || committed_now() == 2).await,
        "offset 1 committed"
    );

    // Its record reached Cassandra: a redelivery is skipped and committed.
    send("during", 2).await;
    assert!(
        eventually(LIMIT, || committed_now() == 3).await,
        "offset 2 committed"
    );
    consumer.shutdown().await;
    assert_eq!(
        recorder.by_key()["k"],
        vec![0, 1],
        "each event handled exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_cassandra_is_down_at_start_up_connects_once_it_is_back() {
    let proxy = Proxy::start(&cassandra_nodes()).await;
    proxy.cut();
    let settings = through(&proxy);
    let config = config(Broker::Real, &options(&settings));
    let store = CassandraDedupStore::from_config(&config);
    let key = DedupKey::new("g", "t", "k", &unique("id"), "1");

    let error = store.contains(key).await.expect_err("nothing reachable");
    assert!(error.is_transient(), "{error}");
    assert!(
        error.to_string().contains("cassandra connect failed"),
        "{error}"
    );

    proxy.restore();
    assert!(!store.contains(key).await.expect("connected and migrated"));
    store.insert(key).await.expect("recorded");
    let fresh = CassandraDedupStore::from_config(&config);
    assert!(
        fresh.contains(key).await.expect("read"),
        "read back from cassandra"
    );
    let shared = Cassandra::shared(&config)
        .get()
        .await
        .expect("shared session");
    assert_eq!(shared.keyspace(), "prosody");
}
