//! Scraping `/metrics` in tests: over plain HTTP, and through `script/check_metrics.py`, which
//! parses the text with the Prometheus project's Python parser.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const LIMIT: Duration = Duration::from_secs(40);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /metrics`: the `Content-Type` and the body.
pub async fn scrape(port: u16) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("probe port answers");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let _ = stream.shutdown(Shutdown::Write);
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("a response");
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        let content_type = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Type: "))
            .unwrap_or_default()
            .to_owned();
        (content_type, body.to_owned())
    })
    .await
    .unwrap()
}

/// The samples of a scrape by `name{labels}` (labels as written), parsed by hand.
pub fn samples(body: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the one series of `name` whose labels contain every `fragment`; 0 if none.
pub fn value(samples: &BTreeMap<String, f64>, name: &str, fragments: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && fragments.iter().all(|f| series.contains(f))
        })
        .map(|(_, value)| *value)
        .sum()
}

/// Scrapes until `accept` likes the samples; returns them.
pub async fn until(
    port: u16,
    what: &str,
    accept: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let (_, body) = scrape(port).await;
        let samples = samples(&body);
        if accept(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "{what} never seen in:\n{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Python with `prometheus_client`: `PROSODY_METRICS_PYTHON`, else the venv that
/// `script/setup` creates. `None` (with the reason printed) when neither can import it.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("PROSODY_METRICS_PYTHON").map_or_else(
        || PathBuf::from("/var/cache/prosody/venv/bin/python"),
        PathBuf::from,
    );
    let works = Command::new(&candidate)
        .args(["-c", "import prometheus_client"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if works {
        return Some(candidate);
    }
    eprintln!(
        "SKIPPED the Prometheus parser check: {} cannot import prometheus_client; run script/setup (or set PROSODY_METRICS_PYTHON)",
        candidate.display()
    );
    None
}

/// Runs `body` through `script/check_metrics.py` and returns its normalised samples; panics
/// with the parser's reason when the text is not valid exposition format.
pub fn check_with_parser(python: &PathBuf, body: &str) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../script/check_metrics.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Prometheus parser rejects the scrape: {}\n{body}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
