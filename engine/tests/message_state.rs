//! Message collections through a running consumer (issue #17), on the mock cluster with the
//! memory store and on real Kafka with Cassandra: a handler stores its messages by reference,
//! reads them back whole through the context's reloader, and a reference Kafka cannot answer
//! fails promptly with an error naming the collection.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prosody_engine::state::{Definition, MessageRef, Registry, StateError, StateValue};
use prosody_engine::{Consumer, Context, Handler, HandlerError, HandlerFuture, Message, Telemetry};
use support::shared_runtime::run;
use support::{config, create_topic, eventually, produce, unique, Broker};

on_both_backends! {
    reloads_stored_messages => a_deque_of_messages_reads_back_the_messages_it_stored;
    gone_reference_fails_promptly => a_reference_kafka_cannot_answer_fails_promptly_naming_it;
}

fn window() -> Definition {
    Definition::deque("window")
        .message()
        .capacity(2)
        .build()
        .expect("valid definition")
}

fn consume(broker: Broker, topic: &str, handler: impl Handler) -> Consumer {
    let group = unique("message-state-group");
    let options = [
        ("group_id", group.as_str()),
        ("subscribed_topics", topic),
        ("defer_enabled", "false"),
        ("retry_base", "5ms"),
        ("max_retry_delay", "20ms"),
        // A reference Kafka cannot answer fails after this long instead of 30 s.
        ("defer_seek_timeout", "1s"),
    ];
    let registry = Registry::new(None, [window()]).expect("valid registry");
    Consumer::subscribe_with_state(
        &config(broker, &options),
        Arc::new(handler),
        tokio::runtime::Handle::current(),
        Telemetry::disabled(),
        registry,
    )
    .expect("consumer starts")
}

fn failed(error: prosody_engine::Error) -> HandlerError {
    HandlerError::permanent(error.to_string())
}

/// What a handler reported: the messages its deque held after its push, reloaded, as
/// (offset, key, payload `n`), or the error a reload met and how long it took.
type Report = Result<Vec<(i64, String, i64)>, (prosody_engine::Error, Duration)>;

/// Pushes each message (or, with `dangling`, a reference past the partition's end) onto the
/// key's `window` deque, then reloads the whole deque.
#[derive(Clone, Default)]
struct Windowing {
    reports: Arc<Mutex<Vec<Report>>>,
    dangling: bool,
}

impl Windowing {
    async fn handle(&self, context: Context, message: Message) -> Result<(), HandlerError> {
        let reloader = context.reloader().map_err(failed)?;
        let state = context.state().map_err(failed)?;
        let references = {
            let mut txn = state.txn().await.map_err(failed)?;
            let offset = if self.dangling {
                message.offset() + 1_000
            } else {
                message.offset()
            };
            let reference = MessageRef::new(message.topic(), message.partition(), offset);
            txn.deque_push_back(&window(), reference.into())
                .await
                .map_err(failed)?;
            txn.deque_scan(&window(), false, None)
                .await
                .map_err(failed)?
        };
        let started = Instant::now();
        let mut loaded = Vec::new();
        for reference in references.iter().filter_map(StateValue::as_message) {
            match reloader.load("window", reference).await {
                Ok(message) => loaded.push((
                    message.offset(),
                    message.key().to_owned(),
                    message.payload()["n"].as_i64().unwrap_or(-1),
                )),
                Err(error) => {
                    self.reports
                        .lock()
                        .unwrap()
                        .push(Err((error, started.elapsed())));
                    return Ok(());
                }
            }
        }
        self.reports.lock().unwrap().push(Ok(loaded));
        Ok(())
    }

    fn reports(&self) -> Vec<Report> {
        std::mem::take(&mut *self.reports.lock().unwrap())
    }
}

impl Handler for Windowing {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move { this.handle(context, message).await })
    }
}

/// Three messages of one key: after each, the deque (capacity 2) holds the latest two by
/// reference, and they reload with the offsets, keys and payloads they were sent with.
async fn a_deque_of_messages_reads_back_the_messages_it_stored(broker: Broker) {
    let topic = unique("message-state");
    create_topic(broker, &topic, 1).await;
    let handler = Windowing::default();
    let consumer = consume(broker, &topic, handler.clone());
    produce(broker, &topic, 1, 3).await;
    let reports = Arc::clone(&handler.reports);
    let done = eventually(Duration::from_secs(60), || {
        reports.lock().unwrap().len() == 3
    })
    .await;
    consumer.shutdown().await;
    assert!(done, "three messages handled");

    let reports: Vec<_> = handler
        .reports()
        .into_iter()
        .map(|report| report.expect("every reference reloads"))
        .collect();
    let key = "key-0".to_owned();
    assert_eq!(
        reports,
        vec![
            vec![(0, key.clone(), 0)],
            vec![(0, key.clone(), 0), (1, key.clone(), 1)],
            vec![(1, key.clone(), 1), (2, key, 2)],
        ]
    );
}

/// A reference past the partition's end (as a recreated topic leaves behind) fails within
/// `defer_seek_timeout` and a little, as a transient error naming the collection and offset.
async fn a_reference_kafka_cannot_answer_fails_promptly_naming_it(broker: Broker) {
    let topic = unique("message-state-gone");
    create_topic(broker, &topic, 1).await;
    let handler = Windowing {
        dangling: true,
        ..Windowing::default()
    };
    let consumer = consume(broker, &topic, handler.clone());
    produce(broker, &topic, 1, 1).await;
    let reports = Arc::clone(&handler.reports);
    let done = eventually(Duration::from_secs(60), || {
        !reports.lock().unwrap().is_empty()
    })
    .await;
    consumer.shutdown().await;
    assert!(done, "the message was handled");

    let (error, took) = handler
        .reports()
        .remove(0)
        .expect_err("a dangling reference cannot reload");
    assert!(
        matches!(
            &error,
            prosody_engine::Error::KeyedState(StateError::MessageUnavailable { name, offset: 1_000, .. })
                if name == "window"
        ),
        "{error}"
    );
    assert!(error.is_transient(), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("offset 1000 of `{topic}`/0")),
        "{error}"
    );
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
}

/// A consumer whose collections hold no messages gives its handlers no reloader.
#[test]
fn a_consumer_without_message_collections_has_no_reloader() {
    assert!(Context::detached("k").reloader().is_err());
}
