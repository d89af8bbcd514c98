//! Whether the consumer can reach any broker, for `/readyz`, `Consumer::broker_error` and one
//! ERROR line.
//!
//! librdkafka retries unreachable brokers forever and only reports each failed connection, so a
//! consumer whose `bootstrap_servers` are all wrong or down would otherwise sit subscribed with
//! no partitions and nothing but warnings. The consumer's context notes each failed connection,
//! and each refused SASL login or TLS handshake, which librdkafka retries the same way
//! ([`Reachability::note_failure`]); a statistics report (every few seconds) that shows no
//! broker connected after such a failure marks the brokers down, and one that shows a broker
//! connected (or an assignment, which needs one) marks them up. librdkafka's "all brokers
//! down" event marks them down at once. A healthy cluster never reads as down: without a
//! failed connection, a report taken while connecting means nothing. While they are down the
//! probes name the servers; past [`REPORT_AFTER`] one ERROR line says so too, and an INFO line
//! says when they answer again.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the brokers may stay unreachable before it is logged at ERROR. Long enough to
/// ride out a broker restart quietly; the probes tell at once.
pub(crate) const REPORT_AFTER: Duration = Duration::from_secs(15);

/// The brokers' state as the poll thread last saw it.
#[derive(Debug)]
pub(crate) struct Reachability {
    /// `bootstrap_servers` as librdkafka was given them.
    servers: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The last failed connection since a broker was last seen connected.
    failure: Option<String>,
    down: Option<Down>,
}

#[derive(Debug)]
struct Down {
    since: Instant,
    /// librdkafka's words for it.
    reason: String,
    /// Whether the ERROR line was written for this outage.
    reported: bool,
}

impl Reachability {
    pub(crate) fn new(servers: String) -> Self {
        Self {
            servers,
            state: Mutex::new(State::default()),
        }
    }

    /// librdkafka could not connect to a broker, for `reason` (its own words).
    pub(crate) fn note_failure(&self, reason: &str) {
        self.lock().failure = Some(reason.to_owned());
    }

    /// A statistics report: whether it shows some broker connected.
    pub(crate) fn observe(&self, some_broker_up: bool) {
        if some_broker_up {
            self.mark_up();
            return;
        }
        let failure = self.lock().failure.clone();
        if let Some(reason) = failure {
            self.mark_down(reason);
        }
    }

    /// Every broker is down; an outage already under way keeps its start.
    pub(crate) fn mark_down(&self, reason: String) {
        let mut state = self.lock();
        if state.down.is_none() {
            state.down = Some(Down {
                since: Instant::now(),
                reason,
                reported: false,
            });
        }
    }

    /// Some broker answers again.
    pub(crate) fn mark_up(&self) {
        let previous = {
            let mut state = self.lock();
            state.failure = None;
            state.down.take()
        };
        if let Some(down) = previous.filter(|down| down.reported) {
            tracing::info!(
                servers = %self.servers,
                after = ?round(down.since.elapsed()),
                "kafka brokers reachable again"
            );
        }
    }

    /// What is wrong, for the probes and `Consumer::broker_error`; `None` while a broker
    /// answers.
    pub(crate) fn problem(&self) -> Option<String> {
        self.lock().down.as_ref().map(|down| {
            format!(
                "no kafka broker reachable for {}s at {} ({})",
                down.since.elapsed().as_secs(),
                self.servers,
                down.reason
            )
        })
    }

    /// Writes the ERROR line once an outage passes `after`; called on every poll-loop turn.
    pub(crate) fn report_if_overdue(&self, after: Duration) {
        let mut state = self.lock();
        let Some(down) = state.down.as_mut().filter(|down| !down.reported) else {
            return;
        };
        if down.since.elapsed() >= after {
            down.reported = true;
            tracing::error!(
                servers = %self.servers,
                reason = %down.reason,
                "no kafka broker reachable for {:?}: check bootstrap_servers, that the brokers are up, and the security settings in kafka_config; the consumer keeps retrying",
                round(down.since.elapsed())
            );
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn round(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_names_the_servers_until_a_broker_answers() {
        let reachability = Reachability::new("127.0.0.1:1".into());
        reachability.observe(false);
        assert_eq!(
            reachability.problem(),
            None,
            "connecting, nothing failed yet"
        );

        reachability.note_failure("Connect to ipv4#127.0.0.1:1 failed: Connection refused");
        assert_eq!(reachability.problem(), None, "one failure is not an outage");
        reachability.observe(false);
        let problem = reachability.problem().unwrap_or_default();
        assert!(
            problem.starts_with("no kafka broker reachable for 0s at 127.0.0.1:1 (Connect to"),
            "{problem}"
        );

        reachability.observe(true);
        assert_eq!(reachability.problem(), None);
        reachability.observe(false);
        assert_eq!(
            reachability.problem(),
            None,
            "the failure was forgotten once up"
        );
    }

    #[test]
    fn the_error_line_is_written_once_per_outage() {
        let reachability = Reachability::new("127.0.0.1:1".into());
        reachability.mark_down("down".into());
        reachability.report_if_overdue(Duration::from_secs(3600));
        assert!(!reachability
            .lock()
            .down
            .as_ref()
            .is_some_and(|d| d.reported));
        reachability.report_if_overdue(Duration::ZERO);
        assert!(reachability
            .lock()
            .down
            .as_ref()
            .is_some_and(|d| d.reported));
        reachability.mark_down("again".into());
        assert!(
            reachability
                .lock()
                .down
                .as_ref()
                .is_some_and(|d| d.reported),
            "a second report of the same outage keeps it reported"
        );
    }
}
