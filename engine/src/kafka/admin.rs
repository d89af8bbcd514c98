//! Creating and deleting topics, on real Kafka and on the mock cluster.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kafka::client_config::base_config;
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
    client: AdminClient<DefaultClientContext>,
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

const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

impl Admin {
    /// Connects an admin client.
    pub fn new(config: &Config) -> Result<Self> {
        let client = base_config(config)?
            .create()
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

    /// Creates `topic`. Creating a topic that already exists is not an error.
    pub async fn create_topic(&self, topic: &str, partitions: i32, replication: i32) -> Result<()> {
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
        let options = AdminOptions::new().operation_timeout(Some(OPERATION_TIMEOUT));
        let results = self
            .client
            .create_topics([&new_topic], &options)
            .await
            .map_err(|e| admin_error("create", topic, e))?;
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
        let options = AdminOptions::new().operation_timeout(Some(OPERATION_TIMEOUT));
        let results = self
            .client
            .delete_topics(&[topic], &options)
            .await
            .map_err(|e| admin_error("delete", topic, e))?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(admin_error("delete", topic, code));
            }
        }
        Ok(())
    }
}

fn admin_error(operation: &'static str, topic: &str, reason: impl std::fmt::Display) -> Error {
    Error::Admin {
        operation,
        topic: topic.to_string(),
        reason: reason.to_string(),
    }
}
