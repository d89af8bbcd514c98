//! librdkafka's own log lines and error reports, forwarded to `tracing`.
//!
//! rust-rdkafka's default context writes them to the `log` crate, which nothing in a Prosody
//! process listens to, so they were lost (`PROSODY_KAFKA_DEBUG` printed nothing). Every client
//! the engine creates uses a context that sends them to `tracing` instead, under the target
//! [`TARGET`], which the Ruby log bridge passes by default.
//!
//! Levels: librdkafka's errors (and worse) are ERROR, except a failed broker connection (its
//! `FAIL` lines), which is DEBUG (see [`forward`]); warnings are WARN, notices and info INFO. Its
//! debug lines are INFO too: librdkafka makes them only when debug contexts were asked for
//! (`PROSODY_KAFKA_DEBUG`, or `debug` in `kafka_config`), so they should show with a logger at
//! its default level rather than need a second switch.
//!
//! rust-rdkafka queues log lines on each client's main queue, so [`forward`] runs on whichever
//! thread serves it: the consumer's poll thread, a producer's polling thread, the loader's
//! thread. A `tracing` event never blocks them (the Ruby bridge's buffer drops lines when
//! full). The admin client never serves that queue, so its own lines are not seen; its
//! operations report their failures as errors.

use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// The `tracing` target of every line from librdkafka.
pub(crate) const TARGET: &str = "prosody_engine::librdkafka";

/// Forwards one librdkafka log line; `facility` is its short tag (`FAIL`, `CGRPOP`, …).
pub(crate) fn forward(level: RDKafkaLogLevel, facility: &str, message: &str) {
    // A failed broker connection (a `FAIL` line) is retried by librdkafka; what lasts is
    // reported by what it stops: the consumer's `broker_error` and its ERROR line, a send's
    // error, an admin operation's error. Logged louder, it would repeat all of them.
    if facility == "FAIL" {
        tracing::debug!(target: TARGET, "librdkafka {facility}: {message}");
        return;
    }
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: TARGET, "librdkafka {facility}: {message}");
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(target: TARGET, "librdkafka {facility}: {message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
            tracing::info!(target: TARGET, "librdkafka {facility}: {message}");
        }
    }
}

/// Forwards an error librdkafka reports outside any request (a client's error callback).
///
/// Broker connection failures are also logged by librdkafka itself (its `FAIL` lines, at
/// ERROR), so they come through here at DEBUG only, to avoid saying everything twice.
pub(crate) fn forward_error(error: &KafkaError, reason: &str) {
    if is_connection_failure(error) {
        tracing::debug!(target: TARGET, "librdkafka error: {error}: {reason}");
    } else {
        tracing::warn!(target: TARGET, "librdkafka error: {error}: {reason}");
    }
}

/// Whether `error` says a broker could not be reached (librdkafka retries these by itself).
pub(crate) fn is_connection_failure(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(Code::BrokerTransportFailure | Code::AllBrokersDown | Code::Resolve)
    )
}

/// Whether `error` says a broker refused this client: a failed SASL authentication or TLS
/// handshake (a wrong password, an untrusted certificate). librdkafka retries these too, so to
/// the application they look like an unreachable broker, but retrying will not fix them.
pub(crate) fn is_access_failure(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(Code::Authentication | Code::SSL | Code::SaslAuthenticationFailed)
    )
}

/// The context of every librdkafka client but the group consumer (which has its own, with the
/// same forwarding): producers, the admin client and the deferred-record loader.
///
/// It also keeps the last refusal ([`is_access_failure`]) since the client last got an answer,
/// so a send that times out can say the brokers refused it rather than only that time ran out.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogContext {
    refusal: Arc<Mutex<Option<String>>>,
}

impl LogContext {
    /// librdkafka's words for the last refusal, if the brokers refused this client since
    /// [`LogContext::answered`].
    pub(crate) fn refusal(&self) -> Option<String> {
        self.lock().clone()
    }

    /// A broker answered a request, so any earlier refusal no longer holds.
    pub(crate) fn answered(&self) {
        self.lock().take();
    }

    fn lock(&self) -> MutexGuard<'_, Option<String>> {
        self.refusal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if is_access_failure(&error) {
            *self.lock() = Some(reason.to_owned());
        }
        forward_error(&error, reason);
    }
}

/// The loader's consumer assigns partitions by hand, so the default callbacks suffice.
impl ConsumerContext for LogContext {}
