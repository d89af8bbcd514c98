//! Health probes: the HTTP server on `probe_host:probe_port` that answers `/readyz` and
//! `/livez` for every consumer of the process, and serves their `/metrics` (see
//! [`crate::metrics`]).
//!
//! Consumers register a [`Probed`] view of themselves when they subscribe and drop their
//! [`Registration`] after they stop. The first registration for an address binds it (so a port
//! held by another process fails the subscribe, naming the port); the last one to leave stops
//! the server, so a later connection is refused. Consumers sharing an address share a server,
//! and their answers aggregate: ready when every one of them is ready, live when none has
//! stalled. See [`report`] for what the bodies say.
//!
//! The server runs on a runtime of its own ([`crate::ProcessRuntime`]), so it answers even when
//! the consumers' runtime is busy, and a process forked after a server started starts with no
//! server at all (see [`registry`]).

mod heartbeat;
mod http;
mod registry;
mod report;
mod server;
#[cfg(test)]
mod tests;

pub(crate) use heartbeat::Heartbeat;

use crate::metrics::Scrape;
pub(crate) use registry::{register, Registration};

/// What a registered consumer tells the probes. Both answers are computed when a probe asks,
/// from the same state `Consumer::assigned_partitions` and `Consumer::is_stalled` read.
pub(crate) trait Probed: Send + Sync {
    /// The consumer's group, to tell consumers apart in probe bodies.
    fn group(&self) -> &str;

    /// How many partitions the consumer owns now.
    fn assigned_partitions(&self) -> usize;

    /// One line for each stalled part of the consumer (a loop or a partition); empty when live.
    fn stalls(&self) -> Vec<String>;

    /// Why no broker answers the consumer, if none does; such a consumer is not ready.
    fn broker_error(&self) -> Option<String> {
        None
    }

    /// Adds the consumer's series to a `/metrics` scrape. Reports nothing unless overridden.
    fn metrics(&self, scrape: &mut Scrape) {
        let _ = scrape;
    }
}
