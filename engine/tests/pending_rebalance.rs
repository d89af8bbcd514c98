//! A graceful shutdown while the group waits out a dead member: what the consumer handled is
//! committed, although the coordinator refuses commits until the rebalance completes.
//!
//! The dead member is a separate process (this test binary, re-run as [`zombie_member`]),
//! SIGKILLed once it holds partitions, so the coordinator keeps the next rebalance open until
//! its session expires, as after a pod crash. Real Kafka only: the mock cluster does not model
//! a member that stops heartbeating mid-rebalance. `PROSODY_ZOMBIE_SESSION_MS=45000` gives the
//! dead member librdkafka's default session, for runs by hand.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prosody_engine::{Context, Handler, HandlerFuture, Message};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::ClientConfig;
use support::{bootstrap, committed, consume, create_topic, eventually, produce, unique, Broker};

const PARTITIONS: i32 = 4;
/// The dead member's session: how long the coordinator waits for it (the broker's minimum).
const ZOMBIE_SESSION_MS: &str = "6000";

/// Records (partition, offset) of what it handled, slowly, so work piles up during the wait.
#[derive(Clone, Default)]
struct Handled(Arc<Mutex<HashMap<i32, Vec<i64>>>>);

impl Handler for Handled {
    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let handled = Arc::clone(&self.0);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut handled = handled.lock().unwrap();
            handled
                .entry(message.partition())
                .or_default()
                .push(message.offset());
            Ok(())
        })
    }
}

impl Handled {
    /// Per partition, one past the highest offset below which everything was handled.
    fn watermarks(&self) -> HashMap<i32, i64> {
        let handled = self.0.lock().unwrap();
        handled
            .iter()
            .map(|(partition, offsets)| {
                let mut sorted = offsets.clone();
                sorted.sort_unstable();
                let mut next = sorted[0];
                for offset in sorted {
                    if offset == next {
                        next += 1;
                    }
                }
                (*partition, next)
            })
            .collect()
    }

    fn total(&self) -> usize {
        self.0.lock().unwrap().values().map(Vec::len).sum()
    }
}

fn member(group: &str, session_ms: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", session_ms)
        .set("heartbeat.interval.ms", "1000")
        .set("enable.auto.commit", "false")
        .create()
        .expect("member")
}

/// Run by [`shutdown_during_a_pending_rebalance_commits_what_was_handled`] in a child
/// process: joins the group, says so once it holds partitions, and polls until killed.
#[test]
#[ignore = "a helper process of pending_rebalance, not a test of its own"]
fn zombie_member() {
    let (Ok(group), Ok(topic)) = (
        std::env::var("PROSODY_ZOMBIE_GROUP"),
        std::env::var("PROSODY_ZOMBIE_TOPIC"),
    ) else {
        return;
    };
    let session = std::env::var("PROSODY_ZOMBIE_SESSION_MS").unwrap_or(ZOMBIE_SESSION_MS.into());
    let consumer = member(&group, &session);
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut told = false;
    loop {
        let _ = consumer.poll(Duration::from_millis(100));
        if !told && consumer.assignment().is_ok_and(|a| a.count() > 0) {
            println!("ZOMBIE ASSIGNED");
            told = true;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_pending_rebalance_commits_what_was_handled() {
    let broker = Broker::Real;
    let topic = unique("pending-rebalance");
    create_topic(broker, &topic, PARTITIONS).await;
    produce(broker, &topic, 64, 20_000).await;
    let group = unique("pending-rebalance-group");

    let mut zombie = Command::new(std::env::current_exe().expect("test binary"))
        .args(["zombie_member", "--exact", "--ignored", "--nocapture"])
        .env("PROSODY_ZOMBIE_GROUP", &group)
        .env("PROSODY_ZOMBIE_TOPIC", &topic)
        .stdout(Stdio::piped())
        .spawn()
        .expect("zombie process");
    let stdout = zombie.stdout.take().expect("zombie stdout");
    let assigned = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains("ZOMBIE ASSIGNED"))
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(60), assigned)
            .await
            .is_ok_and(|joined| joined.is_ok_and(|yes| yes)),
        "the zombie member joined the group"
    );

    let handled = Handled::default();
    let consumer = consume(
        broker,
        &group,
        &topic,
        &[("max_concurrency", "4")],
        Arc::new(handled.clone()),
    );
    assert!(
        eventually(Duration::from_secs(60), || consumer.assigned_partitions()
            > 0
            && handled.total() > 200)
        .await,
        "our consumer shares the partitions and handles messages"
    );

    // The zombie dies without leaving; a newcomer then starts a rebalance that waits for it.
    zombie.kill().expect("kill the zombie");
    let _ = zombie.wait();
    let newcomer = member(&group, "45000");
    newcomer.subscribe(&[&topic]).expect("subscribe");
    let done = Arc::new(AtomicBool::new(false));
    let polling = Arc::clone(&done);
    let newcomer = tokio::task::spawn_blocking(move || {
        while !polling.load(Ordering::Relaxed) {
            let _ = newcomer.poll(Duration::from_millis(100));
        }
    });
    // Well inside the zombie's session: the rebalance is still pending.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    consumer.shutdown().await;
    let stopped_in = stopping.elapsed();
    let watermarks = handled.watermarks();
    let committed = committed(broker, &group, &topic, PARTITIONS);
    let redelivered: i64 = watermarks
        .iter()
        .map(|(partition, next)| (next - committed[*partition as usize]).max(0))
        .sum();
    eprintln!(
        "handled {} on partitions {watermarks:?}; committed {committed:?}; shutdown took \
         {stopped_in:?}; {redelivered} handled messages left uncommitted",
        handled.total()
    );
    done.store(true, Ordering::Relaxed);
    let _ = newcomer.await;
    assert_eq!(
        redelivered, 0,
        "everything handled before shutdown is committed"
    );
}
