//! The one place engine errors become Ruby exceptions.
//!
//! Ruby owns the exception classes (`lib/prosody/errors.rb`); this module looks them up by
//! name. Configuration mistakes are `ArgumentError`s, as Ruby users expect from a constructor.

use magnus::{prelude::*, Error, ExceptionClass, RModule, Ruby};
use prosody_engine::Error as EngineError;

/// Maps an engine error to the matching Ruby exception, keeping the engine's message.
pub(crate) fn to_ruby(ruby: &Ruby, error: &EngineError) -> Error {
    let class = match error {
        EngineError::Config(_) | EngineError::Request(_) => {
            return Error::new(ruby.exception_arg_error(), error.to_string())
        }
        EngineError::Encode { .. } => {
            return Error::new(ruby.exception_type_error(), error.to_string())
        }
        _ if error.is_transient() => prosody_class(ruby, "TransientError"),
        _ => prosody_class(ruby, "Error"),
    };
    match class {
        Ok(class) => Error::new(class, error.to_string()),
        Err(lookup) => lookup,
    }
}

/// `Prosody::Error` with `message`.
pub(crate) fn prosody_error(ruby: &Ruby, message: impl Into<String>) -> Error {
    match prosody_class(ruby, "Error") {
        Ok(class) => Error::new(class, message.into()),
        Err(lookup) => lookup,
    }
}

/// Looks up `Prosody::<name>`, falling back to `Prosody::Error` if Ruby has not defined it.
pub(crate) fn prosody_class(ruby: &Ruby, name: &str) -> Result<ExceptionClass, Error> {
    let prosody: RModule = ruby.class_object().const_get("Prosody")?;
    prosody
        .const_get(name)
        .or_else(|_| prosody.const_get("Error"))
}
