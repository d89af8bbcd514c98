//! The loader against the librdkafka mock cluster and the real Kafka at
//! `PROSODY_BOOTSTRAP_SERVERS` (default 127.0.0.1:9092). Each test uses its own topic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::{LoadError, MessageLoader};
use crate::config::Config;
use crate::kafka::client_config::{base_config, producer_config};
use crate::Admin;

#[derive(Debug, Clone, Copy)]
enum Broker {
    Mock,
    Real,
}

fn config(broker: Broker, options: &[(&str, &str)]) -> Config {
    let mut all: Vec<(String, String)> = vec![("probe_port".into(), "none".into())];
    match broker {
        Broker::Mock => all.push(("mock".into(), "true".into())),
        Broker::Real => all.push((
            "bootstrap_servers".into(),
            std::env::var("PROSODY_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        )),
    }
    all.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_options_with_env(all, |_| None).expect("test configuration is valid")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// A new topic of `partitions` partitions holding `count` records in partition 0: record `i`
/// has key `key-i`, payload `{"n":i}` and a header `n: i`.
async fn topic_with_records(broker: Broker, partitions: i32, count: usize) -> String {
    let topic = unique("loader");
    let config = config(broker, &[]);
    Admin::new(&config)
        .expect("admin")
        .create_topic(&topic, partitions, 1)
        .await
        .expect("topic created");
    let producer: FutureProducer = producer_config(&config)
        .expect("producer config")
        .create()
        .expect("producer");
    let sends = (0..count).map(|i| {
        let (key, payload) = (format!("key-{i}"), format!("{{\"n\":{i}}}"));
        let headers = OwnedHeaders::new().insert(Header {
            key: "n",
            value: Some(i.to_string().as_bytes()),
        });
        let producer = &producer;
        let topic = &topic;
        async move {
            let record = FutureRecord::to(topic)
                .partition(0)
                .key(&key)
                .payload(&payload)
                .headers(headers);
            producer.send(record, Duration::from_secs(30)).await
        }
    });
    // In order, so record `i` lands at offset `i`.
    for send in sends {
        send.await.expect("record sent");
    }
    topic
}

fn loader(broker: Broker, options: &[(&str, &str)]) -> MessageLoader {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    MessageLoader::new(&config(broker, options), &unique("group")).expect("loader starts")
}

fn assert_record(record: &super::LoadedRecord, offset: i64) {
    assert_eq!(record.offset, offset);
    assert_eq!(record.partition, 0);
    assert_eq!(
        record.key.as_deref(),
        Some(format!("key-{offset}").as_bytes())
    );
    assert_eq!(
        record.payload.as_deref(),
        Some(format!("{{\"n\":{offset}}}").as_bytes())
    );
    let header = (String::from("n"), Some(offset.to_string().into_bytes()));
    assert_eq!(record.headers, [header]);
    assert!(record.timestamp_ms.is_some_and(|ms| ms > 1_600_000_000_000));
}

async fn loads_the_first_a_middle_and_the_last_offset(broker: Broker) {
    let topic = topic_with_records(broker, 2, 30).await;
    let loader = loader(broker, &[]);
    for offset in [15, 0, 29] {
        let record = loader.load(&topic, 0, offset).await.expect("loaded");
        assert_record(&record, offset);
    }
    let read = loader.stats().records();
    let again = loader.load(&topic, 0, 15).await.expect("cached");
    assert_record(&again, 15);
    assert_eq!(loader.stats().records(), read, "answered from the cache");
    loader.shutdown().await;
}

async fn concurrent_loads_of_an_offset_share_one_read(broker: Broker) {
    let topic = topic_with_records(broker, 1, 300).await;
    // Room for every load at once, and a cache too small to answer any of them.
    let loader = loader(
        broker,
        &[("defer_cache_size", "1"), ("max_uncommitted", "300")],
    );
    let offsets: Vec<i64> = [10, 150, 290].repeat(100);
    let loads = futures::future::join_all(offsets.iter().map(|&o| loader.load(&topic, 0, o))).await;
    for (offset, loaded) in offsets.iter().zip(loads) {
        assert_record(&loaded.expect("loaded"), *offset);
    }
    let stats = loader.stats();
    eprintln!(
        "{broker:?}: 300 concurrent loads of 3 offsets: {} seeks, {} records read",
        stats.seeks(),
        stats.records()
    );
    // Three seeks (each offset is more than `defer_discard_threshold` past the one before).
    assert!(
        stats.records() < 100,
        "{} records read for 300 loads",
        stats.records()
    );
    loader.shutdown().await;
}

async fn many_concurrent_loads_are_each_answered(broker: Broker) {
    let topic = topic_with_records(broker, 1, 300).await;
    // A small cache, so most loads must read; a channel of 16 so loads queue behind it.
    let loader = loader(
        broker,
        &[("defer_cache_size", "8"), ("max_uncommitted", "16")],
    );
    let offsets: Vec<i64> = (0..300).chain(0..300).map(|i| (i * 7) % 300).collect();
    let started = Instant::now();
    let loads = futures::future::join_all(offsets.iter().map(|&o| loader.load(&topic, 0, o))).await;
    for (offset, loaded) in offsets.iter().zip(loads) {
        assert_record(&loaded.expect("loaded"), *offset);
    }
    let stats = loader.stats();
    eprintln!(
        "{broker:?}: 600 concurrent loads of 300 offsets in {:?}: {} seeks, {} records read",
        started.elapsed(),
        stats.seeks(),
        stats.records()
    );
    loader.shutdown().await;
}

async fn an_offset_past_the_end_is_missing(broker: Broker) {
    let topic = topic_with_records(broker, 1, 5).await;
    let loader = loader(broker, &[("defer_seek_timeout", "10s")]);
    let error = loader
        .load(&topic, 0, 1_000)
        .await
        .expect_err("past the end");
    assert!(
        matches!(
            error,
            LoadError::Missing {
                offset: 1_000,
                end: 5,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_transient());
    // The partition still serves loads afterwards.
    assert_record(&loader.load(&topic, 0, 3).await.expect("loaded"), 3);
}

async fn a_partition_that_does_not_exist_times_out(broker: Broker) {
    let topic = topic_with_records(broker, 1, 1).await;
    let loader = loader(broker, &[("defer_seek_timeout", "1s")]);
    let started = Instant::now();
    let error = loader
        .load(&topic, 7, 0)
        .await
        .expect_err("no such partition");
    let elapsed = started.elapsed();
    assert!(
        matches!(error, LoadError::Timeout { partition: 7, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
    let error = loader
        .load(&unique("absent"), 0, 0)
        .await
        .expect_err("no such topic");
    assert!(error.is_transient(), "{error:?}");
    assert_record(&loader.load(&topic, 0, 0).await.expect("loaded"), 0);
}

async fn dropping_the_loader_ends_its_thread(broker: Broker) {
    let topic = topic_with_records(broker, 1, 3).await;
    let loader = loader(broker, &[("defer_seek_timeout", "30s")]);
    assert_record(&loader.load(&topic, 0, 1).await.expect("loaded"), 1);
    // A load given up by its caller, still waiting in the thread for an offset not yet written.
    let abandoned = tokio::time::timeout(Duration::from_millis(200), loader.load(&topic, 0, 3));
    assert!(abandoned.await.is_err(), "offset 3 does not exist yet");
    let stats = Arc::clone(&loader.stats);
    let started = Instant::now();
    drop(loader);
    while Arc::strong_count(&stats) > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the thread is still running"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "{broker:?}: thread ended {:?} after the drop",
        started.elapsed()
    );
}

macro_rules! on_both_brokers {
    ($($name:ident,)*) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mock() {
                    super::$name(super::Broker::Mock).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn real() {
                    super::$name(super::Broker::Real).await;
                }
            }
        )*
    };
}

on_both_brokers! {
    loads_the_first_a_middle_and_the_last_offset,
    concurrent_loads_of_an_offset_share_one_read,
    many_concurrent_loads_are_each_answered,
    an_offset_past_the_end_is_missing,
    a_partition_that_does_not_exist_times_out,
    dropping_the_loader_ends_its_thread,
}

/// Deletes the records of `topic`/0 before `before` (`Offset::End`: all of them).
async fn delete_records(topic: &str, before: Offset) {
    let admin: AdminClient<DefaultClientContext> = base_config(&config(Broker::Real, &[]))
        .expect("admin config")
        .create()
        .expect("admin client");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, before).expect("offset");
    let result = admin
        .delete_records(&list, &AdminOptions::new())
        .await
        .expect("delete records");
    let entry = result.find_partition(topic, 0).expect("partition result");
    assert!(entry.error().is_ok(), "{:?}", entry.error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_deleted_by_retention_are_reported_with_the_next_offset() {
    let topic = topic_with_records(Broker::Real, 1, 10).await;
    delete_records(&topic, Offset::Offset(5)).await;
    let loader = loader(Broker::Real, &[("defer_seek_timeout", "5s")]);
    let (two, four, six) = tokio::join!(
        loader.load(&topic, 0, 2),
        loader.load(&topic, 0, 4),
        loader.load(&topic, 0, 6)
    );
    for (offset, result) in [(2, two), (4, four)] {
        let error = result.expect_err("deleted");
        assert!(
            matches!(error, LoadError::Deleted { offset: o, next: 5, .. } if o == offset),
            "{error:?}"
        );
        assert!(!error.is_transient());
    }
    assert_record(&six.expect("still there"), 6);
    loader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_emptied_by_retention_reports_deleted_offsets() {
    let topic = topic_with_records(Broker::Real, 1, 4).await;
    delete_records(&topic, Offset::End).await;
    let loader = loader(Broker::Real, &[("defer_seek_timeout", "1s")]);
    let error = loader.load(&topic, 0, 1).await.expect_err("deleted");
    assert!(
        matches!(
            error,
            LoadError::Deleted {
                offset: 1,
                next: 4,
                ..
            }
        ),
        "{error:?}"
    );
    loader.shutdown().await;
}

/// Load latency on real Kafka: run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn load_latency() {
    let topic = topic_with_records(Broker::Real, 1, 1_000).await;
    let loader = loader(
        Broker::Real,
        &[("defer_cache_size", "1"), ("defer_discard_threshold", "0")],
    );
    let p50 = |mut samples: Vec<Duration>| {
        samples.sort();
        (
            samples[samples.len() / 2],
            samples[samples.len() * 99 / 100],
        )
    };
    let mut uncached = Vec::new();
    for i in 0..100_i64 {
        let offset = (i * 379) % 1_000;
        let started = Instant::now();
        loader.load(&topic, 0, offset).await.expect("loaded");
        uncached.push(started.elapsed());
    }
    let mut cached = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        loader.load(&topic, 0, 999).await.expect("loaded");
        cached.push(started.elapsed());
    }
    eprintln!("uncached (p50, p99): {:?}", p50(uncached));
    eprintln!("cached (p50, p99): {:?}", p50(cached));
}
