//! Fair scheduling through a real consumer (issue 12), on the mock cluster and on real Kafka +
//! Cassandra: failing keys at scale leave healthy keys most of their throughput, and retries get
//! `scheduler_failure_weight` of handler time while both classes wait.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::timed::{keys, round_robin, send_keyed, Attempt, Timed};
use support::{consume, create_topic, eventually, unique, Broker};

/// What one starvation run measured for the healthy keys.
struct Healthy {
    handled: usize,
    span: Duration,
}

impl Healthy {
    fn rate(&self) -> f64 {
        self.handled.saturating_sub(1) as f64 / self.span.as_secs_f64()
    }
}

/// The healthy keys' throughput: first to last healthy message handled.
fn healthy(handler: &Timed) -> Healthy {
    let done: Vec<Attempt> = handler
        .attempts()
        .into_iter()
        .filter(|a| a.ok && a.key.starts_with("well"))
        .collect();
    let first = done.iter().map(|a| a.ended).min();
    let last = done.iter().map(|a| a.ended).max();
    Healthy {
        handled: done.len(),
        span: first.zip(last).map_or(Duration::ZERO, |(f, l)| l - f),
    }
}

const HEALTHY_KEYS: usize = 1_000;
const HEALTHY_PER_KEY: i64 = 6;
const FAILING_KEYS: usize = 100;
const FAILING_PER_KEY: i64 = 3;

/// 100 always-failing keys among 1,000 healthy ones, with deferral as configured by default:
/// the healthy keys keep at least 70% of the throughput they have with no failures. Both runs
/// go side by side (same data, same moment, so machine noise hits both), each with 8 permits and
/// a 10 ms handler, so throughput is set by scheduling rather than by CPU.
async fn failing_keys_at_scale_leave_healthy_keys_their_throughput(broker: Broker) {
    let healthy_keys = keys("well", HEALTHY_KEYS);
    let failing_keys = keys("sick", FAILING_KEYS);
    // One failing message per 20 healthy ones, all through the stream.
    let mut messages = round_robin(&healthy_keys, HEALTHY_PER_KEY);
    let failing = round_robin(&failing_keys, FAILING_PER_KEY);
    for (index, message) in failing.into_iter().enumerate() {
        messages.insert((index * 21).min(messages.len()), message);
    }
    let (with_failures, without) = (unique("starvation-scale"), unique("starvation-baseline"));
    for topic in [&with_failures, &without] {
        create_topic(broker, topic, 4).await;
        send_keyed(broker, topic, &messages).await;
    }

    let options = [
        ("max_concurrency", "8"),
        ("commit_interval", "100ms"),
        ("shutdown_timeout", "2s"),
    ];
    let cost = Duration::from_millis(10);
    let (failing_handler, baseline_handler) = (Timed::new(cost, true), Timed::new(cost, false));
    let started = Instant::now();
    let failing_consumer = consume(
        broker,
        &unique("starvation-scale-group"),
        &with_failures,
        &options,
        Arc::new(failing_handler.clone()),
    );
    let baseline_consumer = consume(
        broker,
        &unique("starvation-baseline-group"),
        &without,
        &options,
        Arc::new(baseline_handler.clone()),
    );
    let all = HEALTHY_KEYS * HEALTHY_PER_KEY as usize;
    let finished = eventually(Duration::from_secs(180), || {
        failing_handler.handled_at("well") >= all && baseline_handler.handled_at("well") >= all
    })
    .await;
    let deferred = failing_consumer
        .stats()
        .deferred
        .load(std::sync::atomic::Ordering::Relaxed);
    failing_consumer.shutdown().await;
    baseline_consumer.shutdown().await;
    let (with, base) = (healthy(&failing_handler), healthy(&baseline_handler));
    eprintln!(
        "[{broker:?}] healthy keys: {:.0} msg/s with {FAILING_KEYS} failing keys ({} in {:.2} s; \
         {} failed attempts, {deferred} deferred), {:.0} msg/s without ({} in {:.2} s); ratio \
         {:.2}; whole test {:.1} s",
        with.rate(),
        with.handled,
        with.span.as_secs_f64(),
        failing_handler.attempts_at("sick"),
        base.rate(),
        base.handled,
        base.span.as_secs_f64(),
        with.rate() / base.rate(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        finished,
        "healthy handled: {} and {} of {all}",
        with.handled, base.handled
    );
    assert_eq!(failing_handler.handled_at("sick"), 0);
    assert!(
        failing_handler.attempts_at("sick") >= FAILING_KEYS,
        "the failing keys were tried"
    );
    assert!(
        with.rate() >= 0.7 * base.rate(),
        "healthy throughput {:.0} msg/s with failures is under 70% of {:.0} msg/s without",
        with.rate(),
        base.rate()
    );
}

const SPLIT_FAILING_KEYS: usize = 16;
const SPLIT_HEALTHY_KEYS: usize = 300;
const SPLIT_HEALTHY_PER_KEY: i64 = 5;

/// Both classes saturated: 16 keys fail and retry in place (no deferral, 1-2 ms back-off) while
/// a deep backlog of healthy keys waits, on 2 permits. Over the window where both wait, the
/// retries' share of handler time is `scheduler_failure_weight`.
async fn retries_get_their_weight_of_handler_time(broker: Broker, weight: &str) {
    let topic = unique("class-split");
    create_topic(broker, &topic, 4).await;
    // The failing keys first, so their retries wait from the start.
    let mut messages = round_robin(&keys("sick", SPLIT_FAILING_KEYS), 1);
    messages.extend(round_robin(
        &keys("well", SPLIT_HEALTHY_KEYS),
        SPLIT_HEALTHY_PER_KEY,
    ));
    send_keyed(broker, &topic, &messages).await;

    let handler = Timed::new(Duration::from_millis(5), true);
    let options = [
        ("max_concurrency", "2"),
        ("defer_enabled", "false"),
        ("retry_base", "1ms"),
        ("max_retry_delay", "2ms"),
        // Without deduplication a first attempt's permit covers nothing but its handler, as a
        // retry's does, so handler time is what the scheduler shares out.
        ("idempotence_cache_size", "0"),
        ("scheduler_failure_weight", weight),
        // The failing keys' offsets never commit, and every healthy message behind them in
        // their partitions stays uncommitted too: room for the whole backlog.
        ("max_uncommitted", "4000"),
        // The failing keys retry until cancelled, which comes at 80% of this.
        ("shutdown_timeout", "2s"),
    ];
    let started = Instant::now();
    let consumer = consume(
        broker,
        &unique("class-split-group"),
        &topic,
        &options,
        Arc::new(handler.clone()),
    );
    let all = SPLIT_HEALTHY_KEYS * SPLIT_HEALTHY_PER_KEY as usize;
    let drained = eventually(Duration::from_secs(120), || {
        handler.handled_at("well") >= all
    })
    .await;
    consumer.shutdown().await;
    assert!(drained, "healthy handled: {}", handler.handled_at("well"));

    // The window: from the 10% to the 80% healthy message, while the backlog is still deep and
    // the failing keys retry throughout.
    let attempts = handler.attempts();
    let mut healthy_ends: Vec<Instant> = attempts
        .iter()
        .filter(|a| a.ok && a.key.starts_with("well"))
        .map(|a| a.ended)
        .collect();
    healthy_ends.sort_unstable();
    let (from, to) = (healthy_ends[all / 10], healthy_ends[all * 8 / 10]);
    let within = |a: &Attempt| {
        let (start, end) = (a.started.max(from), a.ended.min(to));
        end.saturating_duration_since(start).as_secs_f64()
    };
    let failure: f64 = attempts.iter().filter(|a| a.attempt >= 2).map(within).sum();
    let normal: f64 = attempts.iter().filter(|a| a.attempt < 2).map(within).sum();
    let share = failure / (failure + normal);
    let target: f64 = weight.parse().expect("weight");
    eprintln!(
        "[{broker:?}] scheduler_failure_weight {weight}: retries took {share:.3} of handler time \
         ({failure:.2} s of {:.2} s over a {:.2} s window; {} retries in all); whole test {:.1} s",
        failure + normal,
        (to - from).as_secs_f64(),
        attempts.iter().filter(|a| a.attempt >= 2).count(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        (share - target).abs() <= 0.05,
        "retries took {share:.3} of handler time, not {target} ± 0.05"
    );
}

on_both_brokers! {
    starvation_at_scale => failing_keys_at_scale_leave_healthy_keys_their_throughput();
    class_split_default_weight => retries_get_their_weight_of_handler_time("0.3");
    class_split_half_weight => retries_get_their_weight_of_handler_time("0.5");
}
