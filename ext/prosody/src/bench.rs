//! Helpers for `bench/ruby_throughput.rb`: bulk production and the Rust no-op baseline, so the
//! Ruby figures can be compared with the engine's on the same broker in the same process.
//!
//! Compiled only with the `bench` Cargo feature (`PROSODY_CARGO_FEATURES=bench rake compile`):
//! no gem build enables it, and prosody.gemspec leaves this file out of the gem.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use magnus::{function, prelude::*, Error, RHash, Ruby};
use prosody_engine::{Admin, Consumer, Context, Handler, HandlerFuture, Message, Producer};

use crate::helpers::errors::{prosody_error, to_ruby};
use crate::helpers::runtime::runtime;
use crate::helpers::task;

/// Runs an engine future to completion, waiting without the GVL.
fn block_on_engine<F, T>(ruby: &Ruby, future: F) -> Result<T, Error>
where
    F: std::future::Future<Output = prosody_engine::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let task = task::spawn(ruby, future)?;
    task.wait(ruby)?;
    task.take(ruby)?.map_err(|error| to_ruby(ruby, &error))
}

/// `Prosody::Native::Bench.produce(options, topic, partitions, count, keys)`: creates the topic
/// and sends `count` small JSON messages over `keys` keys as fast as the producer allows.
///
/// The payloads have the shape and size of the FFI yardstick's (`../shared/bench/
/// ruby_ffi_consumer.rb`: about 70 bytes with a unique `id`), so the two read the same data.
fn produce(
    ruby: &Ruby,
    options: RHash,
    topic: String,
    partitions: i32,
    count: usize,
    keys: usize,
) -> Result<f64, Error> {
    let config = crate::ruby_api::config::resolve(ruby, options)?;
    let outcome = block_on_engine(ruby, async move {
        Admin::new(&config)?
            .create_topic(&topic, partitions, 1)
            .await?;
        let producer = Producer::new(&config)?;
        let started = Instant::now();
        let mut pending = FuturesUnordered::new();
        for n in 0..count {
            let producer = producer.clone();
            let topic = topic.clone();
            let key = format!("key-{}", n % keys.max(1));
            pending.push(async move {
                let payload = serde_json::json!({
                    "id": format!("u-{n:07}"),
                    "type": "user.created",
                    "n": n,
                    "ts": 1_700_000_000 + n,
                });
                producer.send(&topic, &key, &payload).await
            });
            if pending.len() >= 5_000 {
                if let Some(result) = pending.next().await {
                    result?;
                }
            }
        }
        while let Some(result) = pending.next().await {
            result?;
        }
        Ok::<f64, prosody_engine::Error>(started.elapsed().as_secs_f64())
    })?;
    Ok(outcome)
}

struct NoopHandler(Arc<Noop>);

struct Noop {
    handled: AtomicUsize,
    target: usize,
    first: std::sync::Mutex<Option<Instant>>,
    done: tokio::sync::Notify,
}

impl Handler for NoopHandler {
    fn on_message(&self, _: Context, _: Message) -> HandlerFuture {
        let this = Arc::clone(&self.0);
        Box::pin(async move {
            this.first
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(Instant::now);
            if this.handled.fetch_add(1, Ordering::AcqRel) + 1 == this.target {
                this.done.notify_one();
            }
            Ok(())
        })
    }
}

/// `Prosody::Native::Bench.rust_noop(options, count)`: consumes with a Rust no-op handler until
/// `count` messages were handled; returns seconds from the first to the last.
fn rust_noop(ruby: &Ruby, options: RHash, count: usize) -> Result<f64, Error> {
    let config = crate::ruby_api::config::resolve(ruby, options)?;
    let runtime = runtime().map_err(|message| prosody_error(ruby, message))?;
    let handle = runtime.handle().clone();
    let outcome = block_on_engine(ruby, async move {
        let noop = Arc::new(Noop {
            handled: AtomicUsize::new(0),
            target: count,
            first: std::sync::Mutex::new(None),
            done: tokio::sync::Notify::new(),
        });
        let consumer =
            Consumer::subscribe(&config, Arc::new(NoopHandler(Arc::clone(&noop))), handle)?;
        noop.done.notified().await;
        let finished = Instant::now();
        consumer.shutdown().await;
        let first = noop
            .first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(finished);
        Ok::<f64, prosody_engine::Error>((finished - first).as_secs_f64())
    })?;
    Ok(outcome)
}

/// `Prosody::Native::Bench.qos_baseline = flag`: clients subscribed afterwards leave out the
/// quality-of-service layers (see `prosody_engine::qos::baseline`), to price them.
fn set_qos_baseline(enabled: bool) {
    prosody_engine::qos::baseline::set_enabled(enabled);
}

/// Defines `Prosody::Native::Bench`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let bench = ruby
        .define_module("Prosody")?
        .define_module("Native")?
        .define_module("Bench")?;
    bench.define_module_function("produce", function!(produce, 5))?;
    bench.define_module_function("rust_noop", function!(rust_noop, 2))?;
    bench.define_module_function("qos_baseline=", function!(set_qos_baseline, 1))?;
    Ok(())
}
