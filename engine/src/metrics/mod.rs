//! Prometheus metrics for `/metrics` on the probe server: counters kept on the hot path without
//! locks or allocation, written in the text exposition format when scraped.
//!
//! - [`ConsumerMetrics`] counts events by topic, kind and outcome, and times handler attempts
//!   and timer firings ([`events`]); [`ProducerMetrics`] counts sends and their latency;
//!   [`TelemetryMetrics`] counts telemetry events written and dropped; [`ResponseMetrics`]
//!   counts a responder's answers and the requests it refused.
//! - Counters are sharded per thread ([`shards`]), histograms are fixed buckets of those
//!   counters ([`histogram`]), and topics get slots in a bounded table ([`topics`]): the per
//!   event cost is a short topic scan and a few relaxed atomic adds.
//! - A scrape asks every client on the server to add its series to one [`Scrape`] (gauges such
//!   as lag and in-flight events are read from the consumer's state then), which sums equal
//!   series and writes the text ([`scrape`]).
//!
//! No label takes a message key or any other per-event value: labels are the group, topic,
//! partition number, event kind and outcome, all bounded.
//!
//! This module imports nothing else from the engine.

mod events;
mod histogram;
mod producer;
mod responses;
mod scrape;
mod shards;
mod telemetry;
mod topics;

pub(crate) use events::{ConsumerMetrics, Kind, Outcome};
pub(crate) use producer::ProducerMetrics;
pub(crate) use responses::ResponseMetrics;
pub(crate) use scrape::{Scrape, CONTENT_TYPE};
pub(crate) use telemetry::TelemetryMetrics;
