//! `Prosody::Native::Admin`: topic creation and deletion for the cluster a configuration names.
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

    fn create_topic(
        ruby: &Ruby,
        rb_self: &Self,
        name: String,
        partitions: i32,
        replication: i32,
    ) -> Result<Pending, Error> {
        let admin = std::sync::Arc::clone(&*rb_self.admin);
        Pending::start_engine(ruby, async move {
            admin.create_topic(&name, partitions, replication).await
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
    class.define_method("create_topic", method!(NativeAdmin::create_topic, 3))?;
    class.define_method("delete_topic", method!(NativeAdmin::delete_topic, 1))?;
    Ok(())
}
