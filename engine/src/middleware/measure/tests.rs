//! What the meters count, read back through a scrape.

use std::sync::Arc;
use std::time::Duration;

use super::Meter;
use crate::handler::Handler;
use crate::metrics::{ConsumerMetrics, Scrape};
use crate::middleware::test_support::{context, message, ok, transient, Scripted, Step};
use crate::middleware::{Backoff, Bounded, FilterLayer, Layer, RetryLayer, TimeoutLayer};

fn scraped(metrics: &ConsumerMetrics) -> String {
    let mut scrape = Scrape::default();
    metrics.write(&mut scrape);
    scrape.encode()
}

fn events(outcome: &str, value: u64) -> String {
    format!(
        "prosody_events_total{{group=\"g\",topic=\"orders\",kind=\"message\",outcome=\"{outcome}\"}} {value}\n"
    )
}

#[tokio::test(start_paused = true)]
async fn retried_attempts_are_timed_and_counted_per_outcome() {
    let metrics = Arc::new(ConsumerMetrics::new("g", ["orders"]));
    let meter = Meter::new(Arc::clone(&metrics));
    let inner = Scripted::new([transient("blip"), ok()]);
    let timeout = TimeoutLayer::new(Duration::from_secs(5))
        .metered(meter)
        .layer(inner);
    let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(10));
    let retry = RetryLayer::new(Bounded(3), backoff).layer(Arc::new(timeout));
    let (context, _) = context("k");
    retry
        .on_message(context, message("k", serde_json::json!({})))
        .await
        .unwrap();
    let text = scraped(&metrics);
    for line in [
        events("handled", 1),
        events("failed", 1),
        events("retried", 1),
    ] {
        assert!(text.contains(&line), "{line} not in\n{text}");
    }
    assert!(
        text.contains("prosody_handler_duration_seconds_count{group=\"g\",kind=\"message\"} 2\n")
    );
}

#[tokio::test]
async fn an_attempt_dropped_unfinished_counts_as_failed() {
    let metrics = Arc::new(ConsumerMetrics::new("g", ["orders"]));
    let inner = Scripted::new([Step::UntilCancelled(Ok(()))]);
    let timeout = TimeoutLayer::new(Duration::from_secs(5))
        .metered(Meter::new(Arc::clone(&metrics)))
        .layer(inner);
    let (context, _) = context("k");
    let mut future = timeout.on_message(context, message("k", serde_json::json!({})));
    assert!(futures::poll!(&mut future).is_pending());
    drop(future);
    assert!(scraped(&metrics).contains(&events("failed", 1)));
}

#[tokio::test]
async fn filtered_messages_are_counted_and_admitted_ones_are_not() {
    let metrics = Arc::new(ConsumerMetrics::new("g", ["orders"]));
    let filter = FilterLayer::new(None, vec!["order.".into()])
        .metered(Meter::new(Arc::clone(&metrics)))
        .layer(Scripted::new([]));
    let typed = |kind: &str| message("k", serde_json::json!({ "type": kind }));
    filter
        .on_message(context("k").0, typed("audit.read"))
        .await
        .unwrap();
    filter
        .on_message(context("k").0, typed("order.paid"))
        .await
        .unwrap();
    let text = scraped(&metrics);
    assert!(text.contains(&events("filtered", 1)), "{text}");
    assert!(
        !text.contains("outcome=\"handled\""),
        "only the timeout layer counts handling"
    );
}
