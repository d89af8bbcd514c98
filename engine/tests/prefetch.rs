//! The consumer hands every received message to the stack's `Handler::prefetch` before the
//! message runs (issue 15): on the mock broker, each handled message was hinted first, once.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prosody_engine::{Context, Handler, HandlerFuture, Message};
use support::{consume, create_topic, produce, unique, Broker, Recorder};

/// What happened to a message: `hint` or `run`, its partition and its offset.
type Entry = (&'static str, i32, i64);

/// Logs each hint and each handled message by offset, then counts the message as handled.
#[derive(Clone, Default)]
struct Hinted {
    log: Arc<Mutex<Vec<Entry>>>,
    recorder: Recorder,
}

impl Handler for Hinted {
    fn prefetch(&self, message: &Message) {
        let entry = ("hint", message.partition(), message.offset());
        self.log.lock().unwrap().push(entry);
    }

    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let entry = ("run", message.partition(), message.offset());
        self.log.lock().unwrap().push(entry);
        self.recorder.on_message(context, message)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_is_hinted_once_before_it_runs() {
    let topic = unique("prefetch");
    create_topic(Broker::Mock, &topic, 2).await;
    produce(Broker::Mock, &topic, 10, 200).await;
    let handler = Hinted::default();
    let consumer = consume(
        Broker::Mock,
        &format!("{topic}-group"),
        &topic,
        &[],
        Arc::new(handler.clone()),
    );
    handler
        .recorder
        .wait_for(200, Duration::from_secs(30))
        .await;
    consumer.shutdown().await;

    let log = handler.log.lock().unwrap().clone();
    let mut first_seen: HashMap<(i32, i64), &str> = HashMap::new();
    let mut hints: HashMap<(i32, i64), usize> = HashMap::new();
    for (what, partition, offset) in &log {
        first_seen.entry((*partition, *offset)).or_insert(what);
        if *what == "hint" {
            *hints.entry((*partition, *offset)).or_default() += 1;
        }
    }
    assert_eq!(first_seen.len(), 200, "every message appears");
    assert!(
        first_seen.values().all(|what| *what == "hint"),
        "a message ran before its hint"
    );
    assert!(
        hints.values().all(|&n| n == 1),
        "a message was hinted twice"
    );
}
