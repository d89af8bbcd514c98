//! The process-wide librdkafka mock cluster used by `mock: true`.
//!
//! One cluster is created lazily, on first use, and every producer, consumer and admin client
//! in the process connects to it, so a message sent by one client is seen by the others. It
//! lives until the process exits. A process forked after that gets a cluster of its own, empty,
//! on first use. Topics are created on first use: a produce auto-creates the
//! topic, and so does a subscribe; either way it gets [`MOCK_PARTITIONS`] partitions. The
//! [`crate::Admin`] helper creates topics with any partition count.
//!
//! The group rebalance delay is set to zero, so a consumer joins in milliseconds rather than
//! after librdkafka's default three seconds.

use std::sync::{Mutex, PoisonError};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::ClientConfig;

use crate::error::{Error, Result};

/// The partition count of every topic the mock cluster creates on demand.
pub const MOCK_PARTITIONS: i32 = 4;

struct Host {
    // The mock cluster lives as long as the client that hosts it, so the client is kept forever.
    producer: BaseProducer,
    servers: String,
}

type Started = std::result::Result<Host, String>;

/// The cluster of this process and the pid that started it. librdkafka's threads do not
/// survive `fork`, so a forked child starts a cluster of its own on first use. The parent's
/// copy is left alone and never dropped: dropping it would join threads the child does not
/// have.
static HOST: Mutex<Option<(u32, &'static Started)>> = Mutex::new(None);

fn current(pid: u32) -> Option<&'static Started> {
    match *HOST.lock().unwrap_or_else(PoisonError::into_inner) {
        Some((owner, host)) if owner == pid => Some(host),
        _ => None,
    }
}

fn host() -> Result<&'static Host> {
    let pid = std::process::id();
    let started = match current(pid) {
        Some(host) => host,
        None => {
            // Started outside the lock, so a fork meanwhile cannot leave the child a held lock;
            // the first of two racing starts wins and the other cluster is dropped.
            let fresh = start();
            let mut slot = HOST.lock().unwrap_or_else(PoisonError::into_inner);
            match *slot {
                Some((owner, host)) if owner == pid => host,
                _ => {
                    let host: &'static Started = Box::leak(Box::new(fresh));
                    *slot = Some((pid, host));
                    host
                }
            }
        }
    };
    started
        .as_ref()
        .map_err(|message| Error::Mock(KafkaError::ClientCreation(message.clone())))
}

/// The bootstrap servers of the process-wide mock cluster, starting it if needed.
///
/// ```
/// let servers = prosody_engine::mock_bootstrap_servers().unwrap();
/// assert_eq!(servers, prosody_engine::mock_bootstrap_servers().unwrap());
/// ```
pub fn mock_bootstrap_servers() -> Result<String> {
    host().map(|host| host.servers.clone())
}

/// Creates `topic` on the mock cluster (which does not implement the CreateTopics API).
pub(crate) fn create_mock_topic(topic: &str, partitions: i32) -> Result<()> {
    let host = host()?;
    let cluster =
        host.producer.client().mock_cluster().ok_or_else(|| {
            Error::Mock(KafkaError::ClientCreation("mock cluster vanished".into()))
        })?;
    cluster
        .create_topic(topic, partitions, 1)
        .map_err(|source| Error::Admin {
            operation: "create",
            topic: topic.to_string(),
            reason: source.to_string(),
        })
}

/// Creates each of `topics` that the mock cluster does not have yet, so subscribing to a new
/// topic works like producing to one.
pub(crate) fn ensure_mock_topics(topics: &[String]) -> Result<()> {
    let host = host()?;
    let Some(cluster) = host.producer.client().mock_cluster() else {
        return Ok(());
    };
    let metadata = host
        .producer
        .client()
        .fetch_metadata(None, std::time::Duration::from_secs(5))
        .map_err(Error::Mock)?;
    for topic in topics {
        let exists = metadata
            .topics()
            .iter()
            .any(|t| t.name() == topic && t.error().is_none());
        if !exists {
            // A concurrent creator may win the race; the topic exists either way.
            let _ = cluster.create_topic(topic, MOCK_PARTITIONS, 1);
        }
    }
    Ok(())
}

fn start() -> std::result::Result<Host, String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("test.mock.num.brokers", "1")
        .set("log_level", "3")
        .create()
        .map_err(|e| e.to_string())?;
    let servers = producer
        .client()
        .mock_cluster()
        .map(|cluster| cluster.bootstrap_servers())
        .ok_or_else(|| "librdkafka did not create a mock cluster".to_string())?;
    disable_rebalance_delay(&producer);
    Ok(Host { producer, servers })
}

#[allow(unsafe_code)]
fn disable_rebalance_delay(producer: &BaseProducer) {
    use rdkafka::bindings as rd;
    // SAFETY: the client pointer is live for the duration of this call (we hold `producer`),
    // and librdkafka returns null when the client hosts no mock cluster, which is checked.
    unsafe {
        let cluster = rd::rd_kafka_handle_mock_cluster(producer.client().native_ptr());
        if !cluster.is_null() {
            rd::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
        }
    }
}
