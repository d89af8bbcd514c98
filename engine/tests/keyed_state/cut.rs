//! Fault injection on the Cassandra store: the connection is cut while a large commit is in
//! flight, at several moments. Whatever the moment, the key shows either every write of the
//! event and its marker, or none of them, every time it is read afterwards. (Some commits
//! reported as failed land a moment later, when the coordinator finishes the round: the marker
//! is what makes the event's retry safe then.)

use std::time::Duration;

use prosody_engine::state::{CassandraStateStore, EventRef, ScanQuery, StateTxn, TxnScope};

use super::support::proxy::Proxy;
use super::*;

/// Entries one cut commit writes: enough that the batch takes a while to send and apply.
const ENTRIES: usize = 400;

#[test]
fn a_commit_cut_off_mid_flight_applies_all_of_its_writes_or_none() {
    run(async {
        let map = Definition::map("window").build().unwrap();
        let direct = Fixture::new(Backend::Cassandra, &[&map]).await;
        let proxy = Proxy::start(&support::cassandra_nodes()).await;
        let through =
            Config::from_options_with_env([("cassandra_nodes", proxy.address())], |_| None)
                .expect("valid configuration");
        let cut_store: Arc<dyn StateStore> = Arc::new(CassandraStateStore::from_config(&through));
        let scope = |key: &str| TxnScope {
            group: direct.group.clone(),
            key: key.into(),
            epoch: direct.epoch,
            event: Some(EventRef::new("orders", 0, 1)),
        };
        // Connect and prepare through the proxy before cutting anything.
        StateTxn::begin(
            Arc::clone(&cut_store),
            Arc::clone(&direct.registry),
            scope("warm-up"),
        )
        .await
        .expect("reachable through the proxy");

        let mut outcomes = Vec::new();
        for (attempt, delay) in [0_u64, 1, 3, 10, 30, 100].into_iter().enumerate() {
            let key = format!("cut-{attempt}");
            // The driver reconnects after each cut: wait for it rather than for a fixed time.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut txn = loop {
                let begun = StateTxn::begin(
                    Arc::clone(&cut_store),
                    Arc::clone(&direct.registry),
                    scope(&key),
                )
                .await;
                match begun {
                    Ok(txn) => break txn,
                    Err(error) if error.is_transient() && std::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(error) => panic!("begin through the proxy: {error}"),
                }
            };
            for entry in 0..ENTRIES {
                let value = StateValue::Bytes(vec![b'x'; 64]);
                txn.map_set(&map, format!("{entry:05}").as_bytes(), value)
                    .await
                    .unwrap();
            }
            let commit = tokio::spawn(async move { txn.commit().await });
            tokio::time::sleep(Duration::from_millis(delay)).await;
            proxy.cut();
            let committed = commit.await.expect("commit task").is_ok();
            proxy.restore();
            outcomes.push(committed);

            // A commit cut off may still land later (the coordinator finishes its round), so
            // each observation is checked only when the head did not move while it was taken.
            let event = EventRef::new("orders", 0, 1);
            let mut consistent = 0;
            for _ in 0..50 {
                let mut check = direct.txn(&key, 1).await;
                let visible = check.map_scan(&map, &ScanQuery::all()).await.unwrap().len();
                let after = direct.store.head(&direct.group, &key).await.unwrap();
                if check.already_applied() != after.has_applied(&event) {
                    continue;
                }
                assert!(
                    visible == 0 || visible == ENTRIES,
                    "cut after {delay} ms: {visible} of {ENTRIES} entries visible"
                );
                assert_eq!(
                    check.already_applied(),
                    visible == ENTRIES,
                    "the marker goes with the writes"
                );
                if committed {
                    assert_eq!(visible, ENTRIES, "a commit reported applied is visible");
                }
                consistent += 1;
                if consistent == 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(consistent, 3, "three stable observations");
        }
        eprintln!("commits applied before the cut, by delay: {outcomes:?}");
    });
}
