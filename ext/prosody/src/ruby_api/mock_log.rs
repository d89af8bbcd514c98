//! `Prosody::Native::MockLogMark` and `Prosody::Native.mock_topic_records`: reading back what
//! reached the mock cluster, for `prosody/rspec`'s matchers.
//!
//! The engine's reads block on librdkafka, so they run on the runtime's blocking threads and
//! Ruby waits for them through a [`Pending`] like any other operation.

use magnus::{function, method, prelude::*, DataTypeFunctions, Error, Ruby, TypedData, Value};
use prosody_engine::{MockLogMark, MockRecord};

use crate::ruby_api::pending::{Outcome, Pending};

/// Where every partition of the mock cluster ended at one moment.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Native::MockLogMark", free_immediately)]
pub(crate) struct NativeMockLogMark {
    mark: MockLogMark,
}

/// Runs a blocking engine read and turns its result into an outcome.
fn read<T, F>(ruby: &Ruby, read: F, outcome: fn(T) -> Outcome) -> Result<Pending, Error>
where
    F: FnOnce() -> prosody_engine::Result<T> + Send + 'static,
    T: Send + 'static,
{
    Pending::start(ruby, async move {
        match tokio::task::spawn_blocking(read).await {
            Ok(Ok(value)) => outcome(value),
            Ok(Err(error)) => Outcome::Failed(error),
            Err(_) => Outcome::Failed(prosody_engine::Error::MockLog {
                reason: "the read stopped before it finished".into(),
            }),
        }
    })
}

impl NativeMockLogMark {
    /// `Prosody::Native::MockLogMark.now`: a `Pending` whose value is the mark.
    fn now(ruby: &Ruby) -> Result<Pending, Error> {
        read(ruby, MockLogMark::now, Outcome::Mark)
    }

    /// A `Pending` whose value is every record written since this mark.
    fn records_since(ruby: &Ruby, rb_self: &Self) -> Result<Pending, Error> {
        let mark = rb_self.mark.clone();
        read(ruby, move || mark.records_since(), Outcome::Records)
    }
}

/// `Prosody::Native.mock_topic_records(topic)`: a `Pending` whose value is every record on it.
fn mock_topic_records(ruby: &Ruby, topic: String) -> Result<Pending, Error> {
    read(
        ruby,
        move || prosody_engine::mock_topic_records(&topic),
        Outcome::Records,
    )
}

/// The Ruby object for a mark (on the waiting Ruby thread).
pub(crate) fn wrap_mark(ruby: &Ruby, mark: MockLogMark) -> Value {
    ruby.obj_wrap(NativeMockLogMark { mark }).as_value()
}

/// Records as plain Ruby Arrays (on the waiting Ruby thread).
pub(crate) fn records_to_ruby(ruby: &Ruby, records: Vec<MockRecord>) -> Result<Value, Error> {
    let list = ruby.ary_new_capa(records.len());
    for record in records {
        let headers = ruby.ary_new_capa(record.headers.len());
        for (name, value) in record.headers {
            headers.push((name, value))?;
        }
        list.push((
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.payload,
            headers,
        ))?;
    }
    Ok(list.as_value())
}

/// Defines `Prosody::Native::MockLogMark` and `Prosody::Native.mock_topic_records`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let native = ruby.define_module("Prosody")?.define_module("Native")?;
    native.define_module_function("mock_topic_records", function!(mock_topic_records, 1))?;
    let class = native.define_class("MockLogMark", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_singleton_method("now", function!(NativeMockLogMark::now, 0))?;
    class.define_method(
        "records_since",
        method!(NativeMockLogMark::records_since, 0),
    )?;
    Ok(())
}
