//! Keyed-state operations from Ruby: parsed on the calling Ruby thread into plain Rust data,
//! run on the runtime against the event's transaction, and answered as a [`StateReply`] that
//! the waiting thread turns into Ruby values.
//!
//! `Event#state(definition, operation, args)` (see `event.rs`) takes an operation Symbol and
//! an Array of its arguments, as `lib/prosody/state_handles.rb` passes them. A bytes
//! collection's values cross as JSON (encoded here, with the GVL, and decoded by the waiter);
//! a message collection's as `Prosody::Message` objects, of which only the (topic, partition,
//! offset) reference is kept, and which reads reload from Kafka (`state_reply.rs`). Map keys
//! and set members cross as Strings, compared and ordered by their bytes.

use magnus::{prelude::*, Error, RArray, Ruby, Symbol, TryConvert, Value};
use prosody_engine::state::{Definition, Payload, ScanQuery, StateHandle, StateTxn, StateValue};
use prosody_engine::Reloader;

use crate::helpers::json;
use crate::ruby_api::message::RubyMessage;
use crate::ruby_api::state_reply::Item;
pub(crate) use crate::ruby_api::state_reply::StateReply;

/// One operation, with its arguments in Rust form.
pub(crate) enum StateOp {
    ValueGet,
    ValueSet(StateValue),
    MapGet(Vec<u8>),
    MapGetMany(Vec<Vec<u8>>),
    MapContains(Vec<u8>),
    MapSet(Vec<u8>, StateValue),
    MapDelete(Vec<u8>),
    MapScan(ScanQuery),
    SetAdd(Vec<u8>),
    SetContains(Vec<u8>),
    SetDelete(Vec<u8>),
    SetScan(ScanQuery),
    DequePush { back: bool, value: StateValue },
    DequePop { back: bool },
    DequeGet(i64),
    DequeFirst,
    DequeLast,
    DequeLen,
    DequeScan(ScanQuery),
    Clear,
    Commit,
    Rollback,
}

impl StateOp {
    /// Parses `operation` on `definition` and its `args`; every value and key is checked and
    /// encoded here.
    pub(crate) fn parse(
        ruby: &Ruby,
        definition: &Definition,
        operation: Symbol,
        args: RArray,
    ) -> Result<Self, Error> {
        let name = operation.name()?;
        let arg = |index: isize| -> Result<Value, Error> { args.entry(index) };
        let value = |index: isize| -> Result<StateValue, Error> {
            match definition.payload() {
                Payload::Bytes => encode(ruby, arg(index)?).map(StateValue::Bytes),
                Payload::Message => reference(ruby, definition, arg(index)?),
            }
        };
        let key = |index: isize| -> Result<Vec<u8>, Error> { text(ruby, arg(index)?) };
        Ok(match &*name {
            "value_get" => Self::ValueGet,
            "value_set" => Self::ValueSet(value(0)?),
            "map_get" => Self::MapGet(key(0)?),
            "map_get_many" => {
                let keys = RArray::try_convert(arg(0)?)?;
                let keys = keys
                    .into_iter()
                    .map(|item| text(ruby, item))
                    .collect::<Result<_, _>>()?;
                Self::MapGetMany(keys)
            }
            "map_contains" => Self::MapContains(key(0)?),
            "map_set" => Self::MapSet(key(0)?, value(1)?),
            "map_delete" => Self::MapDelete(key(0)?),
            "map_scan" => Self::MapScan(query(ruby, args)?),
            "set_add" => Self::SetAdd(key(0)?),
            "set_contains" => Self::SetContains(key(0)?),
            "set_delete" => Self::SetDelete(key(0)?),
            "set_scan" => Self::SetScan(query(ruby, args)?),
            "deque_push" => Self::DequePush {
                back: true,
                value: value(0)?,
            },
            "deque_unshift" => Self::DequePush {
                back: false,
                value: value(0)?,
            },
            "deque_pop" => Self::DequePop { back: true },
            "deque_shift" => Self::DequePop { back: false },
            "deque_get" => Self::DequeGet(i64::try_convert(arg(0)?)?),
            "deque_first" => Self::DequeFirst,
            "deque_last" => Self::DequeLast,
            "deque_length" => Self::DequeLen,
            "deque_scan" => Self::DequeScan(query(ruby, args)?),
            "clear" => Self::Clear,
            "commit" => Self::Commit,
            "rollback" => Self::Rollback,
            other => {
                return Err(Error::new(
                    ruby.exception_arg_error(),
                    format!("no keyed-state operation :{other}"),
                ))
            }
        })
    }

    /// Runs the operation on `handle`'s transaction, then (for a message collection) reloads
    /// the messages it answered with through `reloader`, with the transaction released.
    pub(crate) async fn run(
        self,
        handle: StateHandle,
        definition: Definition,
        reloader: Option<Reloader>,
    ) -> StateReply {
        let reply = match handle.txn().await {
            Ok(mut txn) => self.apply(&mut txn, &definition).await,
            Err(error) => Err(error),
        };
        match (reply, reloader) {
            (Ok(reply), Some(reloader)) => reply.reload(&reloader, definition.name()).await,
            (Ok(reply), None) => reply,
            (Err(error), _) => StateReply::Failed(error),
        }
    }

    /// Whether the operation only reads (so a published collection's reader may run it).
    pub(crate) fn is_read(&self) -> bool {
        matches!(
            self,
            Self::ValueGet
                | Self::MapGet(_)
                | Self::MapGetMany(_)
                | Self::MapContains(_)
                | Self::MapScan(_)
                | Self::SetContains(_)
                | Self::SetScan(_)
                | Self::DequeGet(_)
                | Self::DequeFirst
                | Self::DequeLast
                | Self::DequeLen
                | Self::DequeScan(_)
        )
    }

    /// Applies the operation to `txn`.
    pub(crate) async fn apply(
        self,
        txn: &mut StateTxn,
        definition: &Definition,
    ) -> prosody_engine::Result<StateReply> {
        let bytes = |value: Option<StateValue>| value.map(Item::from);
        Ok(match self {
            Self::ValueGet => StateReply::Value(bytes(txn.value_get(definition).await?)),
            Self::ValueSet(value) => {
                txn.value_set(definition, value).await?;
                StateReply::Nothing
            }
            Self::MapGet(key) => StateReply::Value(bytes(txn.map_get(definition, &key).await?)),
            Self::MapGetMany(keys) => {
                let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                let values = txn.map_get_many(definition, &keys).await?;
                StateReply::Values(values.into_iter().map(bytes).collect())
            }
            Self::MapContains(key) => StateReply::Bool(txn.map_contains(definition, &key).await?),
            Self::MapSet(key, value) => {
                txn.map_set(definition, &key, value).await?;
                StateReply::Nothing
            }
            Self::MapDelete(key) => {
                txn.map_delete(definition, &key).await?;
                StateReply::Nothing
            }
            Self::MapScan(query) => StateReply::Pairs(
                txn.map_scan(definition, &query)
                    .await?
                    .into_iter()
                    .map(|(key, value)| (key, Item::from(value)))
                    .collect(),
            ),
            Self::SetAdd(member) => {
                txn.set_add(definition, &member).await?;
                StateReply::Nothing
            }
            Self::SetContains(member) => {
                StateReply::Bool(txn.set_contains(definition, &member).await?)
            }
            Self::SetDelete(member) => {
                txn.set_delete(definition, &member).await?;
                StateReply::Nothing
            }
            Self::SetScan(query) => StateReply::Keys(txn.set_scan(definition, &query).await?),
            Self::DequePush { back: true, value } => {
                txn.deque_push_back(definition, value).await?;
                StateReply::Nothing
            }
            Self::DequePush { back: false, value } => {
                txn.deque_push_front(definition, value).await?;
                StateReply::Nothing
            }
            Self::DequePop { back: true } => {
                StateReply::Value(bytes(txn.deque_pop_back(definition).await?))
            }
            Self::DequePop { back: false } => {
                StateReply::Value(bytes(txn.deque_pop_front(definition).await?))
            }
            Self::DequeGet(index) => {
                StateReply::Value(bytes(txn.deque_get(definition, index).await?))
            }
            Self::DequeFirst => StateReply::Value(bytes(txn.deque_first(definition).await?)),
            Self::DequeLast => StateReply::Value(bytes(txn.deque_last(definition).await?)),
            Self::DequeLen => StateReply::Count(txn.deque_len(definition).await?),
            Self::DequeScan(query) => {
                let values = txn
                    .deque_scan(definition, query.reverse, query.limit)
                    .await?;
                StateReply::Values(values.into_iter().map(Some).map(bytes).collect())
            }
            Self::Clear => {
                match definition.kind() {
                    prosody_engine::state::StateKind::Value => txn.value_clear(definition).await?,
                    prosody_engine::state::StateKind::Map => txn.map_clear(definition).await?,
                    prosody_engine::state::StateKind::Set => txn.set_clear(definition).await?,
                    prosody_engine::state::StateKind::Deque => txn.deque_clear(definition).await?,
                }
                StateReply::Nothing
            }
            Self::Commit => StateReply::Outcome(txn.flush(definition).await?),
            Self::Rollback => StateReply::Outcome(txn.rollback(definition).await?),
        })
    }
}

/// A value as JSON bytes; `nil` is refused by the Ruby side before it gets here.
fn encode(ruby: &Ruby, value: Value) -> Result<Vec<u8>, Error> {
    let json = json::to_json(ruby, value)?;
    serde_json::to_vec(&json).map_err(|error| {
        Error::new(
            ruby.exception_type_error(),
            format!("state value cannot be encoded as JSON: {error}"),
        )
    })
}

/// A message collection's value: the reference of a `Prosody::Message`.
fn reference(ruby: &Ruby, definition: &Definition, value: Value) -> Result<StateValue, Error> {
    let message = <&RubyMessage>::try_convert(value).map_err(|_| {
        Error::new(
            ruby.exception_type_error(),
            format!(
                "{} stores Prosody::Message objects (a message a handler received), got {}",
                definition,
                value.inspect()
            ),
        )
    })?;
    Ok(StateValue::Message(message.reference()))
}

/// A map key or set member: a String's bytes.
fn text(ruby: &Ruby, value: Value) -> Result<Vec<u8>, Error> {
    let string = magnus::RString::from_value(value).ok_or_else(|| {
        Error::new(
            ruby.exception_type_error(),
            format!(
                "map keys and set members must be Strings, got {}",
                value.inspect()
            ),
        )
    })?;
    Ok(string.to_string()?.into_bytes())
}

/// `[from, after, to, before, prefix, limit, reverse]`, each nil when not given.
fn query(ruby: &Ruby, args: RArray) -> Result<ScanQuery, Error> {
    let mut query = ScanQuery::all();
    let bound = |index: isize| -> Result<Option<Vec<u8>>, Error> {
        let value: Value = args.entry(index)?;
        if value.is_nil() {
            Ok(None)
        } else {
            text(ruby, value).map(Some)
        }
    };
    if let Some(from) = bound(0)? {
        query = query.from(from);
    }
    if let Some(after) = bound(1)? {
        query = query.after(after);
    }
    if let Some(to) = bound(2)? {
        query = query.to(to);
    }
    if let Some(before) = bound(3)? {
        query = query.before(before);
    }
    if let Some(prefix) = bound(4)? {
        query = query.prefix(prefix);
    }
    if let Some(limit) = Option::<usize>::try_convert(args.entry(5)?)? {
        query = query.limit(limit);
    }
    if args.entry::<Value>(6)?.to_bool() {
        query = query.reverse();
    }
    Ok(query)
}
