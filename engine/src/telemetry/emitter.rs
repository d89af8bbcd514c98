//! The emitter task: takes events off the channel, writes them as JSON and hands them to a
//! [`Sink`] (the telemetry topic's producer), without ever waiting on the broker.
//!
//! Idle, it waits on the channel; once events come, it takes what is there every [`TICK`]
//! instead, so a busy client's handlers never pay for waking it per event. It serialises each
//! event into one reused buffer and hands it over with a non-blocking [`Sink::send`]; a sink
//! whose own queue is full drops the event, counted. A flush request waits (on a blocking thread, bounded by [`FLUSH_TIMEOUT`])
//! for what the sink holds to reach the broker. When every [`Telemetry`](super::Telemetry)
//! handle is gone the channel closes, and the task drains it, flushes once more and ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::event::Event;
use crate::metrics::TelemetryMetrics;

/// Events taken off the channel per wake-up when idle.
const BATCH: usize = 256;

/// While events keep coming, the emitter looks at the channel this often.
const TICK: Duration = Duration::from_millis(5);

/// The most commands taken per tick, so a flood cannot hold a runtime worker; the rest wait
/// in the channel for the next tick.
const PER_TICK: usize = 16_384;

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
    let mut writer = Writer {
        sink: &sink,
        metrics: &metrics,
        hostname: &hostname,
        buffer: Vec::with_capacity(512),
    };
    let mut batch = Vec::with_capacity(BATCH);
    // Idle: wait for the first command. Busy: sleep a tick, then take what came, rather than
    // be woken by every event (a wake-up per event cost more than writing it), until a tick
    // brings nothing and the task waits again.
    'idle: while commands.recv_many(&mut batch, BATCH).await > 0 {
        for command in batch.drain(..) {
            writer.handle(command).await;
        }
        loop {
            tokio::time::sleep(TICK).await;
            let mut taken = 0;
            while taken < PER_TICK {
                match commands.try_recv() {
                    Ok(command) => writer.handle(command).await,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => break 'idle,
                }
                taken += 1;
            }
            if taken == 0 {
                continue 'idle;
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

/// Writes events and answers flushes, reusing one buffer.
struct Writer<'a> {
    sink: &'a Arc<dyn Sink>,
    metrics: &'a TelemetryMetrics,
    hostname: &'a str,
    buffer: Vec<u8>,
}

impl Writer<'_> {
    async fn handle(&mut self, command: Command) {
        match command {
            Command::Event(event) => {
                self.buffer.clear();
                event.write_json(self.hostname, &mut self.buffer);
                if self.sink.send(&event.key, &self.buffer) {
                    self.metrics.written();
                } else {
                    self.metrics.dropped(1);
                }
            }
            Command::Flush(done) => {
                flush(self.sink).await;
                let _ = done.send(());
            }
        }
    }
}

async fn flush(sink: &Arc<dyn Sink>) {
    let sink = Arc::clone(sink);
    // librdkafka's flush blocks; a runtime worker must not.
    let _ = tokio::task::spawn_blocking(move || sink.flush(FLUSH_TIMEOUT)).await;
}
