//! Timer store throughput: schedule rate, load time and remove rate, in memory and on Cassandra.
//!
//! ```text
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench timer_store                # both stores
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench timer_store -- --memory    # memory only
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench timer_store -- --cassandra # PROSODY_CASSANDRA_NODES or 127.0.0.1:9042
//! ```
//!
//! Each store gets 100,000 timers over 1,000 keys and two hours of times (starting a day from
//! now), inserted with 256 in flight; then one `load` returns all of them; then every timer is
//! removed the same way, so the run leaves nothing behind. Cassandra uses the default slab size
//! (1 h) and retention (1 y) and a fresh segment. The program prints figures and never fails on
//! a missed target (the Cassandra target is 5,000 schedules/s).

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use prosody_engine::{
    Cassandra, CassandraTimerStore, Config, MemoryTimerStore, TimerSegment, TimerStore, TimerTime,
};

const TIMERS: u32 = 100_000;
const KEYS: u32 = 1_000;
const SPREAD_SECS: u32 = 2 * 3_600;
const IN_FLIGHT: usize = 256;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = |flag: &str| args.iter().any(|a| a == flag);
    let (memory, cassandra) = match (only("--memory"), only("--cassandra")) {
        (false, false) => (true, true),
        chosen => chosen,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let timers = timers();
        if memory {
            run("memory", &MemoryTimerStore::default(), &timers).await;
        }
        if cassandra {
            let nodes = std::env::var("PROSODY_CASSANDRA_NODES")
                .unwrap_or_else(|_| "127.0.0.1:9042".into());
            let config = Config::from_options_with_env([("cassandra_nodes", nodes)], |_| None)
                .expect("valid configuration");
            let store = CassandraTimerStore::new(
                Cassandra::shared(&config),
                config.slab_size,
                config.cassandra_retention,
            );
            run("cassandra", &store, &timers).await;
        }
    });
}

/// `(key, time)` for every timer: keys round-robin, times evenly over the spread.
fn timers() -> Vec<(String, TimerTime)> {
    let base = TimerTime::now().as_secs() + 86_400;
    (0..TIMERS)
        .map(|i| {
            let offset = u32::try_from(u64::from(i) * u64::from(SPREAD_SECS) / u64::from(TIMERS))
                .expect("within the spread");
            (
                format!("key-{}", i % KEYS),
                TimerTime::from_secs(base + offset),
            )
        })
        .collect()
}

async fn run(name: &str, store: &dyn TimerStore, timers: &[(String, TimerTime)]) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let segment = TimerSegment::new(&format!("bench-{nanos}"), "timers", 0);
    // Connect (and prepare) outside the measurement.
    store
        .times(&segment, "warm-up")
        .await
        .expect("store reachable");

    let started = Instant::now();
    futures::stream::iter(timers)
        .map(|(key, time)| store.insert(&segment, key, *time))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await
        .expect("inserts");
    let inserted = started.elapsed();

    let started = Instant::now();
    let (first, last) = (timers[0].1, timers[timers.len() - 1].1);
    let loaded = store
        .load(&segment, first, last.saturating_add(1))
        .await
        .expect("load");
    let load = started.elapsed();
    assert_eq!(loaded.len(), timers.len(), "load returns every timer");

    let started = Instant::now();
    futures::stream::iter(timers)
        .map(|(key, time)| store.remove(&segment, key, *time))
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<()>()
        .await
        .expect("removes");
    let removed = started.elapsed();

    println!(
        "{name:>9}: schedule {:>9.0}/s ({} in {}), load all {} ({:.0} timers/s), remove {:>9.0}/s",
        rate(timers.len(), inserted),
        timers.len(),
        secs(inserted),
        secs(load),
        rate(loaded.len(), load),
        rate(timers.len(), removed),
    );
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

fn secs(elapsed: Duration) -> String {
    format!("{:.3}s", elapsed.as_secs_f64())
}
