//! Collecting samples from every client on a probe server and writing them in the Prometheus
//! text exposition format, version 0.0.4.
//!
//! Each family is written once, with its `# HELP` and `# TYPE` lines, in the order families
//! were first reported. Samples with the same name and labels from different clients (two
//! consumers of one group in one process) are summed, since a scraper must not see a series
//! twice. This runs per scrape, never per event, so it may allocate freely.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::metrics::histogram::{Snapshot, BOUNDS};

/// The `Content-Type` of a scrape.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Samples gathered for one scrape; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Scrape {
    families: Vec<Family>,
}

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    /// Sample lines without their value, in first-seen order, and their summed values.
    samples: Vec<(String, f64)>,
    index: HashMap<String, usize>,
}

impl Scrape {
    /// Adds `value` to the counter `name` (which ends in `_total`) with `labels`.
    pub(crate) fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: u64,
    ) {
        #[allow(clippy::cast_precision_loss)]
        self.scalar(name, help, "counter", labels, value as f64);
    }

    /// Adds `value` to the gauge `name` with `labels`.
    pub(crate) fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: i64,
    ) {
        #[allow(clippy::cast_precision_loss)]
        self.scalar(name, help, "gauge", labels, value as f64);
    }

    /// Adds `value` to the one-series-per-label-set family `name` of type `kind`.
    fn scalar(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.family(name, help, kind)
            .add(series(name, labels, None), value);
    }

    /// Adds the histogram `snapshot` to the family `name` with `labels`.
    pub(crate) fn histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        snapshot: &Snapshot,
    ) {
        let bucket = format!("{name}_bucket");
        let family = self.family(name, help, "histogram");
        #[allow(clippy::cast_precision_loss)]
        for (bound, total) in BOUNDS.iter().zip(snapshot.buckets) {
            let le = bound.to_string();
            family.add(series(&bucket, labels, Some(&le)), total as f64);
        }
        #[allow(clippy::cast_precision_loss)]
        {
            family.add(series(&bucket, labels, Some("+Inf")), snapshot.count as f64);
            family.add(
                series(&format!("{name}_sum"), labels, None),
                snapshot.sum_seconds,
            );
            family.add(
                series(&format!("{name}_count"), labels, None),
                snapshot.count as f64,
            );
        }
    }

    /// The exposition text.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        for family in &self.families {
            // In 0.0.4 a counter's family keeps its `_total`: the TYPE line names the samples.
            let name = family.name;
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for (line, value) in &family.samples {
                let _ = writeln!(out, "{line} {value}");
            }
        }
        out
    }

    fn family(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
    ) -> &mut Family {
        let position = match self.families.iter().position(|f| f.name == name) {
            Some(position) => position,
            None => {
                self.families.push(Family {
                    name,
                    help,
                    kind,
                    samples: Vec::new(),
                    index: HashMap::new(),
                });
                self.families.len() - 1
            }
        };
        &mut self.families[position]
    }
}

impl Family {
    fn add(&mut self, line: String, value: f64) {
        if let Some(&at) = self.index.get(&line) {
            self.samples[at].1 += value;
            return;
        }
        self.index.insert(line.clone(), self.samples.len());
        self.samples.push((line, value));
    }
}

/// `name{label="value",…}`, with `le` last for a bucket.
fn series(name: &str, labels: &[(&str, &str)], le: Option<&str>) -> String {
    let mut line = String::from(name);
    let mut pairs = labels.iter().copied().chain(le.map(|le| ("le", le)));
    if let Some(first) = pairs.next() {
        line.push('{');
        for (n, (label, value)) in std::iter::once(first).chain(pairs).enumerate() {
            if n > 0 {
                line.push(',');
            }
            let _ = write!(line, "{label}=\"");
            escape(&mut line, value);
            line.push('"');
        }
        line.push('}');
    }
    line
}

/// Label values escape backslash, double quote and line feed.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_print_once_and_equal_series_from_two_clients_sum() {
        let mut scrape = Scrape::default();
        let help = "Events.";
        scrape.counter("x_events_total", help, &[("group", "g")], 2);
        scrape.gauge("x_in_flight", "In flight.", &[("group", "g")], 4);
        scrape.counter("x_events_total", help, &[("group", "g")], 3);
        scrape.counter("x_events_total", help, &[("group", "h\"\\\n")], 1);
        assert_eq!(
            scrape.encode(),
            "# HELP x_events_total Events.\n# TYPE x_events_total counter\nx_events_total{group=\"g\"} 5\n\
             x_events_total{group=\"h\\\"\\\\\\n\"} 1\n\
             # HELP x_in_flight In flight.\n# TYPE x_in_flight gauge\nx_in_flight{group=\"g\"} 4\n"
        );
    }

    #[test]
    fn a_histogram_writes_cumulative_buckets_inf_sum_and_count() {
        let mut scrape = Scrape::default();
        let mut snapshot = Snapshot {
            count: 3,
            sum_seconds: 0.5,
            ..Snapshot::default()
        };
        snapshot.buckets = [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2];
        scrape.histogram("x_seconds", "Time.", &[("kind", "message")], &snapshot);
        let text = scrape.encode();
        assert!(text.contains("# TYPE x_seconds histogram\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{kind=\"message\",le=\"0.005\"} 1\n"));
        assert!(text.contains("x_seconds_bucket{kind=\"message\",le=\"10\"} 2\n"));
        assert!(text.contains("x_seconds_bucket{kind=\"message\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("x_seconds_sum{kind=\"message\"} 0.5\n"));
        assert!(text.ends_with("x_seconds_count{kind=\"message\"} 3\n"));
    }
}
