//! One probe server: a listener on the probe runtime and the consumers it answers for, with
//! their probes and their metrics.
//!
//! Each connection carries one request and is closed after the answer. Connections are capped
//! ([`MAX_CONNECTIONS`]; more are closed at once) and each must send its request head within
//! [`READ_TIMEOUT`], so clients that send nothing, or too much, cost a bounded amount and never
//! touch a consumer: only a well-formed probe reads consumer state, and that is a few atomic
//! loads under short locks.

use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::metrics::{Scrape, CONTENT_TYPE};
use crate::probe::http::{self, Request, Response};
use crate::probe::report::{self, Member};
use crate::probe::Probed;

/// Connections served at once; probes come a few per second at most.
const MAX_CONNECTIONS: usize = 32;
/// Time allowed to send a complete request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the client to take the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Server::stop`] waits for the listener to close.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

type Members = Arc<Mutex<Vec<(u64, Arc<dyn Probed>)>>>;

/// A running server; see the module docs.
pub(crate) struct Server {
    members: Members,
    stop: CancellationToken,
    /// Closed (or sent to) once the accept loop has dropped its listener.
    stopped: mpsc::Receiver<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `host:port` at once, so the caller learns now that the port is taken, and serves
    /// it on `runtime`.
    pub(crate) fn start(host: &str, port: u16, runtime: &Runtime) -> Result<Self> {
        let failed = |reason: String| Error::Probe {
            address: format!("{host}:{port}"),
            port,
            reason,
        };
        let listener =
            std::net::TcpListener::bind((host, port)).map_err(|error| failed(error.to_string()))?;
        listener
            .set_nonblocking(true)
            .map_err(|error| failed(error.to_string()))?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(listener).map_err(|error| failed(error.to_string()))?
        };
        let members: Members = Arc::default();
        let stop = CancellationToken::new();
        // Bounded at one: the accept loop sends once, when it ends.
        let (done, stopped) = mpsc::sync_channel(1);
        runtime.spawn(accept(listener, Arc::clone(&members), stop.clone(), done));
        Ok(Self {
            members,
            stop,
            stopped,
        })
    }

    pub(crate) fn join(&self, id: u64, member: Arc<dyn Probed>) {
        self.lock().push((id, member));
    }

    /// Removes consumer `id`; true when no consumer is left.
    pub(crate) fn leave(&self, id: u64) -> bool {
        let mut members = self.lock();
        members.retain(|(member, _)| *member != id);
        members.is_empty()
    }

    /// Stops accepting and waits (briefly) until the port is closed, so a client connecting
    /// after this returns is refused.
    pub(crate) fn stop(self) {
        self.stop.cancel();
        let _ = self.stopped.recv_timeout(STOP_TIMEOUT);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<dyn Probed>)>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn accept(
    listener: TcpListener,
    members: Members,
    stop: CancellationToken,
    done: mpsc::SyncSender<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                // Over the cap the stream is dropped, which closes it.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&members), slot));
            }
            Err(error) => {
                // Typically out of file descriptors: back off rather than spin.
                tracing::warn!(%error, "probe server could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let _ = done.try_send(());
}

async fn serve(mut stream: TcpStream, members: Members, _slot: OwnedSemaphorePermit) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Some(Request::Probe { route, head_only })) => {
            let mut response = report::answer(route, &snapshot(&members));
            response.head_only = head_only;
            response
        }
        Ok(Some(Request::Scrape { head_only })) => {
            let mut response = scrape(&members);
            response.head_only = head_only;
            response
        }
        Ok(Some(Request::Reject(response))) => response,
        Ok(None) => return,
        Err(_) => Response::new(408, "request head not received in time\n"),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&response.encode()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Reads until the request head is complete or judged; `None` if the client hung up first.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(request) = http::parse(&buffer) {
            return Some(request);
        }
    }
}

/// Every member's metrics, summed where two report the same series.
fn scrape(members: &Members) -> Response {
    let mut scrape = Scrape::default();
    for (_, member) in current(members) {
        member.metrics(&mut scrape);
    }
    let mut response = Response::new(200, scrape.encode());
    response.content_type = CONTENT_TYPE;
    response
}

fn current(members: &Members) -> Vec<(u64, Arc<dyn Probed>)> {
    members
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Every member's state now. The list is copied first so no consumer is asked while the
/// member lock is held.
fn snapshot(members: &Members) -> Vec<Member> {
    current(members)
        .into_iter()
        .map(|(id, member)| Member {
            id,
            group: member.group().to_owned(),
            partitions: member.assigned_partitions(),
            stalls: member.stalls(),
            broker_error: member.broker_error(),
        })
        .collect()
}
