//! The `scheduler_*` options, from a `Config` to what the fair scheduler does, under tokio's
//! paused clock: each test changes one option and observes a different order of service.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::sleep;

use super::{Class, FairScheduler};
use crate::middleware::stack::scheduler;
use crate::Config;

fn configured(options: &[(&str, &str)]) -> FairScheduler {
    let mut all = vec![("max_concurrency", "1")];
    all.extend_from_slice(options);
    let config = Config::from_options_with_env(all, |_| None).unwrap_or_else(|e| panic!("{e}"));
    scheduler(&config)
}

async fn run(scheduler: &FairScheduler, key: &str, work: Duration) {
    let _permit = scheduler.acquire(key, Class::Normal).await;
    sleep(work).await;
}

/// "hot" has just run for 10 s. It queues for the one permit, waits 2 s, then "fresh" queues;
/// the permit comes free. Returns who was served first.
async fn first_served_after_hot_waited(scheduler: FairScheduler) -> &'static str {
    run(&scheduler, "hot", Duration::from_secs(10)).await;
    let holder = scheduler.acquire("holder", Class::Normal).await;
    let (done, mut order) = mpsc::unbounded_channel();
    for (key, delay) in [("hot", Duration::ZERO), ("fresh", Duration::from_secs(2))] {
        let (scheduler, done) = (scheduler.clone(), done.clone());
        sleep(delay).await;
        tokio::spawn(async move {
            run(&scheduler, key, Duration::from_millis(1)).await;
            let _ = done.send(key);
        });
        tokio::task::yield_now().await;
    }
    drop(holder);
    order.recv().await.unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn scheduler_max_wait_is_how_soon_waiting_earns_its_full_boost() {
    // By default a 2 s wait earns 200 * (2/120)^2, about 0.06 s: less than 10 s of recent work.
    assert_eq!(
        first_served_after_hot_waited(configured(&[])).await,
        "fresh"
    );
    // With max_wait 2 s the same wait earns the whole boost, 200 s, and "hot" goes first.
    let short = configured(&[("scheduler_max_wait", "2s")]);
    assert_eq!(first_served_after_hot_waited(short).await, "hot");
}

#[tokio::test(start_paused = true)]
async fn scheduler_wait_weight_is_what_the_full_boost_is_worth() {
    // A full boost worth 5 s does not make up for 10 s of recent work; one worth 20 s does.
    let weak = configured(&[("scheduler_max_wait", "2s"), ("scheduler_wait_weight", "5")]);
    assert_eq!(first_served_after_hot_waited(weak).await, "fresh");
    let strong = configured(&[
        ("scheduler_max_wait", "2s"),
        ("scheduler_wait_weight", "20"),
    ]);
    assert_eq!(first_served_after_hot_waited(strong).await, "hot");
}

#[tokio::test(start_paused = true)]
async fn scheduler_cache_size_is_how_many_keys_keep_their_handler_time() {
    // Serves "hot" (10 s of recent work) and "fresh", queued in that order, after `others`
    // keys have each run briefly.
    async fn first_served(scheduler: FairScheduler, others: usize) -> &'static str {
        run(&scheduler, "hot", Duration::from_secs(10)).await;
        for n in 0..others {
            run(&scheduler, &format!("other-{n}"), Duration::from_millis(1)).await;
        }
        let holder = scheduler.acquire("holder", Class::Normal).await;
        let (done, mut order) = mpsc::unbounded_channel();
        for key in ["hot", "fresh"] {
            let (scheduler, done) = (scheduler.clone(), done.clone());
            tokio::spawn(async move {
                run(&scheduler, key, Duration::from_millis(1)).await;
                let _ = done.send(key);
            });
            tokio::task::yield_now().await;
        }
        drop(holder);
        order.recv().await.unwrap_or_default()
    }
    // Remembered, "hot"'s work sends it behind "fresh".
    assert_eq!(first_served(configured(&[]), 1_000).await, "fresh");
    // Forgotten among 1,000 other keys in a cache of 16, it is as fresh as "fresh", and
    // arrived first.
    let small = configured(&[("scheduler_cache_size", "16")]);
    assert_eq!(first_served(small, 1_000).await, "hot");
}
