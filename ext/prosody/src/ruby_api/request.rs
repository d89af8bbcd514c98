//! `Prosody::Native::Client#request`: a request across subsystems, and its answers as Ruby
//! values.
//!
//! The answers cross as a flat Array of triples, in the order the subsystems were named:
//!
//! | triple | meaning |
//! |---|---|
//! | `[subsystem, :success, value]` | the handler's value, decoded from JSON |
//! | `[subsystem, :handler_error, message]` | it failed for good, or its value was not JSON |
//! | `[subsystem, :timeout, message]` | no answer in time |
//! | `[subsystem, :format_mismatch, message]` | an answer in a format this version cannot read |
//! | `[subsystem, :malformed_response, message]` | an answer that could not be decoded |
//!
//! `lib/prosody/requests.rb` turns them into `Prosody::Success` and `Prosody::Failure`.

use std::time::Duration;

use magnus::{prelude::*, Error, RArray, RHash, Ruby, Value};
use prosody_engine::request::{Outcome, Request, RequestError, ResponseError};

use crate::helpers::json;
use crate::ruby_api::client::NativeClient;
use crate::ruby_api::pending::{Outcome as PendingOutcome, Pending};
use crate::ruby_api::send_context::continuation;

/// Sends a request to `subsystems` (an Array of Strings) through `topic` under `key` and
/// returns a `Pending` whose value is the answers' triples. `payload` is JSON-able, ignored
/// when `excise` is true (the record is then a tombstone); `timeout` is in seconds. `within`
/// and `baggage` are the trace the record continues, as for `send_message`. ArgumentError for
/// bad subsystems or timeout, TypeError for a payload JSON cannot hold.
#[allow(clippy::too_many_arguments)] // the positional form of Ruby's keyword arguments
pub(crate) fn request(
    ruby: &Ruby,
    rb_self: &NativeClient,
    topic: String,
    key: String,
    payload: Value,
    excise: bool,
    subsystems: Vec<String>,
    timeout: f64,
    within: Value,
    baggage: Option<RHash>,
) -> Result<Pending, Error> {
    let timeout = seconds(ruby, timeout)?;
    let payload = if excise {
        None
    } else {
        let encoded = serde_json::to_vec(&json::to_json(ruby, payload)?)
            .map_err(|error| Error::new(ruby.exception_type_error(), error.to_string()))?;
        Some(encoded)
    };
    let request = Request {
        topic,
        key,
        payload,
        subsystems,
        timeout,
        trace: continuation(ruby, within, baggage)?,
    };
    request
        .check()
        .map_err(|error| Error::new(ruby.exception_arg_error(), error.to_string()))?;
    let requester = rb_self.local_requester(ruby)?;
    Pending::start(ruby, async move {
        match requester.request(request).await {
            Ok(answers) => PendingOutcome::Answers(answers),
            Err(error) => PendingOutcome::Failed(error),
        }
    })
}

/// `timeout` as a Duration; its bounds are the engine's to check (`Request::check`).
fn seconds(ruby: &Ruby, timeout: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(timeout).map_err(|_| {
        let error = RequestError::TimeoutOutOfRange {
            given: timeout.to_string(),
        };
        Error::new(ruby.exception_arg_error(), error.to_string())
    })
}

/// The answers as triples (see the module docs).
pub(crate) fn answers_to_ruby(
    ruby: &Ruby,
    answers: Vec<(String, Outcome)>,
) -> Result<Value, Error> {
    let list = ruby.ary_new_capa(answers.len());
    for (subsystem, outcome) in answers {
        let (kind, value) = match &outcome {
            Outcome::Success(value) => ("success", json::to_ruby(ruby, value)?),
            Outcome::Failure(error) => {
                let kind = match error {
                    ResponseError::Handler(_) => "handler_error",
                    ResponseError::Timeout => "timeout",
                    ResponseError::FormatMismatch(_) => "format_mismatch",
                    ResponseError::Malformed(_) => "malformed_response",
                };
                (kind, ruby.str_new(&error.to_string()).as_value())
            }
        };
        let triple: RArray = ruby.ary_new_capa(3);
        triple.push(subsystem)?;
        triple.push(ruby.to_symbol(kind))?;
        triple.push(value)?;
        list.push(triple)?;
    }
    Ok(list.as_value())
}
