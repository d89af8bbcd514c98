//! Ruby binding for `prosody-engine`.
//!
//! This file only registers the extension. `ruby_api/` holds the Ruby-facing classes, one file
//! each, every one ending in a `pub fn init(ruby: &Ruby)` that defines it; `helpers/` holds what
//! they share (the no-GVL wait, the runtime, error mapping, wake-up pipes, JSON, logging).

use magnus::{Error, Ruby};

mod bench;
mod helpers;
mod ruby_api;

/// Entry point Ruby calls when it loads `prosody/prosody.so`.
#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    ruby_api::init(ruby)?;
    bench::init(ruby)
}
