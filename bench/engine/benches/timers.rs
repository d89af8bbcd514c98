//! Timer schedule rate and fire lag through a consumer, on the in-memory store (mock cluster)
//! and on Cassandra (real Kafka).
//!
//! ```text
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench timers              # both
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench timers -- --mock    # in-memory store only
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench timers -- --real    # Kafka 127.0.0.1:9092 + Cassandra 127.0.0.1:9042
//! ```
//!
//! 10,000 keys each get one message whose handler schedules 10 timers through its context
//! (100,000 in all), one per second over a 10-second spread starting `lead` seconds after the
//! first message (long enough for scheduling to finish first), so about 10,000 come due each
//! second. The schedule rate is timers scheduled
//! per second from the first handler call to the last schedule; the fire lag is how long after
//! its due time each timer's handler ran. The program prints figures and never fails on a
//! missed target (in memory: 50,000 schedules/s and p99 lag 1.5 s; Cassandra: 5,000/s).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prosody_engine::{
    Admin, Config, Consumer, Context, Handler, HandlerFuture, Message, Producer, Timer, TimerTime,
};

const KEYS: u32 = 10_000;
/// One timer per second of the spread: a timer is identified by (key, whole second).
const PER_KEY: u32 = 10;

#[derive(Default)]
struct Record {
    first_call: Option<Instant>,
    last_schedule: Option<Instant>,
    scheduled: usize,
    late: usize,
    lags: Vec<Duration>,
}

#[derive(Clone, Default)]
struct Bench {
    record: Arc<Mutex<Record>>,
}

impl Handler for Bench {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let record = Arc::clone(&self.record);
        Box::pin(async move {
            record
                .lock()
                .unwrap()
                .first_call
                .get_or_insert_with(Instant::now);
            let times: Vec<u32> = serde_json::from_value(message.payload().clone()).unwrap();
            for secs in &times {
                let time = TimerTime::from_secs(*secs);
                context
                    .schedule(time)
                    .await
                    .map_err(|e| prosody_engine::HandlerError::transient(e.to_string()))?;
            }
            let now = TimerTime::now().as_secs();
            let mut record = record.lock().unwrap();
            record.scheduled += times.len();
            record.late += times.iter().filter(|t| **t <= now).count();
            record.last_schedule = Some(Instant::now());
            Ok(())
        })
    }

    fn on_timer(&self, _: Context, timer: Timer) -> HandlerFuture {
        let lag = SystemTime::now()
            .duration_since(timer.time)
            .unwrap_or_default();
        self.record.lock().unwrap().lags.push(lag);
        Box::pin(async { Ok(()) })
    }
}

fn config(real: bool, options: &[(&str, &str)]) -> Config {
    // Telemetry off, so figures compare with runs before it existed.
    let mut all: Vec<(String, String)> = vec![
        ("probe_port".into(), "none".into()),
        ("telemetry_enabled".into(), "false".into()),
    ];
    if real {
        let env =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        all.push((
            "bootstrap_servers".into(),
            env("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        ));
        all.push((
            "cassandra_nodes".into(),
            env("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042"),
        ));
    } else {
        all.push(("mock".into(), "true".into()));
    }
    all.extend(options.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_options_with_env(all, |_| None).expect("benchmark configuration is valid")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn run(real: bool, lead: u32) {
    let name = if real { "cassandra" } else { "memory" };
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let topic = format!("bench-timers-{stamp}");
    let admin = Admin::new(&config(real, &[])).expect("admin");
    admin.create_topic(&topic, 4, 1).await.expect("topic");
    let producer = Producer::new(&config(
        real,
        &[("source_system", "bench"), ("send_timeout", "30s")],
    ))
    .expect("producer");
    let bench = Bench::default();
    let group = format!("bench-timers-group-{stamp}");
    let consumer_config = config(
        real,
        &[
            ("group_id", group.as_str()),
            ("subscribed_topics", topic.as_str()),
            ("max_concurrency", "64"),
        ],
    );
    let consumer = Consumer::subscribe(
        &consumer_config,
        Arc::new(bench.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer");
    let base = TimerTime::now().as_secs() + lead;
    let payload = serde_json::json!((0..PER_KEY).map(|i| base + i).collect::<Vec<u32>>());
    let mut sends = futures::stream::FuturesUnordered::new();
    for key in 0..KEYS {
        let (producer, topic, payload) = (producer.clone(), topic.clone(), payload.clone());
        sends.push(async move { producer.send(&topic, &format!("key-{key}"), &payload).await });
        if sends.len() >= 1_000 {
            futures::StreamExt::next(&mut sends)
                .await
                .expect("pending")
                .expect("sent");
        }
    }
    while let Some(sent) = futures::StreamExt::next(&mut sends).await {
        sent.expect("sent");
    }
    let total = (KEYS * PER_KEY) as usize;
    let deadline = Instant::now() + Duration::from_secs(u64::from(lead) + 300);
    loop {
        let done = bench.record.lock().unwrap().lags.len();
        if done >= total || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    consumer.shutdown().await;
    let summary = {
        let record = bench.record.lock().unwrap();
        let elapsed = match (record.first_call, record.last_schedule) {
            (Some(first), Some(last)) => last.duration_since(first),
            _ => Duration::ZERO,
        };
        let mut lags = record.lags.clone();
        lags.sort_unstable();
        format!(
        "{name:>9}: scheduled {} timers in {:.2} s = {:.0}/s ({} due before scheduled); fired {}; lag p50 {:?} p99 {:?} max {:?}",
        record.scheduled,
        elapsed.as_secs_f64(),
        record.scheduled as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
        record.late,
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default(),
    )
    };
    println!("{summary}");
    let _ = admin.delete_topic(&topic).await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mock = args.iter().any(|a| a == "--mock");
    let real = args.iter().any(|a| a == "--real");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if mock || !real {
        runtime.block_on(run(false, 8));
    }
    if real || !mock {
        runtime.block_on(run(true, 40));
    }
}
