//! Excise records through a real consumer (issue 18): `Producer::excise_in_trace` writes a
//! tombstone; a handler that takes excise records gets each one in its key's order, one that
//! does not never sees them, and both groups commit past every record.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prosody_engine::{Context, Continuation, Handler, HandlerFuture, Message};
use support::{committed, consume, create_topic, eventually, test_producer, unique, Broker};

/// An event's key and its `seq`, or `None` for an excise.
type Seen = (String, Option<i64>);

/// What a handler saw, in order.
#[derive(Clone, Default)]
struct Trail {
    seen: Arc<Mutex<Vec<Seen>>>,
    excise: bool,
}

impl Trail {
    fn taking_excise() -> Self {
        Self {
            excise: true,
            ..Self::default()
        }
    }

    fn of(&self, key: &str) -> Vec<Option<i64>> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(k, _)| k == key)
            .map(|(_, seq)| *seq)
            .collect()
    }

    fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl Handler for Trail {
    fn takes_excise(&self) -> bool {
        self.excise
    }

    fn on_message(&self, _context: Context, message: Message) -> HandlerFuture {
        let seen = Arc::clone(&self.seen);
        Box::pin(async move {
            let seq = (!message.is_excise()).then(|| message.payload()["seq"].as_i64().unwrap());
            assert_eq!(message.is_excise(), message.payload().is_null());
            seen.lock().unwrap().push((message.key().to_string(), seq));
            Ok(())
        })
    }
}

async fn excise_records_reach_only_handlers_that_take_them(broker: Broker) {
    let topic = unique("excise");
    create_topic(broker, &topic, 1).await;
    let producer = test_producer(broker);
    for seq in 0..2 {
        for key in ["a", "b"] {
            let payload = serde_json::json!({ "seq": seq });
            producer.send(&topic, key, &payload).await.expect("sent");
            producer
                .excise_in_trace(&topic, key, Continuation::default())
                .await
                .expect("excise sent");
        }
    }
    let options = [("commit_interval", "50ms")];
    let (taking, plain) = (Trail::taking_excise(), Trail::default());
    let (taking_group, plain_group) = (unique("excise-taking"), unique("excise-plain"));
    let consumers = [
        consume(
            broker,
            &taking_group,
            &topic,
            &options,
            Arc::new(taking.clone()),
        ),
        consume(
            broker,
            &plain_group,
            &topic,
            &options,
            Arc::new(plain.clone()),
        ),
    ];
    let limit = Duration::from_secs(60);
    let settled = eventually(limit, || {
        committed(broker, &taking_group, &topic, 1) == [8]
            && committed(broker, &plain_group, &topic, 1) == [8]
    })
    .await;
    let skipped = consumers[1]
        .stats()
        .skipped
        .load(std::sync::atomic::Ordering::SeqCst);
    for consumer in consumers {
        consumer.shutdown().await;
    }
    assert!(settled, "both groups commit past every record");
    for key in ["a", "b"] {
        assert_eq!(taking.of(key), [Some(0), None, Some(1), None]);
        assert_eq!(plain.of(key), [Some(0), Some(1)]);
    }
    assert_eq!((taking.len(), plain.len()), (8, 4));
    assert_eq!(skipped, 4, "the plain group skipped each excise record");
}

on_both_brokers! {
    excise_records_reach_only_handlers_that_take_them => excise_records_reach_only_handlers_that_take_them();
}
