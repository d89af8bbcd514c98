//! Requests across subsystems (issue 18) through real consumers, on the mock cluster and on
//! real Kafka: answers travel back over the reply topic.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prosody_engine::request::{Outcome, Request, RequestError, Requester, ResponseError};
use prosody_engine::state::Registry;
use prosody_engine::{
    Consumer, Context, Error, Handler, HandlerError, HandlerFuture, Message, Producer, Telemetry,
};
use support::{config, create_topic, logs, test_producer, unique, Broker};

/// Answers `{"key": …, "seen": n}`, or fails permanently with "no such order".
struct Answering {
    fail: bool,
    calls: Arc<AtomicUsize>,
}

impl Handler for Answering {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let seen = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = self.fail;
        Box::pin(async move {
            if fail {
                return Err(HandlerError::permanent("no such order"));
            }
            context.respond(serde_json::json!({ "key": message.key(), "seen": seen }));
            Ok(())
        })
    }
}

fn responder(
    broker: Broker,
    topic: &str,
    subsystem: &str,
    fail: bool,
) -> (Consumer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let config = config(
        broker,
        &[
            ("group_id", subsystem),
            ("subscribed_topics", topic),
            ("idempotence_cache_size", "0"),
        ],
    );
    let registry = Registry::new(Some(subsystem), []).expect("registry");
    let handler = Arc::new(Answering {
        fail,
        calls: Arc::clone(&calls),
    });
    let consumer = Consumer::subscribe_with_state(
        &config,
        handler,
        tokio::runtime::Handle::current(),
        Telemetry::disabled(),
        registry,
    )
    .expect("responder starts");
    (consumer, calls)
}

fn requester(broker: Broker) -> Requester {
    let config = config(broker, &[("send_timeout", "10s")]);
    Requester::new(&config, Producer::new(&config).expect("producer"))
}

fn request(topic: &str, subsystems: &[&str], timeout: Duration) -> Request {
    Request {
        topic: topic.to_owned(),
        key: "order-1".to_owned(),
        payload: Some(br#"{"type":"order.status"}"#.to_vec()),
        subsystems: subsystems.iter().map(|name| (*name).to_owned()).collect(),
        timeout,
        trace: Default::default(),
    }
}

fn is_success(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Success(_))
}

async fn one_answers_one_fails_one_is_down(broker: Broker) {
    let topic = unique("requests");
    create_topic(broker, &topic, 2).await;
    let (answers, raises, down) = (unique("answers"), unique("raises"), unique("down"));
    let (answering, _) = responder(broker, &topic, &answers, false);
    let (raising, _) = responder(broker, &topic, &raises, true);
    let requester = requester(broker);

    // Until both responders own their partitions, a request may wait for them.
    let warm = requester
        .request(request(
            &topic,
            &[&answers, &raises],
            Duration::from_secs(60),
        ))
        .await
        .expect("request sent");
    assert!(is_success(&warm[0].1), "warm-up answered: {warm:?}");

    let timeout = Duration::from_secs(2);
    let started = Instant::now();
    let outcomes = requester
        .request(request(&topic, &[&answers, &raises, &down], timeout))
        .await
        .expect("request sent");
    let waited = started.elapsed();
    for consumer in [answering, raising] {
        consumer.shutdown().await;
    }

    let names: Vec<&str> = outcomes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, [answers.as_str(), raises.as_str(), down.as_str()]);
    assert_eq!(
        outcomes[0].1,
        Outcome::Success(serde_json::json!({"key": "order-1", "seen": 2}))
    );
    assert_eq!(
        outcomes[1].1,
        Outcome::Failure(ResponseError::Handler("no such order".into()))
    );
    assert_eq!(outcomes[2].1, Outcome::Failure(ResponseError::Timeout));
    assert!(
        waited >= timeout,
        "waited the timeout for the subsystem that is down"
    );
    assert!(
        waited < timeout + Duration::from_secs(2),
        "and not much longer: {waited:?}"
    );
    assert_eq!(requester.waiting(), 0);
}

async fn a_request_sent_while_its_responder_restarts_is_answered(broker: Broker) {
    let topic = unique("requests-restart");
    create_topic(broker, &topic, 1).await;
    let subsystem = unique("restarting");
    let (first, first_calls) = responder(broker, &topic, &subsystem, false);
    let requester = requester(broker);
    let warm = requester
        .request(request(&topic, &[&subsystem], Duration::from_secs(60)))
        .await
        .expect("request sent");
    assert!(is_success(&warm[0].1), "warm-up answered: {warm:?}");
    first.shutdown().await;

    let asking = {
        let requester = requester.clone();
        let topic = topic.clone();
        let subsystem = subsystem.clone();
        tokio::spawn(async move {
            requester
                .request(request(&topic, &[&subsystem], Duration::from_secs(60)))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !asking.is_finished(),
        "nobody answers while the responder is down"
    );
    let (second, second_calls) = responder(broker, &topic, &subsystem, false);
    let outcomes = asking.await.expect("joined").expect("request sent");
    second.shutdown().await;

    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        outcomes,
        vec![(
            subsystem,
            Outcome::Success(serde_json::json!({"key": "order-1", "seen": 1}))
        )]
    );
}

/// A requester configured with its own `reply_topic` creates it, names it in its requests, and
/// the answers arrive there.
async fn answers_come_back_on_the_configured_reply_topic(broker: Broker) {
    let topic = unique("requests-own-replies");
    create_topic(broker, &topic, 1).await;
    let replies = unique("own-replies");
    let subsystem = unique("answers");
    let (answering, _) = responder(broker, &topic, &subsystem, false);
    let config = config(
        broker,
        &[("send_timeout", "10s"), ("reply_topic", &replies)],
    );
    let requester = Requester::new(&config, Producer::new(&config).expect("producer"));
    let outcomes = requester
        .request(request(&topic, &[&subsystem], Duration::from_secs(60)))
        .await
        .expect("request sent");
    answering.shutdown().await;

    assert_eq!(
        outcomes[0].1,
        Outcome::Success(serde_json::json!({"key": "order-1", "seen": 1}))
    );
    let written: Vec<i64> = support::offsets::end_offsets(broker, &replies);
    assert_eq!(
        written.iter().sum::<i64>(),
        1,
        "the one answer is on {replies}: {written:?}"
    );
}

on_both_brokers! {
    one_answers_one_fails_one_is_down => one_answers_one_fails_one_is_down();
    a_request_sent_while_its_responder_restarts_is_answered => a_request_sent_while_its_responder_restarts_is_answered();
    answers_come_back_on_the_configured_reply_topic => answers_come_back_on_the_configured_reply_topic();
}

#[tokio::test]
async fn bad_arguments_are_refused_before_anything_is_sent() {
    let requester = requester(Broker::Mock);
    let second = Duration::from_secs(1);
    let refused = |subsystems: &[&str], timeout| {
        let requester = requester.clone();
        let request = request("orders", subsystems, timeout);
        async move {
            match requester.request(request).await {
                Err(Error::Request(error)) => error,
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    assert_eq!(refused(&[], second).await, RequestError::NoSubsystems);
    assert_eq!(
        refused(&["a", "a"], second).await,
        RequestError::DuplicateSubsystem("a".into())
    );
    assert!(matches!(
        refused(&[" "], second).await,
        RequestError::InvalidSubsystem { .. }
    ));
    assert!(matches!(
        refused(&["a\nb"], second).await,
        RequestError::InvalidSubsystem { .. }
    ));
    assert!(matches!(
        refused(&["a"], Duration::ZERO).await,
        RequestError::TimeoutOutOfRange { .. }
    ));
    assert!(matches!(
        refused(&["a"], Duration::from_secs(7200)).await,
        RequestError::TimeoutOutOfRange { .. }
    ));
    assert_eq!(requester.waiting(), 0);
}

/// Closing a requester ends the request waiting on it, and it refuses new ones, whether or
/// not a request already started its reply consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_requester_ends_waiting_requests_and_refuses_new_ones() {
    let topic = unique("requests-closed");
    create_topic(Broker::Mock, &topic, 1).await;
    let short = Duration::from_millis(200);
    let used = requester(Broker::Mock);
    let outcomes = used
        .request(request(&topic, &["nobody"], short))
        .await
        .expect("request sent");
    assert_eq!(outcomes[0].1, Outcome::Failure(ResponseError::Timeout));
    // A request waiting when its requester closes ends then, well before its own timeout.
    let waiting = tokio::spawn({
        let used = used.clone();
        let request = request(&topic, &["nobody"], Duration::from_secs(600));
        async move { used.request(request).await }
    });
    assert!(
        support::eventually(Duration::from_secs(30), || used.waiting() == 1).await,
        "the request waits"
    );
    used.close();
    let ended = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the waiting request ended")
        .expect("request task");
    assert!(
        matches!(&ended, Err(Error::State(reason)) if reason.contains("closed while")),
        "{ended:?}"
    );
    assert_eq!(used.waiting(), 0);

    let unused = requester(Broker::Mock);
    for requester in [used, unused] {
        requester.close();
        requester.close();
        let refused = requester.request(request(&topic, &["nobody"], short)).await;
        assert!(
            matches!(refused, Err(Error::State(reason)) if reason.contains("closed")),
            "{refused:?}"
        );
    }
}

/// A record whose request headers are malformed is handled as a plain message: the responder
/// neither answers nor fails, and says why once (the warning is rate-limited per process, so
/// this runs on one broker only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_headers_are_logged_and_the_record_still_handled() {
    let broker = Broker::Mock;
    let topic = unique("requests-malformed");
    create_topic(broker, &topic, 1).await;
    let warned = logs::watch("request headers are malformed");
    let subsystem = unique("lenient");
    let (consumer, calls) = responder(broker, &topic, &subsystem, false);
    let producer = test_producer(broker);
    let headers: [(&str, &[u8]); 3] = [
        (
            "prosody-request-id",
            b"1f0e52c8-0000-4000-8000-000000000002",
        ),
        ("prosody-reply-topic", b"prosody.replies"),
        ("prosody-awaited", subsystem.as_bytes()),
    ];
    producer
        .send_bytes(&topic, "order-1", b"{}", &headers)
        .await
        .expect("sent");

    let handled = support::eventually(Duration::from_secs(30), || {
        calls.load(Ordering::SeqCst) == 1 && !warned.lines_with(&topic).is_empty()
    })
    .await;
    consumer.shutdown().await;
    assert!(handled, "handled once, and warned: {:?}", warned.lines());
    let line = &warned.lines_with(&topic)[0];
    assert!(line.contains("prosody-reply-partition"), "{line}");
}
