//! Running engine futures for Ruby callers.
//!
//! [`block_on`] is for plain threads (a Puma request, a console): the future runs on the
//! runtime while the caller waits without the GVL. [`Pending`] is for fibers under a scheduler:
//! the future runs on the runtime and signals a pipe that the calling fiber waits on with
//! `IO#wait_readable`, so the reactor keeps running other fibers.

use std::future::Future;
use std::sync::Mutex;

use magnus::{method, prelude::*, DataTypeFunctions, Error, Ruby, TypedData, Value};

use crate::helpers::runtime::runtime;
use crate::helpers::wake::WakePipe;

/// `Prosody::Native::Pending`: an engine operation a fiber waits on.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Native::Pending", free_immediately)]
pub(crate) struct Pending {
    pipe: WakePipe,
    outcome: std::sync::Arc<Mutex<Option<Outcome>>>,
}

/// What an operation produced, in plain Rust data (turned into Ruby values on `result`).
pub(crate) enum Outcome {
    /// Success with no value.
    Done,
    /// Success with timer times (whole seconds since the epoch).
    Times(Vec<u32>),
    /// Failure: an engine error, mapped to a Ruby exception on `result`.
    Failed(prosody_engine::Error),
}

impl Pending {
    /// Starts `future` on the runtime.
    pub(crate) fn start<F>(ruby: &Ruby, future: F) -> Result<Self, Error>
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let runtime =
            runtime().map_err(|message| crate::helpers::errors::prosody_error(ruby, message))?;
        let pipe = WakePipe::new().map_err(|e| {
            crate::helpers::errors::prosody_error(ruby, format!("could not create a pipe: {e}"))
        })?;
        let outcome = std::sync::Arc::new(Mutex::new(None));
        let pending = Self {
            pipe,
            outcome: std::sync::Arc::clone(&outcome),
        };
        let waker = pending.pipe.writer();
        runtime.spawn(async move {
            let result = future.await;
            *outcome
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(result);
            waker.wake();
        });
        Ok(pending)
    }

    fn fileno(&self) -> i32 {
        self.pipe.read_fd()
    }

    /// `true` once finished, `false` while still running.
    fn is_done(&self) -> bool {
        self.outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some()
    }

    /// The operation's value (`true`, or an Array of Integers for timer times), or raises its
    /// error. Call once `done?` is true.
    fn result(ruby: &Ruby, rb_self: &Self) -> Result<Value, Error> {
        let taken = rb_self
            .outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match taken {
            None => Err(crate::helpers::errors::prosody_error(
                ruby,
                "the operation has not finished",
            )),
            Some(outcome) => outcome.into_ruby(ruby),
        }
    }
}

impl Outcome {
    /// The Ruby value of a finished operation, or its error as an exception.
    pub(crate) fn into_ruby(self, ruby: &Ruby) -> Result<Value, Error> {
        match self {
            Outcome::Done => Ok(ruby.qtrue().as_value()),
            Outcome::Times(times) => Ok(ruby.ary_from_iter(times).as_value()),
            Outcome::Failed(error) => Err(crate::helpers::errors::to_ruby(ruby, &error)),
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
    class.define_method("result", method!(Pending::result, 0))?;
    Ok(())
}
