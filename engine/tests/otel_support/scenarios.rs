//! The span-tree scenarios, shared by the http/protobuf and gRPC test binaries: produce →
//! receive → the handler's send → receive on the next topic, and the timer the first handler
//! scheduled → its trigger. The exporter is process-wide and runs on the runtime of the
//! process that started it, so every scenario of a binary shares one runtime and one receiver.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prosody_engine::{
    Consumer, Context, Handler, HandlerFuture, Message, ProcessRuntime, Producer, TimerTime,
};
use serde_json::json;

use super::{Collector, Got};
use crate::support::{config, create_topic, unique, Broker};

pub const LIMIT: Duration = Duration::from_secs(30);

static RUNTIME: ProcessRuntime = ProcessRuntime::new("otel-test", 2);

/// Which OTLP transport a test binary exercises; the exporter is process-wide, so one each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    HttpProtobuf,
    /// http/protobuf to an `https://` endpoint whose CA is in `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    HttpsProtobuf,
    /// As `HttpsProtobuf`, to a receiver that wants the client certificate and key in
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `OTEL_EXPORTER_OTLP_CLIENT_KEY`.
    HttpsProtobufMutual,
    Grpc,
    /// gRPC to an `https://` endpoint whose CA is in `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    GrpcTls,
    /// As `GrpcTls`, to a receiver that wants the client certificate (as `HttpsProtobufMutual`).
    GrpcMutual,
}

static PROTOCOL: OnceLock<Protocol> = OnceLock::new();

/// The receiver, started once, with the exporter's variables pointing at it.
pub fn collector() -> Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR
        .get_or_init(|| {
            let runtime = RUNTIME.get().expect("runtime");
            let protocol = *PROTOCOL.get().expect("a protocol chosen by block_on");
            let pki = super::tls::generate();
            let mutual = matches!(
                protocol,
                Protocol::HttpsProtobufMutual | Protocol::GrpcMutual
            );
            if protocol != Protocol::HttpProtobuf && protocol != Protocol::Grpc {
                std::env::set_var("OTEL_EXPORTER_OTLP_CERTIFICATE", &pki.ca_file);
            }
            if mutual {
                std::env::set_var(
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                    &pki.client_certificate_file,
                );
                std::env::set_var("OTEL_EXPORTER_OTLP_CLIENT_KEY", &pki.client_key_file);
            }
            let acceptor = if mutual { pki.mutual } else { pki.acceptor };
            let (collector, address) = runtime.block_on(async {
                match protocol {
                    Protocol::HttpProtobuf => Collector::start_http().await,
                    Protocol::HttpsProtobuf | Protocol::HttpsProtobufMutual => {
                        Collector::start_https(acceptor).await
                    }
                    Protocol::Grpc => Collector::start_grpc().await,
                    Protocol::GrpcTls | Protocol::GrpcMutual => {
                        Collector::start_grpc_tls(acceptor).await
                    }
                }
            });
            let (name, scheme) = match protocol {
                Protocol::HttpProtobuf => ("http/protobuf", "http"),
                Protocol::HttpsProtobuf | Protocol::HttpsProtobufMutual => {
                    ("http/protobuf", "https")
                }
                Protocol::Grpc => ("grpc", "http"),
                Protocol::GrpcTls | Protocol::GrpcMutual => ("grpc", "https"),
            };
            // Set before any client exists, so the first one starts the exporter.
            std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", name);
            std::env::set_var(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{scheme}://{address}"),
            );
            std::env::set_var("OTEL_SERVICE_NAME", "prosody-otel-test");
            std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
            collector
        })
        .clone()
}

/// Forwards each message to `next` (continuing its trace) and schedules a timer for its key.
struct Forward {
    producer: Producer,
    next: String,
}

impl Handler for Forward {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let producer = self.producer.clone();
        let next = self.next.clone();
        Box::pin(async move {
            producer
                .send_in_trace(
                    &next,
                    message.key(),
                    &json!({"hop": 2}),
                    message.trace_context(),
                )
                .await
                .map_err(|error| prosody_engine::HandlerError::transient(error.to_string()))?;
            context
                .schedule(TimerTime::now())
                .await
                .map_err(|error| prosody_engine::HandlerError::transient(error.to_string()))
        })
    }
}

/// Accepts everything.
pub struct Sink;

impl Handler for Sink {
    fn on_message(&self, _: Context, _: Message) -> HandlerFuture {
        Box::pin(async { Ok(()) })
    }
}

/// The spans of the run whose first record had key `key`, once all five arrived.
async fn tree(collector: &Collector, key: &str, topics: [&str; 2]) -> Vec<Got> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        prosody_engine::otel::flush().await;
        let ours: Vec<Got> = collector
            .spans()
            .into_iter()
            .filter(|span| span.attr("messaging.kafka.message.key") == key)
            .collect();
        let count = |name: &str, topic: &str| {
            ours.iter()
                .filter(|s| s.name == name && s.attr("messaging.destination.name") == topic)
                .count()
        };
        let complete = count("send", topics[0]) == 1
            && count("receive", topics[0]) == 1
            && count("send", topics[1]) == 1
            && count("receive", topics[1]) == 1
            && count("trigger", topics[0]) == 1;
        if complete {
            return ours;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the trace tree never arrived complete; got {ours:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn one<'a>(spans: &'a [Got], name: &str, topic: &str) -> &'a Got {
    spans
        .iter()
        .find(|s| s.name == name && s.attr("messaging.destination.name") == topic)
        .unwrap_or_else(|| panic!("a {name} span on {topic}"))
}

/// Runs produce → A → B with a timer on A and returns the five spans by role.
async fn run(broker: Broker, message_spans: &str, timer_spans: &str) -> [Got; 5] {
    let collector = collector();
    let (a, b) = (unique("otel-a"), unique("otel-b"));
    let (group_a, group_b) = (unique("otel-group-a"), unique("otel-group-b"));
    if broker == Broker::Real {
        create_topic(broker, &a, 1).await;
        create_topic(broker, &b, 1).await;
    }
    let runtime = tokio::runtime::Handle::current();
    let spans = [
        ("message_spans", message_spans),
        ("timer_spans", timer_spans),
    ];
    let options = |group: &str, topic: &str| {
        let mut all = vec![
            ("group_id", group.to_string()),
            ("subscribed_topics", topic.to_string()),
        ];
        all.extend(spans.iter().map(|(k, v)| (*k, v.to_string())));
        all
    };
    let borrowed = |all: &[(&'static str, String)]| {
        config(
            broker,
            &all.iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
    };
    let producer_config = config(broker, &[("send_timeout", "30s")]);
    let producer = Producer::new(&producer_config).expect("producer");
    let first = Consumer::subscribe(
        &borrowed(&options(&group_a, &a)),
        Arc::new(Forward {
            producer: producer.clone(),
            next: b.clone(),
        }),
        runtime.clone(),
    )
    .expect("consumer A");
    let second = Consumer::subscribe(&borrowed(&options(&group_b, &b)), Arc::new(Sink), runtime)
        .expect("consumer B");
    let key = unique("traced");
    producer
        .send(&a, &key, &json!({"type": "order.created", "hop": 1}))
        .await
        .expect("first send");
    let spans = tree(&collector, &key, [&a, &b]).await;
    first.shutdown().await;
    second.shutdown().await;
    [
        one(&spans, "send", &a).clone(),
        one(&spans, "receive", &a).clone(),
        one(&spans, "send", &b).clone(),
        one(&spans, "receive", &b).clone(),
        one(&spans, "trigger", &a).clone(),
    ]
}

/// With `PROSODY_PRINT_SPANS` set, prints the spans as a reader would look them over.
fn print(spans: &[&Got]) {
    if std::env::var_os("PROSODY_PRINT_SPANS").is_none() {
        return;
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for span in spans {
        let mut attributes: Vec<_> = span.attributes.iter().collect();
        attributes.sort();
        eprintln!(
            "{:<8} trace={} span={} parent={} links={:?} {attributes:?}",
            span.name,
            hex(&span.trace),
            hex(&span.id),
            if span.parent.is_empty() {
                "-".to_owned()
            } else {
                hex(&span.parent)
            },
            span.links
                .iter()
                .map(|(trace, id, _)| format!("{}/{}", hex(trace), hex(id)))
                .collect::<Vec<_>>(),
        );
    }
}

pub fn linked(span: &Got, to: &Got) -> bool {
    span.links.iter().any(|(trace, id, attributes)| {
        *trace == to.trace
            && *id == to.id
            && attributes.get("opentracing.ref_type").map(String::as_str) == Some("follows_from")
    })
}

pub async fn child_messages_and_follows_from_timers(broker: Broker) {
    let [produced, received, forwarded, received_next, trigger] =
        run(broker, "child", "follows_from").await;
    print(&[&produced, &received, &forwarded, &received_next, &trigger]);
    assert!(
        produced.parent.is_empty(),
        "a send outside any handler starts the trace"
    );
    for span in [&received, &forwarded, &received_next] {
        assert_eq!(
            span.trace, produced.trace,
            "{} stays in the producer's trace",
            span.name
        );
    }
    assert_eq!(
        received.parent, produced.id,
        "receive is a child of the send that wrote it"
    );
    assert_eq!(
        forwarded.parent, received.id,
        "the handler's send is a child of its receive"
    );
    assert_eq!(
        received_next.parent, forwarded.id,
        "the next receive continues that send"
    );
    assert!(
        trigger.parent.is_empty(),
        "a follows_from trigger is a new root"
    );
    assert_ne!(trigger.trace, produced.trace);
    assert!(
        linked(&trigger, &received),
        "the trigger links to the span that scheduled it: {trigger:#?}"
    );

    assert_eq!(received.attr("messaging.kafka.offset"), "0");
    assert!(received
        .attr("messaging.destination.partition.id")
        .parse::<i32>()
        .is_ok());
    assert_eq!(received.attr("event_type"), "order.created");
    assert_eq!(received.attr("attempt"), "1");
    assert_eq!(received.attr("outcome"), "success");
    assert!(received
        .attr("messaging.consumer.group.name")
        .starts_with("otel-group-a"));
    assert_eq!(trigger.attr("outcome"), "success");
    assert_eq!(trigger.attr("attempt"), "1");
    for span in [&produced, &received, &forwarded, &received_next, &trigger] {
        assert!(span.repeated.is_empty(), "each attribute once: {span:#?}");
    }
    assert_eq!(
        produced.service, "prosody-otel-test",
        "the resource comes from OTEL_SERVICE_NAME"
    );
}

pub async fn follows_from_messages_and_child_timers(broker: Broker) {
    let [produced, received, forwarded, received_next, trigger] =
        run(broker, "follows_from", "child").await;
    assert!(
        received.parent.is_empty(),
        "a follows_from receive is a new root"
    );
    assert_ne!(received.trace, produced.trace);
    assert!(
        linked(&received, &produced),
        "it links to the send that wrote it"
    );
    assert_eq!(
        forwarded.trace, received.trace,
        "the handler's send joins the receive's trace"
    );
    assert_eq!(forwarded.parent, received.id);
    assert!(received_next.parent.is_empty());
    assert!(linked(&received_next, &forwarded));
    assert_eq!(
        trigger.trace, received.trace,
        "a child trigger joins the scheduling trace"
    );
    assert_eq!(
        trigger.parent, received.id,
        "under the span that scheduled it"
    );
}

/// Runs a scenario on the shared runtime, exporting over `protocol`.
pub fn block_on<F: std::future::Future>(protocol: Protocol, future: F) -> F::Output {
    let chosen = *PROTOCOL.get_or_init(|| protocol);
    assert_eq!(chosen, protocol, "one protocol per test binary");
    collector();
    RUNTIME.get().expect("runtime").block_on(future)
}
