//! Keyed state: the same behavioural cases on the memory store and on the real Cassandra at
//! `PROSODY_CASSANDRA_NODES` (default 127.0.0.1:9042). Every case uses its own consumer group,
//! so cases never see each other's keys.

mod support;

use support::shared_runtime::run;

use std::sync::Arc;
use std::time::{Duration, Instant};

use prosody_engine::state::{
    CassandraStateStore, Definition, EventRef, MemoryStateStore, Outcome, Registry, ScanQuery,
    StateError, StateStore, StateTxn, StateValue, TxnScope,
};
use prosody_engine::{Config, Error};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Cassandra,
}

/// Declares, for each case, a module with a `memory` and a `cassandra` test.
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[test]
                fn memory() {
                    super::run(super::$case(super::Backend::Memory));
                }

                #[test]
                fn cassandra() {
                    super::run(super::$case(super::Backend::Cassandra));
                }
            }
        )*
    };
}

on_both_stores!(
    values_round_trip_and_absent_differs_from_empty,
    a_write_then_rollback_leaves_nothing,
    other_events_see_writes_only_once_committed,
    a_redelivered_applied_event_is_detected,
    a_zombie_owner_cannot_overwrite_its_successor,
    writes_expire_after_their_ttl_and_rewrites_refresh_it,
    a_flush_stays_when_the_event_is_retried,
    identity_is_pinned_per_group,
    unregistered_or_misused_definitions_are_refused,
    concurrent_claims_get_distinct_epochs,
);

#[path = "keyed_state/collections.rs"]
mod collections;
#[path = "keyed_state/cut.rs"]
mod cut;

struct Fixture {
    store: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    group: String,
    epoch: u64,
}

impl Fixture {
    async fn new(backend: Backend, definitions: &[&Definition]) -> Self {
        Self::with_group(backend, definitions, support::unique("state")).await
    }

    async fn with_group(backend: Backend, definitions: &[&Definition], group: String) -> Self {
        let store: Arc<dyn StateStore> = match backend {
            // The process-wide store, as in mock mode; groups keep cases apart.
            Backend::Memory => MemoryStateStore::shared(),
            Backend::Cassandra => Arc::new(CassandraStateStore::from_config(&config())),
        };
        let registry =
            Registry::new(None, definitions.iter().map(|d| (*d).clone())).expect("valid registry");
        let epoch = store.claim(&group, "orders", 0).await.expect("claim");
        Self {
            store,
            registry: Arc::new(registry),
            group,
            epoch: u64::try_from(epoch).expect("positive epoch"),
        }
    }

    /// A transaction for `key` handling offset `offset` of orders/0.
    async fn txn(&self, key: &str, offset: i64) -> StateTxn {
        self.try_txn(key, Some(offset), self.epoch)
            .await
            .expect("begin")
    }

    async fn try_txn(&self, key: &str, offset: Option<i64>, epoch: u64) -> Result<StateTxn, Error> {
        let scope = TxnScope {
            group: self.group.clone(),
            key: key.into(),
            epoch,
            event: offset.map(|offset| EventRef::new("orders", 0, offset)),
        };
        StateTxn::begin(Arc::clone(&self.store), Arc::clone(&self.registry), scope).await
    }
}

fn config() -> Config {
    Config::from_options_with_env([("cassandra_nodes", support::cassandra_nodes())], |_| None)
        .expect("valid configuration")
}

fn bytes(text: &str) -> StateValue {
    StateValue::Bytes(text.as_bytes().to_vec())
}

fn texts(values: Vec<StateValue>) -> Vec<String> {
    values
        .into_iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes().expect("bytes")).into_owned())
        .collect()
}

fn keys(rows: &[(Vec<u8>, StateValue)]) -> Vec<&[u8]> {
    rows.iter().map(|(key, _)| key.as_slice()).collect()
}

fn state_error(result: Result<impl std::fmt::Debug, Error>) -> StateError {
    match result {
        Err(Error::KeyedState(error)) => error,
        other => panic!("expected a state error, got {other:?}"),
    }
}

async fn values_round_trip_and_absent_differs_from_empty(backend: Backend) {
    let total = Definition::value("total").build().unwrap();
    let fixture = Fixture::new(backend, &[&total]).await;
    let mut txn = fixture.txn("k", 1).await;
    assert_eq!(txn.value_get(&total).await.unwrap(), None);
    txn.value_set(&total, bytes("")).await.unwrap();
    assert_eq!(txn.value_get(&total).await.unwrap(), Some(bytes("")));
    assert_eq!(txn.commit().await.unwrap(), Outcome::Applied);

    let mut txn = fixture.txn("k", 2).await;
    assert_eq!(
        txn.value_get(&total).await.unwrap(),
        Some(bytes("")),
        "empty is not absent"
    );
    txn.value_clear(&total).await.unwrap();
    assert_eq!(txn.value_get(&total).await.unwrap(), None);
    txn.commit().await.unwrap();
    let mut txn = fixture.txn("k", 3).await;
    assert_eq!(txn.value_get(&total).await.unwrap(), None);
}

async fn a_write_then_rollback_leaves_nothing(backend: Backend) {
    let total = Definition::value("total").build().unwrap();
    let seen = Definition::map("seen").build().unwrap();
    let fixture = Fixture::new(backend, &[&total, &seen]).await;
    let mut txn = fixture.txn("k", 1).await;
    txn.value_set(&total, bytes("1")).await.unwrap();
    txn.map_set(&seen, b"a", bytes("x")).await.unwrap();
    assert_eq!(txn.rollback(&total).await.unwrap(), Outcome::Applied);
    assert_eq!(txn.rollback(&total).await.unwrap(), Outcome::NoOp);
    assert_eq!(txn.value_get(&total).await.unwrap(), None);
    assert_eq!(txn.rollback(&seen).await.unwrap(), Outcome::Applied);
    assert!(!txn.map_contains(&seen, b"a").await.unwrap());
    assert_eq!(txn.commit().await.unwrap(), Outcome::NoOp);

    // A handler that fails drops its transaction uncommitted: nothing is visible after.
    let mut failed = fixture.txn("k", 2).await;
    failed.value_set(&total, bytes("2")).await.unwrap();
    drop(failed);
    let mut retry = fixture.txn("k", 2).await;
    assert!(!retry.already_applied());
    assert_eq!(retry.value_get(&total).await.unwrap(), None);
}

async fn other_events_see_writes_only_once_committed(backend: Backend) {
    let total = Definition::value("total").build().unwrap();
    let fixture = Fixture::new(backend, &[&total]).await;
    let mut writer = fixture.txn("k", 1).await;
    writer.value_set(&total, bytes("1")).await.unwrap();
    let mut reader = fixture.txn("k", 1).await;
    assert_eq!(reader.value_get(&total).await.unwrap(), None);
    assert_eq!(writer.commit().await.unwrap(), Outcome::Applied);
    assert_eq!(
        fixture.txn("k", 2).await.value_get(&total).await.unwrap(),
        Some(bytes("1"))
    );

    // The reader's view is stale now: its commit is refused, to be retried on fresh reads.
    reader.value_set(&total, bytes("stale")).await.unwrap();
    assert!(matches!(
        state_error(reader.commit().await),
        StateError::Conflict { .. }
    ));
    assert!(matches!(
        state_error(reader.value_get(&total).await),
        StateError::Finished { .. }
    ));
    assert_eq!(
        fixture.txn("k", 2).await.value_get(&total).await.unwrap(),
        Some(bytes("1"))
    );
}

async fn a_redelivered_applied_event_is_detected(backend: Backend) {
    let count = Definition::value("count").build().unwrap();
    let fixture = Fixture::new(backend, &[&count]).await;
    let mut txn = fixture.txn("k", 5).await;
    assert!(!txn.already_applied());
    txn.value_set(&count, bytes("1")).await.unwrap();
    assert_eq!(txn.commit().await.unwrap(), Outcome::Applied);

    for offset in [5, 4] {
        let mut again = fixture.txn("k", offset).await;
        assert!(
            again.already_applied(),
            "offset {offset} is at or before the marker"
        );
        again.value_set(&count, bytes("2")).await.unwrap();
        assert_eq!(again.commit().await.unwrap(), Outcome::NoOp);
    }
    let mut next = fixture.txn("k", 6).await;
    assert!(!next.already_applied());
    assert_eq!(
        next.value_get(&count).await.unwrap(),
        Some(bytes("1")),
        "applied once"
    );
    // Another partition's offsets have their own marker.
    let other = fixture.try_txn("k", None, fixture.epoch).await.unwrap();
    assert!(!other.already_applied());
}

async fn a_zombie_owner_cannot_overwrite_its_successor(backend: Backend) {
    let total = Definition::value("total").build().unwrap();
    let fixture = Fixture::new(backend, &[&total]).await;
    let zombie_epoch = fixture.epoch;
    // The old owner wrote the key before, so later commits are conditional updates.
    let mut before = fixture.txn("k", 1).await;
    before.value_set(&total, bytes("old owner")).await.unwrap();
    before.commit().await.unwrap();
    let owner_epoch = fixture
        .store
        .claim(&fixture.group, "orders", 0)
        .await
        .unwrap();
    let owner_epoch = u64::try_from(owner_epoch).unwrap();
    assert!(owner_epoch > zombie_epoch);

    let mut zombie = fixture.try_txn("k", Some(2), zombie_epoch).await.unwrap();
    let mut owner = fixture.try_txn("k", Some(2), owner_epoch).await.unwrap();
    owner.value_set(&total, bytes("new owner")).await.unwrap();
    assert_eq!(owner.commit().await.unwrap(), Outcome::Applied);

    // The zombie started before the new owner wrote; its late commit is refused...
    zombie.value_set(&total, bytes("zombie")).await.unwrap();
    let error = state_error(zombie.commit().await);
    assert!(
        matches!(error, StateError::Fenced { mine, current, .. } if mine == zombie_epoch && current == owner_epoch),
        "{error:?}"
    );
    // ...and it cannot even start on the key now.
    let late = fixture.try_txn("k", Some(3), zombie_epoch).await;
    assert!(matches!(state_error(late), StateError::Fenced { .. }));
    let mut check = fixture.try_txn("k", Some(3), owner_epoch).await.unwrap();
    assert_eq!(
        check.value_get(&total).await.unwrap(),
        Some(bytes("new owner"))
    );
}

async fn writes_expire_after_their_ttl_and_rewrites_refresh_it(backend: Backend) {
    let short = Definition::value("short").ttl(1).build().unwrap();
    let refreshed = Definition::map("refreshed").ttl(3).build().unwrap();
    let fixture = Fixture::new(backend, &[&short, &refreshed]).await;
    let mut txn = fixture.txn("k", 1).await;
    txn.value_set(&short, bytes("v")).await.unwrap();
    txn.map_set(&refreshed, b"a", bytes("1")).await.unwrap();
    txn.commit().await.unwrap();
    let written = Instant::now();
    assert_eq!(
        fixture.txn("k", 2).await.value_get(&short).await.unwrap(),
        Some(bytes("v"))
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if fixture
            .txn("k", 2)
            .await
            .value_get(&short)
            .await
            .unwrap()
            .is_none()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the 1 s value never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Rewrite the map entry after 2 s; at 3.5 s the first write would be gone, the rewrite not.
    tokio::time::sleep(
        (written + Duration::from_secs(2)).saturating_duration_since(Instant::now()),
    )
    .await;
    let rewriting = Instant::now();
    let mut txn = fixture.txn("k", 3).await;
    txn.map_set(&refreshed, b"a", bytes("2")).await.unwrap();
    txn.commit().await.unwrap();
    tokio::time::sleep(
        (written + Duration::from_millis(3_500)).saturating_duration_since(Instant::now()),
    )
    .await;
    let value = fixture
        .txn("k", 4)
        .await
        .map_get(&refreshed, b"a")
        .await
        .unwrap();
    if rewriting.elapsed() < Duration::from_millis(2_800) {
        assert_eq!(value, Some(bytes("2")), "the rewrite refreshed the TTL");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while fixture
        .txn("k", 4)
        .await
        .map_get(&refreshed, b"a")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the rewritten entry never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scan = fixture
        .txn("k", 4)
        .await
        .map_scan(&refreshed, &ScanQuery::all())
        .await
        .unwrap();
    assert!(scan.is_empty(), "an expired map scans empty");
}

async fn a_flush_stays_when_the_event_is_retried(backend: Backend) {
    let early = Definition::value("early")
        .read_uncommitted(true)
        .build()
        .unwrap();
    let late = Definition::value("late").build().unwrap();
    let fixture = Fixture::new(backend, &[&early, &late]).await;
    let mut txn = fixture.txn("k", 1).await;
    assert_eq!(txn.flush(&early).await.unwrap(), Outcome::NoOp);
    txn.value_set(&early, bytes("1")).await.unwrap();
    txn.value_set(&late, bytes("1")).await.unwrap();
    assert_eq!(txn.flush(&early).await.unwrap(), Outcome::Applied);
    drop(txn); // the handler fails

    let mut retry = fixture.txn("k", 1).await;
    assert!(!retry.already_applied(), "a flush records no marker");
    assert_eq!(retry.value_get(&early).await.unwrap(), Some(bytes("1")));
    assert_eq!(retry.value_get(&late).await.unwrap(), None);
}

async fn identity_is_pinned_per_group(backend: Backend) {
    let as_map = Definition::map("things").build().unwrap();
    let as_deque = Definition::deque("things").build().unwrap();
    let group = support::unique("state");
    let first = Fixture::with_group(backend, &[&as_map], group.clone()).await;
    let mut txn = first.txn("k", 1).await;
    txn.map_set(&as_map, b"a", bytes("1")).await.unwrap();
    txn.commit().await.unwrap();

    let redeployed = Fixture::with_group(backend, &[&as_deque], group.clone()).await;
    let mut txn = redeployed.txn("k", 2).await;
    let error = state_error(txn.deque_len(&as_deque).await);
    assert!(
        matches!(&error, StateError::IdentityMismatch { stored, declared, .. } if stored == "map:bytes" && declared == "deque:bytes"),
        "{error:?}"
    );
    assert!(error.is_permanent());
    let elsewhere = Fixture::new(backend, &[&as_deque]).await;
    assert_eq!(
        elsewhere
            .txn("k", 1)
            .await
            .deque_len(&as_deque)
            .await
            .unwrap(),
        0
    );
}

async fn unregistered_or_misused_definitions_are_refused(backend: Backend) {
    let registered = Definition::value("registered").build().unwrap();
    let other = Definition::value("other").build().unwrap();
    let fixture = Fixture::new(backend, &[&registered]).await;
    let mut txn = fixture.txn("k", 1).await;
    let error = state_error(txn.value_get(&other).await);
    assert!(matches!(error, StateError::Unregistered { ref name } if name == "other"));
    let error = state_error(txn.deque_len(&registered).await);
    assert!(
        matches!(error, StateError::WrongKind { used: "deque", .. }),
        "{error:?}"
    );
}

async fn concurrent_claims_get_distinct_epochs(backend: Backend) {
    let fixture = Fixture::new(backend, &[]).await;
    let claims = (0..8).map(|_| {
        let store = Arc::clone(&fixture.store);
        let group = fixture.group.clone();
        tokio::spawn(async move { store.claim(&group, "orders", 0).await })
    });
    let mut epochs = Vec::new();
    for claim in claims.collect::<Vec<_>>() {
        epochs.push(claim.await.expect("claim task").expect("claim"));
    }
    epochs.sort_unstable();
    let first = i64::try_from(fixture.epoch).unwrap();
    assert_eq!(epochs, (first + 1..=first + 8).collect::<Vec<_>>());
    let other_partition = fixture
        .store
        .claim(&fixture.group, "orders", 1)
        .await
        .unwrap();
    assert_eq!(other_partition, 1, "epochs are per partition");
}
