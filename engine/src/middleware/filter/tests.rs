use std::sync::Arc;

use serde_json::json;

use super::FilterLayer;
use crate::handler::Handler;
use crate::middleware::test_support::{context, message, message_with, timer, Scripted};
use crate::middleware::Layer;

fn layer(group: Option<&str>, allowed: &[&str]) -> FilterLayer {
    FilterLayer::new(
        group.map(str::to_owned),
        allowed.iter().map(|prefix| (*prefix).to_owned()).collect(),
    )
}

#[tokio::test]
async fn own_group_output_is_skipped_without_calling_the_handler() {
    let inner = Scripted::new([]);
    let filter = layer(Some("billing"), &[]).layer(Arc::clone(&inner));
    let looped = message_with("k", json!({"n": 1}), &[("source-system", "billing")]);

    assert_eq!(filter.on_message(context("k").0, looped).await, Ok(()));
    assert_eq!(inner.call_count(), 0);
}

#[tokio::test]
async fn other_source_systems_and_missing_headers_go_through() {
    let inner = Scripted::new([]);
    let filter = layer(Some("billing"), &[]).layer(Arc::clone(&inner));
    let other = message_with("k", json!({}), &[("source-system", "shipping")]);

    filter.on_message(context("k").0, other).await.unwrap();
    filter
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap();
    assert_eq!(inner.call_count(), 2);
}

#[tokio::test]
async fn without_group_id_nothing_counts_as_looped() {
    let inner = Scripted::new([]);
    let filter = layer(None, &[]).layer(Arc::clone(&inner));
    let tagged = message_with("k", json!({}), &[("source-system", "billing")]);

    filter.on_message(context("k").0, tagged).await.unwrap();
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test]
async fn allowed_events_match_by_prefix() {
    // The README's examples: prefixes `user.` and `account.`.
    let inner = Scripted::new([]);
    let filter = layer(None, &["user.", "account."]).layer(Arc::clone(&inner));
    let cases = [
        ("user.created", true),
        ("user.updated", true),
        ("account.deleted", true),
        ("order.placed", false),
        ("users.created", false),
        ("xuser.created", false),
    ];
    for (event_type, handled) in cases {
        let msg = message("k", json!({"type": event_type}));
        assert_eq!(filter.admits(&msg), handled, "{event_type}");
        filter.on_message(context("k").0, msg).await.unwrap();
    }
    assert_eq!(inner.call_count(), 3);
}

#[tokio::test]
async fn messages_without_a_string_type_always_go_through() {
    let inner = Scripted::new([]);
    let filter = layer(None, &["user."]).layer(Arc::clone(&inner));
    for payload in [
        json!({"id": "1"}),
        json!({"type": 5}),
        json!("text"),
        json!(null),
    ] {
        filter
            .on_message(context("k").0, message("k", payload))
            .await
            .unwrap();
    }
    assert_eq!(inner.call_count(), 4);
}

#[tokio::test]
async fn no_prefixes_means_every_event_type() {
    let inner = Scripted::new([]);
    let filter = layer(Some("billing"), &[]).layer(Arc::clone(&inner));
    let msg = message("k", json!({"type": "anything"}));
    filter.on_message(context("k").0, msg).await.unwrap();
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test]
async fn timers_are_never_filtered() {
    let inner = Scripted::new([]);
    let filter = layer(Some("billing"), &["user."]).layer(Arc::clone(&inner));
    filter.on_timer(context("k").0, timer("k")).await.unwrap();
    assert_eq!(inner.call_count(), 1);
}

#[tokio::test]
async fn the_inner_result_is_returned_unchanged() {
    let inner = Scripted::new([crate::middleware::test_support::permanent("bad")]);
    let filter = layer(Some("billing"), &[]).layer(Arc::clone(&inner));
    let error = filter
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert_eq!(error.message(), "bad");
}

#[test]
fn only_messages_that_go_through_pass_the_prefetch_hint_on() {
    let inner = Scripted::new([]);
    let filter = layer(Some("billing"), &["order."]).layer(Arc::clone(&inner));
    filter.prefetch(&message_with(
        "k",
        json!({"type": "order.paid"}),
        &[("source-system", "billing")],
    ));
    filter.prefetch(&message("k", json!({"type": "invoice.sent"})));
    assert!(
        inner.prefetched().is_empty(),
        "skipped messages need no lookup"
    );
    filter.prefetch(&message("k", json!({"type": "order.paid"})));
    assert_eq!(inner.prefetched(), [7]);
}
