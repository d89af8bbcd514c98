//! Keyed state across a process kill (issue #17), on real Kafka and Cassandra: the consumer is
//! a separate process (this test binary, re-run as [`crashing_consumer`]) that is SIGKILLed,
//! as after a pod crash, and a consumer started afterwards in this process takes over.
//!
//! - Killed after its state committed but before its offsets did (it commits offsets once an
//!   hour): every message comes back, is recognised as applied, and its writes show once.
//! - Killed while an event's commit is in flight: the key shows all of the event's writes and
//!   its marker, or none of them, and after the restart exactly one copy.
//!
//! Real backends only: in mock mode the memory store and the mock cluster live in the process
//! and die with it, so a kill leaves nothing to check. `keyed_state_consumer` covers the mock
//! case of a redelivery by rewinding the group's offset instead.

mod support;

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prosody_engine::state::{
    CassandraStateStore, Definition, EventRef, Registry, ScanQuery, StateStore, StateTxn,
    StateValue, TxnScope,
};
use prosody_engine::{Consumer, Context, Handler, HandlerError, HandlerFuture, Message, Telemetry};
use support::shared_runtime::run;
use support::{committed, config, create_topic, eventually, produce, unique, Broker};

/// A short classic-protocol session, so the dead member's partitions move on within seconds.
const SESSION: &str = r#"{"session.timeout.ms":"6000","heartbeat.interval.ms":"1000"}"#;

fn count() -> Definition {
    Definition::value("count")
        .build()
        .expect("valid definition")
}

fn entries() -> Definition {
    Definition::map("entries")
        .build()
        .expect("valid definition")
}

fn registry() -> Registry {
    Registry::new(None, [count(), entries()]).expect("valid registry")
}

fn store() -> Arc<dyn StateStore> {
    Arc::new(CassandraStateStore::from_config(&config(Broker::Real, &[])))
}

/// A consumer of `topic` in `group` on real Kafka with the test's collections; `extra` options
/// go on top.
fn consume(group: &str, topic: &str, handler: Writer, extra: &[(&str, &str)]) -> Consumer {
    let mut options = vec![
        ("group_id", group),
        ("subscribed_topics", topic),
        ("kafka_config", SESSION),
        ("defer_enabled", "false"),
        ("retry_base", "5ms"),
        ("max_retry_delay", "20ms"),
    ];
    options.extend_from_slice(extra);
    Consumer::subscribe_with_state(
        &config(Broker::Real, &options),
        Arc::new(handler),
        tokio::runtime::Handle::current(),
        Telemetry::disabled(),
        registry(),
    )
    .expect("consumer starts")
}

/// Per message: adds 1 to its key's `count` and writes `entries` map entries named after the
/// message's offset. Records what each attempt saw; with `announce`, prints `HANDLED`
/// just before returning, that is just before the consumer commits the attempt's state.
#[derive(Clone, Default)]
struct Writer {
    entries: usize,
    announce: bool,
    /// (key, seq, already applied) per attempt.
    seen: Arc<Mutex<Vec<(String, i64, bool)>>>,
    succeeded: Arc<AtomicUsize>,
}

impl Writer {
    async fn handle(&self, context: Context, message: Message) -> Result<(), HandlerError> {
        let failed = |error: prosody_engine::Error| HandlerError::transient(error.to_string());
        let seq = message.payload()["seq"].as_i64().unwrap_or(-1);
        let state = context.state().map_err(failed)?;
        let mut txn = state.txn().await.map_err(failed)?;
        let count = decode(txn.value_get(&count()).await.map_err(failed)?);
        let applied = txn.already_applied();
        self.seen
            .lock()
            .unwrap()
            .push((message.key().to_owned(), seq, applied));
        txn.value_set(&self::count(), (count + 1).to_string().into_bytes().into())
            .await
            .map_err(failed)?;
        for entry in 0..self.entries {
            let name = format!("{:04}-{entry:04}", message.offset());
            txn.map_set(&self::entries(), name.as_bytes(), vec![b'x'; 64].into())
                .await
                .map_err(failed)?;
        }
        drop(txn);
        if self.announce {
            println!("HANDLED {} {seq}", message.key());
        }
        self.succeeded.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Handler for Writer {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move { this.handle(context, message).await })
    }
}

fn decode(value: Option<StateValue>) -> i64 {
    value
        .and_then(|value| std::str::from_utf8(value.as_bytes()?).ok()?.parse().ok())
        .unwrap_or(0)
}

/// A key's committed state as another process would read it.
#[derive(Debug, PartialEq, Eq)]
struct View {
    count: i64,
    entries: usize,
    /// Whether `topic`/0 at the given offset is applied.
    applied: bool,
    /// The head's commit sequence, to tell whether the key changed while it was read.
    seq: i64,
}

async fn view(store: &Arc<dyn StateStore>, group: &str, key: &str, event: EventRef) -> View {
    let scope = TxnScope {
        group: group.into(),
        key: key.into(),
        // Reading only: no owner's epoch can fence it.
        epoch: u64::MAX,
        event: Some(event),
    };
    let mut txn = StateTxn::begin(Arc::clone(store), Arc::new(registry()), scope)
        .await
        .expect("transaction begins");
    let count = decode(txn.value_get(&count()).await.expect("read"));
    let entries = txn
        .map_scan(&entries(), &ScanQuery::all())
        .await
        .expect("scan")
        .len();
    let seq = store.head(group, key).await.expect("head").seq;
    View {
        count,
        entries,
        applied: txn.already_applied(),
        seq,
    }
}

/// Run by the tests below in a child process: a consumer that writes `PROSODY_CRASH_ENTRIES`
/// entries per message, announces each handled message, and never commits an offset before
/// it is killed.
#[test]
#[ignore = "a helper process of keyed_state_crash, not a test of its own"]
fn crashing_consumer() {
    let (Ok(group), Ok(topic), Ok(entries)) = (
        std::env::var("PROSODY_CRASH_GROUP"),
        std::env::var("PROSODY_CRASH_TOPIC"),
        std::env::var("PROSODY_CRASH_ENTRIES"),
    ) else {
        return;
    };
    let writer = Writer {
        entries: entries.parse().expect("entry count"),
        announce: true,
        ..Writer::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let _consumer = consume(&group, &topic, writer, &[("commit_interval", "1h")]);
        std::future::pending::<()>().await;
    });
}

/// The child consumer and the lines it prints.
struct Crashing {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Crashing {
    fn spawn(group: &str, topic: &str, entries: usize) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["crashing_consumer", "--exact", "--ignored", "--nocapture"])
            .env("PROSODY_CRASH_GROUP", group)
            .env("PROSODY_CRASH_TOPIC", topic)
            .env("PROSODY_CRASH_ENTRIES", entries.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("consumer process");
        let stdout = child.stdout.take().expect("consumer stdout");
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// Blocks until the child announces a handled message; false if it exits first.
    fn wait_handled(&mut self) -> bool {
        self.lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.starts_with("HANDLED"))
    }

    /// SIGKILL, and reap.
    fn kill(mut self) {
        self.child.kill().expect("kill the consumer");
        let _ = self.child.wait();
    }
}

/// The child commits every message's state, then dies before committing any offset. The next
/// consumer gets every message again, knows each as applied, and the writes show once.
#[test]
fn a_kill_between_state_and_offset_commit_applies_each_message_once() {
    run(async {
        let topic = unique("state-crash");
        create_topic(Broker::Real, &topic, 1).await;
        let group = unique("state-crash-group");
        produce(Broker::Real, &topic, 2, 6).await;
        let crashing = Crashing::spawn(&group, &topic, 2);

        // Both keys' three messages committed their state (offsets 4 and 5 are the last).
        let store = store();
        let deadline = Instant::now() + Duration::from_secs(60);
        for (key, last) in [("key-0", 4), ("key-1", 5)] {
            loop {
                let event = EventRef::new(topic.as_str(), 0, last);
                if view(&store, &group, key, event).await.applied {
                    break;
                }
                assert!(Instant::now() < deadline, "{key}'s state never committed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        crashing.kill();
        assert_eq!(
            committed(Broker::Real, &group, &topic, 1),
            [-1],
            "killed before any offset committed"
        );

        let restarted = Writer {
            entries: 2,
            ..Writer::default()
        };
        let consumer = consume(&group, &topic, restarted.clone(), &[]);
        produce(Broker::Real, &topic, 2, 2).await;
        assert!(
            eventually(Duration::from_secs(90), || restarted
                .succeeded
                .load(Ordering::SeqCst)
                == 8)
            .await,
            "the restarted consumer handles the 6 old messages and 2 new ones"
        );
        consumer.shutdown().await;

        // Per key, in order: the three redelivered messages, then the new one.
        let seen = restarted.seen.lock().unwrap().clone();
        for key in ["key-0", "key-1"] {
            let applied: Vec<bool> = seen
                .iter()
                .filter(|(of, _, _)| of == key)
                .map(|(_, _, applied)| *applied)
                .collect();
            assert_eq!(applied, [true, true, true, false], "{key}: {seen:?}");
        }
        for (key, last) in [("key-0", 6), ("key-1", 7)] {
            let event = EventRef::new(topic.as_str(), 0, last);
            let after = view(&store, &group, key, event).await;
            assert_eq!(
                (after.count, after.entries),
                (4, 8),
                "{key}: each write once"
            );
            assert!(after.applied);
        }
    });
}

/// Entries one killed event writes: enough that its batch takes a while to send and apply.
const ENTRIES: usize = 400;

/// The child handles one message that writes [`ENTRIES`] entries and is killed a few
/// milliseconds after its handler returns, at a different moment of the commit each round.
/// Every stable reading shows the event's writes and marker all together or not at all, and
/// once a restarted consumer has handled the message again, exactly one copy.
#[test]
fn a_kill_mid_commit_never_leaves_half_an_event() {
    run(async {
        let store = store();
        let mut landed = Vec::new();
        for delay in [0_u64, 2, 5, 15, 50] {
            let topic = unique("state-midcommit");
            create_topic(Broker::Real, &topic, 1).await;
            let group = unique("state-midcommit-group");
            produce(Broker::Real, &topic, 1, 1).await;
            let mut crashing = Crashing::spawn(&group, &topic, ENTRIES);
            let handled = tokio::task::spawn_blocking(move || {
                let handled = crashing.wait_handled();
                (crashing, handled)
            });
            let (crashing, handled) = tokio::time::timeout(Duration::from_secs(60), handled)
                .await
                .expect("the child handled its message within a minute")
                .expect("reader task");
            assert!(handled, "the child exited before handling its message");
            std::thread::sleep(Duration::from_millis(delay));
            crashing.kill();

            // A batch the coordinator received may still land a moment after the kill: a
            // reading counts only when the head did not move while it was taken.
            let event = EventRef::new(topic.as_str(), 0, 0);
            let mut stable = 0;
            let mut last = None;
            for _ in 0..50 {
                let before = store.head(&group, "key-0").await.expect("head").seq;
                let now = view(&store, &group, "key-0", event.clone()).await;
                if now.seq != before {
                    continue;
                }
                assert!(
                    now.entries == 0 || now.entries == ENTRIES,
                    "killed {delay} ms after the handler: {} of {ENTRIES} entries visible",
                    now.entries
                );
                assert_eq!(
                    now.applied,
                    now.entries == ENTRIES,
                    "the marker goes with the writes"
                );
                assert_eq!(
                    now.count,
                    i64::from(now.applied),
                    "the value goes with them too"
                );
                stable += 1;
                last = Some(now.applied);
                if stable == 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(stable, 3, "three stable readings");
            landed.push((delay, last == Some(true)));

            let restarted = Writer {
                entries: ENTRIES,
                ..Writer::default()
            };
            let consumer = consume(&group, &topic, restarted.clone(), &[]);
            assert!(
                eventually(Duration::from_secs(90), || restarted
                    .succeeded
                    .load(Ordering::SeqCst)
                    == 1)
                .await,
                "the restarted consumer handles the message"
            );
            consumer.shutdown().await;
            let seen = restarted.seen.lock().unwrap().clone();
            assert_eq!(
                seen[0].2,
                last == Some(true),
                "applied iff it landed before"
            );
            let after = view(&store, &group, "key-0", event).await;
            assert_eq!(
                (after.count, after.entries),
                (1, ENTRIES),
                "exactly one copy"
            );
        }
        eprintln!("(delay ms, the killed commit landed): {landed:?}");
    });
}
