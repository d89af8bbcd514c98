//! What can go wrong with keyed state, as [`StateError`].
//!
//! This file imports nothing from the crate, so `crate::error` can wrap it.

/// A keyed-state failure. [`StateError::is_permanent`] tells a mistake in the program or its
/// deploy (retrying cannot help) from a race that a retry of the event resolves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A collection name is empty, too long or holds control characters.
    #[error("state collection name {name:?} is invalid: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A definition option is out of range or does not apply to the collection's kind.
    #[error("state collection `{name}`: option `{option}` {reason}")]
    InvalidOption {
        /// The collection.
        name: String,
        /// The option at fault.
        option: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },

    /// Two registered collections share a name.
    #[error("state collection `{name}` is registered twice: names must be unique per client")]
    Duplicate {
        /// The repeated name.
        name: String,
    },

    /// A collection is `published` but the client has no `subsystem` to publish it under.
    #[error("state collection `{name}` is published, but no `subsystem` is set: set `subsystem` or drop `published`")]
    PublishedWithoutSubsystem {
        /// The collection.
        name: String,
    },

    /// A collection was used without being registered, or differs from its registration.
    #[error("state collection `{name}` is not registered with this client (or differs from its registration): add it to `state_collections`")]
    Unregistered {
        /// The collection.
        name: String,
    },

    /// An operation of one kind was used on a collection of another.
    #[error("state collection `{name}` is a {declared}, not a {used}")]
    WrongKind {
        /// The collection.
        name: String,
        /// Its declared kind and format, such as `map:bytes`.
        declared: String,
        /// The kind the operation works on.
        used: &'static str,
    },

    /// The group first used the collection with another kind or format.
    #[error("state collection `{name}` was first used by group `{group}` as {stored} but is now declared as {declared}: keep the old declaration or use a new name")]
    IdentityMismatch {
        /// The consumer group.
        group: String,
        /// The collection.
        name: String,
        /// The pinned identity, such as `map:bytes`.
        stored: String,
        /// The identity this deploy declares.
        declared: String,
    },

    /// A newer owner of the key's partition has written the key: this owner lost the partition
    /// and must not write.
    #[error("the state of key `{key}` belongs to a newer owner (epoch {current}, this owner has {mine}): this partition was reassigned")]
    Fenced {
        /// The key.
        key: String,
        /// This owner's epoch.
        mine: u64,
        /// The epoch stored with the key.
        current: u64,
    },

    /// Another commit to the key landed between this event's reads and its commit.
    #[error("the state of key `{key}` changed while this event ran: retry the event")]
    Conflict {
        /// The key.
        key: String,
    },

    /// An operation's arguments do not fit the collection, such as a message reference for a
    /// bytes collection.
    #[error("state collection `{name}`: {reason}")]
    Usage {
        /// The collection.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// The transaction was used after it committed or failed to.
    #[error("the state transaction of key `{key}` has finished: state can be used only while its event runs")]
    Finished {
        /// The key.
        key: String,
    },

    /// A message collection refers to a record Kafka can no longer give back: retention or
    /// compaction deleted it, the topic was recreated, or it could not be read in time.
    /// Retrying may help only in the last case, but the error is not permanent either way:
    /// the handler may catch it and drop the reference (a pop, a delete, a clear).
    #[error("state collection `{name}` refers to offset {offset} of `{topic}`/{partition}, which cannot be reloaded: {reason}")]
    MessageUnavailable {
        /// The collection.
        name: String,
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// Why it could not be read.
        reason: String,
    },

    /// Stored data could not be decoded.
    #[error("state collection `{name}` holds data this version cannot read: {reason}")]
    Corrupt {
        /// The collection.
        name: String,
        /// What could not be read.
        reason: String,
    },
}

impl StateError {
    /// Whether retrying cannot help: a definition, registration, identity or usage mistake, or
    /// a fenced owner. [`StateError::Conflict`] is worth retrying, and
    /// [`StateError::MessageUnavailable`] is left to the handler (see there).
    ///
    /// ```
    /// use prosody_engine::state::StateError;
    /// assert!(!StateError::Conflict { key: "k".into() }.is_permanent());
    /// assert!(StateError::Duplicate { name: "n".into() }.is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            StateError::Conflict { .. } | StateError::MessageUnavailable { .. }
        )
    }
}
