//! Tasks waiting for a permit, in numbered slots of one table that the scheduler reuses, so a
//! wait allocates nothing (thousands wait at once when handlers are slow, and a small
//! allocation per wait fills the allocator's free lists).

use std::task::Waker;

use tokio::time::Instant;

/// A waiting task's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    index: usize,
    generation: u64,
}

/// The slots. Every operation is O(1).
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    slots: Vec<Slot>,
    vacant: Vec<usize>,
}

#[derive(Debug)]
struct Slot {
    /// Bumped each time the slot is vacated, so a stale ticket matches nothing.
    generation: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    Vacant,
    Waiting(Waker),
    /// A permit was granted at this instant; the task has not picked it up yet.
    Granted(Instant),
    /// The task gave up while still queued; the slot frees when its queue entry comes up.
    Abandoned,
}

impl Waiters {
    /// A slot for a task that `waker` wakes.
    pub(crate) fn insert(&mut self, waker: Waker) -> Ticket {
        let state = State::Waiting(waker);
        if let Some(index) = self.vacant.pop() {
            if let Some(slot) = self.slots.get_mut(index) {
                slot.state = state;
                return Ticket {
                    index,
                    generation: slot.generation,
                };
            }
        }
        self.slots.push(Slot {
            generation: 0,
            state,
        });
        Ticket {
            index: self.slots.len() - 1,
            generation: 0,
        }
    }

    /// When the permit was granted, if it was (the slot is then freed); otherwise keeps
    /// `waker` to wake the task with.
    pub(crate) fn poll(&mut self, ticket: Ticket, waker: &Waker) -> Option<Instant> {
        let slot = self.slot(ticket)?;
        match &mut slot.state {
            State::Granted(at) => {
                let at = *at;
                self.vacate(ticket);
                Some(at)
            }
            State::Waiting(known) => {
                if !known.will_wake(waker) {
                    known.clone_from(waker);
                }
                None
            }
            State::Vacant | State::Abandoned => None,
        }
    }

    /// Grants the task a permit as of `at` and returns its waker, or `None` if it gave up
    /// (its slot is then freed, and the permit should go to someone else).
    pub(crate) fn grant(&mut self, ticket: Ticket, at: Instant) -> Option<Waker> {
        let slot = self.slot(ticket)?;
        match std::mem::replace(&mut slot.state, State::Granted(at)) {
            State::Waiting(waker) => Some(waker),
            _ => {
                self.vacate(ticket);
                None
            }
        }
    }

    /// The task gives up. Returns when a permit was granted to it that it never picked up (the
    /// caller passes it on); a queued task's slot stays taken until its queue entry comes up.
    pub(crate) fn abandon(&mut self, ticket: Ticket) -> Option<Instant> {
        let slot = self.slot(ticket)?;
        match std::mem::replace(&mut slot.state, State::Abandoned) {
            State::Granted(at) => {
                self.vacate(ticket);
                Some(at)
            }
            _ => None,
        }
    }

    fn slot(&mut self, ticket: Ticket) -> Option<&mut Slot> {
        self.slots
            .get_mut(ticket.index)
            .filter(|slot| slot.generation == ticket.generation)
    }

    fn vacate(&mut self, ticket: Ticket) {
        if let Some(slot) = self.slot(ticket) {
            slot.state = State::Vacant;
            slot.generation += 1;
            self.vacant.push(ticket.index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_granted_task_picks_up_its_grant_once_and_its_slot_is_reused() {
        let mut waiters = Waiters::default();
        let waker = Waker::noop();
        let first = waiters.insert(waker.clone());
        assert_eq!(waiters.poll(first, waker), None);

        let at = Instant::now();
        assert!(waiters.grant(first, at).is_some());
        assert_eq!(waiters.poll(first, waker), Some(at));
        assert_eq!(
            waiters.poll(first, waker),
            None,
            "a stale ticket matches nothing"
        );

        let second = waiters.insert(waker.clone());
        assert_eq!(second.index, first.index);
        assert_ne!(second, first);
    }

    #[test]
    fn a_task_that_gave_up_is_skipped_and_returns_an_unclaimed_grant() {
        let mut waiters = Waiters::default();
        let waker = Waker::noop();
        let queued = waiters.insert(waker.clone());
        assert_eq!(waiters.abandon(queued), None);
        assert!(waiters.grant(queued, Instant::now()).is_none());

        let granted = waiters.insert(waker.clone());
        let at = Instant::now();
        assert!(waiters.grant(granted, at).is_some());
        assert_eq!(waiters.abandon(granted), Some(at));
    }
}
