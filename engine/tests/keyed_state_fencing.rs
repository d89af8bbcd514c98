//! Fencing a zombie owner whose handler first touches keyed state only after the partition's
//! next owner wrote (issue #17), on the mock cluster with the memory store and on real Kafka
//! with Cassandra. The zombie's epoch must date from its assignment, not from its first use
//! of state: otherwise its late claim would outrank the successor and overwrite its writes.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prosody_engine::state::{
    CassandraStateStore, Definition, MemoryStateStore, Registry, StateStore, StateTxn, StateValue,
    TxnScope,
};
use prosody_engine::{Consumer, Context, Handler, HandlerError, HandlerFuture, Message, Telemetry};
use support::shared_runtime::run;
use support::{committed, config, create_topic, eventually, produce, unique, Broker};
use tokio::sync::Semaphore;

on_both_backends! {
    late_first_use_is_fenced => a_zombie_that_first_uses_state_after_its_successor_is_fenced;
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

fn decode(value: Option<StateValue>) -> i64 {
    value
        .and_then(|value| std::str::from_utf8(value.as_bytes()?).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Waits at a gate before touching state, then adds 1 to its key's `count`. Counts the
/// attempts that returned.
#[derive(Clone)]
struct LateWriter {
    reached: Arc<Semaphore>,
    release: Arc<Semaphore>,
    returned: Arc<AtomicUsize>,
}

impl Handler for LateWriter {
    fn on_message(&self, context: Context, _message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            this.reached.add_permits(1);
            this.release.acquire().await.expect("gate open").forget();
            let result = async {
                let state = context.state()?;
                let mut txn = state.txn().await?;
                let count = decode(txn.value_get(&count()).await?);
                txn.value_set(&self::count(), (count + 1).to_string().into_bytes().into())
                    .await
            }
            .await;
            this.returned.fetch_add(1, Ordering::SeqCst);
            result.map_err(|error| HandlerError::transient(error.to_string()))
        })
    }
}

/// The zombie holds a message of its partition, its handler not yet at its state; the next
/// owner claims the partition and writes the key; then the zombie's handler goes on. Its write
/// must not land, and its offset must not commit.
async fn a_zombie_that_first_uses_state_after_its_successor_is_fenced(broker: Broker) {
    let topic = unique("state-late-zombie");
    create_topic(broker, &topic, 1).await;
    let group = unique("state-late-zombie-group");
    let zombie = LateWriter {
        reached: Arc::new(Semaphore::new(0)),
        release: Arc::new(Semaphore::new(0)),
        returned: Arc::default(),
    };
    let options = [
        ("group_id", group.as_str()),
        ("subscribed_topics", topic.as_str()),
        ("defer_enabled", "false"),
        ("retry_base", "5ms"),
        ("max_retry_delay", "20ms"),
        ("commit_interval", "50ms"),
    ];
    let consumer = Consumer::subscribe_with_state(
        &config(broker, &options),
        Arc::new(zombie.clone()),
        tokio::runtime::Handle::current(),
        Telemetry::disabled(),
        registry(),
    )
    .expect("consumer starts");
    produce(broker, &topic, 1, 1).await;
    tokio::time::timeout(Duration::from_secs(60), zombie.reached.acquire())
        .await
        .expect("the handler started within a minute")
        .expect("gate open")
        .forget();

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

    // Let every attempt of the zombie through.
    zombie.release.add_permits(100);
    assert!(
        eventually(Duration::from_secs(30), || zombie
            .returned
            .load(Ordering::SeqCst)
            >= 1)
        .await,
        "the zombie's handler returns"
    );
    consumer.shutdown().await;

    let read = TxnScope {
        group: group.clone(),
        key: "key-0".into(),
        epoch: u64::MAX,
        event: None,
    };
    let mut check = StateTxn::begin(store, Arc::new(registry()), read)
        .await
        .expect("read");
    assert_eq!(
        decode(check.value_get(&count()).await.expect("read")),
        100,
        "the successor's write stands"
    );
    assert_eq!(
        committed(broker, &group, &topic, 1),
        [-1],
        "the zombie's offset is not committed"
    );
}
