//! Creating and deleting topics, on real Kafka and on the mock cluster.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::client_config::admin_config;
use crate::kafka::log::LogContext;
use crate::kafka::mock::create_mock_topic;

/// Topic administration for the cluster a [`Config`] points at.
///
/// ```no_run
/// # async fn demo(config: prosody_engine::Config) -> prosody_engine::Result<()> {
/// let admin = prosody_engine::Admin::new(&config)?;
/// admin.create_topic("orders", 8, 1).await?;
/// admin.delete_topic("orders").await?;
/// # Ok(()) }
/// ```
pub struct Admin {
    client: AdminClient<LogContext>,
    mock: bool,
    servers: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("mock", &self.mock)
            .finish_non_exhaustive()
    }
}

/// How long an operation may take unless the caller says otherwise.
pub const DEFAULT_ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

impl Admin {
    /// Connects an admin client.
    pub fn new(config: &Config) -> Result<Self> {
        let client = admin_config(config)?
            .create_with_context(LogContext::default())
            .map_err(|source| Error::Client {
                role: "admin client",
                source,
            })?;
        Ok(Self {
            client,
            mock: config.mock,
            servers: config.bootstrap_servers.join(","),
        })
    }

    /// Checks that a broker answers a metadata request within `timeout`, so a process can
    /// refuse to start against a cluster it cannot reach instead of retrying silently. Always
    /// succeeds in mock mode. Blocks the calling thread for up to `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Unreachable`] (transient) naming the servers and librdkafka's reason.
    pub fn check_reachable(&self, timeout: Duration) -> Result<()> {
        if self.mock {
            return Ok(());
        }
        self.client
            .inner()
            .fetch_metadata(None, timeout)
            .map(|_| ())
            .map_err(|error| Error::Unreachable {
                servers: self.servers.clone(),
                within: timeout,
                reason: error.to_string(),
            })
    }

    /// The value of broker setting `name` on one of the cluster's brokers (`None` when that
    /// broker does not report it). Blocks the calling thread for up to `timeout` twice (the
    /// metadata request that finds a broker, then the question); the admin client's own
    /// thread completes the answer, so no runtime is needed.
    pub(crate) fn broker_setting(
        &self,
        name: &str,
        timeout: Duration,
    ) -> std::result::Result<Option<String>, String> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, timeout)
            .map_err(|error| error.to_string())?;
        let broker = metadata
            .brokers()
            .first()
            .ok_or("the cluster named no broker")?
            .id();
        let options = AdminOptions::new().request_timeout(Some(timeout));
        let results = futures::executor::block_on(
            self.client
                .describe_configs(&[ResourceSpecifier::Broker(broker)], &options),
        )
        .map_err(|error| error.to_string())?;
        let resource = results
            .into_iter()
            .next()
            .ok_or("no answer for the broker")?
            .map_err(|code| format!("{code:?}"))?;
        Ok(resource.get(name).and_then(|entry| entry.value.clone()))
    }

    /// Creates `topic`. Creating a topic that already exists is not an error. Fails after
    /// [`DEFAULT_ADMIN_TIMEOUT`] without an answer; see [`Admin::create_topic_within`].
    pub async fn create_topic(&self, topic: &str, partitions: i32, replication: i32) -> Result<()> {
        self.create_topic_within(topic, partitions, replication, DEFAULT_ADMIN_TIMEOUT)
            .await
    }

    /// [`Admin::create_topic`], failing with an error naming the topic when no broker has
    /// answered within `timeout` (librdkafka alone would wait a minute for a dead one).
    pub async fn create_topic_within(
        &self,
        topic: &str,
        partitions: i32,
        replication: i32,
        timeout: Duration,
    ) -> Result<()> {
        if partitions < 1 || replication < 1 {
            return Err(admin_error(
                "create",
                topic,
                "partitions and replication must be at least 1",
            ));
        }
        if self.mock {
            return create_mock_topic(topic, partitions);
        }
        let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
        let results = bounded("create", topic, timeout, |options| {
            self.client.create_topics([&new_topic], options)
        })
        .await?;
        for result in results {
            match result {
                Ok(_) => {}
                Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(admin_error("create", topic, code)),
            }
        }
        Ok(())
    }

    /// Deletes `topic`. The mock cluster cannot delete topics, so this fails in mock mode.
    pub async fn delete_topic(&self, topic: &str) -> Result<()> {
        if self.mock {
            return Err(admin_error(
                "delete",
                topic,
                "the in-process mock cluster cannot delete topics",
            ));
        }
        let results = bounded("delete", topic, DEFAULT_ADMIN_TIMEOUT, |options| {
            self.client.delete_topics(&[topic], options)
        })
        .await?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(admin_error("delete", topic, code));
            }
        }
        Ok(())
    }
}

/// Runs one admin request with `timeout` as librdkafka's request and operation timeouts, and
/// as a bound on the whole call (a request that never reaches a broker would otherwise wait
/// for `socket.timeout.ms`).
async fn bounded<'a, T, F>(
    operation: &'static str,
    topic: &str,
    timeout: Duration,
    request: impl FnOnce(&AdminOptions) -> F,
) -> Result<T>
where
    F: std::future::Future<Output = rdkafka::error::KafkaResult<T>> + 'a,
{
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let unanswered = || {
        admin_error(
            operation,
            topic,
            format!(
                "Kafka did not answer within {}",
                humantime::format_duration(timeout)
            ),
        )
    };
    match tokio::time::timeout(timeout, request(&options)).await {
        Ok(Err(KafkaError::AdminOp(RDKafkaErrorCode::OperationTimedOut))) | Err(_) => {
            Err(unanswered())
        }
        Ok(result) => result.map_err(|e| admin_error(operation, topic, e)),
    }
}

fn admin_error(operation: &'static str, topic: &str, reason: impl std::fmt::Display) -> Error {
    Error::Admin {
        operation,
        topic: topic.to_string(),
        reason: reason.to_string(),
    }
}
