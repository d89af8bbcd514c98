//! Transaction semantics on the memory store.

use std::sync::Arc;

use super::{Outcome, StateTxn, TxnScope};
use crate::error::Error;
use crate::state::{Definition, EventRef, MemoryStateStore, Registry, ScanQuery, StateError};

struct Setup {
    store: Arc<MemoryStateStore>,
    registry: Arc<Registry>,
}

impl Setup {
    fn new(definitions: &[&Definition]) -> Self {
        let registry = Registry::new(None, definitions.iter().map(|d| (*d).clone())).unwrap();
        Self {
            store: Arc::new(MemoryStateStore::default()),
            registry: Arc::new(registry),
        }
    }

    async fn txn(&self, offset: i64) -> StateTxn {
        let scope = TxnScope {
            group: "g".into(),
            key: "k".into(),
            epoch: 1,
            event: Some(EventRef::new("t", 0, offset)),
        };
        StateTxn::begin(self.store.clone(), self.registry.clone(), scope)
            .await
            .unwrap()
    }
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

#[test]
fn commit_and_rollback_say_whether_anything_was_staged() {
    run(async {
        let value = Definition::value("v").build().unwrap();
        let setup = Setup::new(&[&value]);
        let mut txn = setup.txn(1).await;
        assert_eq!(txn.rollback(&value).await.unwrap(), Outcome::NoOp);
        txn.value_set(&value, b"1".to_vec().into()).await.unwrap();
        assert_eq!(txn.rollback(&value).await.unwrap(), Outcome::Applied);
        assert_eq!(txn.commit().await.unwrap(), Outcome::NoOp);
        let finished = txn.value_get(&value).await;
        assert!(matches!(
            finished,
            Err(Error::KeyedState(StateError::Finished { .. }))
        ));
    });
}

#[test]
fn a_rollback_drops_only_its_own_collection() {
    run(async {
        let kept = Definition::value("kept").build().unwrap();
        let dropped = Definition::map("dropped").build().unwrap();
        let setup = Setup::new(&[&kept, &dropped]);
        let mut txn = setup.txn(1).await;
        txn.value_set(&kept, b"1".to_vec().into()).await.unwrap();
        txn.map_set(&dropped, b"a", b"1".to_vec().into())
            .await
            .unwrap();
        txn.map_clear(&dropped).await.unwrap();
        txn.rollback(&dropped).await.unwrap();
        assert_eq!(txn.commit().await.unwrap(), Outcome::Applied);
        let mut txn = setup.txn(2).await;
        assert!(txn.value_get(&kept).await.unwrap().is_some());
        assert!(!txn.map_contains(&dropped, b"a").await.unwrap());
    });
}

#[test]
fn a_limited_scan_looks_past_staged_deletes() {
    run(async {
        let map = Definition::map("m").build().unwrap();
        let setup = Setup::new(&[&map]);
        let mut txn = setup.txn(1).await;
        for key in ["a", "b", "c", "d"] {
            txn.map_set(&map, key.as_bytes(), b"".to_vec().into())
                .await
                .unwrap();
        }
        txn.commit().await.unwrap();
        let mut txn = setup.txn(2).await;
        txn.map_delete(&map, b"a").await.unwrap();
        txn.map_delete(&map, b"b").await.unwrap();
        let rows = txn
            .map_scan(&map, &ScanQuery::all().limit(2))
            .await
            .unwrap();
        let keys: Vec<_> = rows.into_iter().map(|(key, _)| key).collect();
        assert_eq!(keys, [b"c".to_vec(), b"d".to_vec()]);
    });
}

#[test]
fn a_deque_whose_elements_all_expired_pops_nothing() {
    run(async {
        let deque = Definition::deque("d").build().unwrap();
        let setup = Setup::new(&[&deque]);
        let mut txn = setup.txn(1).await;
        txn.deque_push_back(&deque, b"1".to_vec().into())
            .await
            .unwrap();
        // The element's cell vanishes (as on expiry) while the bounds remain.
        txn.stage(
            "d",
            crate::state::cell::ENTRIES,
            crate::state::cell::deque_item(0),
            None,
            None,
        );
        assert_eq!(txn.deque_len(&deque).await.unwrap(), 1, "an upper bound");
        assert_eq!(txn.deque_pop_front(&deque).await.unwrap(), None);
        assert_eq!(txn.deque_len(&deque).await.unwrap(), 0);
    });
}

#[test]
fn a_redelivered_event_flushes_nothing() {
    run(async {
        let value = Definition::value("v")
            .read_uncommitted(true)
            .build()
            .unwrap();
        let setup = Setup::new(&[&value]);
        let mut txn = setup.txn(1).await;
        txn.value_set(&value, b"first".to_vec().into())
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let mut again = setup.txn(1).await;
        assert!(again.already_applied());
        again
            .value_set(&value, b"again".to_vec().into())
            .await
            .unwrap();
        assert_eq!(again.flush(&value).await.unwrap(), Outcome::NoOp);
        let mut next = setup.txn(2).await;
        assert_eq!(
            next.value_get(&value).await.unwrap(),
            Some(b"first".to_vec().into())
        );
    });
}
