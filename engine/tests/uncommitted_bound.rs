//! `max_uncommitted` bounds offsets not yet committable, not just handlers running: a key stuck
//! at one offset lets at most that many messages be taken in its partition (the stuck one
//! included), however fast the others finish, so a crash could redeliver no more than that.

mod support;

use std::sync::Arc;
use std::time::Duration;

use prosody_engine::{Context, Handler, HandlerFuture, Message};
use support::timed::send_in_order;
use support::{committed, consume, create_topic, eventually, unique, Broker, Recorder};
use tokio::sync::Semaphore;

const MAX_UNCOMMITTED: usize = 8;
const OTHERS: i64 = 40;

/// Holds key "stuck" until released; records every message once handled.
struct Stuck {
    recorder: Recorder,
    release: Arc<Semaphore>,
}

impl Handler for Stuck {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let release = (message.key() == "stuck").then(|| Arc::clone(&self.release));
        let record = self.recorder.on_message(context, message);
        Box::pin(async move {
            if let Some(release) = release {
                let _ = release.acquire().await;
            }
            record.await
        })
    }
}

async fn a_stuck_offset_stops_consumption_at_the_bound(broker: Broker) {
    let topic = unique("uncommitted");
    create_topic(broker, &topic, 1).await;
    let others: Vec<String> = (1..=OTHERS).map(|n| format!("k-{n}")).collect();
    let mut messages = vec![("stuck", 0)];
    messages.extend(others.iter().map(|key| (key.as_str(), 0)));
    send_in_order(broker, &topic, &messages).await;

    let recorder = Recorder::default();
    let release = Arc::new(Semaphore::new(0));
    let handler = Stuck {
        recorder: recorder.clone(),
        release: Arc::clone(&release),
    };
    let group = unique("uncommitted-group");
    let max = MAX_UNCOMMITTED.to_string();
    let consumer = consume(
        broker,
        &group,
        &topic,
        &[("max_uncommitted", &max), ("max_concurrency", "32")],
        Arc::new(handler),
    );

    // Offsets 1..8 finish at once; offset 0 holds the watermark, so all eight stay uncommitted.
    let behind = MAX_UNCOMMITTED - 1;
    assert!(
        eventually(Duration::from_secs(30), || recorder.handled() >= behind).await,
        "only {} handled",
        recorder.handled()
    );
    // Enough time for the consumer to take (and finish) the other 33 if it were allowed to.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        recorder.handled(),
        behind,
        "messages taken past a stuck offset beyond max_uncommitted"
    );
    assert_eq!(consumer.in_flight(), MAX_UNCOMMITTED);

    release.add_permits(1);
    let everything = OTHERS as usize + 1;
    assert!(
        eventually(Duration::from_secs(30), || recorder.handled() == everything).await,
        "{} of {everything} handled after the release",
        recorder.handled()
    );
    assert!(eventually(Duration::from_secs(10), || consumer.in_flight() == 0).await);
    consumer.shutdown().await;
    assert_eq!(committed(broker, &group, &topic, 1), vec![OTHERS + 1]);
}

on_both_brokers! {
    stuck_offset => a_stuck_offset_stops_consumption_at_the_bound();
}
