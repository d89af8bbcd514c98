//! Engine throughput and latency against raw librdkafka, on the mock cluster and on real Kafka.
//!
//! ```text
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench throughput              # both brokers
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench throughput -- --mock    # mock cluster only
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench throughput -- --real    # PROSODY_BOOTSTRAP_SERVERS or 127.0.0.1:9092
//! ```
//!
//! Cases, each on one broker:
//! - (a) a bare librdkafka `BaseConsumer` in a group, doing nothing per message;
//! - (b) the engine with a no-op handler on the same data, tuned (max_uncommitted 10000,
//!   max_concurrency 256);
//! - (c) the engine with a handler that sleeps 1 ms, one partition, 32 keys, defaults;
//! - (d) produce → handle latency at about 1,000 msg/s, defaults;
//! - (e) (b) with every option at its default (max_uncommitted 64, max_concurrency 32);
//! - (B), (E): (b) and (e) without the quality-of-service layers (`qos::baseline`), to price
//!   them; not run unless asked for (`--cases bBeE`).
//! - (f), (F): (e) on messages that each carry a unique `id`, with deduplication on (in
//!   Cassandra on real Kafka, in memory on the mock) and off (`idempotence_cache_size` 0):
//!   issue #15's D1, (f)/(F) >= 0.5; not run unless asked for (`--real --cases fF`).
//!
//! Rates are first → last message seen (the group join is reported separately). The program
//! prints figures and never fails on a missed target.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prosody_engine::{Admin, Config, Consumer, Context, Handler, HandlerFuture, Message, Producer};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::ClientConfig;

/// The gem's extension allocates with mimalloc, so the engine is measured with it too; build
/// with `--no-default-features` to measure the system allocator instead.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PARTITIONS: i32 = 8;
/// 200k messages of about 40 bytes on 8 partitions: about 1.5 MiB per partition on the mock
/// cluster, well under its 5 MiB retention.
const MESSAGES: usize = 200_000;
const KEYS: usize = 1_000;
/// Case (c): one partition (about 1.5 MiB on the mock cluster), 32 keys.
const SLOW_MESSAGES: usize = 40_000;
const SLOW_KEYS: usize = 32;
/// Case (d).
const LATENCY_RATE: u64 = 1_000;
const LATENCY_SECONDS: u64 = 10;
const LATENCY_WARMUP: Duration = Duration::from_secs(1);
const WAIT_LIMIT: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broker {
    Mock,
    Real,
}

impl Broker {
    fn servers(self) -> String {
        match self {
            Broker::Mock => prosody_engine::mock_bootstrap_servers().expect("mock cluster"),
            Broker::Real => std::env::var("PROSODY_BOOTSTRAP_SERVERS")
                .unwrap_or_else(|_| "127.0.0.1:9092".into()),
        }
    }

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
                all.push(("bootstrap_servers".into(), self.servers()));
                let nodes = std::env::var("PROSODY_CASSANDRA_NODES")
                    .unwrap_or_else(|_| "127.0.0.1:9042".into());
                all.push(("cassandra_nodes".into(), nodes));
            }
        }
        all.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        // For experiments: `BENCH_EXTRA="poll_interval=1s,max_uncommitted=128"` overrides options.
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

/// Writes `count` JSON messages over `keys` keys with a plain librdkafka producer (the fastest
/// way to load data; the engine's producer is not what is measured here). With `ids`, each
/// payload carries a unique `id`, which deduplication keys on.
fn load(broker: Broker, topic: &str, keys: usize, count: usize, ids: bool) -> Duration {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.servers())
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("log_level", "3")
        .create()
        .expect("loader");
    let start = Instant::now();
    for i in 0..count {
        let key = format!("key-{}", i % keys);
        let payload = if ids {
            format!(r#"{{"n":{i},"type":"bench.event","id":"e{i}"}}"#)
        } else {
            format!(r#"{{"n":{i},"type":"bench.event"}}"#)
        };
        let mut record = BaseRecord::to(topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
        if i % 10_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("loader flush");
    start.elapsed()
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`; zero where
/// that is unavailable.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // Linux reports in USER_HZ, which is 100 on every mainstream configuration.
    Duration::from_millis(ticks * 10)
}

/// Counts handled messages and remembers when the first and the `target`-th were handled.
struct Counter {
    target: usize,
    count: AtomicUsize,
    first: OnceLock<Instant>,
    done: OnceLock<Instant>,
    sleep: Option<Duration>,
    /// For case (d): produce → handle latencies in microseconds.
    latencies: Option<Mutex<Vec<u64>>>,
}

impl Counter {
    fn new(target: usize) -> Self {
        Self {
            target,
            count: AtomicUsize::new(0),
            first: OnceLock::new(),
            done: OnceLock::new(),
            sleep: None,
            latencies: None,
        }
    }
}

struct CountHandler(Arc<Counter>);

impl Handler for CountHandler {
    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let counter = Arc::clone(&self.0);
        Box::pin(async move {
            if let Some(latencies) = &counter.latencies {
                if let Some(sent) = message.payload()["ts_us"].as_u64() {
                    let latency = now_micros().saturating_sub(sent);
                    latencies.lock().unwrap().push(latency);
                }
            }
            if let Some(sleep) = counter.sleep {
                tokio::time::sleep(sleep).await;
            }
            counter.first.get_or_init(Instant::now);
            if counter.count.fetch_add(1, Ordering::AcqRel) + 1 == counter.target {
                let _ = counter.done.set(Instant::now());
            }
            Ok(())
        })
    }
}

/// The outcome of one throughput run.
struct Run {
    handled: usize,
    join: Option<Duration>,
    span: Option<Duration>,
    note: String,
}

impl Run {
    /// Messages per second from first to last, if the run completed.
    fn rate(&self, count: usize) -> Option<f64> {
        let span = self.span?;
        (self.handled >= count).then(|| count.saturating_sub(1) as f64 / span.as_secs_f64())
    }
}

/// (a) A bare group consumer on its own thread, touching each payload and nothing else.
fn raw_consume(broker: Broker, topic: &str, count: usize) -> Run {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.servers())
        .set("group.id", unique("bench-raw"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // librdkafka's 1 s default idles the fetcher whenever the local queue is full; see
        // reference/toolchain.md, gotcha 3. The engine sets the same.
        .set("fetch.queue.backoff.ms", "10")
        .set("log_level", "3")
        .create()
        .expect("raw consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let start = Instant::now();
    let mut first = None;
    let mut last = None;
    let mut seen = 0usize;
    let mut bytes = 0usize;
    let mut cpu_start = None;
    while seen < count && start.elapsed() < WAIT_LIMIT {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let now = Instant::now();
                first.get_or_insert(now);
                cpu_start.get_or_insert_with(cpu_time);
                bytes += message.payload().map_or(0, <[u8]>::len);
                seen += 1;
                last = Some(now);
            }
            Some(Err(error)) => eprintln!("raw consumer error: {error}"),
            None => {}
        }
    }
    std::hint::black_box(bytes);
    let cpu = cpu_start
        .map(|c| cpu_time().saturating_sub(c))
        .unwrap_or_default();
    Run {
        handled: seen,
        join: first.map(|f| f - start),
        span: first.zip(last).map(|(f, l)| l - f),
        note: format!(
            "cpu {:.2} us/msg",
            cpu.as_secs_f64() * 1e6 / seen.max(1) as f64
        ),
    }
}

/// Runs the engine over `topic` until `counter.target` messages were handled.
async fn engine_consume(
    broker: Broker,
    topic: &str,
    options: &[(&str, &str)],
    counter: Arc<Counter>,
) -> Run {
    let group = unique("bench-engine");
    let mut all = vec![("group_id", group.as_str()), ("subscribed_topics", topic)];
    all.extend_from_slice(options);
    let start = Instant::now();
    let consumer = Consumer::subscribe(
        &broker.config(&all),
        Arc::new(CountHandler(Arc::clone(&counter))),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts");
    let mut cpu_start = None;
    while counter.done.get().is_none() && start.elapsed() < WAIT_LIMIT {
        if cpu_start.is_none() && counter.first.get().is_some() {
            cpu_start = Some(cpu_time());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cpu = cpu_start
        .map(|c| cpu_time().saturating_sub(c))
        .unwrap_or_default();
    let stats = consumer.stats();
    let note = format!(
        "cpu {:.2} us/msg, pauses {}, resumes {}, peak in flight {}",
        cpu.as_secs_f64() * 1e6 / counter.count.load(Ordering::Acquire).max(1) as f64,
        stats.pauses.load(Ordering::Relaxed),
        stats.resumes.load(Ordering::Relaxed),
        stats.peak_in_flight.load(Ordering::Relaxed)
    );
    consumer.shutdown().await;
    let first = counter.first.get().copied();
    Run {
        handled: counter.count.load(Ordering::Acquire),
        join: first.map(|f| f - start),
        span: first.zip(counter.done.get().copied()).map(|(f, l)| l - f),
        note,
    }
}

/// The most 1 ms sleeps `tasks` tokio tasks complete per second: the bound on case (c), since
/// tokio's timer wheel rounds each deadline up to a whole millisecond.
async fn sleep_ceiling(tasks: usize, span: Duration) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let done = Arc::clone(&done);
            tokio::spawn(async move {
                while start.elapsed() < span {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// (d) Sends `{ts_us}` messages at `LATENCY_RATE` for `LATENCY_SECONDS` through the engine's
/// producer and returns the latencies measured in the handler and by a bare consumer, after a
/// warm-up.
async fn latency(broker: Broker) -> (Vec<u64>, Vec<u64>, usize) {
    let topic = unique("bench-latency");
    create_topic(broker, &topic, 4).await;
    let total = (LATENCY_RATE * LATENCY_SECONDS) as usize;
    let mut counter = Counter::new(total);
    counter.latencies = Some(Mutex::new(Vec::with_capacity(total)));
    let counter = Arc::new(counter);
    let group = unique("bench-latency");
    let consumer = Consumer::subscribe(
        &broker.config(&[("group_id", &group), ("subscribed_topics", &topic)]),
        Arc::new(CountHandler(Arc::clone(&counter))),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts");
    let joined = Instant::now();
    while consumer.assigned_partitions() < 4 && joined.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let raw = std::thread::spawn({
        let (topic, stop) = (topic.clone(), Arc::clone(&stop));
        move || raw_latency(broker, topic, total, ready_tx, stop)
    });
    let _ =
        tokio::task::spawn_blocking(move || ready_rx.recv_timeout(Duration::from_secs(60))).await;
    // Let the first fetches settle so the group join is not measured.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let producer = Producer::new(&broker.config(&[("source_system", "bench")])).expect("producer");
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / LATENCY_RATE));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    let mut sends = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let producer = producer.clone();
        let topic = topic.clone();
        sends.push(tokio::spawn(async move {
            let sent = now_micros();
            let payload = serde_json::json!({ "ts_us": sent, "n": i });
            producer
                .send(&topic, &format!("key-{}", i % KEYS), &payload)
                .await
                .map(|_| now_micros().saturating_sub(sent))
        }));
    }
    let send_span = start.elapsed();
    let mut acks = Vec::with_capacity(total);
    for send in sends {
        acks.push(send.await.expect("send task").expect("send"));
    }
    while counter.done.get().is_none() && start.elapsed() < WAIT_LIMIT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    consumer.shutdown().await;
    let raw_deadline = Instant::now() + Duration::from_secs(5);
    while !raw.is_finished() && Instant::now() < raw_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Release);
    let raw = raw.join().expect("raw latency thread");
    let latencies = counter.latencies.as_ref().unwrap().lock().unwrap().clone();
    let warmup = (LATENCY_WARMUP.as_secs_f64() * total as f64 / send_span.as_secs_f64()) as usize;
    let measured = latencies.into_iter().skip(warmup).collect();
    let raw = raw.into_iter().skip(warmup).collect();
    let mut acks: Vec<u64> = acks.into_iter().skip(warmup).collect();
    acks.sort_unstable();
    println!(
        "  {:<44} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        "    (producer send -> ack)",
        percentile(&acks, 0.50) as f64 / 1000.0,
        percentile(&acks, 0.99) as f64 / 1000.0,
        acks.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
    (measured, raw, warmup)
}

/// A bare consumer beside the engine in case (d), for the broker's own produce -> consume
/// latency. Returns once `total` messages arrived or `stop` is set.
fn raw_latency(
    broker: Broker,
    topic: String,
    total: usize,
    ready: std::sync::mpsc::Sender<()>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.servers())
        .set("group.id", unique("bench-raw-latency"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("log_level", "3")
        .create()
        .expect("raw consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut ready = Some(ready);
    let mut latencies = Vec::with_capacity(total);
    while latencies.len() < total && !stop.load(Ordering::Acquire) {
        if let Some(message) = consumer.poll(Duration::from_millis(20)) {
            let Ok(message) = message else { continue };
            let value: serde_json::Value =
                serde_json::from_slice(message.payload().unwrap_or_default()).unwrap_or_default();
            if let Some(sent) = value["ts_us"].as_u64() {
                latencies.push(now_micros().saturating_sub(sent));
            }
        }
        if ready.is_some() && consumer.assignment().is_ok_and(|a| a.count() > 0) {
            let _ = ready.take().map(|r| r.send(()));
        }
    }
    latencies
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn create_topic(broker: Broker, topic: &str, partitions: i32) {
    Admin::new(&broker.config(&[]))
        .expect("admin")
        .create_topic(topic, partitions, 1)
        .await
        .expect("create topic");
}

fn describe(name: &str, run: &Run, count: usize) -> Option<f64> {
    let rate = run.rate(count);
    let join = run
        .join
        .map_or("-".into(), |d| format!("{:.2} s", d.as_secs_f64()));
    match rate {
        Some(rate) => println!(
            "  {name:<44} {:>10.0} msg/s  ({count} in {:.3} s; join {join}) {}",
            rate,
            run.span.unwrap_or_default().as_secs_f64(),
            run.note
        ),
        None => println!(
            "  {name:<44} INCOMPLETE: {} of {count} within {WAIT_LIMIT:?} {}",
            run.handled, run.note
        ),
    }
    rate
}

/// The median of the completed runs' rates, printing each run and the spread.
fn median(name: &str, rates: &[Option<f64>]) -> Option<f64> {
    let mut done: Vec<f64> = rates.iter().flatten().copied().collect();
    if done.len() < rates.len() || done.is_empty() {
        return None;
    }
    done.sort_by(f64::total_cmp);
    let median = done[done.len() / 2];
    if done.len() > 1 {
        println!(
            "  {name:<44} {median:>10.0} msg/s  median of {} (min {:.0}, max {:.0})",
            done.len(),
            done[0],
            done[done.len() - 1]
        );
    }
    Some(median)
}

async fn bench(broker: Broker, cases: &str, repeat: usize) -> Vec<(String, String)> {
    println!("== {broker:?} ==");
    let wants = |case: char| cases.contains(case);
    let topic = unique("bench-throughput");
    create_topic(broker, &topic, PARTITIONS).await;
    let loaded = tokio::task::spawn_blocking({
        let topic = topic.clone();
        move || load(broker, &topic, KEYS, MESSAGES, false)
    })
    .await
    .expect("loader");
    println!(
        "  loaded {MESSAGES} messages on {PARTITIONS} partitions in {:.2} s",
        loaded.as_secs_f64()
    );

    let (mut a_runs, mut b_runs, mut e_runs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut big_b_runs, mut big_e_runs) = (Vec::new(), Vec::new());
    let (mut f_runs, mut big_f_runs) = (Vec::new(), Vec::new());
    // Deduplication keys on the group, so every run of (f) on this topic looks each id up anew.
    let dedup_topic = unique("bench-dedup");
    if wants('f') || wants('F') {
        create_topic(broker, &dedup_topic, PARTITIONS).await;
        let topic = dedup_topic.clone();
        tokio::task::spawn_blocking(move || load(broker, &topic, KEYS, MESSAGES, true))
            .await
            .expect("loader");
    }
    // Interleaved, so a noisy moment on a shared machine does not hit one case only.
    for _ in 0..repeat {
        if wants('a') {
            let raw = tokio::task::spawn_blocking({
                let topic = topic.clone();
                move || raw_consume(broker, &topic, MESSAGES)
            })
            .await
            .expect("raw consumer");
            a_runs.push(describe("(a) raw librdkafka BaseConsumer", &raw, MESSAGES));
        }
        if wants('b') {
            let tuned = [("max_uncommitted", "10000"), ("max_concurrency", "256")];
            let run =
                engine_consume(broker, &topic, &tuned, Arc::new(Counter::new(MESSAGES))).await;
            b_runs.push(describe("(b) engine, no-op, tuned", &run, MESSAGES));
        }
        if wants('e') {
            let run = engine_consume(broker, &topic, &[], Arc::new(Counter::new(MESSAGES))).await;
            e_runs.push(describe("(e) engine, no-op, defaults", &run, MESSAGES));
        }
        // The yardstick for the quality-of-service layers: (b) and (e) without them.
        prosody_engine::qos::baseline::set_enabled(true);
        if wants('B') {
            let tuned = [("max_uncommitted", "10000"), ("max_concurrency", "256")];
            let run =
                engine_consume(broker, &topic, &tuned, Arc::new(Counter::new(MESSAGES))).await;
            big_b_runs.push(describe("(B) (b) without the qos layers", &run, MESSAGES));
        }
        if wants('E') {
            let run = engine_consume(broker, &topic, &[], Arc::new(Counter::new(MESSAGES))).await;
            big_e_runs.push(describe("(E) (e) without the qos layers", &run, MESSAGES));
        }
        prosody_engine::qos::baseline::set_enabled(false);
        if wants('f') {
            let counter = Arc::new(Counter::new(MESSAGES));
            let run = engine_consume(broker, &dedup_topic, &[], counter).await;
            f_runs.push(describe(
                "(f) engine, no-op, defaults, dedup on",
                &run,
                MESSAGES,
            ));
        }
        if wants('F') {
            let off = [("idempotence_cache_size", "0")];
            let counter = Arc::new(Counter::new(MESSAGES));
            let run = engine_consume(broker, &dedup_topic, &off, counter).await;
            big_f_runs.push(describe("(F) (f) with dedup off", &run, MESSAGES));
        }
    }
    let f = median("(f)", &f_runs);
    let big_f = median("(F)", &big_f_runs);
    let big_b = median("(B)", &big_b_runs);
    let big_e = median("(E)", &big_e_runs);
    let a = median("(a)", &a_runs);
    let b = median("(b)", &b_runs);
    let e = median("(e)", &e_runs);

    let mut c = None;
    if wants('c') {
        let slow_topic = unique("bench-slow");
        create_topic(broker, &slow_topic, 1).await;
        tokio::task::spawn_blocking({
            let topic = slow_topic.clone();
            move || load(broker, &topic, SLOW_KEYS, SLOW_MESSAGES, false)
        })
        .await
        .expect("loader");
        let mut counter = Counter::new(SLOW_MESSAGES);
        counter.sleep = Some(Duration::from_millis(1));
        let run = engine_consume(broker, &slow_topic, &[], Arc::new(counter)).await;
        c = describe(
            "(c) engine, sleep 1 ms, 1 partition, 32 keys",
            &run,
            SLOW_MESSAGES,
        );
        let ceiling = sleep_ceiling(32, Duration::from_secs(2)).await;
        println!(
            "  {:<44} {ceiling:>10.0} sleeps/s  (no Kafka, no engine)",
            "    ceiling: 32 tasks looping sleep(1 ms)"
        );
    }

    let (mut latencies, mut raw_latencies, warmup) = if wants('d') {
        latency(broker).await
    } else {
        (Vec::new(), Vec::new(), 0)
    };
    latencies.sort_unstable();
    raw_latencies.sort_unstable();
    let (p50, p99, max) = (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
    );
    println!(
        "  {:<44} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms  ({} samples after {warmup} warm-up)",
        "(d) produce -> handle latency, 1k msg/s",
        p50 as f64 / 1000.0,
        p99 as f64 / 1000.0,
        max as f64 / 1000.0,
        latencies.len()
    );
    println!(
        "  {:<44} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms  ({} samples)",
        "    bare BaseConsumer beside it",
        percentile(&raw_latencies, 0.50) as f64 / 1000.0,
        percentile(&raw_latencies, 0.99) as f64 / 1000.0,
        raw_latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        raw_latencies.len()
    );

    let fmt = |rate: Option<f64>| rate.map_or("incomplete".into(), |r| format!("{r:.0} msg/s"));
    let ratio = |x: Option<f64>, y: Option<f64>| {
        x.zip(y)
            .map_or("-".into(), |(x, y)| format!("{:.2}", x / y))
    };
    println!("  (b)/(a) = {}   (e)/(b) = {}", ratio(b, a), ratio(e, b));
    if wants('f') || wants('F') {
        println!("  dedup on / off: (f)/(F) = {}", ratio(f, big_f));
    }
    if wants('B') || wants('E') {
        println!(
            "  with qos / without: (b)/(B) = {}   (e)/(E) = {}",
            ratio(b, big_b),
            ratio(e, big_e)
        );
    }
    vec![
        ("(a) raw librdkafka (median)".into(), fmt(a)),
        ("(b) engine no-op tuned (median)".into(), fmt(b)),
        ("(b)/(a) [target >= 0.5]".into(), ratio(b, a)),
        ("(c) engine sleep 1 ms [>= 20k]".into(), fmt(c)),
        (
            "(d) latency p50 / p99 [p99 <= 5 ms real]".into(),
            format!("{:.2} / {:.2} ms", p50 as f64 / 1000.0, p99 as f64 / 1000.0),
        ),
        (
            "(d') bare consumer latency p50 / p99".into(),
            format!(
                "{:.2} / {:.2} ms",
                percentile(&raw_latencies, 0.50) as f64 / 1000.0,
                percentile(&raw_latencies, 0.99) as f64 / 1000.0
            ),
        ),
        ("(e) engine no-op defaults (median)".into(), fmt(e)),
        ("(e)/(b) [target >= 0.5]".into(), ratio(e, b)),
        ("(b)/(B) qos cost, tuned [>= 0.9]".into(), ratio(b, big_b)),
        (
            "(e)/(E) qos cost, defaults [>= 0.9]".into(),
            ratio(e, big_e),
        ),
        ("(f) engine defaults, dedup on (median)".into(), fmt(f)),
        ("(f)/(F) dedup on / off [D1 >= 0.5]".into(), ratio(f, big_f)),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mock = args.iter().any(|a| a == "--mock");
    let real = args.iter().any(|a| a == "--real");
    // `--cases abe` runs only those cases (all by default).
    let cases = args
        .iter()
        .position(|a| a == "--cases")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "abcde".into());
    // `--repeat 5` runs (a), (b) and (e) five times each and reports medians (3 by default).
    let repeat = args
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(3usize)
        .max(1);
    let brokers: Vec<Broker> = match (mock, real) {
        (true, false) => vec![Broker::Mock],
        (false, true) => vec![Broker::Real],
        _ => vec![Broker::Mock, Broker::Real],
    };
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use tracing_subscriber::Layer as _;
        // The OpenTelemetry layer is always there, as in the gem: without
        // OTEL_EXPORTER_OTLP_ENDPOINT it measures what tracing costs when nothing is exported.
        let print = std::env::var_os("RUST_LOG").is_some().then(|| {
            tracing_subscriber::fmt::layer()
                .with_filter(tracing_subscriber::EnvFilter::from_default_env())
        });
        let _ = tracing_subscriber::registry()
            .with(print)
            .with(prosody_engine::otel::layer())
            .try_init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut tables = Vec::new();
    for broker in brokers {
        tables.push((broker, runtime.block_on(bench(broker, &cases, repeat))));
    }
    println!(
        "\n| case | {} |",
        tables
            .iter()
            .map(|(b, _)| format!("{b:?}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(tables.len()));
    if let Some((_, first)) = tables.first() {
        for (row, (name, _)) in first.iter().enumerate() {
            let cells: Vec<&str> = tables.iter().map(|(_, t)| t[row].1.as_str()).collect();
            println!("| {name} | {} |", cells.join(" | "));
        }
    }
}
