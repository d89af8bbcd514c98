//! Configuration entry points: the option catalogue and option resolution.
//!
//! Ruby's `Prosody::Configuration` checks Ruby types and turns each value into text; the
//! engine then parses that text exactly as it parses `PROSODY_*` variables, so both paths
//! share one parser and one set of error messages.

use magnus::{function, prelude::*, Error, RArray, RHash, Ruby};
use prosody_engine::{Config, ConfigError};

/// Turns a Ruby Hash of option name to text into engine options.
pub(crate) fn options_from_hash(hash: RHash) -> Result<Vec<(String, String)>, Error> {
    let mut options = Vec::with_capacity(hash.len());
    hash.foreach(|name: String, value: String| {
        options.push((name, value));
        Ok(magnus::r_hash::ForEach::Continue)
    })?;
    Ok(options)
}

/// Resolves options against the environment and defaults.
pub(crate) fn resolve(ruby: &Ruby, hash: RHash) -> Result<Config, Error> {
    Config::from_options(options_from_hash(hash)?).map_err(|error| config_error(ruby, &error))
}

/// `ArgumentError` carrying the engine's message, which names the option and the bad value.
pub(crate) fn config_error(ruby: &Ruby, error: &ConfigError) -> Error {
    Error::new(ruby.exception_arg_error(), error.to_string())
}

/// `Prosody::Native.resolve_options(hash)`: every option's effective value as text (or nil).
fn resolve_options(ruby: &Ruby, hash: RHash) -> Result<RHash, Error> {
    let config = resolve(ruby, hash)?;
    let result = ruby.hash_new();
    for (name, value) in config.effective_values() {
        result.aset(name, value)?;
    }
    Ok(result)
}

/// `Prosody::Native.option_specs`: `[name, env, default, kind, doc]` for every option.
fn option_specs(ruby: &Ruby) -> Result<RArray, Error> {
    let specs = ruby.ary_new();
    for spec in Config::options() {
        let kind = format!("{:?}", spec.kind);
        specs.push((spec.name, spec.env, spec.default, kind, spec.doc))?;
    }
    Ok(specs)
}

/// Defines the configuration functions on `Prosody::Native`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let native = ruby.define_module("Prosody")?.define_module("Native")?;
    native.define_module_function("resolve_options", function!(resolve_options, 1))?;
    native.define_module_function("option_specs", function!(option_specs, 0))?;
    Ok(())
}
