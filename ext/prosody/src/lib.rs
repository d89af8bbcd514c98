//! Ruby binding for `prosody-engine`.
//!
//! This file only registers the extension. Each Ruby class or module lives in its own file,
//! which ends in a `pub fn init(ruby: &Ruby)` that defines it.

use magnus::{Error, Ruby};

mod admin;
mod bench;
mod blocking;
mod bridge;
mod client;
mod config;
mod context;
mod errors;
mod json;
mod logging;
mod message;
mod native;
mod nogvl;
mod runtime;
mod wake;

/// Entry point Ruby calls when it loads `prosody/prosody.so`.
#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    ruby.define_module("Prosody")?;
    native::init(ruby)?;
    config::init(ruby)?;
    message::init(ruby)?;
    context::init(ruby)?;
    bridge::init(ruby)?;
    blocking::init(ruby)?;
    client::init(ruby)?;
    admin::init(ruby)?;
    logging::init(ruby)?;
    bench::init(ruby)
}
