//! A Cassandra outage while a key is deferred (issue #14's fault suite found this): the key's
//! next message cannot be parked in the deferral store, and a graceful stop must not wait out
//! `shutdown_timeout` for it. The message stays uncommitted, for the next owner. Real Kafka,
//! and the real Cassandra through a TCP proxy the test cuts.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message};
use support::proxy::Proxy;
use support::{
    cassandra_nodes, committed, consume, create_topic, eventually, test_producer, unique, Broker,
};

const LIMIT: Duration = Duration::from_secs(45);

/// Fails every message of keys starting with "sick"; counts the others.
#[derive(Default)]
struct SickKeys {
    healthy: AtomicUsize,
}

impl Handler for SickKeys {
    fn on_message(&self, context: Context, _message: Message) -> HandlerFuture {
        let sick = context.key().starts_with("sick");
        if !sick {
            self.healthy.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async move {
            if sick {
                return Err(HandlerError::transient("downstream unavailable"));
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_does_not_wait_for_a_store_that_cannot_park_a_message() {
    let proxy = Proxy::start(&cassandra_nodes()).await;
    let nodes = proxy.address();
    let topic = unique("defer-outage");
    let group = format!("{topic}-group");
    create_topic(Broker::Real, &topic, 1).await;
    let handler = Arc::new(SickKeys::default());
    let options = [
        ("cassandra_nodes", nodes.as_str()),
        ("idempotence_cache_size", "0"),
        ("defer_failure_threshold", "1.0"),
        ("retry_base", "5ms"),
        ("max_retry_delay", "20ms"),
        ("max_retries", "1"),
        ("defer_base", "30s"),
        ("commit_interval", "50ms"),
        ("shutdown_timeout", "20s"),
    ];
    let consumer = consume(Broker::Real, &group, &topic, &options, handler.clone());
    let producer = test_producer(Broker::Real);
    let send = |key: &'static str| {
        let (producer, topic) = (producer.clone(), topic.clone());
        async move {
            let payload = serde_json::json!({ "k": key });
            producer.send(&topic, key, &payload).await.expect("sent");
        }
    };
    let committed_now = || committed(Broker::Real, &group, &topic, 1)[0];

    // Healthy store: the sick key is parked and the partition commits past it.
    send("sick").await;
    send("well").await;
    assert!(
        eventually(LIMIT, || committed_now() == 2).await,
        "offsets 0 and 1 committed, the sick key deferred"
    );
    assert_eq!(handler.healthy.load(Ordering::SeqCst), 1);

    // The store goes away; the key's next message must join its backlog and cannot.
    proxy.cut();
    send("sick").await;
    assert!(
        eventually(LIMIT, || consumer.in_flight() == 1).await,
        "the consumer received the message"
    );

    let started = Instant::now();
    consumer.shutdown().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "a graceful stop waited {took:?} for the store (shutdown_timeout is 20 s)"
    );
    assert_eq!(committed_now(), 2, "the unparked message stays uncommitted");
    proxy.restore();
}
