//! A handler for the quality-of-service tests: every attempt costs a fixed time, keys starting
//! with "sick" fail while told to, and every attempt is recorded with its timing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Producer};

use super::{config, Broker};

/// One handler attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub key: String,
    /// The payload's `n`.
    pub n: i64,
    /// [`Context::attempt`]: 2 or more is a retry in place.
    pub attempt: u32,
    pub started: Instant,
    pub ended: Instant,
    pub ok: bool,
}

/// Sleeps `cost` per attempt, fails keys starting with "sick" while `failing` is set, records
/// every attempt. Clones share what they record.
#[derive(Clone)]
pub struct Timed {
    pub cost: Duration,
    pub failing: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
}

impl Timed {
    pub fn new(cost: Duration, failing: bool) -> Self {
        Self {
            cost,
            failing: Arc::new(AtomicBool::new(failing)),
            attempts: Arc::default(),
        }
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Attempts at keys starting with `prefix`.
    pub fn attempts_at(&self, prefix: &str) -> usize {
        let attempts = self.attempts.lock().unwrap();
        attempts
            .iter()
            .filter(|a| a.key.starts_with(prefix))
            .count()
    }

    /// Successful attempts at keys starting with `prefix`.
    pub fn handled_at(&self, prefix: &str) -> usize {
        let attempts = self.attempts.lock().unwrap();
        attempts
            .iter()
            .filter(|a| a.ok && a.key.starts_with(prefix))
            .count()
    }

    /// The `n` of each message of `key` handled, in the order handled.
    pub fn handled(&self, key: &str) -> Vec<i64> {
        let attempts = self.attempts.lock().unwrap();
        attempts
            .iter()
            .filter(|a| a.ok && a.key == key)
            .map(|a| a.n)
            .collect()
    }

    /// Every key's handled `n`s, in the order handled.
    pub fn handled_by_key(&self) -> HashMap<String, Vec<i64>> {
        let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
        for attempt in self.attempts().into_iter().filter(|a| a.ok) {
            by_key.entry(attempt.key).or_default().push(attempt.n);
        }
        by_key
    }
}

impl Handler for Timed {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let started = Instant::now();
            tokio::time::sleep(this.cost).await;
            let key = context.key().to_owned();
            let ok = !(key.starts_with("sick") && this.failing.load(Ordering::SeqCst));
            let attempt = Attempt {
                n: message.payload()["n"].as_i64().unwrap_or(-1),
                attempt: context.attempt(),
                key,
                started,
                ended: Instant::now(),
                ok,
            };
            this.attempts.lock().unwrap().push(attempt);
            if ok {
                Ok(())
            } else {
                Err(HandlerError::transient("downstream unavailable"))
            }
        })
    }
}

/// Sends `messages` (key, `n`), up to 1,000 at a time; each key's messages keep their order.
pub async fn send_keyed(broker: Broker, topic: &str, messages: &[(String, i64)]) {
    use futures::StreamExt;
    let producer = Producer::new(&config(
        broker,
        &[("source_system", "qos-test"), ("send_timeout", "30s")],
    ))
    .expect("producer");
    let mut pending = futures::stream::FuturesUnordered::new();
    for (key, n) in messages {
        let producer = producer.clone();
        pending.push(async move {
            producer
                .send(topic, key, &serde_json::json!({ "n": n }))
                .await
        });
        if pending.len() >= 1000 {
            pending.next().await.expect("pending").expect("send");
        }
    }
    while let Some(result) = pending.next().await {
        result.expect("send");
    }
}

/// `(key, n)` for `per_key` messages of each of `keys`, round-robin over the keys.
pub fn round_robin(keys: &[String], per_key: i64) -> Vec<(String, i64)> {
    (0..per_key)
        .flat_map(|n| keys.iter().map(move |key| (key.clone(), n)))
        .collect()
}

/// `count` keys named `prefix-0` …
pub fn keys(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}-{n}")).collect()
}

/// Sends `messages` (key, `n`) one after another, each acknowledged before the next.
pub async fn send_in_order(broker: Broker, topic: &str, messages: &[(&str, i64)]) {
    let producer = Producer::new(&config(
        broker,
        &[("source_system", "qos-test"), ("send_timeout", "30s")],
    ))
    .expect("producer");
    for (key, n) in messages {
        producer
            .send(topic, key, &serde_json::json!({ "n": n }))
            .await
            .expect("send");
    }
}
