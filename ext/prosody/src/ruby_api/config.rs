//! Configuration entry points: the option catalogue and option resolution.
//!
//! Ruby's `Prosody::Configuration` checks Ruby types and turns each value into text; the
//! engine then parses that text exactly as it parses `PROSODY_*` variables, so both paths
//! share one parser and one set of error messages.

use magnus::{function, prelude::*, Error, IntoValue, RArray, RHash, Ruby, Value};
use prosody_engine::config::OptionValue;
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

/// `Prosody::Native.resolve_options(hash)`: every option's effective value, as a Ruby value.
fn resolve_options(ruby: &Ruby, hash: RHash) -> Result<RHash, Error> {
    effective_hash(ruby, &resolve(ruby, hash)?)
}

/// Every option of `config` by Symbol name, as a Ruby value.
pub(crate) fn effective_hash(ruby: &Ruby, config: &Config) -> Result<RHash, Error> {
    let result = ruby.hash_new();
    for (name, value) in config.typed_values() {
        result.aset(ruby.to_symbol(name), to_ruby_value(ruby, value)?)?;
    }
    Ok(result)
}

/// `Prosody::Native.parse_option(name, text)`: one option's value, checked on its own (no
/// environment, no cross-option rules), as a Ruby value. Raises `ArgumentError` naming the
/// option and the value.
fn parse_option(ruby: &Ruby, name: String, text: String) -> Result<Value, Error> {
    let value = Config::parse_option(&name, &text).map_err(|error| config_error(ruby, &error))?;
    to_ruby_value(ruby, value)
}

/// Durations become Float seconds and enumerations Symbols, so Ruby never parses the engine's
/// text again.
fn to_ruby_value(ruby: &Ruby, value: OptionValue) -> Result<Value, Error> {
    Ok(match value {
        OptionValue::Unset => ruby.qnil().as_value(),
        OptionValue::Text(text) => ruby.str_new(&text).as_value(),
        OptionValue::List(items) => ruby.ary_from_vec(items).as_value(),
        OptionValue::Bool(value) => value.into_value_with(ruby),
        OptionValue::Integer(value) => ruby.integer_from_u64(value).as_value(),
        OptionValue::Float(value) => ruby.float_from_f64(value).as_value(),
        OptionValue::Duration(value) => ruby.float_from_f64(value.as_secs_f64()).as_value(),
        OptionValue::Mode(mode) => ruby.to_symbol(mode.as_str()).as_value(),
        OptionValue::SpanRelation(relation) => ruby.to_symbol(relation.as_str()).as_value(),
        OptionValue::Properties(properties) => {
            let hash = ruby.hash_new();
            for (name, value) in properties {
                hash.aset(name, value)?;
            }
            hash.as_value()
        }
    })
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
    native.define_module_function("parse_option", function!(parse_option, 2))?;
    native.define_module_function("option_specs", function!(option_specs, 0))?;
    Ok(())
}
