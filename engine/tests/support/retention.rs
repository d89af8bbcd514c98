//! Deleting a partition's oldest records, as retention would: Kafka's DeleteRecords on a real
//! broker; on the mock cluster, which has no DeleteRecords, by overflowing the 5 MiB it keeps
//! per partition.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{Offset, TopicPartitionList};

use super::{bootstrap, config, Broker};

/// The partition's (log start, end) offsets.
pub fn watermarks(broker: Broker, topic: &str, partition: i32) -> (i64, i64) {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.servers())
        .create()
        .expect("watermark reader");
    consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .expect("watermarks")
}

/// Deletes every record of `topic`/`partition` before `before`. On the mock cluster the topic
/// must have one partition: filler records under the key "filler" push at least those out,
/// and some of the filler goes too.
pub async fn delete_before(broker: Broker, topic: &str, partition: i32, before: i64) {
    match broker {
        Broker::Real => {
            let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", bootstrap())
                .create()
                .expect("admin client");
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(topic, partition, Offset::Offset(before))
                .expect("offset");
            let result = admin
                .delete_records(&list, &AdminOptions::new())
                .await
                .expect("delete records");
            let entry = result
                .find_partition(topic, partition)
                .expect("partition result");
            assert!(entry.error().is_ok(), "{:?}", entry.error());
        }
        Broker::Mock => {
            let producer = prosody_engine::Producer::new(&config(
                broker,
                &[("source_system", "qos-test"), ("send_timeout", "30s")],
            ))
            .expect("producer");
            let pad = "x".repeat(900_000);
            for n in 0..30 {
                if watermarks(broker, topic, partition).0 >= before {
                    return;
                }
                producer
                    .send(topic, "filler", &serde_json::json!({ "n": n, "pad": pad }))
                    .await
                    .expect("filler sent");
            }
            panic!("the mock cluster kept offset {before} of {topic} after 27 MB of filler");
        }
    }
}
