//! Every member of a group stopping at once, as a deploy or the fault suite's final stop does:
//! each returns within `shutdown_timeout`, and what they handled is committed.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{committed, consume, create_topic, eventually, produce, unique, Broker, Recorder};

const MEMBERS: usize = 3;
const MESSAGES: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_members_stopping_together_each_return_in_time() {
    let broker = Broker::Real;
    let topic = unique("group-stop");
    let group = unique("group-stop-group");
    create_topic(broker, &topic, 8).await;
    let recorder = Recorder::default();
    let options = [("shutdown_timeout", "10s"), ("commit_interval", "100ms")];
    let members: Vec<_> = (0..MEMBERS)
        .map(|_| consume(broker, &group, &topic, &options, Arc::new(recorder.clone())))
        .collect();
    produce(broker, &topic, 20, MESSAGES).await;
    recorder.wait_for(MESSAGES, Duration::from_secs(60)).await;

    let started = Instant::now();
    let stops = members.into_iter().map(|member| async move {
        let started = Instant::now();
        member.shutdown().await;
        started.elapsed()
    });
    let took = futures::future::join_all(stops).await;
    eprintln!(
        "members stopped in {took:?} (all within {:?})",
        started.elapsed()
    );
    for each in &took {
        assert!(
            *each < Duration::from_secs(13),
            "a member took {each:?} to stop: {took:?}"
        );
    }
    let total = |offsets: Vec<i64>| offsets.into_iter().map(|o| o.max(0)).sum::<i64>();
    assert!(
        eventually(Duration::from_secs(10), || total(committed(
            broker, &group, &topic, 8
        )) == MESSAGES as i64)
        .await,
        "everything handled is committed"
    );
}
