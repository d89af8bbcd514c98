//! The server and registry over real sockets, with stand-in consumers.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{register, Probed};
use crate::error::Error;
use crate::metrics::Scrape;

#[derive(Default)]
struct Fake {
    group: String,
    partitions: AtomicUsize,
    stalls: Mutex<Vec<String>>,
}

impl Probed for Fake {
    fn group(&self) -> &str {
        &self.group
    }
    fn assigned_partitions(&self) -> usize {
        self.partitions.load(Ordering::SeqCst)
    }
    fn stalls(&self) -> Vec<String> {
        self.stalls.lock().unwrap().clone()
    }
    fn metrics(&self, scrape: &mut Scrape) {
        let partitions = i64::try_from(self.assigned_partitions()).unwrap();
        scrape.gauge(
            "x_partitions",
            "Owned.",
            &[("group", &self.group)],
            partitions,
        );
    }
}

fn fake(group: &str, partitions: usize) -> Arc<Fake> {
    Arc::new(Fake {
        group: group.to_owned(),
        partitions: AtomicUsize::new(partitions),
        stalls: Mutex::default(),
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `raw` and returns the status code and body.
fn exchange(port: u16, raw: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(raw)?;
    let _ = stream.shutdown(Shutdown::Write);
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    Ok((status, body))
}

fn get(port: u16, path: &str) -> (u16, String) {
    exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n").as_bytes(),
    )
    .unwrap()
}

#[test]
fn consumers_on_one_port_share_a_server_and_aggregate_until_the_last_leaves() {
    let port = free_port();
    let billing = fake("billing", 0);
    let audit = fake("audit", 2);
    let first = register("127.0.0.1", port, billing.clone()).unwrap();
    let (status, body) = get(port, "/readyz");
    assert_eq!(status, 503);
    assert!(body.contains("(group billing)"), "{body}");

    let second = register("127.0.0.1", port, audit.clone()).unwrap();
    assert_eq!(get(port, "/readyz").0, 503, "billing still owns nothing");
    billing.partitions.store(3, Ordering::SeqCst);
    let (status, body) = get(port, "/readyz");
    assert_eq!(status, 200);
    assert!(body.starts_with("ready: 5 partitions assigned\n"), "{body}");

    assert_eq!(get(port, "/livez").0, 200);
    audit
        .stalls
        .lock()
        .unwrap()
        .push("partition log/1: stuck".into());
    let (status, body) = get(port, "/livez");
    assert_eq!(status, 503);
    assert!(
        body.contains("(group audit): partition log/1: stuck"),
        "{body}"
    );

    drop(first);
    let (status, body) = get(port, "/readyz");
    assert_eq!(status, 200);
    assert!(!body.contains("billing"), "{body}");
    drop(second);
    let refused = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_port_held_elsewhere_fails_registration_naming_the_port() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let error = register("127.0.0.1", port, fake("g", 1)).unwrap_err();
    assert!(matches!(error, Error::Probe { port: p, .. } if p == port));
    let text = error.to_string();
    assert!(text.contains(&format!("probe_port {port}")), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
}

#[test]
fn bad_requests_get_client_errors_and_the_server_keeps_answering() {
    let port = free_port();
    let _registration = register("127.0.0.1", port, fake("g", 1)).unwrap();
    assert_eq!(exchange(port, b"NONSENSE\r\n\r\n").unwrap().0, 400);
    assert_eq!(
        exchange(port, b"\x16\x03\x01\x02\x00\r\n\r\n").unwrap().0,
        400
    );
    assert_eq!(get(port, "/metricz").0, 404);
    assert_eq!(
        exchange(port, b"DELETE /livez HTTP/1.1\r\n\r\n").unwrap().0,
        405
    );
    let oversized = vec![b'a'; 8 * 1024]; // all read before the answer, so no reset
    assert_eq!(exchange(port, &oversized).unwrap().0, 431);
    // A client that hangs up mid-request costs nothing.
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let head = exchange(port, b"HEAD /readyz HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(head, (200, String::new()));
    assert_eq!(get(port, "/readyz").0, 200);
}

#[test]
fn metrics_sum_the_members_series_in_the_exposition_format() {
    let port = free_port();
    let _first = register("127.0.0.1", port, fake("billing", 2)).unwrap();
    let _second = register("127.0.0.1", port, fake("billing", 3)).unwrap();
    let _third = register("127.0.0.1", port, fake("audit", 1)).unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: probe\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    let body = text.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(
        body,
        "# HELP x_partitions Owned.\n# TYPE x_partitions gauge\nx_partitions{group=\"billing\"} 5\nx_partitions{group=\"audit\"} 1\n"
    );
}
