use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::testing::Recording;
use super::{Demand, Event, EventType, Trace};
use crate::error::ErrorClass;
use crate::trace::TraceParent;

fn event(kind: EventType) -> Event {
    Event::new(kind, "orders".into(), 3, "key-1".into(), "billing".into())
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_channel_drops_and_counts_without_waiting() {
    let (telemetry, sink) = Recording::start(2);
    // On a current-thread runtime the emitter cannot run until this task yields, so it is
    // stalled: the channel takes two events and the other eight are dropped.
    for _ in 0..10 {
        telemetry.emit(|| event(EventType::MessageDispatched));
    }
    let metrics = Arc::clone(telemetry.metrics().expect("enabled"));
    assert_eq!(metrics.dropped_total(), 8);

    telemetry.flush().await;
    assert_eq!(sink.events().len(), 2, "what fitted is still written");
    assert_eq!(sink.flushes.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_disabled_handle_builds_nothing() {
    let telemetry = super::Telemetry::disabled();
    telemetry.emit(|| unreachable!("a disabled handle never builds an event"));
    telemetry.flush().await;
    assert!(telemetry.metrics().is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn the_emitter_flushes_when_the_last_handle_goes() {
    let (telemetry, sink) = Recording::start(16);
    telemetry.emit(|| event(EventType::MessageSent));
    drop(telemetry);
    for _ in 0..100 {
        if sink.flushes.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(sink.types(), ["prosody.message.sent"]);
    assert_eq!(sink.flushes.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_failed_message_is_written_with_the_reference_field_names() {
    let parent = TraceParent::new_root().to_string();
    let mut failed = event(EventType::MessageFailed);
    failed.at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    failed.offset = Some(7);
    failed.demand = Some(Demand::Failure);
    failed.error = Some((ErrorClass::Permanent, "bad \"input\"".into()));
    failed.trace = Trace::Headers(Arc::from(vec![
        ("traceparent".to_owned(), Some(parent.clone().into_bytes())),
        ("tracestate".to_owned(), Some(b"vendor=1".to_vec())),
    ]));
    let mut out = Vec::new();
    failed.write_json("host-1", &mut out);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(
        json,
        serde_json::json!({
            "type": "prosody.message.failed",
            "eventTime": "2023-11-14T22:13:20.123Z",
            "topic": "orders",
            "partition": 3,
            "offset": 7,
            "key": "key-1",
            "source": "billing",
            "hostname": "host-1",
            "demandType": "failure",
            "errorCategory": "permanent",
            "exception": "bad \"input\"",
            "traceParent": parent,
            "traceState": "vendor=1",
        })
    );
}

#[test]
fn a_timer_event_carries_its_time_and_no_offset() {
    let mut scheduled = event(EventType::TimerScheduled);
    scheduled.scheduled = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060));
    let mut out = Vec::new();
    scheduled.write_json("host-1", &mut out);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(json["type"], "prosody.timer.scheduled");
    assert_eq!(json["scheduledTime"], "2023-11-14T22:14:20Z");
    assert_eq!(json["timerType"], "application");
    assert!(json.get("offset").is_none() && json.get("demandType").is_none());
    assert!(json.get("traceParent").is_none());
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_burst_of_drops_warns_once() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    // Never driven: the emitter never runs, so everything past the first event is dropped.
    let _entered = runtime.enter();
    let (telemetry, _sink) = Recording::start(1);
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..100 {
            telemetry.emit(|| event(EventType::MessageDispatched));
        }
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).expect("UTF-8");
    assert_eq!(log.matches("telemetry events dropped").count(), 1, "{log}");
    assert!(
        log.contains("dropped_total=1"),
        "the first drop warns: {log}"
    );
    assert_eq!(telemetry.metrics().expect("enabled").dropped_total(), 99);
}
