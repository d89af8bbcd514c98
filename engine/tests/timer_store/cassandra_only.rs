//! What only the Cassandra store does: slab-size changes, expiry, index clean-up, outages.

use std::future::Future;
use std::time::{Duration, Instant};

use prosody_engine::{Cassandra, CassandraTimerStore, TimerSegment, TimerStore, TimerTime};

use super::{
    base, cassandra_store, config, insert_all, loaded, run, segment, support, t, timers, HOUR,
};

/// Rows of the segment's slab index, `(start, size)`, read behind the store's back.
async fn index_rows(segment: &TimerSegment) -> Vec<(i64, i32)> {
    let cassandra = Cassandra::shared(&config(&support::cassandra_nodes()))
        .get()
        .await
        .expect("cassandra reachable");
    let cql = format!(
        "SELECT start, size FROM {}.timer_slab_index WHERE segment = ?",
        cassandra.keyspace()
    );
    let rows = cassandra
        .session()
        .query_unpaged(cql, (segment.id(),))
        .await
        .expect("index query")
        .into_rows_result()
        .expect("rows");
    rows.rows::<(i64, i32)>()
        .expect("typed rows")
        .collect::<Result<_, _>>()
        .expect("index rows")
}

#[test]
fn a_changed_slab_size_hides_nothing() {
    run(async {
        let (segment, b) = (segment(0), base());
        let (small, large) = (
            cassandra_store(60, HOUR.into()),
            cassandra_store(3_600, HOUR.into()),
        );
        let all: Vec<_> = (0..40)
            .map(|i| (format!("k{}", i % 5), b + i * 271))
            .collect();
        insert_all(&small, &segment, &all[1..]).await;
        insert_all(&large, &segment, &all[..1]).await;
        let mut expected: Vec<_> = all.iter().map(|(k, s)| (k.clone(), t(*s))).collect();
        expected.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        assert_eq!(loaded(&large, &segment, b, b + 4 * HOUR).await, expected);
        assert_eq!(loaded(&small, &segment, b, b + 4 * HOUR).await, expected);

        // The large store removes a timer the small one wrote: its slab row is left behind, but
        // `load` checks it against the key index, drops it and deletes it.
        let (key, time) = &all[1];
        large.remove(&segment, key, t(*time)).await.expect("remove");
        expected.retain(|(k, s)| (k, *s) != (key, t(*time)));
        assert_eq!(loaded(&large, &segment, b, b + 4 * HOUR).await, expected);
        assert_eq!(loaded(&small, &segment, b, b + 4 * HOUR).await, expected);
    });
}

#[test]
fn rows_expire_retention_after_their_time() {
    run(async {
        let (store, segment) = (cassandra_store(1, 2), segment(0));
        let now = TimerTime::now().as_secs();
        let started = Instant::now();
        store
            .insert(&segment, "past", t(now - 100))
            .await
            .expect("insert");
        store
            .insert(&segment, "soon", t(now + 4))
            .await
            .expect("insert");
        assert_eq!(
            store.times(&segment, "past").await.expect("times"),
            [t(now - 100)]
        );
        assert_eq!(index_rows(&segment).await.len(), 2);

        // TTL 2 s (time passed, so retention only).
        let gone = within(Duration::from_secs(6), || async {
            store
                .times(&segment, "past")
                .await
                .expect("times")
                .is_empty()
                && loaded(&store, &segment, now - 200, now).await.is_empty()
        });
        assert!(gone.await, "a past timer's rows expire after `retention`");
        let soon = store.times(&segment, "soon").await.expect("times");
        assert_eq!(soon, [t(now + 4)], "a future timer outlives a past one");

        // TTL 4 s + 2 s for its rows, 5 s + 2 s for its index row (slab end + retention).
        let gone = within(Duration::from_secs(10), || async {
            store
                .times(&segment, "soon")
                .await
                .expect("times")
                .is_empty()
                && index_rows(&segment).await.is_empty()
        });
        assert!(
            gone.await,
            "a future timer's rows expire `retention` after its time"
        );
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(5),
            "expired too early: {elapsed:?}"
        );
    });
}

#[test]
fn timers_past_cassandra_ttl_limits_are_kept_without_ttl() {
    run(async {
        let (store, segment) = (cassandra_store(3_600, 365 * 86_400), segment(0));
        let (after_2038, last) = (2_200_000_000, u32::MAX);
        for time in [after_2038, last] {
            store
                .insert(&segment, "far", t(time))
                .await
                .expect("insert past 2038");
        }
        let times = store.times(&segment, "far").await.expect("times");
        assert_eq!(times, [t(after_2038), t(last)]);
        let due = loaded(&store, &segment, after_2038, last).await;
        assert_eq!(due, timers(&[("far", after_2038)]));
    });
}

#[test]
fn emptied_past_slabs_leave_the_index() {
    run(async {
        let (store, segment) = (cassandra_store(60, HOUR.into()), segment(0));
        let now = TimerTime::now().as_secs();
        let (emptied, kept, future) = (now - 3 * HOUR, now - 2 * HOUR, now + 2 * HOUR);
        for time in [emptied, kept, future] {
            store.insert(&segment, "k", t(time)).await.expect("insert");
        }
        store
            .remove(&segment, "k", t(emptied))
            .await
            .expect("remove");
        store
            .remove(&segment, "k", t(future))
            .await
            .expect("remove");
        let start = |time: u32| i64::from(time - time % 60);
        let all = [(start(emptied), 60), (start(kept), 60), (start(future), 60)];
        assert_eq!(index_rows(&segment).await, all);

        let due = loaded(&store, &segment, 0, now + 3 * HOUR).await;
        assert_eq!(due, timers(&[("k", kept)]));
        assert_eq!(
            index_rows(&segment).await,
            all[1..],
            "only the past empty slab is collected"
        );
    });
}

#[test]
fn an_unreachable_node_fails_fast_naming_cassandra() {
    run(async {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let nodes = format!("127.0.0.1:{port}");
        let store = CassandraTimerStore::new(
            Cassandra::shared(&config(&nodes)),
            Duration::from_secs(3_600),
            Duration::from_secs(3_600),
        );
        let segment = segment(0);
        let started = Instant::now();
        let limit = Duration::from_secs(10);
        let errors = [
            tokio::time::timeout(limit, store.insert(&segment, "k", t(1)))
                .await
                .map(|r| r.err()),
            tokio::time::timeout(limit, store.times(&segment, "k"))
                .await
                .map(|r| r.err()),
            tokio::time::timeout(limit, store.load(&segment, t(0), t(9)))
                .await
                .map(|r| r.err()),
        ];
        for error in errors {
            let error = error.expect("fails within seconds").expect("fails");
            assert!(error.is_transient(), "{error}");
            let message = error.to_string();
            assert!(
                message.contains("cassandra") && message.contains(&nodes),
                "{message}"
            );
        }
        assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
    });
}

/// Polls `condition` every 250 ms until it holds or `limit` passes.
async fn within<F: Future<Output = bool>>(
    limit: Duration,
    mut condition: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
