//! Collection semantics: ordered map and set scans merged with staged writes, deque
//! operations and capacity, clears, and message references.

use prosody_engine::state::{MessageRef, StateValue};

use super::*;

on_both_stores!(
    map_scans_are_ordered_and_honour_range_prefix_limit_and_reverse,
    set_scans_merge_staged_members,
    deque_operations_and_negative_indices,
    deque_capacity_trims_the_end_opposite_the_push,
    a_lowered_deque_capacity_applies_at_the_next_push,
    a_clear_then_writes_in_one_event_keep_only_the_writes,
    message_collections_store_references,
    an_event_writing_well_past_the_batch_warning_size_commits_whole,
);

async fn map_scans_are_ordered_and_honour_range_prefix_limit_and_reverse(backend: Backend) {
    let map = Definition::map("index").build().unwrap();
    let fixture = Fixture::new(backend, &[&map]).await;
    let mut txn = fixture.txn("k", 1).await;
    for key in [&b"b"[..], b"abc", b"\xff", b"gone"] {
        txn.map_set(&map, key, bytes("committed")).await.unwrap();
    }
    txn.commit().await.unwrap();

    // Staged writes and deletes merge into committed data.
    let mut txn = fixture.txn("k", 2).await;
    for key in [&b"ab"[..], b"\x00", b"a"] {
        txn.map_set(&map, key, bytes("staged")).await.unwrap();
    }
    txn.map_delete(&map, b"gone").await.unwrap();
    txn.map_set(&map, b"b", bytes("false")).await.unwrap();

    let all = txn.map_scan(&map, &ScanQuery::all()).await.unwrap();
    let expected: Vec<&[u8]> = vec![b"\x00", b"a", b"ab", b"abc", b"b", b"\xff"];
    assert_eq!(keys(&all), expected);
    assert_eq!(all[4].1, bytes("false"), "the staged value wins");
    let reverse = txn
        .map_scan(&map, &ScanQuery::all().reverse())
        .await
        .unwrap();
    assert_eq!(
        keys(&reverse),
        expected.iter().rev().copied().collect::<Vec<_>>()
    );

    let prefix = txn
        .map_scan(&map, &ScanQuery::all().prefix("ab"))
        .await
        .unwrap();
    assert_eq!(keys(&prefix), [&b"ab"[..], b"abc"]);
    let limited = txn
        .map_scan(&map, &ScanQuery::all().limit(2))
        .await
        .unwrap();
    assert_eq!(keys(&limited), [&b"\x00"[..], b"a"]);
    let last_two = txn
        .map_scan(&map, &ScanQuery::all().reverse().limit(2))
        .await
        .unwrap();
    assert_eq!(keys(&last_two), [&b"\xff"[..], b"b"]);
    let window = txn
        .map_scan(&map, &ScanQuery::all().after("a").before("b"))
        .await
        .unwrap();
    assert_eq!(keys(&window), [&b"ab"[..], b"abc"]);
    let closed = txn
        .map_scan(&map, &ScanQuery::all().from("a").to("b").reverse().limit(3))
        .await
        .unwrap();
    assert_eq!(keys(&closed), [&b"b"[..], b"abc", b"ab"]);
    assert!(txn
        .map_scan(&map, &ScanQuery::all().from("b").to("a"))
        .await
        .unwrap()
        .is_empty());
    assert!(txn
        .map_scan(&map, &ScanQuery::all().limit(0))
        .await
        .unwrap()
        .is_empty());

    let many = txn
        .map_get_many(&map, &[b"ab", b"nope", b"abc"])
        .await
        .unwrap();
    assert_eq!(
        many,
        [Some(bytes("staged")), None, Some(bytes("committed"))]
    );
    txn.commit().await.unwrap();
    let after = fixture
        .txn("k", 3)
        .await
        .map_scan(&map, &ScanQuery::all())
        .await
        .unwrap();
    assert_eq!(keys(&after), expected, "the committed order is the same");
}

async fn set_scans_merge_staged_members(backend: Backend) {
    let set = Definition::set("members").build().unwrap();
    let fixture = Fixture::new(backend, &[&set]).await;
    let mut txn = fixture.txn("k", 1).await;
    txn.set_add(&set, b"b").await.unwrap();
    txn.set_add(&set, b"d").await.unwrap();
    txn.commit().await.unwrap();
    let mut txn = fixture.txn("k", 2).await;
    txn.set_add(&set, b"a").await.unwrap();
    txn.set_add(&set, b"b").await.unwrap();
    txn.set_delete(&set, b"d").await.unwrap();
    assert!(txn.set_contains(&set, b"a").await.unwrap());
    assert!(!txn.set_contains(&set, b"d").await.unwrap());
    assert_eq!(
        txn.set_scan(&set, &ScanQuery::all()).await.unwrap(),
        [b"a".to_vec(), b"b".to_vec()]
    );
    assert_eq!(
        txn.set_scan(&set, &ScanQuery::all().reverse().limit(1))
            .await
            .unwrap(),
        [b"b".to_vec()]
    );
}

async fn deque_operations_and_negative_indices(backend: Backend) {
    let deque = Definition::deque("queue").build().unwrap();
    let fixture = Fixture::new(backend, &[&deque]).await;
    let mut txn = fixture.txn("k", 1).await;
    assert_eq!(txn.deque_pop_front(&deque).await.unwrap(), None);
    for value in ["1", "2", "3"] {
        txn.deque_push_back(&deque, bytes(value)).await.unwrap();
    }
    txn.deque_push_front(&deque, bytes("0")).await.unwrap();
    txn.commit().await.unwrap();

    let mut txn = fixture.txn("k", 2).await;
    assert_eq!(
        texts(txn.deque_scan(&deque, false, None).await.unwrap()),
        ["0", "1", "2", "3"]
    );
    assert_eq!(txn.deque_len(&deque).await.unwrap(), 4);
    assert_eq!(txn.deque_get(&deque, 0).await.unwrap(), Some(bytes("0")));
    assert_eq!(txn.deque_get(&deque, -1).await.unwrap(), Some(bytes("3")));
    assert_eq!(txn.deque_get(&deque, -4).await.unwrap(), Some(bytes("0")));
    assert_eq!(txn.deque_get(&deque, 4).await.unwrap(), None);
    assert_eq!(txn.deque_get(&deque, -5).await.unwrap(), None);
    assert_eq!(txn.deque_first(&deque).await.unwrap(), Some(bytes("0")));
    assert_eq!(txn.deque_last(&deque).await.unwrap(), Some(bytes("3")));
    assert_eq!(txn.deque_pop_front(&deque).await.unwrap(), Some(bytes("0")));
    assert_eq!(txn.deque_pop_back(&deque).await.unwrap(), Some(bytes("3")));
    txn.deque_push_back(&deque, bytes("4")).await.unwrap();
    txn.commit().await.unwrap();

    let mut txn = fixture.txn("k", 3).await;
    assert_eq!(
        texts(txn.deque_scan(&deque, true, None).await.unwrap()),
        ["4", "2", "1"]
    );
    txn.deque_clear(&deque).await.unwrap();
    assert_eq!(txn.deque_len(&deque).await.unwrap(), 0);
    txn.deque_push_front(&deque, bytes("after clear"))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let mut txn = fixture.txn("k", 4).await;
    assert_eq!(
        texts(txn.deque_scan(&deque, false, None).await.unwrap()),
        ["after clear"]
    );
}

async fn deque_capacity_trims_the_end_opposite_the_push(backend: Backend) {
    let window = Definition::deque("window").capacity(3).build().unwrap();
    let fixture = Fixture::new(backend, &[&window]).await;
    let mut txn = fixture.txn("k", 1).await;
    for value in ["1", "2", "3", "4"] {
        txn.deque_push_back(&window, bytes(value)).await.unwrap();
    }
    txn.commit().await.unwrap();
    let mut txn = fixture.txn("k", 2).await;
    txn.deque_push_back(&window, bytes("5")).await.unwrap();
    assert_eq!(
        texts(txn.deque_scan(&window, false, None).await.unwrap()),
        ["3", "4", "5"]
    );
    txn.deque_push_front(&window, bytes("0")).await.unwrap();
    txn.commit().await.unwrap();
    let mut txn = fixture.txn("k", 3).await;
    assert_eq!(
        texts(txn.deque_scan(&window, false, None).await.unwrap()),
        ["0", "3", "4"]
    );
    assert_eq!(txn.deque_len(&window).await.unwrap(), 3);
}

/// Capacity is not part of a collection's identity, so a deploy may lower it; the next push
/// then trims the deque to the new capacity at once (unlike the upstream, which converges by two
/// evictions per push).
async fn a_lowered_deque_capacity_applies_at_the_next_push(backend: Backend) {
    let wide = Definition::deque("window").capacity(5).build().unwrap();
    let fixture = Fixture::new(backend, &[&wide]).await;
    let mut txn = fixture.txn("k", 1).await;
    for value in ["1", "2", "3", "4", "5"] {
        txn.deque_push_back(&wide, bytes(value)).await.unwrap();
    }
    txn.commit().await.unwrap();

    let narrow = Definition::deque("window").capacity(2).build().unwrap();
    let redeployed = Fixture::with_group(backend, &[&narrow], fixture.group.clone()).await;
    let mut txn = redeployed.txn("k", 2).await;
    assert_eq!(
        txn.deque_len(&narrow).await.unwrap(),
        5,
        "nothing is trimmed before a push"
    );
    txn.deque_push_back(&narrow, bytes("6")).await.unwrap();
    txn.commit().await.unwrap();
    let mut txn = redeployed.txn("k", 3).await;
    assert_eq!(
        texts(txn.deque_scan(&narrow, false, None).await.unwrap()),
        ["5", "6"]
    );
    assert_eq!(txn.deque_len(&narrow).await.unwrap(), 2);
}

async fn a_clear_then_writes_in_one_event_keep_only_the_writes(backend: Backend) {
    let map = Definition::map("index").build().unwrap();
    let fixture = Fixture::new(backend, &[&map]).await;
    let mut txn = fixture.txn("k", 1).await;
    txn.map_set(&map, b"a", bytes("1")).await.unwrap();
    txn.map_set(&map, b"b", bytes("1")).await.unwrap();
    txn.commit().await.unwrap();
    let mut txn = fixture.txn("k", 2).await;
    txn.map_clear(&map).await.unwrap();
    txn.map_set(&map, b"b", bytes("2")).await.unwrap();
    txn.map_set(&map, b"c", bytes("2")).await.unwrap();
    assert_eq!(txn.map_get(&map, b"a").await.unwrap(), None);
    txn.commit().await.unwrap();
    let rows = fixture
        .txn("k", 3)
        .await
        .map_scan(&map, &ScanQuery::all())
        .await
        .unwrap();
    assert_eq!(
        rows,
        [(b"b".to_vec(), bytes("2")), (b"c".to_vec(), bytes("2"))]
    );
}

async fn message_collections_store_references(backend: Backend) {
    let window = Definition::deque("window").message().build().unwrap();
    let fixture = Fixture::new(backend, &[&window]).await;
    let mut txn = fixture.txn("k", 1).await;
    let reference = MessageRef::new("orders", 0, 1);
    txn.deque_push_back(&window, reference.clone().into())
        .await
        .unwrap();
    let error = state_error(txn.deque_push_back(&window, bytes("{}")).await);
    assert!(matches!(error, StateError::Usage { .. }), "{error:?}");
    txn.commit().await.unwrap();
    let mut txn = fixture.txn("k", 2).await;
    assert_eq!(
        txn.deque_first(&window).await.unwrap(),
        Some(StateValue::Message(reference))
    );
}

/// One event writing about 1 MiB (4,000 entries of 256 bytes) commits as one batch and reads
/// back whole: Cassandra's batch size limits (50 KiB by default) do not apply to a batch within
/// one partition, so a large event is not stuck retrying a commit Cassandra refuses.
async fn an_event_writing_well_past_the_batch_warning_size_commits_whole(backend: Backend) {
    const ENTRIES: usize = 4_000;
    let map = Definition::map("large").build().unwrap();
    let fixture = Fixture::new(backend, &[&map]).await;
    let mut txn = fixture.txn("k", 1).await;
    for entry in 0..ENTRIES {
        let value = StateValue::Bytes(vec![b'v'; 256]);
        txn.map_set(&map, format!("{entry:05}").as_bytes(), value)
            .await
            .unwrap();
    }
    assert_eq!(txn.commit().await.unwrap(), Outcome::Applied);
    let mut check = fixture.txn("k", 2).await;
    let rows = check.map_scan(&map, &ScanQuery::all()).await.unwrap();
    assert_eq!(rows.len(), ENTRIES);
    assert_eq!(rows[ENTRIES - 1].0, b"03999");
}
