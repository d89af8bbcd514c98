//! `Admin::check_reachable`: a broker that answers passes, a port nobody listens on fails
//! within the timeout with a transient error naming the servers, and mock mode always passes.

mod support;

use std::time::{Duration, Instant};

use prosody_engine::{Admin, Error};
use support::{bootstrap, config, Broker};

#[test]
fn a_running_broker_and_the_mock_cluster_are_reachable() {
    for broker in [Broker::Real, Broker::Mock] {
        let admin = Admin::new(&config(broker, &[])).expect("admin");
        admin
            .check_reachable(Duration::from_secs(10))
            .unwrap_or_else(|error| panic!("{broker:?} {} : {error}", bootstrap()));
    }
}

#[test]
fn an_unused_port_fails_within_the_timeout() {
    let admin = unreachable_admin();
    let started = Instant::now();
    let error = admin
        .check_reachable(Duration::from_secs(1))
        .expect_err("nothing listens there");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

#[tokio::test]
async fn creating_a_topic_with_no_broker_fails_within_its_timeout_naming_the_topic() {
    let admin = unreachable_admin();
    let started = Instant::now();
    let error = admin
        .create_topic_within("orders", 1, 1, Duration::from_secs(1))
        .await
        .expect_err("nothing listens there");
    // librdkafka alone waits for socket.timeout.ms (a minute).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let shown = error.to_string();
    assert!(
        shown.contains("`orders`") && shown.contains("1s"),
        "{shown}"
    );
}

/// An admin client for a port nobody listens on: port 1 (tcpmux) is privileged and unused on
/// the test machines, so connections are refused.
fn unreachable_admin() -> Admin {
    Admin::new(&config(
        Broker::Real,
        &[("bootstrap_servers", "127.0.0.1:1")],
    ))
    .expect("admin")
}
