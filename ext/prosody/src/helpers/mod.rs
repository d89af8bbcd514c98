//! What the Ruby-facing classes share. Nothing here defines a Ruby class or method.
//!
//! - [`nogvl`]: every blocking wait on a Ruby thread, with the GVL released;
//! - [`runtime`]: the tokio runtime (rebuilt after `fork`) and [`runtime::ProcessBound`];
//! - [`task`]: engine futures on that runtime, waited for by a Ruby thread or fiber;
//! - [`errors`]: engine errors to Ruby exceptions, in one function;
//! - [`wake`]: pipes that engine threads write to wake a Ruby thread or fiber;
//! - [`json`]: Ruby values to and from JSON, without Ruby's JSON library;
//! - [`logging`]: the `tracing` layer that buffers engine log lines for Ruby.

pub(crate) mod errors;
pub(crate) mod json;
pub(crate) mod logging;
pub(crate) mod nogvl;
pub(crate) mod runtime;
pub(crate) mod task;
pub(crate) mod wake;
