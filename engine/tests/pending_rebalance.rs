//! A graceful shutdown while the group waits out a dead member: what the consumer handled is
//! committed, and the shutdown keeps to `shutdown_timeout`.
//!
//! The dead member is a Prosody consumer in a separate process (this test binary, re-run as
//! [`zombie_member`]), SIGKILLed once it holds partitions, as after a pod crash. A newcomer
//! then joins. Under the classic group protocol that starts a rebalance the coordinator keeps
//! open until the dead member's session expires (45 s), and the members' commits wait behind
//! their parked JoinGroup requests; this test failed there, with the stop taking
//! `shutdown_timeout` + 10 s and the work done since the rebalance began redelivered. Real
//! Kafka only: the mock cluster does not model a member that stops heartbeating mid-rebalance.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prosody_engine::{Context, Handler, HandlerFuture, Message};
use support::{committed, consume, create_topic, eventually, produce, unique, Broker};

const PARTITIONS: i32 = 4;
/// The stopping consumer's `shutdown_timeout`, well inside the dead member's 45 s session.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// What a stop may take beyond `shutdown_timeout`: committing and leaving the group.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Records (partition, offset) of what it handled, slowly, so work piles up during the wait.
#[derive(Clone, Default)]
struct Handled(Arc<Mutex<HashMap<i32, Vec<i64>>>>);

impl Handler for Handled {
    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let handled = Arc::clone(&self.0);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
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

/// Run by [`shutdown_during_a_pending_rebalance_commits_what_was_handled`] in a child
/// process: a Prosody consumer, as slow as the test's, that says so once it holds
/// partitions, then handles messages until killed.
#[test]
#[ignore = "a helper process of pending_rebalance, not a test of its own"]
fn zombie_member() {
    let (Ok(group), Ok(topic)) = (
        std::env::var("PROSODY_ZOMBIE_GROUP"),
        std::env::var("PROSODY_ZOMBIE_TOPIC"),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let consumer = consume(
            Broker::Real,
            &group,
            &topic,
            &[],
            Arc::new(Handled::default()),
        );
        assert!(
            eventually(Duration::from_secs(60), || consumer.assigned_partitions()
                > 0)
            .await
        );
        println!("ZOMBIE ASSIGNED");
        std::future::pending::<()>().await;
    });
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
    let shutdown_timeout = format!("{}s", SHUTDOWN_TIMEOUT.as_secs());
    let consumer = consume(
        broker,
        &group,
        &topic,
        &[
            ("max_concurrency", "4"),
            ("shutdown_timeout", &shutdown_timeout),
        ],
        Arc::new(handled.clone()),
    );
    assert!(
        eventually(Duration::from_secs(60), || consumer.assigned_partitions()
            > 0
            && handled.total() > 200)
        .await,
        "our consumer shares the partitions and handles messages"
    );

    // The zombie dies without leaving; a newcomer joins while its session still runs.
    let at_kill = handled.total();
    zombie.kill().expect("kill the zombie");
    let _ = zombie.wait();
    let newcomer = consume(
        broker,
        &group,
        &topic,
        &[("shutdown_timeout", &shutdown_timeout)],
        Arc::new(Handled::default()),
    );
    // Long enough for every member to hear of the newcomer (the classic protocol's heartbeat
    // interval is 3 s) and handle more, well inside the zombie's session.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let before = handled.total();
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
    newcomer.shutdown().await;
    assert!(
        before > at_kill,
        "the consumer kept handling while the zombie's session ran"
    );
    assert_eq!(
        redelivered, 0,
        "everything handled before shutdown is committed"
    );
    assert!(
        stopped_in < SHUTDOWN_TIMEOUT + STOP_GRACE,
        "shutdown took {stopped_in:?}, beyond shutdown_timeout ({SHUTDOWN_TIMEOUT:?}) + {STOP_GRACE:?}"
    );
}
