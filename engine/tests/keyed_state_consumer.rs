//! Keyed state through a running consumer (issue #17), on the mock cluster with the memory
//! store and on real Kafka with Cassandra: an attempt's writes commit only when it succeeds,
//! a redelivered message's writes are not applied twice, a new owner sees every committed
//! write, and a fenced owner's late commit is rejected.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prosody_engine::state::{
    CassandraStateStore, Definition, MemoryStateStore, Registry, StateStore, StateTxn, TxnScope,
};
use prosody_engine::{
    Consumer, Context, Handler, HandlerError, HandlerFuture, Message, Telemetry, Timer, TimerTime,
};
use support::shared_runtime::run;
use support::{committed, config, create_topic, eventually, produce, unique, Broker};
use tokio::sync::Semaphore;

on_both_backends! {
    failed_attempt_leaves_nothing => a_failed_attempt_leaves_nothing_and_its_retry_sees_old_state;
    counted_once_across_restart => a_redelivered_message_is_counted_once_across_a_restart;
    new_owner_sees_committed_writes => a_new_owner_sees_every_committed_write;
    zombie_commit_rejected => a_fenced_owner_cannot_commit_late;
    timer_commits_state => a_timer_handler_commits_its_writes;
    timer_fired_again_counted_once => a_timer_that_fires_again_is_applied_once;
}

fn count() -> Definition {
    Definition::value("count")
        .build()
        .expect("valid definition")
}

fn registry() -> Registry {
    Registry::new(None, [count()]).expect("valid registry")
}

fn store(broker: Broker) -> Arc<dyn StateStore> {
    match broker {
        Broker::Mock => MemoryStateStore::shared(),
        Broker::Real => Arc::new(CassandraStateStore::from_config(&config(broker, &[]))),
    }
}

/// Retries in place, quickly, so a failed attempt is followed by another at once.
const RETRY: [(&str, &str); 4] = [
    ("defer_enabled", "false"),
    ("retry_base", "5ms"),
    ("max_retry_delay", "20ms"),
    ("commit_interval", "50ms"),
];

fn consume(broker: Broker, group: &str, topic: &str, handler: impl Handler) -> Consumer {
    let mut options = vec![("group_id", group), ("subscribed_topics", topic)];
    options.extend_from_slice(&RETRY);
    Consumer::subscribe_with_state(
        &config(broker, &options),
        Arc::new(handler),
        tokio::runtime::Handle::current(),
        Telemetry::disabled(),
        registry(),
    )
    .expect("consumer starts")
}

/// The committed `count` of `key`, read outside any consumer.
async fn committed_count(broker: Broker, group: &str, key: &str) -> i64 {
    let scope = TxnScope {
        group: group.into(),
        key: key.into(),
        // Reading only: no owner's epoch can fence it.
        epoch: u64::MAX,
        event: None,
    };
    let mut txn = StateTxn::begin(store(broker), Arc::new(registry()), scope)
        .await
        .expect("transaction begins");
    decode(txn.value_get(&count()).await.expect("read"))
}

fn decode(value: Option<prosody_engine::state::StateValue>) -> i64 {
    value
        .and_then(|value| std::str::from_utf8(value.as_bytes()?).ok()?.parse().ok())
        .unwrap_or(0)
}

/// What one attempt saw: its key, the message's per-key `seq`, the attempt number, the
/// `count` it read, and whether the message was applied before.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    key: String,
    seq: i64,
    attempt: u32,
    count: i64,
    applied: bool,
}

/// Adds 1 to its key's `count` per message (`succeeded` counts the handler's own successes,
/// before its state commits). Optionally fails each message's first attempt
/// after writing, and optionally waits at a gate (after writing) before returning.
#[derive(Clone, Default)]
struct Counter {
    seen: Arc<Mutex<Vec<Seen>>>,
    succeeded: Arc<AtomicUsize>,
    fail_first_attempt: bool,
    gate: Option<Arc<Gate>>,
}

/// Tells the test a handler wrote, then holds it until the test releases it.
struct Gate {
    reached: Semaphore,
    release: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            reached: Semaphore::new(0),
            release: Semaphore::new(0),
        }
    }
}

impl Counter {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn succeeded(&self) -> usize {
        self.succeeded.load(Ordering::SeqCst)
    }

    async fn handle(&self, context: Context, message: Message) -> Result<(), HandlerError> {
        let failed = |error: prosody_engine::Error| HandlerError::transient(error.to_string());
        let state = context.state().map_err(failed)?;
        let mut txn = state.txn().await.map_err(failed)?;
        let count = decode(txn.value_get(&count()).await.map_err(failed)?);
        self.seen.lock().unwrap().push(Seen {
            key: message.key().to_owned(),
            seq: message.payload()["seq"].as_i64().unwrap_or(-1),
            attempt: context.attempt(),
            count,
            applied: txn.already_applied(),
        });
        let next = (count + 1).to_string().into_bytes();
        txn.value_set(&self::count(), next.into())
            .await
            .map_err(failed)?;
        drop(txn);
        if let Some(gate) = &self.gate {
            gate.reached.add_permits(1);
            gate.release.acquire().await.expect("gate open").forget();
        }
        if self.fail_first_attempt && context.attempt() == 1 {
            return Err(HandlerError::transient("failing the first attempt"));
        }
        self.succeeded.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Handler for Counter {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move { this.handle(context, message).await })
    }

    /// Adds 100 to the key's `count`.
    fn on_timer(&self, context: Context, _timer: Timer) -> HandlerFuture {
        let succeeded = Arc::clone(&self.succeeded);
        Box::pin(async move {
            let failed = |error: prosody_engine::Error| HandlerError::transient(error.to_string());
            let state = context.state().map_err(failed)?;
            let mut txn = state.txn().await.map_err(failed)?;
            let count = decode(txn.value_get(&count()).await.map_err(failed)?);
            let next = (count + 100).to_string().into_bytes();
            txn.value_set(&self::count(), next.into())
                .await
                .map_err(failed)?;
            succeeded.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// Schedules a timer due now for each message's key, once.
#[derive(Clone, Default)]
struct Scheduling(Counter);

impl Handler for Scheduling {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let inner = self.0.clone();
        Box::pin(async move {
            context
                .schedule(TimerTime::now())
                .await
                .map_err(|error| HandlerError::transient(error.to_string()))?;
            inner.handle(context, message).await
        })
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.0.on_timer(context, timer)
    }
}

/// Schedules a timer for each message's key at the second its payload's `at` gives (in the
/// past, so it fires at once).
#[derive(Clone, Default)]
struct SchedulingAt(Counter);

impl Handler for SchedulingAt {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let inner = self.0.clone();
        let at = message.payload()["at"].as_u64().unwrap_or(0);
        Box::pin(async move {
            let at = TimerTime::from_secs(u32::try_from(at).unwrap_or(0));
            context
                .schedule(at)
                .await
                .map_err(|error| HandlerError::transient(error.to_string()))?;
            inner.handle(context, message).await
        })
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        self.0.on_timer(context, timer)
    }
}

/// An attempt that writes and then fails leaves nothing: its retry reads the state as it was
/// before the message, and the key counts each message once.
async fn a_failed_attempt_leaves_nothing_and_its_retry_sees_old_state(broker: Broker) {
    let topic = unique("state-fail");
    create_topic(broker, &topic, 1).await;
    let group = unique("state-fail-group");
    let handler = Counter {
        fail_first_attempt: true,
        ..Counter::default()
    };
    let consumer = consume(broker, &group, &topic, handler.clone());
    produce(broker, &topic, 1, 3).await;
    assert!(
        eventually(Duration::from_secs(60), || handler.succeeded() == 3).await,
        "every message succeeds on its second attempt"
    );
    consumer.shutdown().await;

    let counts: Vec<(i64, u32, i64)> = handler
        .seen()
        .iter()
        .map(|seen| (seen.seq, seen.attempt, seen.count))
        .collect();
    assert_eq!(
        counts,
        [
            (0, 1, 0),
            (0, 2, 0),
            (1, 1, 1),
            (1, 2, 1),
            (2, 1, 2),
            (2, 2, 2)
        ],
        "each retry reads what its failed attempt read"
    );
    assert_eq!(committed_count(broker, &group, "key-0").await, 3);
}

/// A message whose state committed but whose offset did not (a crash in between) comes back
/// to the next consumer, which recognises it as applied and does not count it again.
async fn a_redelivered_message_is_counted_once_across_a_restart(broker: Broker) {
    let topic = unique("state-restart");
    create_topic(broker, &topic, 1).await;
    let group = unique("state-restart-group");
    let first = Counter::default();
    let consumer = consume(broker, &group, &topic, first.clone());
    produce(broker, &topic, 2, 6).await;
    assert!(eventually(Duration::from_secs(60), || first.succeeded() == 6).await);
    consumer.shutdown().await;
    // The crash: the group's offset goes back to the start, as if never committed.
    rewind(broker, &group, &topic).await;

    let second = Counter::default();
    let consumer = consume(broker, &group, &topic, second.clone());
    produce(broker, &topic, 2, 2).await;
    assert!(
        eventually(Duration::from_secs(60), || second.succeeded() == 8).await,
        "the next consumer handles the old messages again and the new ones"
    );
    consumer.shutdown().await;

    let redelivered = second.seen().iter().filter(|seen| seen.applied).count();
    assert_eq!(
        redelivered, 6,
        "every redelivered message is known as applied"
    );
    assert_eq!(committed_count(broker, &group, "key-0").await, 4);
    assert_eq!(committed_count(broker, &group, "key-1").await, 4);
}

/// Commits offset 0 for `group` on `topic`'s partition 0, as a member of the group (the mock
/// coordinator refuses commits from outside it).
async fn rewind(broker: Broker, group: &str, topic: &str) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
    // The mock coordinator holds a departed member for its whole session.
    let (servers, session) = match broker {
        Broker::Mock => (
            prosody_engine::mock_bootstrap_servers().expect("mock cluster"),
            "2000",
        ),
        Broker::Real => (support::bootstrap(), "6000"),
    };
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .set("session.timeout.ms", session)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offset writer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Offset(0))
        .expect("offset");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let _ = consumer.poll(Duration::from_millis(100));
        let assigned = consumer.assignment().is_ok_and(|list| list.count() > 0);
        if assigned && consumer.commit(&list, CommitMode::Sync).is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "offset not rewound within a minute"
        );
        tokio::task::yield_now().await;
    }
    drop(consumer);
    assert_eq!(committed(broker, group, topic, 1), [0]);
}

/// Two consumers share a group while messages flow: partitions move between them, and every
/// message (not applied before) reads exactly the count its key's earlier messages left.
async fn a_new_owner_sees_every_committed_write(broker: Broker) {
    let topic = unique("state-rebalance");
    create_topic(broker, &topic, 4).await;
    let group = unique("state-rebalance-group");
    let handler = Counter::default();
    let first = consume(broker, &group, &topic, handler.clone());
    let sent = produce(broker, &topic, 16, 160).await.len();
    assert_eq!(sent, 16);
    assert!(eventually(Duration::from_secs(60), || handler.succeeded() >= 80).await);
    let second = consume(broker, &group, &topic, handler.clone());
    assert!(
        eventually(Duration::from_secs(60), || second.assigned_partitions() > 0).await,
        "the second consumer takes partitions"
    );
    produce(broker, &topic, 16, 160).await;
    // Offsets commit only after their state did: once all are committed, every write is in.
    let everything = all_committed(broker, &group, &topic, 4, 320).await;
    first.shutdown().await;
    second.shutdown().await;
    assert!(everything, "every offset committed within 90 s");

    // A stale read that committed would have lost an increment.
    for key in 0..16 {
        assert_eq!(
            committed_count(broker, &group, &format!("key-{key}")).await,
            20
        );
    }
}

/// Waits (up to 90 s) until `group`'s committed offsets on `topic` add up to `total`.
async fn all_committed(
    broker: Broker,
    group: &str,
    topic: &str,
    partitions: i32,
    total: i64,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while tokio::time::Instant::now() < deadline {
        let offsets = committed(broker, group, topic, partitions);
        if offsets.iter().map(|offset| offset.max(&0)).sum::<i64>() == total {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// A consumer still running a handler after its partition got a newer owner (a zombie) cannot
/// commit: the newer owner's write stays, and the message's offset does not commit.
async fn a_fenced_owner_cannot_commit_late(broker: Broker) {
    let topic = unique("state-zombie");
    create_topic(broker, &topic, 1).await;
    let group = unique("state-zombie-group");
    let gate = Arc::new(Gate::default());
    let zombie = Counter {
        gate: Some(Arc::clone(&gate)),
        ..Counter::default()
    };
    let consumer = consume(broker, &group, &topic, zombie.clone());
    produce(broker, &topic, 1, 1).await;
    let reached = tokio::time::timeout(Duration::from_secs(60), gate.reached.acquire())
        .await
        .expect("the handler wrote within a minute");
    reached.expect("gate open").forget();

    // The partition's next owner claims it and writes the key.
    let store = store(broker);
    let epoch = store.claim(&group, &topic, 0).await.expect("claim");
    let scope = TxnScope {
        group: group.clone(),
        key: "key-0".into(),
        epoch: u64::try_from(epoch).expect("positive epoch"),
        event: None,
    };
    let mut txn = StateTxn::begin(Arc::clone(&store), Arc::new(registry()), scope)
        .await
        .expect("the new owner begins");
    txn.value_set(&count(), b"100".to_vec().into())
        .await
        .expect("write");
    txn.commit().await.expect("the new owner commits");

    gate.release.add_permits(1);
    assert!(
        eventually(Duration::from_secs(30), || zombie.succeeded() == 1).await,
        "the zombie's handler returns"
    );
    consumer.shutdown().await;
    assert_eq!(
        zombie.seen().len(),
        1,
        "a fenced attempt ends terminally: it is not retried"
    );
    assert_eq!(committed_count(broker, &group, "key-0").await, 100);
    assert_eq!(
        committed(broker, &group, &topic, 1),
        [-1],
        "the fenced message's offset is not committed"
    );
}

/// A timer's handler reaches its key's state like a message's, and its writes commit when it
/// succeeds.
async fn a_timer_handler_commits_its_writes(broker: Broker) {
    let topic = unique("state-timer");
    create_topic(broker, &topic, 1).await;
    let group = unique("state-timer-group");
    let handler = Scheduling::default();
    let consumer = consume(broker, &group, &topic, handler.clone());
    produce(broker, &topic, 1, 1).await;
    assert!(
        eventually(Duration::from_secs(60), || handler.0.succeeded() == 2).await,
        "the message and its timer are handled"
    );
    consumer.shutdown().await;
    assert_eq!(committed_count(broker, &group, "key-0").await, 101);
}

/// A timer that fires again after its state committed, as after a crash before the timer store
/// deleted it (here: scheduled again once it has fired), runs but applies nothing the second
/// time; a timer due at another time applies as usual.
async fn a_timer_that_fires_again_is_applied_once(broker: Broker) {
    let topic = unique("state-timer-again");
    create_topic(broker, &topic, 1).await;
    let group = unique("state-timer-again-group");
    let handler = SchedulingAt::default();
    let consumer = consume(broker, &group, &topic, handler.clone());
    let producer = support::test_producer(broker);
    // One at a time: each message's timer fires before the next message schedules one.
    for (seq, at) in [(0_i64, 1_000_u64), (1, 1_000), (2, 2_000)] {
        let payload = serde_json::json!({ "seq": seq, "at": at });
        producer
            .send(&topic, "key-0", &payload)
            .await
            .expect("send");
        let handled = usize::try_from(seq + 1).unwrap_or(0) * 2;
        assert!(
            eventually(Duration::from_secs(60), || handler.0.succeeded() >= handled).await,
            "message {seq} and its timer are handled"
        );
    }
    consumer.shutdown().await;
    // Three messages add 1 each; the timers due at 1,000 s and 2,000 s add 100 each, once.
    assert_eq!(committed_count(broker, &group, "key-0").await, 203);
}
