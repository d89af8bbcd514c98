//! The requests a client waits on, which the reply consumer hands answers to.
//!
//! Bounded by the callers: each entry belongs to one request whose caller is waiting, and the
//! caller's [`Waiting`] guard removes it when the caller stops waiting, answered or not (also
//! when its future is dropped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::outcome::{Outcome, ResponseError};

/// Requests in flight by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    requests: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    /// The subsystems asked, in order, each with its answer once one came.
    answers: Vec<(String, Option<Outcome>)>,
    /// Fired once every subsystem answered.
    complete: Option<oneshot::Sender<()>>,
}

/// What became of an answer handed to [`Registry::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Kept: the first answer of an awaited subsystem.
    Kept,
    /// Nobody waits on that request (another requester's, or one that timed out).
    Unclaimed,
    /// The request did not ask that subsystem, or it answered already.
    Ignored,
}

impl Registry {
    /// Registers request `id` awaiting `subsystems`; the guard's receiver fires once all
    /// answered.
    pub(crate) fn open(self: &Arc<Self>, id: &str, subsystems: &[String]) -> Waiting {
        let (complete, completed) = oneshot::channel();
        let entry = Entry {
            answers: subsystems.iter().map(|name| (name.clone(), None)).collect(),
            complete: Some(complete),
        };
        self.lock().insert(id.to_owned(), entry);
        Waiting {
            registry: Arc::clone(self),
            id: id.to_owned(),
            completed: Some(completed),
        }
    }

    /// Hands `subsystem`'s `outcome` to request `id`, if it waits for it.
    pub(crate) fn deliver(&self, id: &str, subsystem: &str, outcome: Outcome) -> Delivered {
        let mut requests = self.lock();
        let Some(entry) = requests.get_mut(id) else {
            return Delivered::Unclaimed;
        };
        let Some(slot) = entry
            .answers
            .iter_mut()
            .find(|(name, answer)| name == subsystem && answer.is_none())
        else {
            return Delivered::Ignored;
        };
        slot.1 = Some(outcome);
        if entry.answers.iter().all(|(_, answer)| answer.is_some()) {
            if let Some(complete) = entry.complete.take() {
                let _ = complete.send(());
            }
        }
        Delivered::Kept
    }

    /// Whether request `id` is waiting for answers.
    pub(crate) fn is_waiting(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Requests waiting now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One request's place in the [`Registry`]; dropping it removes the request.
#[derive(Debug)]
pub(crate) struct Waiting {
    registry: Arc<Registry>,
    id: String,
    completed: Option<oneshot::Receiver<()>>,
}

impl Waiting {
    /// Resolves once every subsystem answered.
    pub(crate) async fn all_answered(&mut self) {
        if let Some(completed) = self.completed.as_mut() {
            let _ = completed.await;
            self.completed = None;
        }
    }

    /// Removes the request and returns each subsystem's outcome in the order asked, with
    /// [`ResponseError::Timeout`] for those that did not answer.
    pub(crate) fn close(self) -> Vec<(String, Outcome)> {
        let entry = self.registry.lock().remove(&self.id);
        entry
            .map(|entry| entry.answers)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, answer)| {
                (
                    name,
                    answer.unwrap_or(Outcome::Failure(ResponseError::Timeout)),
                )
            })
            .collect()
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[tokio::test]
    async fn a_request_completes_once_every_subsystem_answered() {
        let registry = Arc::new(Registry::default());
        let mut waiting = registry.open("r1", &names(&["a", "b"]));
        let json = serde_json::json!(1);
        assert_eq!(
            registry.deliver("r1", "a", Outcome::Success(json.clone())),
            Delivered::Kept
        );
        assert_eq!(
            registry.deliver("r1", "a", Outcome::Success(json.clone())),
            Delivered::Ignored
        );
        assert_eq!(
            registry.deliver("r1", "c", Outcome::Success(json.clone())),
            Delivered::Ignored
        );
        assert_eq!(
            registry.deliver("r2", "a", Outcome::Success(json.clone())),
            Delivered::Unclaimed
        );
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(20), waiting.all_answered());
        assert!(early.await.is_err(), "b has not answered yet");
        assert_eq!(
            registry.deliver("r1", "b", Outcome::Success(json.clone())),
            Delivered::Kept
        );
        waiting.all_answered().await;
        let answers = waiting.close();
        assert_eq!(
            answers,
            vec![
                ("a".into(), Outcome::Success(json.clone())),
                ("b".into(), Outcome::Success(json))
            ]
        );
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn subsystems_that_did_not_answer_time_out_and_the_entry_goes() {
        let registry = Arc::new(Registry::default());
        let waiting = registry.open("r1", &names(&["a", "b"]));
        registry.deliver("r1", "b", Outcome::Success(serde_json::json!("yes")));
        let answers = waiting.close();
        assert_eq!(
            answers[0],
            ("a".into(), Outcome::Failure(ResponseError::Timeout))
        );
        assert_eq!(
            answers[1],
            ("b".into(), Outcome::Success(serde_json::json!("yes")))
        );
        assert_eq!(
            registry.deliver("r1", "a", Outcome::Success(serde_json::json!(1))),
            Delivered::Unclaimed
        );
    }

    #[test]
    fn a_dropped_request_leaves_nothing_behind() {
        let registry = Arc::new(Registry::default());
        drop(registry.open("r1", &names(&["a"])));
        assert_eq!(registry.len(), 0);
    }
}
