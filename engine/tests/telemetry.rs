//! The telemetry events topic through a real consumer and producer: the lifecycle events of
//! messages, timers and sends, read back from the topic, and nothing at all when telemetry is
//! off. Each scenario runs on the mock cluster and on real Kafka.

mod support;
mod telemetry_support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prosody_engine::{Consumer, Delivery, Producer, Telemetry};
use serde_json::{json, Value};
use support::{config, create_topic, eventually, unique, Broker};
use telemetry_support::{high_watermark, read_events, ByKey};

const LIMIT: Duration = Duration::from_secs(30);

struct Run {
    topic: String,
    group: String,
    telemetry_topic: String,
}

impl Run {
    async fn new(broker: Broker) -> Self {
        let run = Self {
            topic: unique("telemetry-in"),
            group: unique("telemetry-group"),
            telemetry_topic: unique("telemetry-events"),
        };
        if broker == Broker::Real {
            create_topic(broker, &run.topic, 2).await;
        }
        run
    }

    fn consumer_config(&self, broker: Broker, enabled: &str) -> prosody_engine::Config {
        config(
            broker,
            &[
                ("group_id", &self.group),
                ("subscribed_topics", &self.topic),
                ("telemetry_enabled", enabled),
                ("telemetry_topic", &self.telemetry_topic),
            ],
        )
    }

    fn producer_config(&self, broker: Broker, source: &str) -> prosody_engine::Config {
        config(
            broker,
            &[
                ("source_system", source),
                ("send_timeout", "30s"),
                ("telemetry_enabled", "true"),
                ("telemetry_topic", &self.telemetry_topic),
            ],
        )
    }
}

fn time(value: &Value) -> SystemTime {
    humantime::parse_rfc3339(value.as_str().unwrap_or_default())
        .unwrap_or_else(|_| panic!("an RFC 3339 time: {value}"))
}

async fn lifecycle_events_reach_the_topic(broker: Broker) {
    let run = Run::new(broker).await;
    let consumer_config = run.consumer_config(broker, "true");
    let runtime = tokio::runtime::Handle::current();
    // One emitter shared by the consumer and the producer, as a client shares it.
    let telemetry = Telemetry::start(&consumer_config, &runtime).expect("emitter");
    let handler = ByKey::default();
    let consumer = Consumer::subscribe_with_telemetry(
        &consumer_config,
        Arc::new(handler.clone()),
        runtime,
        telemetry.clone(),
    )
    .expect("consumer");
    let producer =
        Producer::with_telemetry(&run.producer_config(broker, "upstream"), telemetry.clone())
            .expect("producer");

    let started = SystemTime::now() - Duration::from_secs(1);
    let timer_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 2;
    let mut sent: HashMap<&str, Delivery> = HashMap::new();
    for (key, payload) in [
        ("ok", json!({})),
        ("flaky", json!({})),
        ("timer", json!({ "at": timer_at })),
        ("cancel", json!({})),
    ] {
        let delivery = producer.send(&run.topic, key, &payload).await;
        sent.insert(key, delivery.expect("sent"));
    }
    assert!(
        eventually(LIMIT, || handler.handled.load(Ordering::SeqCst) == 4
            && handler.fired.load(Ordering::SeqCst) == 1)
        .await,
        "every message handled and the timer fired"
    );
    consumer.shutdown().await;
    telemetry.flush().await;
    let finished = SystemTime::now() + Duration::from_secs(1);

    let events = read_events(broker, &run.telemetry_topic);
    let of_type = |kind: &str| -> Vec<&(String, Value)> {
        events.iter().filter(|(_, e)| e["type"] == kind).collect()
    };
    let lifecycle = |key: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|(k, e)| k == key && e["type"] != "prosody.message.sent")
            .map(|(_, e)| e)
            .collect()
    };
    let types = |key: &str| -> Vec<String> {
        lifecycle(key)
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };

    assert_eq!(
        types("ok"),
        ["prosody.message.dispatched", "prosody.message.succeeded"]
    );
    assert_eq!(
        types("flaky"),
        [
            "prosody.message.dispatched",
            "prosody.message.failed",
            "prosody.message.dispatched",
            "prosody.message.succeeded",
        ]
    );
    assert_eq!(
        types("timer"),
        [
            "prosody.message.dispatched",
            "prosody.timer.scheduled",
            "prosody.message.succeeded",
            "prosody.timer.dispatched",
            "prosody.timer.succeeded",
        ]
    );
    assert_eq!(
        types("cancel"),
        [
            "prosody.message.dispatched",
            "prosody.timer.scheduled",
            "prosody.timer.cancelled",
            "prosody.message.succeeded",
        ]
    );

    // Sends: one per message, where Kafka put it, with the trace context the record carries.
    let sends = of_type("prosody.message.sent");
    assert_eq!(sends.len(), 4, "{sends:?}");
    let mut traceparents = HashMap::new();
    for (key, event) in sends {
        let delivery = sent[key.as_str()];
        assert_eq!(event["topic"], run.topic.as_str());
        assert_eq!(event["partition"], delivery.partition);
        assert_eq!(event["offset"], delivery.offset);
        assert_eq!(event["key"], key.as_str());
        assert_eq!(event["source"], "upstream");
        let parent = event["traceParent"].as_str().expect("traceParent");
        assert_eq!(parent.len(), 55);
        traceparents.insert(key.clone(), parent.to_owned());
    }

    // The consumer's events: where the event happened, for which key, in which group, when.
    for key in ["ok", "flaky", "timer", "cancel"] {
        let delivery = sent[key];
        for event in lifecycle(key) {
            assert_eq!(event["topic"], run.topic.as_str(), "{event}");
            assert_eq!(event["partition"], delivery.partition, "{event}");
            assert_eq!(event["key"], key, "{event}");
            assert_eq!(event["source"], run.group.as_str(), "{event}");
            assert!(!event["hostname"].as_str().unwrap_or_default().is_empty());
            let at = time(&event["eventTime"]);
            assert!(started <= at && at <= finished, "{event}");
            let kind = event["type"].as_str().unwrap_or_default();
            if kind.starts_with("prosody.message.") {
                assert_eq!(event["offset"], delivery.offset, "{event}");
                assert_eq!(event["traceParent"], traceparents[key].as_str(), "{event}");
            } else {
                assert!(event.get("offset").is_none(), "{event}");
            }
        }
    }
    let flaky = lifecycle("flaky");
    assert_eq!(flaky[0]["demandType"], "normal");
    assert_eq!(flaky[1]["errorCategory"], "transient");
    assert_eq!(flaky[1]["exception"], "the first try fails");
    assert_eq!(
        flaky[2]["demandType"], "failure",
        "a retry is failure demand"
    );
    let timer = lifecycle("timer");
    for event in &timer[1..] {
        if event["type"] != "prosody.message.succeeded" {
            assert_eq!(
                time(&event["scheduledTime"]),
                UNIX_EPOCH + Duration::from_secs(timer_at)
            );
            assert_eq!(event["timerType"], "application");
        }
    }
    assert!(time(&timer[3]["eventTime"]) >= UNIX_EPOCH + Duration::from_secs(timer_at));
}

async fn a_disabled_client_writes_nothing(broker: Broker) {
    let run = Run::new(broker).await;
    let handler = ByKey::default();
    let consumer = Consumer::subscribe(
        &run.consumer_config(broker, "false"),
        Arc::new(handler.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer");
    let mut quiet = run.producer_config(broker, "upstream");
    quiet.telemetry_enabled = false;
    let producer = Producer::new(&quiet).expect("producer");
    producer
        .send(&run.topic, "ok", &json!({}))
        .await
        .expect("sent");
    assert!(eventually(LIMIT, || handler.handled.load(Ordering::SeqCst) == 1).await);
    consumer.shutdown().await;

    // A known flush: an enabled emitter writes exactly one event (its send) to the same topic,
    // so the topic exists and anything the disabled client had written would be there too.
    let marker_config = run.producer_config(broker, "marker");
    let telemetry =
        Telemetry::start(&marker_config, &tokio::runtime::Handle::current()).expect("emitter");
    Producer::with_telemetry(&marker_config, telemetry.clone())
        .expect("producer")
        .send(&run.topic, "marker", &json!({}))
        .await
        .expect("sent");
    telemetry.flush().await;

    assert_eq!(high_watermark(broker, &run.telemetry_topic), 1);
    let events = read_events(broker, &run.telemetry_topic);
    assert_eq!(events[0].0, "marker");
    assert_eq!(events[0].1["type"], "prosody.message.sent");
}

on_both_brokers! {
    lifecycle => lifecycle_events_reach_the_topic();
    disabled => a_disabled_client_writes_nothing();
}
