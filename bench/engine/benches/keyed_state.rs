//! Keyed state cost: one value increment per event, and scans of a 1,000-entry map, in memory
//! and on Cassandra.
//!
//! ```text
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench keyed_state                # both stores
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench keyed_state -- --memory    # memory only
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench keyed_state -- --cassandra # PROSODY_CASSANDRA_NODES or 127.0.0.1:9042
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench keyed_state -- --secs 10   # longer runs
//! ```
//!
//! Increment: what the consumer does for an event that adds 1 to its key's counter: begin the
//! event's transaction (one head read), read the value, write it, commit (one conditional
//! batch with the event's marker). 1, 32 and 256 events run at once, each on a key of its own
//! (events of one key run one at a time in the consumer), for `--secs` seconds (default 5)
//! after a one-second warm-up; it prints events/s and the p50/p99 latency of one event.
//!
//! Scan: one key's map holds 1,000 entries (about 20 bytes each); it prints the p50/p99 time
//! of a full scan, a reverse scan of 10 and a prefix scan (100 entries), each in a fresh
//! transaction, 200 times. Every run uses a consumer group of its own, so runs never meet.
//! The program prints figures and never fails on a missed target.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prosody_engine::state::{
    CassandraStateStore, Definition, EventRef, MemoryStateStore, Registry, ScanQuery, StateStore,
    StateTxn, StateValue, TxnScope,
};
use prosody_engine::Config;

const LEVELS: [usize; 3] = [1, 32, 256];
const MAP_ENTRIES: usize = 1_000;
const SCANS: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = |flag: &str| args.iter().any(|a| a == flag);
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|at| args.get(at + 1)?.parse().ok())
        .unwrap_or(5);
    let (memory, cassandra) = match (only("--memory"), only("--cassandra")) {
        (false, false) => (true, true),
        chosen => chosen,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let run_for = Duration::from_secs(secs);
        if memory {
            bench("memory", Arc::new(MemoryStateStore::default()), run_for).await;
        }
        if cassandra {
            let nodes = std::env::var("PROSODY_CASSANDRA_NODES")
                .unwrap_or_else(|_| "127.0.0.1:9042".into());
            let config = Config::from_options_with_env([("cassandra_nodes", nodes)], |_| None)
                .expect("valid configuration");
            let store = Arc::new(CassandraStateStore::from_config(&config));
            bench("cassandra", store, run_for).await;
        }
    });
}

fn counter() -> Definition {
    Definition::value("counter").build().expect("definition")
}

fn entries() -> Definition {
    Definition::map("entries").build().expect("definition")
}

/// What one store is measured with: its group, registry and this owner's epoch.
struct Bench {
    store: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    group: String,
    epoch: u64,
}

impl Bench {
    async fn begin(&self, key: &str, offset: Option<i64>) -> StateTxn {
        let scope = TxnScope {
            group: self.group.clone(),
            key: key.into(),
            epoch: self.epoch,
            event: offset.map(|offset| EventRef::new("bench", 0, offset)),
        };
        StateTxn::begin(Arc::clone(&self.store), Arc::clone(&self.registry), scope)
            .await
            .expect("begin")
    }

    /// One event: read the counter, add 1, commit with the event's marker.
    async fn increment(&self, key: &str, offset: i64) {
        let definition = counter();
        let mut txn = self.begin(key, Some(offset)).await;
        let count: u64 = txn
            .value_get(&definition)
            .await
            .expect("read")
            .and_then(|value| std::str::from_utf8(value.as_bytes()?).ok()?.parse().ok())
            .unwrap_or(0);
        let next = StateValue::Bytes((count + 1).to_string().into_bytes());
        txn.value_set(&definition, next).await.expect("write");
        txn.commit().await.expect("commit");
    }
}

async fn bench(name: &str, store: Arc<dyn StateStore>, run_for: Duration) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let group = format!("bench-state-{}-{nanos}", std::process::id());
    let epoch = store.claim(&group, "bench", 0).await.expect("claim");
    let bench = Arc::new(Bench {
        store,
        registry: Arc::new(Registry::new(None, [counter(), entries()]).expect("registry")),
        group,
        epoch: u64::try_from(epoch).expect("positive epoch"),
    });
    println!("{name}: value increment per event (begin, get, set, commit)");
    for level in LEVELS {
        let (events, latencies) = increments(&bench, level, run_for).await;
        let rate = events as f64 / run_for.as_secs_f64();
        println!(
            "  {level:>3} keys in flight: {rate:>9.0} events/s, p50 {}, p99 {}",
            percentile(&latencies, 50),
            percentile(&latencies, 99)
        );
    }
    scans(name, &bench).await;
}

/// Runs `level` keys' increments at once: a warm-up second, then `run_for` measured.
async fn increments(bench: &Arc<Bench>, level: usize, run_for: Duration) -> (usize, Vec<Duration>) {
    let warm_until = Instant::now() + Duration::from_secs(1);
    let stop_at = warm_until + run_for;
    let workers: Vec<_> = (0..level)
        .map(|worker| {
            let bench = Arc::clone(bench);
            tokio::spawn(async move {
                let key = format!("increment-{level}-{worker}");
                let mut latencies = Vec::new();
                let mut offset = 0;
                loop {
                    let started = Instant::now();
                    if started >= stop_at {
                        return latencies;
                    }
                    bench.increment(&key, offset).await;
                    offset += 1;
                    if started >= warm_until {
                        latencies.push(started.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("worker"));
    }
    all.sort_unstable();
    (all.len(), all)
}

async fn scans(name: &str, bench: &Bench) {
    let definition = entries();
    let key = "scanned";
    // Written in commits of 250, each a batch well under Cassandra's batch size limit.
    for (commit, chunk) in (0..MAP_ENTRIES).collect::<Vec<_>>().chunks(250).enumerate() {
        let offset = i64::try_from(commit).expect("small");
        let mut txn = bench.begin(key, Some(offset)).await;
        for entry in chunk {
            let item = format!("{:02}-{entry:05}", entry % 10);
            let value = StateValue::Bytes(entry.to_string().into_bytes());
            txn.map_set(&definition, item.as_bytes(), value)
                .await
                .expect("write");
        }
        txn.commit().await.expect("commit");
    }
    println!("{name}: scans of a {MAP_ENTRIES}-entry map ({SCANS} each, fresh transaction)");
    let queries = [
        ("full scan", ScanQuery::all(), MAP_ENTRIES),
        (
            "reverse, limit 10",
            ScanQuery::all().reverse().limit(10),
            10,
        ),
        ("prefix (100 entries)", ScanQuery::all().prefix("03-"), 100),
    ];
    for (label, query, expected) in queries {
        let mut times = Vec::with_capacity(SCANS);
        for _ in 0..SCANS {
            let mut txn = bench.begin(key, None).await;
            let started = Instant::now();
            let rows = txn.map_scan(&definition, &query).await.expect("scan");
            times.push(started.elapsed());
            assert_eq!(rows.len(), expected, "{label}");
        }
        times.sort_unstable();
        println!(
            "  {label:<22} p50 {}, p99 {}",
            percentile(&times, 50),
            percentile(&times, 99)
        );
    }
}

/// The `p`th percentile of sorted `times`, formatted.
fn percentile(times: &[Duration], p: usize) -> String {
    if times.is_empty() {
        return "-".into();
    }
    let at = (times.len() * p / 100).min(times.len() - 1);
    format!("{:.3} ms", times[at].as_secs_f64() * 1_000.0)
}
