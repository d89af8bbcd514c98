//! The Ruby-facing classes and module functions, one file each.
//!
//! Each file ends in `pub fn init(ruby: &Ruby)`, which defines its class; [`init`] calls them
//! in dependency order (`request.rs` adds a method to the client's class, defined there). Keyword arguments, defaults and docs belong to the Ruby classes in
//! `lib/` that wrap these; the native surface stays small and positional.

use magnus::{Error, Ruby};

pub(crate) mod admin;
pub(crate) mod bridge;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod event;
pub(crate) mod log_pump;
pub(crate) mod message;
pub(crate) mod mock_log;
pub(crate) mod native;
pub(crate) mod pending;
pub(crate) mod request;
pub(crate) mod send_context;
pub(crate) mod state_definition;
pub(crate) mod state_ops;
pub(crate) mod state_reader;
pub(crate) mod state_reply;
pub(crate) mod timer;

/// Defines every Ruby-facing class and module function of the extension.
pub(crate) fn init(ruby: &Ruby) -> Result<(), Error> {
    ruby.define_module("Prosody")?;
    native::init(ruby)?;
    config::init(ruby)?;
    message::init(ruby)?;
    event::init(ruby)?;
    bridge::init(ruby)?;
    pending::init(ruby)?;
    state_definition::init(ruby)?;
    client::init(ruby)?;
    admin::init(ruby)?;
    mock_log::init(ruby)?;
    log_pump::init(ruby)
}
