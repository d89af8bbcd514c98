//! A failure scenario under a steady produce rate: 1% of keys fail for 30 s, then recover.
//!
//! ```text
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench scenario             # mock cluster
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench scenario -- --real   # Kafka + Cassandra
//! ```
//!
//! Two consumers run side by side, every option at its default, each on its own topic fed the
//! same messages at the same rate (`--rate`, 500 msg/s per topic by default) over 1,000 keys.
//! In one, the handler fails every attempt at 10 of the keys (1%) from the end of the warm-up
//! for 30 s; the other never fails. The handler sleeps 1 ms. Printed for each: the healthy keys'
//! produce → handle latency (p50, p99, max) and throughput after the warm-up; and for the failing
//! run, how long after recovery the deferred backlogs emptied and every message of the failed
//! keys had been handled. `BENCH_EXTRA="defer_base=200ms,..."` overrides options. It prints
//! figures and never fails on them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prosody_engine::{
    Admin, Config, Consumer, ConsumerStats, Context, Handler, HandlerError, HandlerFuture, Message,
    Producer,
};

const KEYS: usize = 1_000;
/// Every 100th key fails: 1%.
const FAILING_EVERY: usize = 100;
const PARTITIONS: i32 = 4;
const WARMUP: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(30);
/// Produce for this long after the failing keys recover.
const AFTER: Duration = Duration::from_secs(15);
const HANDLER_COST: Duration = Duration::from_millis(1);
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broker {
    Mock,
    Real,
}

impl Broker {
    fn config(self, options: &[(&str, &str)]) -> Config {
        // Telemetry off, so figures compare with runs before it existed; its cost is measured
        // with `BENCH_EXTRA=telemetry_enabled=true`.
        let mut all: Vec<(String, String)> = vec![
            ("probe_port".into(), "none".into()),
            ("telemetry_enabled".into(), "false".into()),
        ];
        match self {
            Broker::Mock => all.push(("mock".into(), "true".into())),
            Broker::Real => {
                let servers = std::env::var("PROSODY_BOOTSTRAP_SERVERS")
                    .unwrap_or_else(|_| "127.0.0.1:9092".into());
                let nodes = std::env::var("PROSODY_CASSANDRA_NODES")
                    .unwrap_or_else(|_| "127.0.0.1:9042".into());
                all.push(("bootstrap_servers".into(), servers));
                all.push(("cassandra_nodes".into(), nodes));
            }
        }
        all.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if let Ok(extra) = std::env::var("BENCH_EXTRA") {
            for pair in extra.split(',').filter(|p| !p.is_empty()) {
                if let Some((k, v)) = pair.split_once('=') {
                    all.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
        }
        Config::from_options_with_env(all, |_| None).expect("benchmark configuration is valid")
    }
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

fn failing_key(index: usize) -> bool {
    index.is_multiple_of(FAILING_EVERY)
}

/// What one consumer's handler saw.
struct Seen {
    /// Fail the failing keys while set.
    failing: AtomicBool,
    /// Healthy keys, after the warm-up: (latency in µs, when handled).
    healthy: Mutex<Vec<(u64, Instant)>>,
    failed_attempts: AtomicUsize,
    /// Messages sent before this (µs since the epoch) are warm-up.
    measure_from_us: AtomicU64,
    /// The highest `n` handled per failing key.
    failed_keys_done: Mutex<HashMap<usize, u64>>,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            failing: AtomicBool::new(false),
            healthy: Mutex::default(),
            failed_attempts: AtomicUsize::new(0),
            measure_from_us: AtomicU64::new(u64::MAX),
            failed_keys_done: Mutex::default(),
        }
    }
}

struct Scenario(Arc<Seen>);

impl Handler for Scenario {
    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let seen = Arc::clone(&self.0);
        Box::pin(async move {
            tokio::time::sleep(HANDLER_COST).await;
            let index = message.payload()["k"].as_u64().unwrap_or(1) as usize;
            let sent = message.payload()["ts_us"].as_u64().unwrap_or(0);
            if failing_key(index) {
                if seen.failing.load(Ordering::Acquire) {
                    seen.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    return Err(HandlerError::transient("downstream unavailable"));
                }
                let n = message.payload()["n"].as_u64().unwrap_or(0);
                let mut done = seen.failed_keys_done.lock().unwrap();
                let highest = done.entry(index).or_default();
                *highest = (*highest).max(n);
            } else if sent >= seen.measure_from_us.load(Ordering::Acquire) {
                let latency = now_micros().saturating_sub(sent);
                seen.healthy.lock().unwrap().push((latency, Instant::now()));
            }
            Ok(())
        })
    }
}

/// How the failed keys drain after they recover.
struct Drain {
    recovered: Instant,
    /// Per failing key, the last `n` sent before the recovery.
    targets: HashMap<usize, u64>,
    backlog_at_recovery: u64,
    /// When the deferred backlogs were first empty.
    emptied: Option<Duration>,
    /// When every target had been handled.
    caught_up: Option<Duration>,
}

impl Drain {
    fn new(targets: HashMap<usize, u64>, stats: &ConsumerStats) -> Self {
        Self {
            recovered: Instant::now(),
            targets,
            backlog_at_recovery: backlog(stats),
            emptied: None,
            caught_up: None,
        }
    }

    fn check(&mut self, stats: &ConsumerStats, seen: &Seen) {
        if self.emptied.is_none() && backlog(stats) == 0 {
            self.emptied = Some(self.recovered.elapsed());
        }
        if self.caught_up.is_none() {
            let done = seen.failed_keys_done.lock().unwrap();
            let all = self
                .targets
                .iter()
                .all(|(key, n)| done.get(key).is_some_and(|handled| handled >= n));
            if all {
                self.caught_up = Some(self.recovered.elapsed());
            }
        }
    }

    fn finished(&self) -> bool {
        self.emptied.is_some() && self.caught_up.is_some()
    }
}

/// Messages in deferred backlogs now.
fn backlog(stats: &ConsumerStats) -> u64 {
    stats
        .deferred
        .load(Ordering::Relaxed)
        .saturating_sub(stats.undeferred.load(Ordering::Relaxed))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Healthy-key figures: (p50 ms, p99 ms, max ms, msg/s, count).
fn healthy_figures(seen: &Seen, from: Instant) -> (f64, f64, f64, f64, usize) {
    let healthy = seen.healthy.lock().unwrap();
    let mut latencies: Vec<u64> = healthy.iter().map(|(l, _)| *l).collect();
    latencies.sort_unstable();
    let last = healthy.iter().map(|(_, at)| *at).max().unwrap_or(from);
    let span = last.saturating_duration_since(from).as_secs_f64().max(1e-9);
    (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        latencies.len() as f64 / span,
        latencies.len(),
    )
}

async fn subscribe(broker: Broker, topic: &str, seen: &Arc<Seen>) -> Consumer {
    Admin::new(&broker.config(&[]))
        .expect("admin")
        .create_topic(topic, PARTITIONS, 1)
        .await
        .expect("create topic");
    let group = unique("bench-scenario");
    let consumer = Consumer::subscribe(
        &broker.config(&[("group_id", &group), ("subscribed_topics", topic)]),
        Arc::new(Scenario(Arc::clone(seen))),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts");
    let joined = Instant::now();
    while consumer.assigned_partitions() < PARTITIONS as usize
        && joined.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    consumer
}

async fn scenario(broker: Broker, rate: u64) {
    println!("== {broker:?}: 1% of {KEYS} keys fail for {OUTAGE:?}, {rate} msg/s per run ==");
    let (failing_topic, baseline_topic) = (unique("bench-outage"), unique("bench-no-outage"));
    let (failing, baseline) = (Arc::new(Seen::default()), Arc::new(Seen::default()));
    let failing_consumer = subscribe(broker, &failing_topic, &failing).await;
    let baseline_consumer = subscribe(broker, &baseline_topic, &baseline).await;
    let producer = Producer::new(&broker.config(&[("source_system", "bench")])).expect("producer");

    let total = rate * (WARMUP + OUTAGE + AFTER).as_secs();
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    let (mut outage_started, mut drain) = (None, None::<Drain>);
    let mut failing_sent = 0usize;
    // The last `n` sent to each failing key.
    let mut last_sent: HashMap<usize, u64> = HashMap::new();
    let stats = failing_consumer.stats();
    let mut sends = Vec::with_capacity(total as usize);
    for i in 0..total as usize {
        ticker.tick().await;
        let elapsed = start.elapsed();
        if outage_started.is_none() && elapsed >= WARMUP {
            let now_us = now_micros();
            for seen in [&failing, &baseline] {
                seen.measure_from_us.store(now_us, Ordering::Release);
            }
            failing.failing.store(true, Ordering::Release);
            outage_started = Some(Instant::now());
        }
        if drain.is_none() && elapsed >= WARMUP + OUTAGE {
            failing.failing.store(false, Ordering::Release);
            drain = Some(Drain::new(last_sent.clone(), stats));
        }
        if let Some(drain) = &mut drain {
            drain.check(stats, &failing);
        }
        let index = i % KEYS;
        if failing_key(index) {
            failing_sent += 1;
            last_sent.insert(index, i as u64);
        }
        let payload = serde_json::json!({ "ts_us": now_micros(), "k": index, "n": i });
        for topic in [&failing_topic, &baseline_topic] {
            let (producer, topic, payload) = (producer.clone(), topic.clone(), payload.clone());
            sends.push(tokio::spawn(async move {
                producer
                    .send(&topic, &format!("key-{index}"), &payload)
                    .await
            }));
        }
    }
    let produced_for = start.elapsed();
    for send in sends {
        send.await.expect("send task").expect("send");
    }
    let mut drain = drain.unwrap_or_else(|| Drain::new(last_sent.clone(), stats));
    let measured_from = outage_started.unwrap_or(start);
    while !drain.finished() && drain.recovered.elapsed() < DRAIN_LIMIT {
        drain.check(stats, &failing);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let the healthy keys finish too before reading their figures.
    let healthy_total = total as usize - failing_sent;
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(30) {
        let warm = |seen: &Seen| seen.healthy.lock().unwrap().len();
        // Warm-up messages are not counted, so wait until the counts stop moving.
        let before = (warm(&failing), warm(&baseline));
        tokio::time::sleep(Duration::from_millis(500)).await;
        if (warm(&failing), warm(&baseline)) == before {
            break;
        }
    }
    let deferred = stats.deferred.load(Ordering::Relaxed);
    let Drain {
        backlog_at_recovery,
        emptied,
        caught_up,
        ..
    } = drain;
    let failed_attempts = failing.failed_attempts.load(Ordering::Relaxed);
    failing_consumer.shutdown().await;
    baseline_consumer.shutdown().await;

    println!(
        "  produced {total} messages per run in {:.1} s ({healthy_total} to healthy keys, \
         {failing_sent} to the {} failing keys)",
        produced_for.as_secs_f64(),
        KEYS / FAILING_EVERY,
    );
    let mut rows = Vec::new();
    for (name, seen) in [("with 1% failing", &failing), ("no failures", &baseline)] {
        let (p50, p99, max, rate, count) = healthy_figures(seen, measured_from);
        println!(
            "  healthy keys, {name:<16} p50 {p50:>7.2} ms  p99 {p99:>8.2} ms  max {max:>8.2} ms  \
             {rate:>6.0} msg/s  ({count} after warm-up)"
        );
        rows.push((p50, p99, rate));
    }
    if let [with, without] = rows[..] {
        println!(
            "  ratios (failing / none): p50 {:.2}, p99 {:.2}, throughput {:.2}",
            with.0 / without.0.max(1e-9),
            with.1 / without.1.max(1e-9),
            with.2 / without.2.max(1e-9),
        );
    }
    let show = |d: Option<Duration>| {
        d.map_or("not within the limit".into(), |d| {
            format!("{:.2} s", d.as_secs_f64())
        })
    };
    println!(
        "  failing keys (key-0, key-100, …): {failed_attempts} failed attempts, {deferred} \
         messages deferred, {backlog_at_recovery} in the backlogs at recovery"
    );
    println!(
        "  after recovery: every message the failed keys had before it handled in {}; deferred \
         backlogs empty in {}",
        show(caught_up),
        show(emptied)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let broker = if args.iter().any(|a| a == "--real") {
        Broker::Real
    } else {
        Broker::Mock
    };
    let rate = args
        .iter()
        .position(|a| a == "--rate")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(500u64)
        .max(1);
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(scenario(broker, rate));
}
