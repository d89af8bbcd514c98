//! `Prosody::Native`: small module functions that expose engine facts to Ruby.
//!
//! Nothing here panics; engine errors become `Prosody::Error`, which Ruby defines in
//! `lib/prosody.rb` before it loads the extension.

use magnus::{function, prelude::*, Error, ExceptionClass, RModule, Ruby};

/// `Prosody::Native.new_traceparent`: a fresh W3C `traceparent` for a new root trace.
fn new_traceparent() -> String {
    prosody_engine::TraceParent::new_root().to_string()
}

/// `Prosody::Native.mock_bootstrap_servers`: the address of the process-wide mock cluster,
/// starting it on first use.
fn mock_bootstrap_servers(ruby: &Ruby) -> Result<String, Error> {
    prosody_engine::mock_bootstrap_servers().map_err(|error| engine_error(ruby, &error))
}

/// Maps an engine error to `Prosody::Error`, keeping the engine's message.
fn engine_error(ruby: &Ruby, error: &prosody_engine::Error) -> Error {
    match prosody_error_class(ruby) {
        Ok(class) => Error::new(class, error.to_string()),
        Err(lookup) => lookup,
    }
}

fn prosody_error_class(ruby: &Ruby) -> Result<ExceptionClass, Error> {
    let prosody: RModule = ruby.class_object().const_get("Prosody")?;
    prosody.const_get("Error")
}

/// Defines `Prosody::Native` and its module functions.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let native = ruby.define_module("Prosody")?.define_module("Native")?;
    native.define_module_function("new_traceparent", function!(new_traceparent, 0))?;
    native.define_module_function(
        "mock_bootstrap_servers",
        function!(mock_bootstrap_servers, 0),
    )?;
    Ok(())
}
