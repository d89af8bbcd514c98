//! Per-event CPU cost of the default middleware stack around a no-op handler, without Kafka.
//!
//! ```text
//! cargo bench --manifest-path bench/engine/Cargo.toml --bench stack_cost
//! ```
//!
//! Runs 1,000,000 messages over 1,000 keys through `stack::build` for a mock pipeline config,
//! on one thread and then split across two tasks on a two-worker runtime (shared state then
//! moves between cores, as in the consumer). Each round runs the stack as built, then without
//! its quality-of-service layers (`qos::baseline`). Prints nanoseconds per event; never fails.
//!
//! A third figure is the saturated case a slow handler (such as Ruby's) brings about: 512 tasks
//! share the 256 permits of `max_concurrency: 256`, each handler yields once while holding its
//! permit, so every other attempt queues for one and every release hands a permit over.
//!
//! `STACK_COST_EVENTS` and `STACK_COST_ROUNDS` shrink the run, e.g. to count instructions
//! under `valgrind --tool=callgrind`, which, unlike wall time, the machine's noise does not move.

use std::sync::Arc;
use std::time::Instant;

use prosody_engine::middleware::stack;
use prosody_engine::{Config, Context, Handler, HandlerFuture, Message};

const KEYS: usize = 1_000;

struct Noop;

impl Handler for Noop {
    fn on_message(&self, _: Context, _: Message) -> HandlerFuture {
        Box::pin(async { Ok(()) })
    }
}

/// Gives the runtime up once, so its permit is held while other tasks run.
struct Yielding;

impl Handler for Yielding {
    fn on_message(&self, _: Context, _: Message) -> HandlerFuture {
        Box::pin(async {
            tokio::task::yield_now().await;
            Ok(())
        })
    }
}

/// Tasks in the saturated case: twice the permits.
const SATURATING_TASKS: usize = 512;

fn build(handler: Arc<dyn Handler>) -> Arc<dyn Handler> {
    let config = Config::from_options_with_env(
        [
            ("group_id", "bench"),
            ("mock", "true"),
            ("probe_port", "none"),
            ("max_concurrency", "256"),
        ],
        |_| None,
    )
    .expect("config");
    stack::build(&config, handler, None).expect("stack")
}

/// One task's messages: its own copies, so tasks share nothing but the stack.
fn messages() -> Vec<Message> {
    keyed(0..KEYS)
}

/// Messages for the keys numbered in `keys`.
fn keyed(keys: std::ops::Range<usize>) -> Vec<Message> {
    keys.map(|i| {
        let payload = serde_json::json!({"n": i, "type": "bench.event"});
        Message::new("bench", 0, i as i64, &format!("key-{i}"), payload)
    })
    .collect()
}

async fn run(handler: Arc<dyn Handler>, messages: Vec<Message>, events: usize) {
    for i in 0..events {
        let message = messages[i % messages.len()].clone();
        let context = Context::detached(message.key());
        handler
            .on_message(context, message)
            .await
            .expect("no-op succeeds");
    }
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let events = setting("STACK_COST_EVENTS", 1_000_000);
    for round in 0..setting("STACK_COST_ROUNDS", 3) {
        for baseline in [false, true] {
            // STACK_COST_STACK=default or =baseline runs only that one, e.g. under callgrind.
            match std::env::var("STACK_COST_STACK").as_deref() {
                Ok("default") if baseline => continue,
                Ok("baseline") if !baseline => continue,
                _ => {}
            }
            prosody_engine::qos::baseline::set_enabled(baseline);
            measure(round, baseline, events);
        }
    }
}

/// One round through the default stack, or with `baseline` without its qos layers.
fn measure(round: usize, baseline: bool, events: usize) {
    {
        let single = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (handler, own) = (build(Arc::new(Noop)), messages());
        let start = Instant::now();
        single.block_on(run(handler, own, events));
        let one = start.elapsed().as_nanos() as f64 / events as f64;

        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (handler, first, second) = (build(Arc::new(Noop)), messages(), messages());
        let start = Instant::now();
        multi.block_on(async {
            let a = tokio::spawn(run(Arc::clone(&handler), first, events / 2));
            let b = tokio::spawn(run(Arc::clone(&handler), second, events / 2));
            let _ = a.await;
            let _ = b.await;
        });
        let two = start.elapsed().as_nanos() as f64 / events as f64;

        let handler = build(Arc::new(Yielding));
        let per_task = events / SATURATING_TASKS;
        // Two keys per task, so that the fair queue sees a thousand keys, as above.
        let owned: Vec<_> = (0..SATURATING_TASKS)
            .map(|task| keyed(task * 2..task * 2 + 2))
            .collect();
        let start = Instant::now();
        single.block_on(async {
            let tasks: Vec<_> = owned
                .into_iter()
                .map(|own| tokio::spawn(run(Arc::clone(&handler), own, per_task)))
                .collect();
            for task in tasks {
                let _ = task.await;
            }
        });
        let saturated = start.elapsed().as_nanos() as f64 / (per_task * SATURATING_TASKS) as f64;
        let stack = if baseline { "without qos" } else { "default" };
        println!(
            "round {round}, {stack:<11}: one thread {one:.0} ns/event, two threads {two:.0} ns/event, \
             saturated {saturated:.0} ns/event (wall per event)"
        );
    }
}
