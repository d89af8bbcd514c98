//! The native side of `Prosody::LogPump`: the pipe it waits on and the batch it drains.
//!
//! The buffering itself lives in [`crate::helpers::logging`]; this file only turns a batch
//! into Ruby values, on the pump's Ruby thread.

use magnus::{function, prelude::*, Error, RArray, Ruby};

use crate::helpers::logging;

/// `Prosody::Native.log_fileno`: the pipe the log pump waits on (installing the layer).
fn log_fileno() -> Option<i32> {
    logging::fileno()
}

/// `Prosody::Native.log_level = severity`: the Ruby logger's level (a `Logger` severity), so
/// engine lines it would discard are never made.
fn set_log_level(severity: i64) {
    logging::set_level(severity);
}

/// `Prosody::Native.drain_logs`: `[[severity, line], ...]` (0 debug, 1 info, 2 warn, 3 error), with a
/// warning about dropped lines first if any were dropped.
fn drain_logs(ruby: &Ruby) -> Result<RArray, Error> {
    let (dropped, lines) = logging::drain();
    let batch = ruby.ary_new_capa(lines.len() + 1);
    if dropped > 0 {
        batch.push((
            2,
            format!("{dropped} engine log lines were dropped because Ruby did not keep up"),
        ))?;
    }
    for (severity, text) in lines {
        batch.push((severity, text))?;
    }
    Ok(batch)
}

/// Defines the logging functions on `Prosody::Native`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let native = ruby.define_module("Prosody")?.define_module("Native")?;
    native.define_module_function("log_fileno", function!(log_fileno, 0))?;
    native.define_module_function("drain_logs", function!(drain_logs, 0))?;
    native.define_module_function("log_level=", function!(set_log_level, 1))?;
    Ok(())
}
