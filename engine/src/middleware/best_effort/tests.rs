use std::sync::Arc;

use serde_json::json;

use super::BestEffortLayer;
use crate::error::ErrorClass;
use crate::handler::Handler;
use crate::middleware::test_support::{
    context, message, ok, permanent, terminal, timer, transient, Scripted,
};
use crate::middleware::Layer;

#[tokio::test]
async fn transient_and_permanent_failures_are_logged_and_committed() {
    let inner = Scripted::new([transient("down"), permanent("bad"), ok()]);
    let handler = BestEffortLayer.layer(Arc::clone(&inner));
    for _ in 0..3 {
        let result = handler
            .on_message(context("k").0, message("k", json!({})))
            .await;
        assert_eq!(result, Ok(()));
    }
    assert_eq!(inner.call_count(), 3, "each message is attempted once");
}

#[tokio::test]
async fn terminal_errors_pass_through() {
    let handler = BestEffortLayer.layer(Scripted::new([terminal("fatal")]));
    let error = handler
        .on_message(context("k").0, message("k", json!({})))
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Terminal);
}

#[tokio::test]
async fn timer_failures_are_given_up_too() {
    let handler = BestEffortLayer.layer(Scripted::new([transient("down")]));
    assert_eq!(handler.on_timer(context("k").0, timer("k")).await, Ok(()));
}
