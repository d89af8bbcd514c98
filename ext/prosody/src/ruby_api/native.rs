//! `Prosody::Native`: small module functions that expose engine facts to Ruby.
//!
//! Nothing here panics; engine errors become `Prosody::Error`, which Ruby defines in
//! `lib/prosody.rb` before it loads the extension.

use magnus::{function, prelude::*, Error, Ruby};

use crate::helpers::errors::to_ruby;

/// `Prosody::Native.new_traceparent`: a fresh W3C `traceparent` for a new root trace.
fn new_traceparent() -> String {
    prosody_engine::TraceParent::new_root().to_string()
}

/// `Prosody::Native.mock_bootstrap_servers`: the address of the process-wide mock cluster,
/// starting it on first use.
fn mock_bootstrap_servers(ruby: &Ruby) -> Result<String, Error> {
    prosody_engine::mock_bootstrap_servers().map_err(|error| to_ruby(ruby, &error))
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
