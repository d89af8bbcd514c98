//! Fair scheduling of handler permits across keys and between fresh work and retries.
//!
//! A handler runs only while it holds a [`Permit`]; there are `max_concurrency` of them per
//! consumer. When none is free, waiting tasks queue by class ([`Class::Normal`] for first
//! attempts, [`Class::Failure`] for retries) and, within a class, by their key's recent handler
//! time less a boost for waiting (see [`super::fair_queue`]). When both classes wait, the class
//! whose handler time is furthest below its share (`scheduler_failure_weight` for failures)
//! goes next; when one class is idle the other takes every permit. A permit records its
//! holder's running time against its key and class when it is dropped, then passes itself on.
//!
//! Permits pass hand to hand: there is no dispatcher task, and a released permit goes straight
//! to the chosen waiter. While nobody waits, taking and giving back a permit touch only an
//! atomic word ([`PermitCounts`]); the lock guards the queues and the recorded handler time.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use super::decay::Decaying;
use super::fair_queue::{FairQueue, Weights};
use super::key_cache::{KeyCache, KeyHash, KeyHasher};
use super::permit_counts::PermitCounts;
use super::sample;
use super::waiters::{Ticket, Waiters};

/// Runs shorter than this are recorded by sampling (see `sample.rs`): fairness tells apart
/// keys that ran for tenths of a second or more.
const GRAIN: Duration = Duration::from_millis(1);

/// How fast a key's recorded handler time fades.
pub(crate) const HALF_LIFE: Duration = Duration::from_secs(120);

/// Which share of handler time a task draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A first attempt at a message or timer.
    Normal,
    /// A retry: a second or later attempt, or a deferred event coming back.
    Failure,
}

/// The scheduler's settings, from `max_concurrency` and the `scheduler_*` options.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerSettings {
    /// Permits, i.e. handlers that may run at once (at least 1).
    pub permits: usize,
    /// Share (0 to 1) of handler time for [`Class::Failure`] while both classes wait.
    pub failure_weight: f64,
    /// Wait after which a task earns the full boost.
    pub max_wait: Duration,
    /// The full boost, in seconds of handler time.
    pub wait_weight: f64,
    /// Keys whose handler time is remembered (at least 1).
    pub cache_size: usize,
}

/// Hands out handler permits fairly. Cheap to clone; clones share the permits.
#[derive(Debug, Clone)]
pub struct FairScheduler {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    failure_weight: f64,
    weights: Weights,
    hasher: KeyHasher,
    /// Free permits, and tasks in both queues (dropped waiters included until popped).
    counts: PermitCounts,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    normal_work: Decaying,
    failure_work: Decaying,
    work: KeyCache<Decaying>,
    normal: FairQueue<Ticket>,
    failure: FairQueue<Ticket>,
    waiters: Waiters,
}

/// The right to run one handler. Dropping it records the time it was held and passes it on.
#[derive(Debug)]
pub struct Permit {
    shared: Option<Arc<Shared>>,
    key: KeyHash,
    class: Class,
    granted: Instant,
}

impl FairScheduler {
    /// A scheduler with `settings.permits` permits, all free.
    #[must_use]
    pub fn new(settings: SchedulerSettings) -> Self {
        let now = Instant::now();
        let weights = Weights {
            max_wait: settings.max_wait,
            wait_weight: settings.wait_weight,
            half_life: HALF_LIFE,
        };
        Self {
            shared: Arc::new(Shared {
                failure_weight: settings.failure_weight.clamp(0.0, 1.0),
                weights,
                hasher: KeyHasher::default(),
                counts: PermitCounts::new(settings.permits.max(1)),
                state: Mutex::new(State {
                    normal: FairQueue::new(now, &weights),
                    failure: FairQueue::new(now, &weights),
                    work: KeyCache::new(settings.cache_size),
                    normal_work: Decaying::zero(now),
                    failure_work: Decaying::zero(now),
                    waiters: Waiters::default(),
                }),
            }),
        }
    }

    /// A permit at once, if one is free and nobody waits; no waiting is set up otherwise.
    #[must_use]
    pub fn try_acquire(&self, key: &str, class: Class) -> Option<Permit> {
        if !self.shared.counts.try_take() {
            return None;
        }
        let key = self.shared.hasher.hash(key);
        Some(Permit::new(&self.shared, key, class, Instant::now()))
    }

    /// Waits for a permit to run a handler for `key`. Dropping the future gives up the place.
    pub fn acquire(&self, key: &str, class: Class) -> Acquire {
        Acquire {
            shared: Arc::clone(&self.shared),
            key: self.shared.hasher.hash(key),
            class,
            ticket: None,
        }
    }

    /// Tasks waiting for a permit, per class: `(normal, failure)`.
    #[must_use]
    pub fn waiting(&self) -> (usize, usize) {
        let state = self.shared.lock();
        (state.normal.len(), state.failure.len())
    }

    /// Permits nobody holds.
    #[must_use]
    pub fn free(&self) -> usize {
        self.shared.counts.free()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records what a permit's holder ran, then gives the permit to the next waiter.
    /// Runs under [`GRAIN`] are recorded by sampling ([`sample`]), so a fast handler's
    /// release is usually just the hand-over, and without waiters not even a lock.
    fn release(&self, key: KeyHash, class: Class, ran: Duration, now: Instant) {
        let recorded = sample::recorded(ran, GRAIN);
        if recorded.is_none() && self.counts.put_back_unless_waited_for() {
            return;
        }
        let mut state = self.lock();
        if let Some(ran) = recorded {
            let half_life = self.weights.half_life;
            state
                .work
                .get_or_insert_with(key, || Decaying::zero(now))
                .add(ran, now, half_life);
            match class {
                Class::Normal => state.normal_work.add(ran, now, half_life),
                Class::Failure => state.failure_work.add(ran, now, half_life),
            }
        }
        let woken = self.grant_next(&mut state, now);
        drop(state);
        // Outside the lock: waking may hand the task to another thread.
        if let Some(waker) = woken {
            waker.wake();
        }
    }

    /// Passes a free permit to the next waiter (returning the waker to wake it with), or adds
    /// it to the free ones. Waiters are counted only under the lock, which the caller holds,
    /// so none can queue between the last pop and the permit going back.
    fn grant_next(&self, state: &mut State, now: Instant) -> Option<Waker> {
        while self.counts.waiting() > 0 {
            let Some(class) = self.next_class(state, now) else {
                break;
            };
            let Some(waiter) = state.queue(class).pop(now, &self.weights) else {
                break;
            };
            self.counts.unwait();
            // `None` if the waiter gave up: try the next.
            if let Some(waker) = state.waiters.grant(waiter, now) {
                return Some(waker);
            }
        }
        self.counts.put_back();
        None
    }

    /// The class to serve next: the one furthest below its share of handler time.
    fn next_class(&self, state: &State, now: Instant) -> Option<Class> {
        match (state.normal.is_empty(), state.failure.is_empty()) {
            (true, true) => None,
            (false, true) => Some(Class::Normal),
            (true, false) => Some(Class::Failure),
            (false, false) => {
                let half_life = self.weights.half_life;
                let normal = share(
                    state.normal_work.at(now, half_life),
                    1.0 - self.failure_weight,
                );
                let failure = share(state.failure_work.at(now, half_life), self.failure_weight);
                Some(if normal <= failure {
                    Class::Normal
                } else {
                    Class::Failure
                })
            }
        }
    }
}

impl State {
    fn queue(&mut self, class: Class) -> &mut FairQueue<Ticket> {
        match class {
            Class::Normal => &mut self.normal,
            Class::Failure => &mut self.failure,
        }
    }
}

/// Handler time relative to a class's weight; a zero weight never catches up.
fn share(work: f64, weight: f64) -> f64 {
    if weight > 0.0 {
        work / weight
    } else {
        f64::INFINITY
    }
}

/// Waits for a permit; see [`FairScheduler::acquire`]. Dropping it gives up the place, or
/// passes on a permit granted but not yet picked up.
#[derive(Debug)]
#[must_use = "a permit is only granted while the future is polled"]
pub struct Acquire {
    shared: Arc<Shared>,
    key: KeyHash,
    class: Class,
    /// The queue slot, once queued.
    ticket: Option<Ticket>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        let mut state = this.shared.lock();
        if let Some(ticket) = this.ticket {
            let Some(granted) = state.waiters.poll(ticket, cx.waker()) else {
                return Poll::Pending;
            };
            drop(state);
            this.ticket = None;
            return Poll::Ready(Permit::new(&this.shared, this.key, this.class, granted));
        }
        let now = Instant::now();
        if this.shared.counts.take_or_wait() {
            drop(state);
            return Poll::Ready(Permit::new(&this.shared, this.key, this.class, now));
        }
        let work = state
            .work
            .peek(this.key)
            .copied()
            .unwrap_or_else(|| Decaying::zero(now));
        let ticket = state.waiters.insert(cx.waker().clone());
        let weights = this.shared.weights;
        state.queue(this.class).push(ticket, work, now, &weights);
        this.ticket = Some(ticket);
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let unclaimed = self.shared.lock().waiters.abandon(ticket);
        if unclaimed.is_some() {
            // Granted but never picked up: hand it on, having run nothing (outside the lock, as
            // a release takes it).
            self.shared
                .release(self.key, self.class, Duration::ZERO, Instant::now());
        }
    }
}

impl Permit {
    fn new(shared: &Arc<Shared>, key: KeyHash, class: Class, granted: Instant) -> Self {
        Self {
            shared: Some(Arc::clone(shared)),
            key,
            class,
            granted,
        }
    }

    /// The class this permit was granted for.
    #[must_use]
    pub fn class(&self) -> Class {
        self.class
    }

    /// When the permit was granted.
    #[must_use]
    pub fn granted(&self) -> Instant {
        self.granted
    }

    /// Gives the permit back as of `at` (saving a clock read on the hot path), recording the
    /// time since it was granted against its key and class.
    pub fn finish(mut self, at: Instant) {
        if let Some(shared) = self.shared.take() {
            let ran = at.saturating_duration_since(self.granted);
            shared.release(self.key, self.class, ran, at);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let now = Instant::now();
            let ran = now.saturating_duration_since(self.granted);
            shared.release(self.key, self.class, ran, now);
        }
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "scheduler_option_tests.rs"]
mod option_tests;
