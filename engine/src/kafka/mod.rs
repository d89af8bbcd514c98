//! Everything that touches librdkafka directly: client settings, the shared mock cluster and
//! topic administration.
//!
//! The rest of the engine sees only the engine's own types. The consumer's poll loop lives in
//! [`crate::consumer`] but obtains its client from here.

mod admin;
mod client_config;
mod mock;

pub use admin::Admin;
pub(crate) use client_config::{consumer_config, producer_config};
pub(crate) use mock::ensure_mock_topics;
pub use mock::{mock_bootstrap_servers, MOCK_PARTITIONS};
