//! `Prosody::Native::Admin`: topic creation and deletion for the cluster a configuration names,
//! and a check that it answers.
//! Each operation returns a [`Pending`] at once.

use magnus::{function, method, prelude::*, DataTypeFunctions, Error, RHash, Ruby, TypedData};
use prosody_engine::Admin;

use crate::helpers::errors::{prosody_error, to_ruby};
use crate::helpers::runtime::{runtime, ProcessBound};
use crate::ruby_api::pending::Pending;

/// The Ruby-visible admin client.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Native::Admin", free_immediately)]
pub(crate) struct NativeAdmin {
    admin: ProcessBound<std::sync::Arc<Admin>>,
}

impl NativeAdmin {
    fn new(ruby: &Ruby, options: RHash) -> Result<Self, Error> {
        let config = crate::ruby_api::config::resolve(ruby, options)?;
        let runtime = runtime().map_err(|message| prosody_error(ruby, message))?;
        let _guard = runtime.enter();
        let admin = Admin::new(&config).map_err(|error| to_ruby(ruby, &error))?;
        Ok(Self {
            admin: ProcessBound::new(std::sync::Arc::new(admin)),
        })
    }

    /// A `Pending` that finishes once the topic exists, or fails after `seconds`.
    fn create_topic(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        partitions: i32,
        replication: i32,
        seconds: f64,
    ) -> Result<Pending, Error> {
        let timeout = seconds_arg(ruby, seconds)?;
        let admin = std::sync::Arc::clone(&*rb_self.admin);
        Pending::start_engine(ruby, async move {
            admin
                .create_topic_within(&name, partitions, replication, timeout)
                .await
        })
    }

    /// A `Pending` that finishes once a broker answered, or fails after `seconds`.
    fn check_reachable(ruby: &Ruby, rb_self: &Self, seconds: f64) -> Result<Pending, Error> {
        let timeout = seconds_arg(ruby, seconds)?;
        let admin = std::sync::Arc::clone(&*rb_self.admin);
        Pending::start_engine(ruby, async move {
            // The metadata request blocks librdkafka's caller; keep it off the runtime's workers.
            tokio::task::spawn_blocking(move || admin.check_reachable(timeout))
                .await
                .unwrap_or_else(|_| {
                    Err(prosody_engine::Error::Unreachable {
                        servers: String::new(),
                        within: timeout,
                        reason: "the check stopped before it finished".into(),
                    })
                })
        })
    }

    fn delete_topic(ruby: &Ruby, rb_self: &Self, name: String) -> Result<Pending, Error> {
        let admin = std::sync::Arc::clone(&*rb_self.admin);
        Pending::start_engine(ruby, async move { admin.delete_topic(&name).await })
    }
}

/// Defines `Prosody::Native::Admin`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_module("Native")?
        .define_class("Admin", ruby.class_object())?;
    class.define_singleton_method("new", function!(NativeAdmin::new, 1))?;
    class.define_method("create_topic", method!(NativeAdmin::create_topic, 4))?;
    class.define_method("delete_topic", method!(NativeAdmin::delete_topic, 1))?;
    class.define_method("check_reachable", method!(NativeAdmin::check_reachable, 1))?;
    Ok(())
}

/// A `timeout:` argument in seconds, more than 0.
fn seconds_arg(ruby: &Ruby, seconds: f64) -> Result<std::time::Duration, Error> {
    std::time::Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            Error::new(
                ruby.exception_arg_error(),
                format!("timeout must be a positive number of seconds, got {seconds}"),
            )
        })
}
