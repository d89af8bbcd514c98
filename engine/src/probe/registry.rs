//! The process-wide table of probe servers, one per listening address.
//!
//! Like the mock cluster and [`crate::ProcessRuntime`], the table belongs to the process that
//! filled it: a child forked afterwards finds its parent's entries stale and starts from an
//! empty table, so it never believes a server runs that none of its threads serves. The
//! parent's entries are forgotten, never dropped, since stopping them would reach for threads
//! the child does not have. The listening socket itself stays open in the child until it exits
//! (file descriptors survive `fork`); the parent keeps answering on it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::probe::server::Server;
use crate::probe::Probed;
use crate::process_runtime::ProcessRuntime;

/// The probe servers' own runtime: probes answer even when the consumers' runtime is saturated.
static RUNTIME: ProcessRuntime = ProcessRuntime::new("prosody-probe", 1);

static SERVERS: Mutex<Option<Table>> = Mutex::new(None);

/// Numbers consumers in probe bodies.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

type Address = (String, u16);

struct Table {
    pid: u32,
    servers: HashMap<Address, Server>,
}

/// A consumer's place on a probe server; dropping it leaves, and stops the server if it was
/// the last one there.
#[derive(Debug)]
pub(crate) struct Registration {
    address: Address,
    id: u64,
    pid: u32,
}

/// Adds `member` to the server on `host:port`, starting the server if none runs there yet.
///
/// # Errors
///
/// [`Error::Probe`] when the address cannot be bound (a port held by another process, a host
/// that is not local) or the probe runtime cannot start.
pub(crate) fn register(host: &str, port: u16, member: Arc<dyn Probed>) -> Result<Registration> {
    let pid = std::process::id();
    let address = (host.to_owned(), port);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut slot = SERVERS.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.as_ref().is_some_and(|table| table.pid != pid) {
        std::mem::forget(slot.take());
    }
    let table = slot.get_or_insert_with(|| Table {
        pid,
        servers: HashMap::new(),
    });
    if let Some(server) = table.servers.get(&address) {
        server.join(id, member);
    } else {
        let runtime = RUNTIME.get().map_err(|error| Error::Probe {
            address: format!("{host}:{port}"),
            port,
            reason: format!("could not start the probe runtime: {error}"),
        })?;
        let server = Server::start(host, port, &runtime)?;
        server.join(id, member);
        table.servers.insert(address.clone(), server);
    }
    Ok(Registration { address, id, pid })
}

impl Drop for Registration {
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            return;
        }
        let mut slot = SERVERS.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(table) = slot.as_mut().filter(|table| table.pid == self.pid) else {
            return;
        };
        let empty = table
            .servers
            .get(&self.address)
            .is_some_and(|server| server.leave(self.id));
        if empty {
            // Under the lock, so a consumer subscribing right now binds only once the port
            // is free again.
            if let Some(server) = table.servers.remove(&self.address) {
                server.stop();
            }
        }
    }
}
