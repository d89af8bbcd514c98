//! `Prosody::Native::StateDefinition`: an engine keyed-state [`Definition`], checked once when
//! Ruby declares it.
//!
//! `Prosody.value`, `Prosody.map`, `Prosody.set`, `Prosody.deque` and their `message_*` twins
//! (`lib/prosody/state.rb`) own the keyword options and their types; this class only takes them
//! positionally: `build(kind, name, ttl, capacity, keyset_limit, read_uncommitted, published,
//! message)`, with nil for an option left out and `message` true for a collection of message
//! references. A bad name or option is an ArgumentError naming it.

use magnus::{
    function, prelude::*, DataTypeFunctions, Error, RArray, Ruby, Symbol, TryConvert, TypedData,
};
use prosody_engine::state::{Definition, Registry, StateError};

/// The Ruby-visible definition.
#[derive(TypedData, DataTypeFunctions)]
#[magnus(class = "Prosody::Native::StateDefinition", free_immediately)]
pub(crate) struct StateDefinition {
    definition: Definition,
}

impl StateDefinition {
    /// The engine's definition.
    pub(crate) fn definition(&self) -> &Definition {
        &self.definition
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        ruby: &Ruby,
        kind: Symbol,
        name: String,
        ttl: Option<u64>,
        capacity: Option<u64>,
        keyset_limit: Option<u64>,
        read_uncommitted: bool,
        published: bool,
        message: bool,
    ) -> Result<Self, Error> {
        let mut builder = match &*kind.name()? {
            "value" => Definition::value(name),
            "map" => Definition::map(name),
            "set" => Definition::set(name),
            "deque" => Definition::deque(name),
            other => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!("unknown state kind :{other}; expected :value, :map, :set or :deque"),
                ))
            }
        };
        if message {
            builder = builder.message();
        }
        if let Some(ttl) = ttl {
            builder = builder.ttl(ttl);
        }
        if let Some(capacity) = capacity {
            builder = builder.capacity(capacity);
        }
        if let Some(limit) = keyset_limit {
            builder = builder.keyset_limit(limit);
        }
        let definition = builder
            .read_uncommitted(read_uncommitted)
            .published(published)
            .build()
            .map_err(|error| argument_error(ruby, &error))?;
        Ok(Self { definition })
    }
}

/// A client's registry from an Array of `Native::StateDefinition`s.
///
/// # Errors
///
/// ArgumentError for a duplicate name or a published collection without a `subsystem`;
/// TypeError for an element that is not a definition.
pub(crate) fn registry(
    ruby: &Ruby,
    definitions: RArray,
    subsystem: Option<&str>,
) -> Result<Registry, Error> {
    let mut all = Vec::with_capacity(definitions.len());
    for item in definitions.into_iter() {
        let definition = <&StateDefinition>::try_convert(item).map_err(|_| {
            Error::new(
                ruby.exception_type_error(),
                format!(
                    "state_collections takes definitions from Prosody.value, .map, .set, .deque or their message_* twins; got {}",
                    item.inspect()
                ),
            )
        })?;
        all.push(definition.definition.clone());
    }
    Registry::new(subsystem, all).map_err(|error| argument_error(ruby, &error))
}

fn argument_error(ruby: &Ruby, error: &StateError) -> Error {
    Error::new(ruby.exception_arg_error(), error.to_string())
}

/// Defines `Prosody::Native::StateDefinition`.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let class = ruby
        .define_module("Prosody")?
        .define_module("Native")?
        .define_class("StateDefinition", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_singleton_method("build", function!(StateDefinition::build, 8))?;
    Ok(())
}
