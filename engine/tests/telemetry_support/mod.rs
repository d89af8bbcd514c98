//! Reading a telemetry topic back, and a handler whose behaviour each key chooses.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Timer, TimerTime};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::Message as _;

use crate::support::{bootstrap, unique, Broker};

/// Every event on `topic` up to its high watermarks, as (Kafka key, JSON), in partition order.
/// Call it after a flush: the topic must exist.
pub fn read_events(broker: Broker, topic: &str) -> Vec<(String, serde_json::Value)> {
    let consumer = reader(broker);
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    assert!(!partitions.is_empty(), "telemetry topic {topic} exists");
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    let mut list = rdkafka::TopicPartitionList::new();
    for &partition in &partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .expect("watermarks");
        if high > 0 {
            remaining.insert(partition, high);
        }
        list.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&list).expect("assign");
    let mut by_partition: HashMap<i32, Vec<(String, serde_json::Value)>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !remaining.is_empty() && Instant::now() < deadline {
        let Some(result) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let record = result.expect("record");
        let key = String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned();
        let json = serde_json::from_slice(record.payload().unwrap_or_default()).expect("JSON");
        by_partition
            .entry(record.partition())
            .or_default()
            .push((key, json));
        if remaining.get(&record.partition()) == Some(&(record.offset() + 1)) {
            remaining.remove(&record.partition());
        }
    }
    assert!(remaining.is_empty(), "read {topic} to its end");
    let mut keys: Vec<_> = by_partition.keys().copied().collect();
    keys.sort_unstable();
    keys.into_iter()
        .flat_map(|p| by_partition.remove(&p).unwrap_or_default())
        .collect()
}

/// The sum of `topic`'s high watermarks; 0 when it does not exist.
pub fn high_watermark(broker: Broker, topic: &str) -> i64 {
    let consumer = reader(broker);
    let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)) else {
        return 0;
    };
    metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_or(0, |(_, high)| high)
        })
        .sum()
}

fn reader(broker: Broker) -> BaseConsumer {
    let servers = match broker {
        Broker::Mock => prosody_engine::mock_bootstrap_servers().expect("mock cluster"),
        Broker::Real => bootstrap(),
    };
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", unique("telemetry-reader"))
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("reader")
}

/// What each key does: `flaky` fails its first attempt, `timer` schedules a timer at the
/// payload's `at` (seconds), `cancel` schedules one an hour ahead and cancels it; anything
/// else succeeds. Counts successes and fired timers.
#[derive(Clone, Default)]
pub struct ByKey {
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    pub handled: Arc<AtomicUsize>,
    pub fired: Arc<AtomicUsize>,
}

impl Handler for ByKey {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let key = message.key().to_owned();
            let attempt = {
                let mut attempts = this.attempts.lock().unwrap();
                let count = attempts.entry(key.clone()).or_default();
                *count += 1;
                *count
            };
            let transient = |e: prosody_engine::Error| HandlerError::transient(e.to_string());
            match key.as_str() {
                "flaky" if attempt == 1 => {
                    return Err(HandlerError::transient("the first try fails"))
                }
                "timer" => {
                    let at = message.payload()["at"].as_u64().unwrap_or_default();
                    let time = TimerTime::from_system_time(
                        SystemTime::UNIX_EPOCH + Duration::from_secs(at),
                    )
                    .expect("timer time");
                    context.schedule(time).await.map_err(transient)?;
                }
                "cancel" => {
                    let time = TimerTime::now().saturating_add(3_600);
                    context.schedule(time).await.map_err(transient)?;
                    context.unschedule(time).await.map_err(transient)?;
                }
                _ => {}
            }
            this.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn on_timer(&self, _context: Context, _timer: Timer) -> HandlerFuture {
        let fired = Arc::clone(&self.fired);
        Box::pin(async move {
            fired.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}
