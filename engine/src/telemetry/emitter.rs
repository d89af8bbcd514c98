//! The emitter task: takes events off the channel, writes them as JSON and hands them to a
//! [`Sink`] (the telemetry topic's producer), without ever waiting on the broker.
//!
//! It takes up to [`BATCH`] events per wake-up, serialises each into one reused buffer and
//! hands it over with a non-blocking [`Sink::send`]; a sink whose own queue is full drops the
//! event, counted. A flush request waits (on a blocking thread, bounded by [`FLUSH_TIMEOUT`])
//! for what the sink holds to reach the broker. When every [`Telemetry`](super::Telemetry)
//! handle is gone the channel closes, and the task drains it, flushes once more and ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::event::Event;
use crate::metrics::TelemetryMetrics;

/// Events taken off the channel per wake-up.
const BATCH: usize = 256;

/// The longest a flush waits for the broker, so shutting a client down never hangs on it.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where serialised events go: non-blocking hand-over, blocking flush.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Hands one event to the transport without waiting; `false` when it has no room (the
    /// event is then dropped).
    fn send(&self, key: &str, payload: &[u8]) -> bool;

    /// Blocks until what was handed over has been delivered, or `timeout` passed.
    fn flush(&self, timeout: Duration);
}

/// What travels on the channel.
#[derive(Debug)]
pub(crate) enum Command {
    Event(Event),
    /// Answered once every earlier event was handed to the sink and the sink flushed.
    Flush(oneshot::Sender<()>),
}

/// Runs until the channel closes; see the module docs.
pub(crate) async fn run(
    mut commands: mpsc::Receiver<Command>,
    sink: Arc<dyn Sink>,
    metrics: Arc<TelemetryMetrics>,
    hostname: Arc<str>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut buffer = Vec::with_capacity(512);
    while commands.recv_many(&mut batch, BATCH).await > 0 {
        for command in batch.drain(..) {
            match command {
                Command::Event(event) => {
                    buffer.clear();
                    event.write_json(&hostname, &mut buffer);
                    if sink.send(&event.key, &buffer) {
                        metrics.written();
                    } else {
                        metrics.dropped(1);
                    }
                }
                Command::Flush(done) => {
                    flush(&sink).await;
                    let _ = done.send(());
                }
            }
        }
    }
    // Dropping librdkafka's producer blocks too (it purges and joins its thread), so the last
    // flush and the drop both happen off the runtime's workers.
    let _ = tokio::task::spawn_blocking(move || {
        sink.flush(FLUSH_TIMEOUT);
        drop(sink);
    })
    .await;
}

async fn flush(sink: &Arc<dyn Sink>) {
    let sink = Arc::clone(sink);
    // librdkafka's flush blocks; a runtime worker must not.
    let _ = tokio::task::spawn_blocking(move || sink.flush(FLUSH_TIMEOUT)).await;
}
