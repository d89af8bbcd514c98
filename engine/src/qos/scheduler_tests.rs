//! Scheduler behaviour under tokio's paused clock, so durations are exact and runs repeatable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};

use super::{Class, FairScheduler, SchedulerSettings};

fn scheduler(permits: usize) -> FairScheduler {
    FairScheduler::new(SchedulerSettings {
        permits,
        failure_weight: 0.3,
        max_wait: Duration::from_secs(120),
        wait_weight: 200.0,
        cache_size: 8192,
    })
}

/// Holds a permit for `key` for `work`.
async fn run(scheduler: &FairScheduler, key: &str, class: Class, work: Duration) {
    let _permit = scheduler.acquire(key, class).await;
    sleep(work).await;
}

#[tokio::test(start_paused = true)]
async fn a_key_with_recent_work_waits_behind_fresh_keys() {
    let scheduler = scheduler(1);
    // "hot" has just run for 1.5 s; then it and two fresh keys queue for the one permit.
    run(
        &scheduler,
        "hot",
        Class::Normal,
        Duration::from_millis(1500),
    )
    .await;
    let holder = scheduler.acquire("holder", Class::Normal).await;
    let (done, mut order) = mpsc::unbounded_channel();
    for key in ["hot", "fresh-a", "fresh-b"] {
        let (scheduler, done) = (scheduler.clone(), done.clone());
        tokio::spawn(async move {
            run(&scheduler, key, Class::Normal, Duration::from_millis(10)).await;
            let _ = done.send(key);
        });
        tokio::task::yield_now().await;
    }
    drop(holder);

    let mut served = Vec::new();
    for _ in 0..3 {
        served.push(order.recv().await.unwrap_or_default());
    }
    assert_eq!(served, ["fresh-a", "fresh-b", "hot"]);
}

#[tokio::test(start_paused = true)]
async fn never_more_holders_than_permits() {
    let scheduler = scheduler(3);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for n in 0..40 {
        let (scheduler, running, peak) = (scheduler.clone(), running.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let class = if n % 3 == 0 {
                Class::Failure
            } else {
                Class::Normal
            };
            let _permit = scheduler.acquire(&format!("key-{}", n % 7), class).await;
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            sleep(Duration::from_millis(5)).await;
            running.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    for task in tasks {
        task.await.unwrap_or_default();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(scheduler.free(), 3);
    assert_eq!(scheduler.waiting(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_gives_up_does_not_keep_a_permit() {
    let scheduler = scheduler(1);
    let holder = scheduler.acquire("a", Class::Normal).await;
    let impatient = tokio::time::timeout(
        Duration::from_millis(10),
        scheduler.acquire("b", Class::Normal),
    )
    .await;
    assert!(impatient.is_err());
    assert_eq!(scheduler.waiting(), (1, 0));

    drop(holder);
    // The abandoned place is skipped and the permit comes back.
    assert_eq!(scheduler.free(), 1);
    let _again = scheduler.acquire("c", Class::Normal).await;
    assert_eq!(scheduler.free(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_permit_granted_to_a_waiter_that_gives_up_before_taking_it_passes_on() {
    let scheduler = scheduler(1);
    let holder = scheduler.acquire("a", Class::Normal).await;
    let mut first = Box::pin(scheduler.acquire("b", Class::Normal));
    assert!(futures::poll!(&mut first).is_pending());
    let mut second = Box::pin(scheduler.acquire("c", Class::Normal));
    assert!(futures::poll!(&mut second).is_pending());

    // The permit goes to "b", which gives up without picking it up: "c" gets it instead.
    drop(holder);
    drop(first);
    assert_eq!(scheduler.waiting(), (0, 0));
    let taken = second.await;
    assert_eq!(scheduler.free(), 0);
    drop(taken);
    assert_eq!(scheduler.free(), 1);
}

#[tokio::test(start_paused = true)]
async fn saturated_classes_split_handler_time_by_failure_weight() {
    let scheduler = scheduler(2);
    let stop = Instant::now() + Duration::from_secs(600);
    let busy = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let mut tasks = Vec::new();
    // Eight looping workers per class keep both classes waiting all the time.
    for n in 0..16 {
        let class = if n % 2 == 0 {
            Class::Normal
        } else {
            Class::Failure
        };
        let (scheduler, counter) = (scheduler.clone(), Arc::clone(&busy[n % 2]));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop {
                run(
                    &scheduler,
                    &format!("k{n}"),
                    class,
                    Duration::from_millis(50),
                )
                .await;
                counter.fetch_add(50, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap_or_default();
    }
    #[allow(clippy::cast_precision_loss)]
    let [normal, failure] = busy.map(|c| c.load(Ordering::Relaxed) as f64);
    let share = failure / (normal + failure);
    assert!((share - 0.3).abs() <= 0.05, "failure share {share:.3}");
}

#[tokio::test(start_paused = true)]
async fn an_idle_class_leaves_every_permit_to_the_other() {
    let scheduler = scheduler(2);
    let stop = Instant::now() + Duration::from_secs(60);
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for n in 0..4 {
        let (scheduler, done) = (scheduler.clone(), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < stop {
                run(
                    &scheduler,
                    &format!("r{n}"),
                    Class::Failure,
                    Duration::from_millis(100),
                )
                .await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap_or_default();
    }
    // Two permits busy for 60 s with 100 ms runs: 1,200 runs, give or take the last round.
    assert!(done.load(Ordering::Relaxed) >= 1_196);
}
