//! Collection definitions: a name, a kind, a payload format and options, validated once when
//! built.
//!
//! A [`Definition`] is an immutable value. Its *identity* (kind and format, such as
//! `deque:message`) is pinned per consumer group on first use; its options are not part of the
//! identity and may change between deploys.

use std::fmt;

use super::error::StateError;

/// The longest TTL Cassandra accepts, 20 years, in seconds.
pub const MAX_TTL_SECS: u64 = 630_720_000;

/// The largest `keyset_limit`.
pub const MAX_KEYSET_LIMIT: u32 = 4096;

/// The longest collection name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// What shape a collection has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// One value per key.
    Value,
    /// Byte-string keys to values, ordered bytewise.
    Map,
    /// A set of byte strings, ordered bytewise.
    Set,
    /// A double-ended queue of values.
    Deque,
}

impl StateKind {
    /// The kind's name, as it appears in identities and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Value => "value",
            StateKind::Map => "map",
            StateKind::Set => "set",
            StateKind::Deque => "deque",
        }
    }
}

/// What a collection stores as its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Opaque bytes (the Ruby layer stores JSON). A set stores membership only.
    Bytes,
    /// A reference to a Kafka message, reloaded when read (the `message_*` definitions).
    Message,
}

impl Payload {
    /// The format's name, as it appears in identities and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Bytes => "bytes",
            Payload::Message => "message",
        }
    }
}

/// A collection's options. Every option is optional; unset ones take the defaults documented on
/// each builder method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Seconds each write lives; `None` keeps writes until overwritten or cleared.
    pub ttl: Option<u32>,
    /// A deque's most elements.
    pub capacity: Option<u64>,
    /// A map's or set's keyset limit.
    pub keyset_limit: Option<u32>,
    /// Whether writes become visible before their event commits.
    pub read_uncommitted: bool,
    /// Whether other clients may read the collection through the client's subsystem.
    pub published: bool,
}

/// A validated collection definition.
///
/// ```
/// use prosody_engine::state::{Definition, Payload, StateKind};
///
/// let window = Definition::deque("window").message().capacity(100).ttl(3_600).build()?;
/// assert_eq!((window.kind(), window.payload()), (StateKind::Deque, Payload::Message));
/// assert_eq!(window.identity(), "deque:message");
///
/// let error = Definition::map("totals").capacity(5).build().unwrap_err();
/// assert!(error.to_string().contains("option `capacity`"));
/// # Ok::<(), prosody_engine::state::StateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    name: String,
    kind: StateKind,
    payload: Payload,
    options: Options,
}

impl Definition {
    /// Starts a value definition.
    pub fn value(name: impl Into<String>) -> DefinitionBuilder {
        DefinitionBuilder::new(name, StateKind::Value)
    }

    /// Starts a map definition.
    pub fn map(name: impl Into<String>) -> DefinitionBuilder {
        DefinitionBuilder::new(name, StateKind::Map)
    }

    /// Starts a set definition.
    pub fn set(name: impl Into<String>) -> DefinitionBuilder {
        DefinitionBuilder::new(name, StateKind::Set)
    }

    /// Starts a deque definition.
    pub fn deque(name: impl Into<String>) -> DefinitionBuilder {
        DefinitionBuilder::new(name, StateKind::Deque)
    }

    /// The collection's name, unique per client.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its kind.
    pub fn kind(&self) -> StateKind {
        self.kind
    }

    /// Its payload format.
    pub fn payload(&self) -> Payload {
        self.payload
    }

    /// Its options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Kind and format, `kind:format`: what the group pins on first use.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.payload.as_str())
    }
}

impl fmt::Display for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.identity(), self.name)
    }
}

/// Builds a [`Definition`]; [`DefinitionBuilder::build`] checks every option.
#[derive(Debug, Clone)]
#[must_use]
pub struct DefinitionBuilder {
    name: String,
    kind: StateKind,
    payload: Payload,
    ttl: Option<u64>,
    capacity: Option<u64>,
    keyset_limit: Option<u64>,
    read_uncommitted: bool,
    published: bool,
}

impl DefinitionBuilder {
    fn new(name: impl Into<String>, kind: StateKind) -> Self {
        Self {
            name: name.into(),
            kind,
            payload: Payload::Bytes,
            ttl: None,
            capacity: None,
            keyset_limit: None,
            read_uncommitted: false,
            published: false,
        }
    }

    /// Stores message references instead of bytes (values, maps and deques only).
    pub fn message(mut self) -> Self {
        self.payload = Payload::Message;
        self
    }

    /// Each write lives `seconds` (1 up to 20 years); rewriting refreshes it. Default: forever.
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// A deque keeps at most `elements` (at least 1), dropping the end opposite a push.
    /// Default: unbounded.
    pub fn capacity(mut self, elements: u64) -> Self {
        self.capacity = Some(elements);
        self
    }

    /// A map's or set's keyset limit, 0 to 4096 (default 128). Accepted for the upstream
    /// contract; scans here read the collection's ordered rows, so it does not change behaviour.
    pub fn keyset_limit(mut self, keys: u64) -> Self {
        self.keyset_limit = Some(keys);
        self
    }

    /// Writes become visible when the handler succeeds, before its event is recorded.
    pub fn read_uncommitted(mut self, on: bool) -> Self {
        self.read_uncommitted = on;
        self
    }

    /// Other clients may read the collection through the client's `subsystem`.
    pub fn published(mut self, on: bool) -> Self {
        self.published = on;
        self
    }

    /// Checks the name and every option.
    ///
    /// # Errors
    ///
    /// [`StateError::InvalidName`] or [`StateError::InvalidOption`] naming the option.
    pub fn build(self) -> Result<Definition, StateError> {
        check_name(&self.name)?;
        let invalid = |option: &'static str, reason: String| StateError::InvalidOption {
            name: self.name.clone(),
            option,
            reason,
        };
        let kind = self.kind.as_str();
        if self.payload == Payload::Message && self.kind == StateKind::Set {
            return Err(invalid(
                "message",
                "does not apply to sets, which store membership only".into(),
            ));
        }
        let ttl = match self.ttl {
            None => None,
            Some(seconds) if (1..=MAX_TTL_SECS).contains(&seconds) => u32::try_from(seconds).ok(),
            Some(seconds) => {
                return Err(invalid(
                    "ttl",
                    format!(
                        "must be whole seconds from 1 to {MAX_TTL_SECS} (20 years), got {seconds}"
                    ),
                ))
            }
        };
        if let Some(capacity) = self.capacity {
            if self.kind != StateKind::Deque {
                return Err(invalid(
                    "capacity",
                    format!("applies only to deques, not to a {kind}"),
                ));
            }
            if capacity == 0 {
                return Err(invalid("capacity", "must be at least 1, got 0".into()));
            }
        }
        let keyset_limit = match self.keyset_limit {
            None => None,
            Some(_) if !matches!(self.kind, StateKind::Map | StateKind::Set) => {
                return Err(invalid(
                    "keyset_limit",
                    format!("applies only to maps and sets, not to a {kind}"),
                ))
            }
            Some(limit) => match u32::try_from(limit) {
                Ok(limit) if limit <= MAX_KEYSET_LIMIT => Some(limit),
                _ => {
                    return Err(invalid(
                        "keyset_limit",
                        format!("must be from 0 to {MAX_KEYSET_LIMIT}, got {limit}"),
                    ))
                }
            },
        };
        if self.published && self.payload == Payload::Message {
            return Err(invalid(
                "published",
                "does not apply to message collections: readers elsewhere cannot reload their messages".into(),
            ));
        }
        Ok(Definition {
            options: Options {
                ttl,
                capacity: self.capacity,
                keyset_limit,
                read_uncommitted: self.read_uncommitted,
                published: self.published,
            },
            name: self.name,
            kind: self.kind,
            payload: self.payload,
        })
    }
}

fn check_name(name: &str) -> Result<(), StateError> {
    let invalid = |reason| StateError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(invalid("it is longer than 200 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("it holds control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_error(builder: DefinitionBuilder) -> (String, &'static str) {
        match builder.build() {
            Err(StateError::InvalidOption { name, option, .. }) => (name, option),
            other => panic!("expected an option error, got {other:?}"),
        }
    }

    #[test]
    fn ttl_must_be_between_one_second_and_twenty_years() {
        assert_eq!(
            option_error(Definition::value("v").ttl(0)),
            ("v".into(), "ttl")
        );
        assert_eq!(
            option_error(Definition::value("v").ttl(MAX_TTL_SECS + 1)).1,
            "ttl"
        );
        let longest = Definition::value("v").ttl(MAX_TTL_SECS).build().unwrap();
        assert_eq!(longest.options().ttl, Some(630_720_000));
    }

    #[test]
    fn capacity_is_for_deques_and_at_least_one() {
        assert_eq!(
            option_error(Definition::deque("d").capacity(0)).1,
            "capacity"
        );
        assert_eq!(option_error(Definition::map("m").capacity(3)).1, "capacity");
        assert!(Definition::deque("d").capacity(1).build().is_ok());
    }

    #[test]
    fn keyset_limit_is_for_maps_and_sets_up_to_4096() {
        assert!(Definition::map("m").keyset_limit(0).build().is_ok());
        assert!(Definition::set("s").keyset_limit(4096).build().is_ok());
        assert_eq!(
            option_error(Definition::map("m").keyset_limit(4097)).1,
            "keyset_limit"
        );
        assert_eq!(
            option_error(Definition::deque("d").keyset_limit(1)).1,
            "keyset_limit"
        );
    }

    #[test]
    fn message_collections_cannot_be_sets_or_published() {
        assert_eq!(option_error(Definition::set("s").message()).1, "message");
        let published = Definition::map("m").message().published(true);
        assert_eq!(option_error(published).1, "published");
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", "a\nb", &"x".repeat(201)] {
            assert!(matches!(
                Definition::value(bad).build(),
                Err(StateError::InvalidName { .. })
            ));
        }
    }

    #[test]
    fn an_error_names_the_collection_and_the_option() {
        let error = Definition::deque("window").capacity(0).build().unwrap_err();
        assert_eq!(
            error.to_string(),
            "state collection `window`: option `capacity` must be at least 1, got 0"
        );
    }
}
