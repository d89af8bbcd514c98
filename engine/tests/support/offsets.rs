//! Offsets read, and a group's commit rewound, from outside the clients under test.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};

use super::Broker;

/// The offsets `group` has committed for `topic`'s partitions `0..partitions` (-1 for none).
pub fn committed(broker: Broker, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.servers())
        .set("group.id", group)
        .create()
        .expect("offset reader");
    let mut list = rdkafka::TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(offset)) => offset,
                _ => -1,
            },
        )
        .collect()
}

/// Commits `offset` for partition 0 of `topic` in `group`, as a lagging commit would leave it:
/// the group's next consumer starts there. Call it while no member of the group runs.
pub fn rewind(broker: Broker, group: &str, topic: &str, offset: i64) {
    // A member of the group commits: the mock cluster refuses a commit from outside it. On the
    // mock, the session is as short as the engine's there: after a member leaves, the mock
    // coordinator holds the group for the leaver's session timeout.
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", broker.servers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("partition.assignment.strategy", "cooperative-sticky");
    if broker == Broker::Mock {
        config
            .set("session.timeout.ms", "2000")
            .set("heartbeat.interval.ms", "500");
    }
    let consumer: BaseConsumer = config.create().expect("offset writer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer.assignment().map_or(0, |list| list.count()) == 0 {
        assert!(Instant::now() < deadline, "no assignment to rewind");
        let _ = consumer.poll(Duration::from_millis(100));
    }
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Offset(offset))
        .expect("offset");
    consumer.commit(&list, CommitMode::Sync).expect("commit");
    consumer.unsubscribe();
}

/// The end offset of each of `topic`'s partitions, as its metadata lists them.
pub fn end_offsets(broker: Broker, topic: &str) -> Vec<i64> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.servers())
        .create()
        .expect("offset reader");
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("metadata");
    let Some(listed) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Vec::new();
    };
    listed
        .partitions()
        .iter()
        .map(|partition| {
            consumer
                .fetch_watermarks(topic, partition.id(), timeout)
                .expect("watermarks")
                .1
        })
        .collect()
}
