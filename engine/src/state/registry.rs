//! The collections one client registers, checked together.

use std::collections::HashMap;

use super::definition::{Definition, Payload};
use super::error::StateError;

/// A client's registered collections: unique names, and published ones only under a
/// `subsystem`.
///
/// ```
/// use prosody_engine::state::{Definition, Registry, StateError};
///
/// let totals = Definition::map("totals").build()?;
/// let registry = Registry::new(None, [totals.clone()])?;
/// assert_eq!(registry.get(&totals)?, &totals);
///
/// let twice = Registry::new(None, [totals.clone(), totals]);
/// assert!(matches!(twice, Err(StateError::Duplicate { .. })));
/// # Ok::<(), StateError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    subsystem: Option<String>,
    collections: HashMap<String, Definition>,
}

impl Registry {
    /// Registers `definitions` for a client whose subsystem is `subsystem`.
    ///
    /// # Errors
    ///
    /// [`StateError::Duplicate`] for a repeated name, [`StateError::PublishedWithoutSubsystem`]
    /// for a published collection when `subsystem` is `None`.
    pub fn new(
        subsystem: Option<&str>,
        definitions: impl IntoIterator<Item = Definition>,
    ) -> Result<Self, StateError> {
        let mut collections = HashMap::new();
        for definition in definitions {
            if definition.options().published && subsystem.is_none() {
                return Err(StateError::PublishedWithoutSubsystem {
                    name: definition.name().to_owned(),
                });
            }
            let name = definition.name().to_owned();
            if collections.insert(name.clone(), definition).is_some() {
                return Err(StateError::Duplicate { name });
            }
        }
        Ok(Self {
            subsystem: subsystem.map(str::to_owned),
            collections,
        })
    }

    /// The subsystem published collections are read through.
    pub fn subsystem(&self) -> Option<&str> {
        self.subsystem.as_deref()
    }

    /// The registered definition equal to `definition`.
    ///
    /// # Errors
    ///
    /// [`StateError::Unregistered`] when no collection has its name, or the registered one
    /// differs (another kind, format or options).
    pub fn get(&self, definition: &Definition) -> Result<&Definition, StateError> {
        match self.collections.get(definition.name()) {
            Some(registered) if registered == definition => Ok(registered),
            _ => Err(StateError::Unregistered {
                name: definition.name().to_owned(),
            }),
        }
    }

    /// How long a key's bookkeeping row must live: as long as the longest-lived write, so
    /// `None` (forever) when some collection keeps writes forever, or when none is registered.
    pub fn head_ttl(&self) -> Option<u32> {
        let mut longest = None;
        for definition in self.collections.values() {
            let ttl = definition.options().ttl?;
            longest = longest.max(Some(ttl));
        }
        longest
    }

    /// How many collections are registered.
    pub fn len(&self) -> usize {
        self.collections.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.collections.is_empty()
    }

    /// Whether any collection stores message references, so the consumer must be able to
    /// read messages back.
    pub fn holds_messages(&self) -> bool {
        self.collections
            .values()
            .any(|definition| definition.payload() == Payload::Message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_needs_a_subsystem() {
        let published = Definition::value("v").published(true).build().unwrap();
        assert!(matches!(
            Registry::new(None, [published.clone()]),
            Err(StateError::PublishedWithoutSubsystem { name }) if name == "v"
        ));
        assert!(Registry::new(Some("billing"), [published]).is_ok());
    }

    #[test]
    fn a_definition_differing_from_its_registration_is_unregistered() {
        let registered = Definition::value("v").ttl(5).build().unwrap();
        let other = Definition::value("v").ttl(6).build().unwrap();
        let registry = Registry::new(None, [registered]).unwrap();
        assert!(matches!(
            registry.get(&other),
            Err(StateError::Unregistered { .. })
        ));
    }

    #[test]
    fn a_registry_knows_whether_it_holds_message_collections() {
        let bytes = Definition::deque("d").build().unwrap();
        let messages = Definition::deque("m").message().build().unwrap();
        assert!(!Registry::new(None, [bytes.clone()])
            .unwrap()
            .holds_messages());
        assert!(Registry::new(None, [bytes, messages])
            .unwrap()
            .holds_messages());
    }

    #[test]
    fn the_head_lives_as_long_as_the_longest_write() {
        let short = Definition::value("a").ttl(5).build().unwrap();
        let long = Definition::map("b").ttl(50).build().unwrap();
        let forever = Definition::set("c").build().unwrap();
        let registry = Registry::new(None, [short.clone(), long.clone()]).unwrap();
        assert_eq!(registry.head_ttl(), Some(50));
        let registry = Registry::new(None, [short, long, forever]).unwrap();
        assert_eq!(registry.head_ttl(), None);
    }
}
