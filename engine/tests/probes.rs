//! Health probes over HTTP, on the mock cluster and on real Kafka: `/readyz` waits for every
//! consumer on the port to own a partition and then gives the count, consumers share a port,
//! `/livez` names a partition whose handler blocks past `stall_threshold` (agreeing with
//! `Consumer::is_stalled`), the server goes away with the last consumer, a port held elsewhere
//! fails the subscribe, and malformed requests get a 400 without disturbing the consumer.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prosody_engine::{Consumer, Context, Handler, HandlerFuture, Message};
use support::{config, consume, create_topic, produce, unique, Broker, Recorder};

const LIMIT: Duration = Duration::from_secs(30);

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `raw` to the probe port and returns the status and body; `Err` when refused.
fn exchange(port: u16, raw: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(raw)?;
    let _ = stream.shutdown(Shutdown::Write);
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

async fn get(port: u16, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || {
        exchange(
            port,
            format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
        )
    })
    .await
    .unwrap()
    .unwrap_or_else(|error| panic!("GET {path} on port {port}: {error}"))
}

/// Asks `path` every 50 ms until `accept` likes the answer, which is returned.
async fn until(port: u16, path: &'static str, accept: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let (status, body) = get(port, path).await;
        if accept(status, &body) {
            return (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn probe_options(port: &str) -> [(&str, &str); 2] {
    [("probe_host", "127.0.0.1"), ("probe_port", port)]
}

fn with<'a>(extra: &[(&'a str, &'a str)], port: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut all = probe_options(port).to_vec();
    all.extend_from_slice(extra);
    all
}

async fn consumers_share_the_port_and_are_ready_only_with_partitions(broker: Broker) {
    let topic = unique("probe-ready");
    create_topic(broker, &topic, 1).await;
    let group = unique("probe-ready-group");
    let port = free_port();
    let port_text = port.to_string();
    let options = with(&[], &port_text);
    let first = consume(
        broker,
        &group,
        &topic,
        &options,
        Arc::new(Recorder::default()),
    );
    let (_, body) = until(port, "/readyz", |status, _| status == 200).await;
    assert!(body.starts_with("ready: 1 partitions assigned\n"), "{body}");

    // A second consumer of the group on the same port: the topic has one partition, so one of
    // the two owns nothing and the port is not ready, whoever it is.
    let second = consume(
        broker,
        &group,
        &topic,
        &options,
        Arc::new(Recorder::default()),
    );
    let (status, body) = get(port, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: no partitions assigned to consumer "),
        "{body}"
    );
    assert!(
        body.contains(&format!("(group {group}): 0 partitions\n")),
        "{body}"
    );

    first.shutdown().await;
    let (_, body) = until(port, "/readyz", |status, _| status == 200).await;
    assert!(body.starts_with("ready: 1 partitions assigned\n"), "{body}");
    assert_eq!(
        body.lines().count(),
        2,
        "only the second consumer is left: {body}"
    );
    assert_eq!(get(port, "/livez").await.0, 200);

    second.shutdown().await;
    let refused = TcpStream::connect(("127.0.0.1", port))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// Blocks every message until the test releases them all.
#[derive(Clone)]
struct Blocker {
    release: Arc<tokio::sync::Semaphore>,
}

impl Default for Blocker {
    fn default() -> Self {
        Self {
            release: Arc::new(tokio::sync::Semaphore::new(0)),
        }
    }
}

impl Handler for Blocker {
    fn on_message(&self, _: Context, _: Message) -> HandlerFuture {
        let release = Arc::clone(&self.release);
        Box::pin(async move {
            let _ = release.acquire().await;
            Ok(())
        })
    }
}

async fn livez_names_a_partition_stalled_past_the_threshold(broker: Broker) {
    let topic = unique("probe-live");
    create_topic(broker, &topic, 2).await;
    let port = free_port();
    let port_text = port.to_string();
    let blocker = Blocker::default();
    // An explicit `timeout`: the default (80% of the threshold) would cancel and retry the
    // blocked attempt, which is beside the point here.
    let options = with(
        &[
            ("stall_threshold", "1s"),
            ("timeout", "1m"),
            ("shutdown_timeout", "2s"),
        ],
        &port_text,
    );
    let consumer = consume(
        broker,
        &unique("probe-live-group"),
        &topic,
        &options,
        Arc::new(blocker.clone()),
    );
    until(port, "/readyz", |status, _| status == 200).await;
    // Idle partitions never stall, however long they wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(get(port, "/livez").await.0, 200);

    produce(broker, &topic, 1, 1).await;
    let (_, body) = until(port, "/livez", |status, _| status == 503).await;
    assert!(
        consumer.is_stalled(),
        "/livez and is_stalled disagree: {body}"
    );
    assert!(body.starts_with("stalled:\n"), "{body}");
    assert!(body.contains(&format!(": partition {topic}/")), "{body}");
    assert!(
        body.contains("uncommitted work without progress for"),
        "{body}"
    );
    assert!(body.contains("(stall_threshold 1.0s)"), "{body}");

    blocker.release.add_permits(1_000);
    let (_, body) = until(port, "/livez", |status, _| status == 200).await;
    assert!(
        !consumer.is_stalled(),
        "/livez and is_stalled disagree: {body}"
    );
    consumer.shutdown().await;
}

async fn a_port_held_elsewhere_fails_the_subscribe_naming_it(broker: Broker) {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let topic = unique("probe-taken");
    let group = unique("probe-taken-group");
    let mut options = vec![
        ("group_id", group.as_str()),
        ("subscribed_topics", topic.as_str()),
    ];
    options.extend(probe_options(&port));
    let result = Consumer::subscribe(
        &config(broker, &options),
        Arc::new(Recorder::default()),
        tokio::runtime::Handle::current(),
    );
    let error = result.expect_err("subscribed on a port another socket holds");
    let text = error.to_string();
    assert!(text.contains(&format!("probe_port {port}")), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}

async fn malformed_requests_get_400_and_the_consumer_carries_on(broker: Broker) {
    let topic = unique("probe-bad");
    create_topic(broker, &topic, 2).await;
    let port = free_port();
    let port_text = port.to_string();
    let recorder = Recorder::default();
    let options = with(&[], &port_text);
    let consumer = consume(
        broker,
        &unique("probe-bad-group"),
        &topic,
        &options,
        Arc::new(recorder.clone()),
    );
    until(port, "/readyz", |status, _| status == 200).await;
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /readyz HTTP/1.1\r\nno-colon\r\n\r\n",
        b"\x16\x03\x01\r\n\r\n",
    ] {
        let raw = raw.to_vec();
        let (status, _) = tokio::task::spawn_blocking(move || exchange(port, &raw))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status, 400);
    }
    assert_eq!(get(port, "/nothing-here").await.0, 404);
    // A client that connects and says nothing holds no consumer up either.
    let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();

    produce(broker, &topic, 4, 20).await;
    recorder.wait_for(20, LIMIT).await;
    assert_eq!(get(port, "/readyz").await.0, 200);
    assert_eq!(get(port, "/livez").await.0, 200);
    drop(silent);
    consumer.shutdown().await;
}

on_both_brokers! {
    shared_readiness => consumers_share_the_port_and_are_ready_only_with_partitions();
    stalled_liveness => livez_names_a_partition_stalled_past_the_threshold();
    port_in_use => a_port_held_elsewhere_fails_the_subscribe_naming_it();
    malformed_requests => malformed_requests_get_400_and_the_consumer_carries_on();
}
