//! Ruby binding for `prosody-engine`.
//!
//! This file only registers the extension. `ruby_api/` holds the Ruby-facing classes, one file
//! each, every one ending in a `pub fn init(ruby: &Ruby)` that defines it; `helpers/` holds what
//! they share (the no-GVL wait, the runtime, error mapping, wake-up pipes, JSON, logging).
//! `bench.rs` exists only with the `bench` Cargo feature, which no gem build enables.

use magnus::{Error, Ruby};

#[cfg(feature = "bench")]
mod bench;
mod helpers;
mod ruby_api;

/// Rust's allocations only: Ruby and librdkafka keep their own malloc.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Entry point Ruby calls when it loads `prosody/prosody.so`.
#[magnus::init]
fn init(ruby: &Ruby) -> Result<(), Error> {
    ruby_api::init(ruby)?;
    #[cfg(feature = "bench")]
    bench::init(ruby)?;
    Ok(())
}
