//! A scriptable handler for the deferred-timer tests: messages schedule timers, timers fail
//! while told to, and what succeeded is recorded per key, in order.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use prosody_engine::{Context, Handler, HandlerError, HandlerFuture, Message, Timer, TimerTime};

/// What a handler call did, in the order the key's calls succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Timer(u32),
    Message(i64),
}

/// A timer operation to run when a timer succeeds.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// Record `scheduled()`.
    List,
    Unschedule(u32),
    Schedule(u32),
    Clear,
}

#[derive(Default)]
pub struct State {
    seen: Mutex<HashMap<String, Vec<Seen>>>,
    attempts: Mutex<HashMap<(String, u32), usize>>,
    /// Keys whose timers (and numbered messages) fail transiently.
    failing: Mutex<HashSet<String>>,
    /// Timers that fail permanently.
    pub permanent: Mutex<HashSet<(String, u32)>>,
    ops: Mutex<HashMap<(String, u32), Vec<Op>>>,
    listed: Mutex<Vec<Vec<u32>>>,
}

/// Schedules the times a message asks for and records what succeeded; see [`State`].
#[derive(Clone, Default)]
pub struct Timers(pub Arc<State>);

impl Timers {
    pub fn fail(&self, key: &str, failing: bool) {
        let mut keys = self.0.failing.lock().unwrap();
        if failing {
            keys.insert(key.into());
        } else {
            keys.remove(key);
        }
    }

    pub fn seen(&self, key: &str) -> Vec<Seen> {
        let seen = self.0.seen.lock().unwrap();
        seen.get(key).cloned().unwrap_or_default()
    }

    pub fn attempts(&self, key: &str, time: u32) -> usize {
        let attempts = self.0.attempts.lock().unwrap();
        attempts.get(&(key.into(), time)).copied().unwrap_or(0)
    }

    pub fn on(&self, key: &str, time: u32, ops: &[Op]) {
        let mut all = self.0.ops.lock().unwrap();
        all.insert((key.into(), time), ops.to_vec());
    }

    pub fn listed(&self) -> Vec<Vec<u32>> {
        self.0.listed.lock().unwrap().clone()
    }

    fn record(&self, key: &str, seen: Seen) {
        let mut all = self.0.seen.lock().unwrap();
        all.entry(key.into()).or_default().push(seen);
    }

    async fn run(&self, context: &Context, ops: &[Op]) -> Result<(), HandlerError> {
        let fail = |e: prosody_engine::Error| HandlerError::transient(e.to_string());
        for op in ops {
            match *op {
                Op::List => {
                    let listed = context.scheduled().await.map_err(fail)?;
                    let listed = listed.into_iter().map(TimerTime::as_secs).collect();
                    self.0.listed.lock().unwrap().push(listed);
                }
                Op::Unschedule(t) => context.unschedule(secs(t)).await.map_err(fail)?,
                Op::Schedule(t) => context.schedule(secs(t)).await.map_err(fail)?,
                Op::Clear => context.clear_scheduled().await.map_err(fail)?,
            }
        }
        Ok(())
    }
}

fn secs(time: u32) -> TimerTime {
    TimerTime::from_secs(time)
}

impl Handler for Timers {
    fn on_message(&self, context: Context, message: Message) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let key = context.key().to_owned();
            let payload = message.payload();
            for time in payload["schedule"].as_array().into_iter().flatten() {
                let time = u32::try_from(time.as_u64().unwrap_or(0)).unwrap_or(0);
                context
                    .schedule(secs(time))
                    .await
                    .map_err(|e| HandlerError::transient(e.to_string()))?;
            }
            if payload["list"].as_bool() == Some(true) {
                this.run(&context, &[Op::List]).await?;
            }
            if let Some(n) = payload["n"].as_i64() {
                if this.0.failing.lock().unwrap().contains(&key) {
                    return Err(HandlerError::transient("downstream unavailable"));
                }
                this.record(&key, Seen::Message(n));
            }
            Ok(())
        })
    }

    fn on_timer(&self, context: Context, timer: Timer) -> HandlerFuture {
        let this = self.clone();
        Box::pin(async move {
            let key = timer.key.clone();
            let time = timer.time.duration_since(UNIX_EPOCH).unwrap().as_secs();
            let time = u32::try_from(time).unwrap();
            *this
                .0
                .attempts
                .lock()
                .unwrap()
                .entry((key.clone(), time))
                .or_default() += 1;
            if this
                .0
                .permanent
                .lock()
                .unwrap()
                .contains(&(key.clone(), time))
            {
                return Err(HandlerError::permanent("this timer can never succeed"));
            }
            if this.0.failing.lock().unwrap().contains(&key) {
                return Err(HandlerError::transient("downstream unavailable"));
            }
            let ops = this.0.ops.lock().unwrap().remove(&(key.clone(), time));
            if let Some(ops) = ops {
                this.run(&context, &ops).await?;
            }
            this.record(&key, Seen::Timer(time));
            Ok(())
        })
    }
}

pub fn now_secs() -> u32 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u32::try_from(now.as_secs()).unwrap()
}
