//! `MockLogMark` and `mock_topic_records`: what a test reads back from the mock cluster is
//! exactly what was produced after the mark, with keys, payloads and headers as stored.

mod support;

use prosody_engine::{mock_topic_records, MockLogMark, SOURCE_SYSTEM_HEADER};
use serde_json::json;
use support::{test_producer, unique, Broker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_since_a_mark_are_those_sent_after_it() {
    let producer = test_producer(Broker::Mock);
    let (orders, audit) = (unique("orders"), unique("audit"));
    producer
        .send(&orders, "before", &json!({"n": 0}))
        .await
        .expect("sent");

    let mark = tokio::task::spawn_blocking(MockLogMark::now)
        .await
        .unwrap()
        .expect("mark");
    producer
        .send(&orders, "a", &json!({"n": 1}))
        .await
        .expect("sent");
    producer
        .send(&orders, "a", &json!({"n": 2}))
        .await
        .expect("sent");
    producer.send(&audit, "b", &json!("x")).await.expect("sent");
    let records = tokio::task::spawn_blocking(move || mark.records_since())
        .await
        .unwrap()
        .expect("read back");

    let seen: Vec<(&str, Option<&str>, Option<&str>)> = records
        .iter()
        .map(|r| (r.topic.as_str(), r.key.as_deref(), r.payload.as_deref()))
        .collect();
    let mut expected = vec![
        (orders.as_str(), Some("a"), Some(r#"{"n":1}"#)),
        (orders.as_str(), Some("a"), Some(r#"{"n":2}"#)),
        (audit.as_str(), Some("b"), Some(r#""x""#)),
    ];
    expected.sort_by_key(|(topic, _, _)| *topic);
    assert_eq!(seen, expected);
    assert!(records[0].headers.contains(&(
        SOURCE_SYSTEM_HEADER.to_string(),
        "test-producer".to_string()
    )));

    let all = tokio::task::spawn_blocking(move || mock_topic_records(&orders))
        .await
        .unwrap()
        .expect("read back");
    let mut keys: Vec<_> = all.iter().filter_map(|r| r.key.as_deref()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["a", "a", "before"]);
}
