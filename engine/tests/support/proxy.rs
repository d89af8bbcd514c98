//! A TCP forwarder that tests can cut, to simulate an unreachable server.
//!
//! [`Proxy::start`] listens on an ephemeral loopback port and forwards each connection to the
//! target. [`Proxy::cut`] closes every live connection and makes new ones close as soon as
//! they are accepted (the client sees the connection drop, as with a dead server); in that
//! state nothing reaches the target. [`Proxy::restore`] forwards again. Dropping the proxy stops
//! it and closes its connections.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running proxy; see the module docs.
pub struct Proxy {
    address: SocketAddr,
    gate: Arc<Mutex<Gate>>,
    accepted: Arc<AtomicUsize>,
    stop: CancellationToken,
}

/// Whether connections are forwarded, and the token that closes the live ones.
struct Gate {
    open: bool,
    live: CancellationToken,
}

impl Proxy {
    /// Starts forwarding a loopback port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds a loopback port");
        let address = listener.local_addr().expect("proxy address");
        let stop = CancellationToken::new();
        let gate = Arc::new(Mutex::new(Gate {
            open: true,
            live: stop.child_token(),
        }));
        let accepted = Arc::new(AtomicUsize::new(0));
        tokio::spawn(accept_loop(
            listener,
            target.to_owned(),
            Arc::clone(&gate),
            Arc::clone(&accepted),
            stop.clone(),
        ));
        Self {
            address,
            gate,
            accepted,
            stop,
        }
    }

    /// The `host:port` clients should connect to.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Closes every live connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        let mut gate = self.gate.lock().unwrap();
        gate.open = false;
        gate.live.cancel();
        gate.live = self.stop.child_token();
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.gate.lock().unwrap().open = true;
    }

    /// Connections forwarded so far (refused ones not counted).
    pub fn forwarded(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: String,
    gate: Arc<Mutex<Gate>>,
    accepted: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    loop {
        let client = tokio::select! {
            () = stop.cancelled() => return,
            client = listener.accept() => match client {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
        };
        let live = {
            let gate = gate.lock().unwrap();
            if !gate.open {
                drop(client);
                continue;
            }
            gate.live.clone()
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(forward(client, target.clone(), live));
    }
}

async fn forward(mut client: TcpStream, target: String, live: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    tokio::select! {
        () = live.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}
