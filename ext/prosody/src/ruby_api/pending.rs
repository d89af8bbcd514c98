//! `Prosody::Native::Pending`: an engine operation that Ruby waits on.
//!
//! Every native operation that may wait (a send, a timer operation, unsubscribe, topic admin)
//! starts its future on the runtime and returns one of these at once. `Pending#value`
//! (`lib/prosody/pending.rb`) waits the right way for the caller: a fiber under a scheduler
//! waits on `fileno` through the reactor, anything else calls `blocking_value`, which waits
//! without the GVL. See [`crate::helpers::task`].

use std::future::Future;
use std::sync::Arc;

use magnus::{method, prelude::*, DataTypeFunctions, Error, Ruby, TypedData, Value};

use crate::helpers::errors::to_ruby;
use crate::helpers::task::{self, Task};

/// The Ruby-visible handle on a running operation.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Native::Pending", free_immediately)]
pub(crate) struct Pending {
    task: Arc<Task<Outcome>>,
}

/// What an operation produced, in plain Rust data (turned into Ruby values on the waiting
/// thread).
pub(crate) enum Outcome {
    /// Success with no value: `true` in Ruby.
    Done,
    /// Success with timer times (whole seconds since the epoch): an Array of Integers.
    Times(Vec<u32>),
    /// Success with a count: an Integer.
    Count(usize),
    /// A mark on the mock cluster's log: a `Prosody::Native::MockLogMark`.
    Mark(prosody_engine::MockLogMark),
    /// Records read back from the mock cluster: an Array of
    /// `[topic, partition, offset, key, payload, [[name, value], ...]]`.
    Records(Vec<prosody_engine::MockRecord>),
    /// A keyed-state operation's reply (or its failure, as a state error).
    State(crate::ruby_api::state_ops::StateReply),
    /// A request's answers, one per subsystem (see `request.rs`).
    Answers(Vec<(String, prosody_engine::request::Outcome)>),
    /// Failure: an engine error, raised as the matching Ruby exception.
    Failed(prosody_engine::Error),
}

impl Pending {
    /// Starts `future` on the runtime.
    pub(crate) fn start<F>(ruby: &Ruby, future: F) -> Result<Self, Error>
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        Ok(Self {
            task: task::spawn(ruby, future)?,
        })
    }

    /// Starts an engine operation that returns nothing on success.
    pub(crate) fn start_engine<F, T>(ruby: &Ruby, future: F) -> Result<Self, Error>
    where
        F: Future<Output = prosody_engine::Result<T>> + Send + 'static,
    {
        Self::start(ruby, async move {
            match future.await {
                Ok(_) => Outcome::Done,
                Err(error) => Outcome::Failed(error),
            }
        })
    }

    /// The descriptor a fiber waits on; readable once the operation finished.
    fn fileno(ruby: &Ruby, rb_self: &Self) -> Result<i32, Error> {
        rb_self.task.fileno(ruby)
    }

    /// `true` once finished, `false` while still running.
    fn is_done(&self) -> bool {
        self.task.is_finished()
    }

    /// The operation's value (`true`, an Array of Integers for timer times, a count, or the
    /// mock log's mark or records), or raises its error; waits without the GVL until it
    /// finished. The value can be taken once.
    fn blocking_value(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        rb_self.task.wait(ruby)?;
        match rb_self.task.take(ruby)? {
            Outcome::Done => Ok(ruby.qtrue().as_value()),
            Outcome::Times(times) => Ok(ruby.ary_from_iter(times).as_value()),
            Outcome::Count(count) => Ok(ruby.integer_from_u64(count as u64).as_value()),
            Outcome::Mark(mark) => Ok(crate::ruby_api::mock_log::wrap_mark(ruby, mark)),
            Outcome::Records(records) => crate::ruby_api::mock_log::records_to_ruby(ruby, records),
            Outcome::State(reply) => reply.into_ruby(ruby),
            Outcome::Answers(answers) => crate::ruby_api::request::answers_to_ruby(ruby, answers),
            Outcome::Failed(error) => Err(to_ruby(ruby, &error)),
        }
    }
}

/// Defines `Prosody::Native::Pending`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_module("Native")?
        .define_class("Pending", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_method("fileno", method!(Pending::fileno, 0))?;
    class.define_method("done?", method!(Pending::is_done, 0))?;
    class.define_method("blocking_value", method!(Pending::blocking_value, 0))?;
    Ok(())
}
