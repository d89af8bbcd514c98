//! `Prosody::Native::Admin`: topic creation and deletion for the cluster a configuration names.

use magnus::{function, method, prelude::*, DataTypeFunctions, Error, RHash, Ruby, TypedData};
use prosody_engine::Admin;

use crate::helpers::block_on::block_on_engine;
use crate::helpers::errors::{prosody_error, to_ruby};
use crate::helpers::runtime::{runtime, ProcessBound};

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
    ) -> Result<(), Error> {
        let admin = std::sync::Arc::clone(&*rb_self.admin);
        block_on_engine(ruby, async move {
            admin.create_topic(&name, partitions, replication).await
        })?;
        Ok(())
    }

    fn delete_topic(ruby: &Ruby, rb_self: &Self, name: String) -> Result<(), Error> {
        let admin = std::sync::Arc::clone(&*rb_self.admin);
        block_on_engine(ruby, async move { admin.delete_topic(&name).await })?;
        Ok(())
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
