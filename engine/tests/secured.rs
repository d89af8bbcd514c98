//! Secured listeners (issue #14): SASL_SSL with SCRAM-SHA-512, and SSL, on the Kafka that
//! `script/services` starts. The right credentials and CA produce and consume; a wrong password
//! or an untrusted certificate is reported clearly within a bounded time, by the send and by
//! the consumer's `broker_error`.
//!
//! Each test returns early, saying why on stderr, when its listener is not up (a Kafka started
//! before the listeners were added to `script/services` lacks them until restarted).
//! Environment: `PROSODY_KAFKA_SASL_SSL` (default 127.0.0.1:9094), `PROSODY_KAFKA_SSL`
//! (127.0.0.1:9095), and `PROSODY_KAFKA_TLS_DIR` (default
//! `$PROSODY_SERVICES_HOME/kafka/tls`, `PROSODY_SERVICES_HOME` defaulting to
//! `~/.cache/prosody-services`).

mod support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prosody_engine::{Admin, Config, Consumer, Producer};
use support::{unique, Recorder};

/// What `script/services` sets up.
const USER: &str = "prosody";
const PASSWORD: &str = "prosody-secret";

/// How long a failure may take to be reported: librdkafka's first connection attempt plus one
/// statistics report (every 5 s).
const REPORTED_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy)]
enum Listener {
    SaslSsl,
    Ssl,
}

impl Listener {
    fn address(self) -> String {
        let (variable, default) = match self {
            Listener::SaslSsl => ("PROSODY_KAFKA_SASL_SSL", "127.0.0.1:9094"),
            Listener::Ssl => ("PROSODY_KAFKA_SSL", "127.0.0.1:9095"),
        };
        std::env::var(variable).unwrap_or_else(|_| default.into())
    }
}

fn tls_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PROSODY_KAFKA_TLS_DIR") {
        return dir.into();
    }
    let home = std::env::var("PROSODY_SERVICES_HOME").map_or_else(
        |_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/prosody-services")
        },
        PathBuf::from,
    );
    home.join("kafka/tls")
}

/// The listener's address, or `None` (after saying why) when the test cannot run.
fn available(listener: Listener) -> Option<String> {
    let address = listener.address();
    let ca = tls_dir().join("ca.pem");
    let reason = if !ca.is_file() {
        format!("no test CA at {}", ca.display())
    } else if TcpStream::connect(&address).is_err() {
        format!("nothing listens on {address}")
    } else {
        return Some(address);
    };
    eprintln!(
        "skipped: the {listener:?} listener is not up ({reason}); restart Kafka with \
         `script/services stop kafka && script/services start kafka`"
    );
    None
}

/// Real-Kafka settings for `address`, with `kafka_config` holding the security properties.
fn secured_config(address: &str, security: &[(&str, String)], options: &[(&str, &str)]) -> Config {
    let properties: serde_json::Map<String, serde_json::Value> = security
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone().into()))
        .collect();
    let properties = serde_json::Value::Object(properties).to_string();
    let cassandra = support::cassandra_nodes();
    let mut all = vec![
        ("bootstrap_servers", address),
        ("kafka_config", properties.as_str()),
        ("probe_port", "none"),
        ("telemetry_enabled", "false"),
        ("send_timeout", "5s"),
        ("cassandra_nodes", &cassandra),
    ];
    all.extend_from_slice(options);
    Config::from_options_with_env(all, |_| None).expect("test configuration is valid")
}

fn ca(file: &str) -> (&'static str, String) {
    (
        "ssl.ca.location",
        tls_dir().join(file).display().to_string(),
    )
}

fn scram(password: &str) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", "SASL_SSL".into()),
        ("sasl.mechanism", "SCRAM-SHA-512".into()),
        ("sasl.username", USER.into()),
        ("sasl.password", password.into()),
        ca("ca.pem"),
    ]
}

fn ssl(ca_file: &str) -> Vec<(&'static str, String)> {
    vec![("security.protocol", "SSL".into()), ca(ca_file)]
}

/// Creates a topic, sends a message and consumes it, all through `address` with `security`.
async fn round_trip(address: &str, security: &[(&str, String)]) {
    let topic = unique("secured");
    let admin = Admin::new(&secured_config(address, security, &[])).expect("admin");
    admin
        .create_topic(&topic, 1, 1)
        .await
        .expect("topic created");
    let producer = Producer::new(&secured_config(address, security, &[])).expect("producer");
    producer
        .send(&topic, "k", &serde_json::json!({"secured": true}))
        .await
        .expect("sent over the secured listener");
    let group = unique("secured-group");
    let recorder = Recorder::default();
    let consumer = Consumer::subscribe(
        &secured_config(
            address,
            security,
            &[("group_id", &group), ("subscribed_topics", &topic)],
        ),
        Arc::new(recorder.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer");
    recorder.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(consumer.broker_error(), None);
    consumer.shutdown().await;
}

/// Asserts that a send and a subscribed consumer both report `expected` (lowercase) within
/// [`REPORTED_WITHIN`], never leaving the consumer silently without partitions.
async fn refused(address: &str, security: &[(&str, String)], expected: &str) {
    let started = Instant::now();
    let producer = Producer::new(&secured_config(address, security, &[])).expect("producer");
    let error = producer
        .send(&unique("refused"), "k", &serde_json::json!({}))
        .await
        .expect_err("the broker refuses this client");
    let shown = error.to_string();
    assert!(shown.to_lowercase().contains(expected), "{shown}");
    assert!(
        started.elapsed() < REPORTED_WITHIN,
        "{:?}",
        started.elapsed()
    );
    let secret = security
        .iter()
        .find(|(name, _)| *name == "sasl.password")
        .map(|(_, value)| value.as_str());
    let hides_secret = |text: &str| secret.is_none_or(|secret| !text.contains(secret));
    assert!(hides_secret(&shown), "{shown}");

    let started = Instant::now();
    let group = unique("refused-group");
    let consumer = Consumer::subscribe(
        &secured_config(
            address,
            security,
            &[("group_id", &group), ("subscribed_topics", "refused")],
        ),
        Arc::new(Recorder::default()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer");
    let reported = loop {
        if let Some(problem) = consumer.broker_error() {
            break problem;
        }
        assert!(
            started.elapsed() < REPORTED_WITHIN,
            "no broker_error after {REPORTED_WITHIN:?}"
        );
        // Polling the consumer's view; it offers nothing to wait on.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(reported.to_lowercase().contains(expected), "{reported}");
    assert!(reported.contains(address), "{reported}");
    assert!(hides_secret(&reported), "{reported}");
    assert_eq!(consumer.assigned_partitions(), 0);
    consumer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_with_the_right_password_and_a_trusted_ca_produces_and_consumes() {
    let Some(address) = available(Listener::SaslSsl) else {
        return;
    };
    round_trip(&address, &scram(PASSWORD)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_with_a_trusted_ca_produces_and_consumes() {
    let Some(address) = available(Listener::Ssl) else {
        return;
    };
    round_trip(&address, &ssl("ca.pem")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_scram_password_is_an_authentication_error() {
    let Some(address) = available(Listener::SaslSsl) else {
        return;
    };
    refused(&address, &scram("not-the-password"), "authentication").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_broker_certificate_is_a_tls_error() {
    let Some(address) = available(Listener::Ssl) else {
        return;
    };
    refused(
        &address,
        &ssl("untrusted-ca.pem"),
        "certificate verify failed",
    )
    .await;
}
