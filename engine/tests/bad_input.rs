//! Bad input through a real consumer (issue 5): a payload of 1 MB (and one too large to send), a failure topic that
//! does not exist yet, and records without a key or with a payload that is not JSON. Each one
//! gives a clear error or is handled, and the consumer keeps going.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prosody_engine::middleware::{
    CONSUMER_GROUP_HEADER, SOURCE_OFFSET_HEADER, SOURCE_TOPIC_HEADER,
};
use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, MAX_RECORD_BYTES};
use rdkafka::producer::{FutureProducer, FutureRecord};
use support::{
    bootstrap, committed, consume, create_topic, eventually, test_producer, unique, Broker,
    Recorder,
};

/// Characters in the large payload's string: the "1 MB" of the issue.
const LARGE: usize = 1_000_000;

/// Keeps every message it handles (payload and headers, per key). A rejecting keeper fails,
/// permanently, those whose payload has `"fail": true`.
#[derive(Clone, Default)]
struct Keeper {
    seen: Arc<Mutex<HashMap<String, Vec<Message>>>>,
    rejecting: bool,
}

impl Keeper {
    fn rejecting() -> Self {
        Self {
            rejecting: true,
            ..Self::default()
        }
    }

    fn messages(&self, key: &str) -> Vec<Message> {
        self.seen
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().values().map(Vec::len).sum()
    }
}

impl Handler for Keeper {
    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let seen = Arc::clone(&self.seen);
        let fail = self.rejecting && message.payload()["fail"] == serde_json::json!(true);
        Box::pin(async move {
            seen.lock()
                .unwrap()
                .entry(message.key().to_string())
                .or_default()
                .push(message);
            if fail {
                Err(HandlerError::permanent("rejected by the test"))
            } else {
                Ok(())
            }
        })
    }
}

/// A plain librdkafka producer that can omit the key, for records the engine's own producer
/// never writes.
fn raw_producer(broker: Broker) -> FutureProducer {
    let servers = match broker {
        Broker::Mock => prosody_engine::mock_bootstrap_servers().expect("mock cluster"),
        Broker::Real => bootstrap(),
    };
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("raw producer")
}

async fn send_raw(producer: &FutureProducer, topic: &str, key: Option<&str>, payload: &[u8]) {
    let mut record = FutureRecord::<str, [u8]>::to(topic).payload(payload);
    if let Some(key) = key {
        record = record.key(key);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(error, _)| error)
        .expect("raw send");
}

/// A 1,000,000-character string goes through the engine's producer and reaches the handler
/// intact, its offset committed; a record over Kafka's default limit (`MAX_RECORD_BYTES`) is
/// refused at once with a permanent error naming the topic, the size and the limit.
async fn a_1mb_payload_is_handled_and_an_oversized_one_refused_clearly(broker: Broker) {
    let topic = unique("large-payload");
    create_topic(broker, &topic, 1).await;
    let text = |len: usize| -> String {
        (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect()
    };
    let payload = serde_json::json!({ "seq": 0, "text": text(LARGE) });
    let too_large = serde_json::json!({ "seq": -1, "text": text(MAX_RECORD_BYTES) });

    let producer = test_producer(broker);
    let error = producer
        .send(&topic, "big", &too_large)
        .await
        .expect_err("a record over the limit is refused");
    let shown = error.to_string();
    assert!(
        shown.contains(&format!("`{topic}`"))
            && shown.contains("too large")
            && shown.contains(&MAX_RECORD_BYTES.to_string()),
        "{shown}"
    );
    assert!(!error.is_transient(), "retrying cannot help: {shown}");

    // An oversized key is blamed as such, not the small payload beside it.
    let big_key = text(2 * MAX_RECORD_BYTES);
    let shown = producer
        .send(&topic, &big_key, &serde_json::json!({ "seq": -2 }))
        .await
        .expect_err("a key over the limit is refused")
        .to_string();
    assert!(
        shown.contains(&format!("{} bytes of key", big_key.len()))
            && shown.contains("10 bytes of payload"),
        "{shown}"
    );

    producer
        .send(&topic, "big", &payload)
        .await
        .expect("a 1 MB payload is sent");
    producer
        .send(&topic, "big", &serde_json::json!({ "seq": 1 }))
        .await
        .expect("sent");

    let group = unique("large-payload-group");
    let keeper = Keeper::default();
    let options = [("commit_interval", "50ms")];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(keeper.clone()));
    let handled = eventually(Duration::from_secs(60), || keeper.count() == 2).await;
    let offsets = eventually(Duration::from_secs(30), || {
        committed(broker, &group, &topic, 1) == [2]
    })
    .await;
    consumer.shutdown().await;
    assert!(handled, "handled {} of 2 messages", keeper.count());
    let messages = keeper.messages("big");
    assert_eq!(
        messages[0].payload(),
        &payload,
        "the large payload arrives intact"
    );
    assert_eq!(
        messages[1].payload()["seq"],
        1,
        "and the next message follows it"
    );
    assert!(
        offsets,
        "committed {:?}",
        committed(broker, &group, &topic, 1)
    );
}

/// Real Kafka only: the mock cluster creates every topic on demand. The local broker runs with
/// `auto.create.topics.enable=true` (Kafka's default, see `script/services.d/kafka`), so the
/// first write creates the failure topic and the record lands there; the offset commits only
/// after that, and other keys are handled meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_latency_creates_a_missing_failure_topic_on_first_write() {
    let broker = Broker::Real;
    let topic = unique("missing-failure-topic");
    let failures = format!("{topic}-failures");
    create_topic(broker, &topic, 1).await;
    let group = unique("missing-failure-topic-group");
    let keeper = Keeper::rejecting();
    let options = [
        ("mode", "low_latency"),
        ("failure_topic", failures.as_str()),
        ("commit_interval", "50ms"),
    ];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(keeper.clone()));
    let producer = test_producer(broker);
    let sends = [
        ("good", serde_json::json!({"seq": 0})),
        ("bad", serde_json::json!({"seq": 7, "fail": true})),
        ("good", serde_json::json!({"seq": 1})),
        ("other", serde_json::json!({"seq": 0})),
    ];
    for (key, payload) in &sends {
        producer.send(&topic, key, payload).await.expect("send");
    }
    let all_committed = eventually(Duration::from_secs(60), || {
        committed(broker, &group, &topic, 1) == [4]
    })
    .await;
    consumer.shutdown().await;
    assert!(
        all_committed,
        "committed {:?}",
        committed(broker, &group, &topic, 1)
    );
    assert_eq!(keeper.messages("good").len(), 2);
    assert_eq!(keeper.messages("other").len(), 1);
    assert_eq!(keeper.messages("bad").len(), 1, "permanent: not retried");

    // The offset committed, so the write succeeded and the topic exists now.
    let dead = Keeper::default();
    let reader = consume(
        broker,
        &unique("failure-reader"),
        &failures,
        &[],
        Arc::new(dead.clone()),
    );
    let landed = eventually(Duration::from_secs(60), || dead.count() == 1).await;
    reader.shutdown().await;
    assert!(landed, "the failure topic holds {} records", dead.count());
    let record = &dead.messages("bad")[0];
    assert_eq!(record.payload(), &sends[1].1);
    assert_eq!(record.header(SOURCE_TOPIC_HEADER), Some(topic.as_bytes()));
    assert_eq!(record.header(SOURCE_OFFSET_HEADER), Some(&b"1"[..]));
    assert_eq!(record.header(CONSUMER_GROUP_HEADER), Some(group.as_bytes()));
}

/// Records without a key or with a payload that is not JSON, between good messages of other
/// keys: the good ones are handled in order, the bad ones skipped, and every offset commits.
async fn keyless_and_non_json_records_are_skipped_between_good_ones(broker: Broker) {
    let topic = unique("keyless");
    create_topic(broker, &topic, 1).await;
    let raw = raw_producer(broker);
    let records: [(Option<&str>, &[u8]); 7] = [
        (Some("a"), br#"{"seq": 0}"#),
        (Some("b"), br#"{"seq": 0}"#),
        (None, br#"{"seq": 99}"#),
        (Some("a"), br#"{"seq": 1}"#),
        (Some("c"), b"{oops"),
        (Some("b"), br#"{"seq": 1}"#),
        (Some("a"), br#"{"seq": 2}"#),
    ];
    for (key, payload) in records {
        send_raw(&raw, &topic, key, payload).await;
    }
    let group = unique("keyless-group");
    let recorder = Recorder::default();
    let options = [("commit_interval", "50ms")];
    let consumer = consume(broker, &group, &topic, &options, Arc::new(recorder.clone()));
    recorder.wait_for(5, Duration::from_secs(60)).await;
    let offsets = eventually(Duration::from_secs(30), || {
        committed(broker, &group, &topic, 1) == [7]
    })
    .await;
    let skipped = consumer
        .stats()
        .skipped
        .load(std::sync::atomic::Ordering::SeqCst);
    consumer.shutdown().await;
    let by_key = recorder.by_key();
    assert_eq!(by_key["a"], vec![0, 1, 2]);
    assert_eq!(by_key["b"], vec![0, 1]);
    assert_eq!(
        by_key.len(),
        2,
        "nothing else reached the handler: {by_key:?}"
    );
    assert_eq!(skipped, 2, "the keyless and the non-JSON record");
    assert!(
        offsets,
        "committed {:?}",
        committed(broker, &group, &topic, 1)
    );
}

on_both_brokers! {
    one_megabyte_payload => a_1mb_payload_is_handled_and_an_oversized_one_refused_clearly();
    keyless_and_non_json_records_are_skipped_between_good_ones => keyless_and_non_json_records_are_skipped_between_good_ones();
}
