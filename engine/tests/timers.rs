//! Per-key timers through a real consumer: firing time, the operations, ordering with
//! messages, failures and the bound on due timers (restarts and rebalances are in
//! `timer_handover.rs`). Each scenario runs on the mock
//! cluster (in-memory store) and on real Kafka (Cassandra store).

mod support;
mod timer_support;

use std::collections::HashSet;
use std::time::Duration;

use prosody_engine::HandlerError;
use serde_json::json;
use support::{eventually, unique, Broker};
use timer_support::{now_secs, send, setup, Script, LIMIT};

async fn fires_on_time(broker: Broker) {
    let script = Script::named("one");
    let (topic, _, producer, consumer) = setup(broker, 1, &script, &[]).await;
    let base = now_secs();
    send(
        &producer,
        &topic,
        "k",
        json!({"schedule": [base + 3, base + 2]}),
    )
    .await;
    assert!(
        eventually(LIMIT, || script.fired_count() >= 2).await,
        "timers fired: {:?}",
        script.fired()
    );
    consumer.shutdown().await;
    assert_eq!(script.listed("k"), [vec![base + 2, base + 3]]);
    for fired in script.fired() {
        let due = fired.due();
        let lag = fired
            .at
            .duration_since(due)
            .expect("never fires before its time");
        assert!(
            lag < Duration::from_secs(1),
            "fired {lag:?} late: {fired:?}"
        );
    }
}

async fn scheduled_tracks_each_operation(broker: Broker) {
    let script = Script::named("one");
    let (topic, _, producer, consumer) = setup(broker, 1, &script, &[]).await;
    let t = now_secs() + 3_600;
    for payload in [
        json!({"schedule": [t + 100, t + 50]}),
        json!({"schedule": [t + 100]}),
        json!({"unschedule": [t + 50, t + 7]}),
        json!({"clear_and_schedule": t + 200, "schedule": [t + 300]}),
        json!({"clear_and_schedule": t + 400}),
        json!({"clear": true}),
    ] {
        send(&producer, &topic, "k", payload).await;
    }
    send(&producer, &topic, "other", json!({"schedule": [t + 9]})).await;
    assert!(
        eventually(LIMIT, || script.listed_count() == 7).await,
        "errors: {:?}",
        script.errors()
    );
    consumer.shutdown().await;
    let expected: Vec<Vec<u32>> = vec![
        vec![t + 50, t + 100],
        vec![t + 50, t + 100],
        vec![t + 100],
        vec![t + 200, t + 300],
        vec![t + 400],
        vec![],
    ];
    assert_eq!(script.listed("k"), expected);
    assert_eq!(script.listed("other"), [vec![t + 9]]);
}

async fn cleared_timers_do_not_fire(broker: Broker) {
    let script = Script::named("one");
    let (topic, _, producer, consumer) = setup(broker, 1, &script, &[]).await;
    let base = now_secs() + 3;
    send(
        &producer,
        &topic,
        "a",
        json!({"schedule": [base, base + 1]}),
    )
    .await;
    send(&producer, &topic, "a", json!({"unschedule": [base]})).await;
    send(&producer, &topic, "b", json!({"schedule": [base]})).await;
    send(
        &producer,
        &topic,
        "b",
        json!({"clear_and_schedule": base + 2}),
    )
    .await;
    send(
        &producer,
        &topic,
        "c",
        json!({"schedule": [base, base + 1]}),
    )
    .await;
    send(&producer, &topic, "c", json!({"clear": true})).await;
    let wanted = |s: &Script| {
        let fired: HashSet<_> = s.fired().into_iter().map(|f| (f.key, f.time)).collect();
        fired.contains(&("a".into(), base + 1)) && fired.contains(&("b".into(), base + 2))
    };
    assert!(
        eventually(LIMIT, || wanted(&script)).await,
        "fired: {:?}",
        script.fired()
    );
    consumer.shutdown().await;
    let fired: Vec<_> = script
        .fired()
        .into_iter()
        .map(|f| (f.key, f.time))
        .collect();
    assert_eq!(
        fired,
        [("a".to_string(), base + 1), ("b".to_string(), base + 2)]
    );
}

async fn timers_and_messages_never_overlap(broker: Broker) {
    let script = Script::named("one").holding(Duration::from_millis(40));
    let (topic, _, producer, consumer) = setup(broker, 2, &script, &[]).await;
    let base = now_secs() + 2;
    let keys: Vec<String> = (0..8).map(|k| format!("k{k}")).collect();
    for key in &keys {
        send(
            &producer,
            &topic,
            key,
            json!({"schedule": [base, base + 1, base + 2]}),
        )
        .await;
    }
    // Keep every key busy with messages while its timers come due.
    for round in 0..60 {
        for key in &keys {
            send(&producer, &topic, key, json!({"round": round})).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        eventually(LIMIT, || script.fired_count() >= 24).await,
        "fired: {}",
        script.fired_count()
    );
    assert!(eventually(LIMIT, || script.listed_count() >= 8 + 8 * 60).await);
    consumer.shutdown().await;
    assert_eq!(script.overlaps(), 0, "a key ran two handlers at once");
    assert_eq!(script.fired_count(), 24);
}

async fn a_firing_timer_can_reschedule(broker: Broker, after: u32) {
    let script = Script::named("one").rescheduling(after);
    let (topic, _, producer, consumer) = setup(broker, 1, &script, &[]).await;
    let base = now_secs() + 2;
    send(&producer, &topic, "k", json!({"schedule": [base]})).await;
    assert!(
        eventually(LIMIT, || script.fired_count() >= 2).await,
        "fired: {:?}",
        script.fired()
    );
    // Listing after both firings: nothing left.
    send(&producer, &topic, "k", json!({})).await;
    assert!(eventually(LIMIT, || script.listed("k").len() == 2).await);
    consumer.shutdown().await;
    let fired: Vec<u32> = script.fired().iter().map(|f| f.time).collect();
    assert_eq!(fired, [base, base + after]);
    assert_eq!(script.listed("k")[1], Vec::<u32>::new());
}

async fn failed_timers_follow_the_mode(broker: Broker, mode: &str, permanent: bool) {
    let error = if permanent {
        HandlerError::permanent("boom")
    } else {
        HandlerError::transient("boom")
    };
    let script = Script::named("one").failing_first(error);
    let failure_topic = unique("timer-failures");
    let extra = [
        ("mode", mode),
        ("failure_topic", failure_topic.as_str()),
        ("retry_base", "50ms"),
        ("max_retries", "1"),
    ];
    let (topic, _, producer, consumer) = setup(broker, 1, &script, &extra).await;
    let due = now_secs() + 2;
    send(&producer, &topic, "k", json!({"schedule": [due]})).await;
    let expected = if permanent { 1 } else { 2 };
    assert!(
        eventually(LIMIT, || script.fired_count() >= expected).await,
        "fired: {:?}",
        script.fired()
    );
    // Settled either way: the timer is gone from the store.
    send(&producer, &topic, "k", json!({})).await;
    assert!(eventually(LIMIT, || script.listed("k").len() == 2).await);
    consumer.shutdown().await;
    assert_eq!(
        script.fired_count(),
        expected,
        "attempts: {:?}",
        script.fired()
    );
    assert_eq!(script.listed("k")[1], Vec::<u32>::new());
}

/// `keys` timers come due at once on 8 partitions, more than `permits` (`max_uncommitted`):
/// all fire, never more than `permits` at a time, and idle partitions hold no permit.
async fn due_timers_are_bounded(broker: Broker, permits: usize, keys: usize) {
    let script = Script::named("one").holding(Duration::from_millis(200));
    let permits_text = permits.to_string();
    let extra = [
        ("max_uncommitted", permits_text.as_str()),
        ("max_concurrency", "32"),
    ];
    let (topic, _, producer, consumer) = setup(broker, 8, &script, &extra).await;
    let due = now_secs() + 2;
    for key in 0..keys {
        let payload = json!({"schedule": [due]});
        send(&producer, &topic, &format!("k{key}"), payload).await;
    }
    let fired = eventually(LIMIT, || script.fired_count() >= keys).await;
    consumer.shutdown().await;
    assert!(fired, "fired: {:?}", script.fired());
    let peak = script.peak_timers();
    assert!(peak <= permits, "peak {peak} timers running");
    assert!(
        peak >= permits.min(2),
        "timers never ran concurrently (peak {peak})"
    );
}

on_both_brokers! {
    fire_on_time => fires_on_time();
    scheduled_after_each_operation => scheduled_tracks_each_operation();
    cleared_and_unscheduled_timers_stay_quiet => cleared_timers_do_not_fire();
    timers_queue_with_messages => timers_and_messages_never_overlap();
    reschedule_itself_while_firing => a_firing_timer_can_reschedule(0);
    reschedule_later_while_firing => a_firing_timer_can_reschedule(1);
    due_timer_bound => due_timers_are_bounded(4, 40);
    idle_partitions_hold_no_timer_permit => due_timers_are_bounded(1, 6);
    transient_timer_failure_is_retried => failed_timers_follow_the_mode("pipeline", false);
    permanent_timer_failure_is_dropped => failed_timers_follow_the_mode("pipeline", true);
    low_latency_timer_failure_is_retried_not_dead_lettered => failed_timers_follow_the_mode("low_latency", false);
}
