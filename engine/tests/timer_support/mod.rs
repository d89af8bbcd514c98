//! A scriptable handler for the timer tests: each message's payload says which timer
//! operations to run for its key, and every timer that fires is recorded.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prosody_engine::{
    Config, Consumer, Context, Handler, HandlerError, HandlerFuture, Message, Producer, Timer,
    TimerTime,
};

use crate::support::{self, create_topic, test_producer, unique, Broker};

/// A timer that fired: its key and due time, when it fired, and which consumer fired it.
#[derive(Debug, Clone)]
pub struct Fired {
    pub key: String,
    pub time: u32,
    pub at: SystemTime,
    pub by: String,
}

impl Fired {
    /// When the timer was due.
    pub fn due(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.time.into())
    }
}

#[derive(Default)]
struct State {
    fired: Mutex<Vec<Fired>>,
    /// `scheduled()` after each message, per key, in handling order.
    listed: Mutex<HashMap<String, Vec<Vec<u32>>>>,
    errors: Mutex<Vec<String>>,
    busy: Mutex<HashSet<String>>,
    overlaps: AtomicUsize,
    running_timers: AtomicUsize,
    peak_timers: AtomicUsize,
}

/// Runs the operations a message asks for; records fired timers. Cheap to clone.
#[derive(Clone, Default)]
pub struct Script {
    state: Arc<State>,
    name: String,
    /// How long each handler call holds its key.
    hold: Duration,
    /// On a key's first firing, schedule a timer this many seconds after the firing one (0:
    /// the firing timer itself).
    reschedule_after: Option<u32>,
    /// On a key's first firing, fail with this error.
    fail_first: Option<HandlerError>,
}

/// Seconds since the epoch, now.
pub fn now_secs() -> u32 {
    u32::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

impl Script {
    pub fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The same recorder under another consumer's name.
    pub fn renamed(&self, name: &str) -> Self {
        Self {
            name: name.into(),
            ..self.clone()
        }
    }

    pub fn holding(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    pub fn failing_first(mut self, error: HandlerError) -> Self {
        self.fail_first = Some(error);
        self
    }

    pub fn rescheduling(mut self, after: u32) -> Self {
        self.reschedule_after = Some(after);
        self
    }

    pub fn fired(&self) -> Vec<Fired> {
        self.state.fired.lock().unwrap().clone()
    }

    /// How many firings came before their timer's time.
    pub fn fired_early(&self) -> usize {
        self.fired().iter().filter(|f| f.at < f.due()).count()
    }

    pub fn fired_count(&self) -> usize {
        self.state.fired.lock().unwrap().len()
    }

    pub fn listed(&self, key: &str) -> Vec<Vec<u32>> {
        self.state
            .listed
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    pub fn listed_count(&self) -> usize {
        self.state
            .listed
            .lock()
            .unwrap()
            .values()
            .map(Vec::len)
            .sum()
    }

    pub fn errors(&self) -> Vec<String> {
        self.state.errors.lock().unwrap().clone()
    }

    pub fn overlaps(&self) -> usize {
        self.state.overlaps.load(Ordering::SeqCst)
    }

    pub fn peak_timers(&self) -> usize {
        self.state.peak_timers.load(Ordering::SeqCst)
    }

    fn enter(&self, key: &str) {
        if !self.state.busy.lock().unwrap().insert(key.to_string()) {
            self.state.overlaps.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn leave(&self, key: &str) {
        self.state.busy.lock().unwrap().remove(key);
    }
}

fn times(payload: &serde_json::Value, op: &str) -> Vec<TimerTime> {
    payload[op]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(serde_json::Value::as_u64)
                .map(|secs| TimerTime::from_secs(u32::try_from(secs).unwrap()))
                .collect()
        })
        .unwrap_or_default()
}

async fn run_ops(
    context: &Context,
    payload: &serde_json::Value,
) -> prosody_engine::Result<Vec<u32>> {
    if let Some(secs) = payload["clear_and_schedule"].as_u64() {
        let time = TimerTime::from_secs(u32::try_from(secs).unwrap());
        context.clear_and_schedule(time).await?;
    }
    if payload["clear"].as_bool() == Some(true) {
        context.clear_scheduled().await?;
    }
    for time in times(payload, "schedule") {
        context.schedule(time).await?;
    }
    for time in times(payload, "unschedule") {
        context.unschedule(time).await?;
    }
    let listed = context.scheduled().await?;
    Ok(listed.into_iter().map(TimerTime::as_secs).collect())
}

impl Handler for Script {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let key = message.key().to_string();
            this.enter(&key);
            let listed = run_ops(&context, message.payload()).await;
            tokio::time::sleep(this.hold).await;
            this.leave(&key);
            match listed {
                Ok(listed) => {
                    this.state
                        .listed
                        .lock()
                        .unwrap()
                        .entry(key)
                        .or_default()
                        .push(listed);
                    Ok(())
                }
                Err(error) => {
                    this.state.errors.lock().unwrap().push(error.to_string());
                    Err(HandlerError::transient(error.to_string()))
                }
            }
        })
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let at = SystemTime::now();
            this.enter(&timer.key);
            let running = this.state.running_timers.fetch_add(1, Ordering::SeqCst) + 1;
            this.state.peak_timers.fetch_max(running, Ordering::SeqCst);
            let time = TimerTime::from_system_time(timer.time).unwrap();
            let first = !this
                .state
                .fired
                .lock()
                .unwrap()
                .iter()
                .any(|f| f.key == timer.key);
            this.state.fired.lock().unwrap().push(Fired {
                key: timer.key.clone(),
                time: time.as_secs(),
                at,
                by: this.name.clone(),
            });
            let mut result = Ok(());
            if let (Some(after), true) = (this.reschedule_after, first) {
                let again = TimerTime::from_secs(time.as_secs() + after);
                result = context
                    .schedule(again)
                    .await
                    .map_err(|e| HandlerError::transient(e.to_string()));
            }
            if let (Some(error), true) = (&this.fail_first, first) {
                result = Err(error.clone());
            }
            tokio::time::sleep(this.hold).await;
            this.state.running_timers.fetch_sub(1, Ordering::SeqCst);
            this.leave(&timer.key);
            result
        })
    }
}

pub const LIMIT: Duration = Duration::from_secs(60);

pub fn timer_config(broker: Broker, group: &str, topic: &str, extra: &[(&str, &str)]) -> Config {
    let nodes = support::cassandra_nodes();
    let mut options = vec![
        ("group_id", group),
        ("subscribed_topics", topic),
        ("cassandra_nodes", nodes.as_str()),
    ];
    options.extend_from_slice(extra);
    support::config(broker, &options)
}

pub fn start(config: &Config, script: &Script) -> Consumer {
    Consumer::subscribe(
        config,
        Arc::new(script.clone()),
        tokio::runtime::Handle::current(),
    )
    .expect("consumer starts")
}

pub async fn send(producer: &Producer, topic: &str, key: &str, payload: serde_json::Value) {
    producer.send(topic, key, &payload).await.expect("sent");
}

/// A topic and group of their own, the producer, and a consumer running `script`.
pub async fn setup(
    broker: Broker,
    partitions: i32,
    script: &Script,
    extra: &[(&str, &str)],
) -> (String, Config, Producer, Consumer) {
    let topic = unique("timers");
    create_topic(broker, &topic, partitions).await;
    let config = timer_config(broker, &unique("timers-group"), &topic, extra);
    let consumer = start(&config, script);
    (topic, config, test_producer(broker), consumer)
}
