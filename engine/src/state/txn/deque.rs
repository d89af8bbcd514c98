//! Deque operations of a [`StateTxn`].
//!
//! A deque's elements sit at consecutive indices from `head` (inclusive) to `tail`
//! (exclusive), kept in its bounds cell. Pushing at the back writes `tail` and moves it up;
//! pushing at the front moves `head` down and writes it. Indices never go back under a window
//! that is in use, so an element's cell is never rewritten by a later element while both are
//! live.
//!
//! With a TTL, an element expires on its own: `len` then counts it until the deque moves
//! past it, `get` returns `None` for it, and pops and scans skip it.

use std::ops::Bound;

use super::StateTxn;
use crate::error::Result;
use crate::state::cell::{deque_index, deque_item, BOUNDS, ENTRIES};
use crate::state::definition::{Definition, StateKind};
use crate::state::value::StateValue;

use super::collections::{decode, decode_present, encode};

/// The most evicted cells one push deletes; past that, evicted cells are left outside the
/// window (invisible) until their TTL ends. Only a lowered `capacity` evicts more than one.
const EVICT_MAX: i64 = 64;

impl StateTxn {
    /// Appends `value` at the back; with a `capacity`, drops elements from the front.
    ///
    /// # Errors
    ///
    /// A store failure, a registration, kind or identity error, or a value of the wrong
    /// format.
    pub async fn deque_push_back(
        &mut self,
        definition: &Definition,
        value: StateValue,
    ) -> Result<()> {
        self.push(definition, value, true).await
    }

    /// Prepends `value` at the front; with a `capacity`, drops elements from the back.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_push_back`].
    pub async fn deque_push_front(
        &mut self,
        definition: &Definition,
        value: StateValue,
    ) -> Result<()> {
        self.push(definition, value, false).await
    }

    /// Removes and returns the back element, `None` when empty.
    ///
    /// # Errors
    ///
    /// A store failure, or a registration, kind or identity error.
    pub async fn deque_pop_back(&mut self, definition: &Definition) -> Result<Option<StateValue>> {
        self.pop(definition, true).await
    }

    /// Removes and returns the front element, `None` when empty.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_pop_back`].
    pub async fn deque_pop_front(&mut self, definition: &Definition) -> Result<Option<StateValue>> {
        self.pop(definition, false).await
    }

    /// The element at `index` from the front; a negative index counts from the back (-1 is
    /// the last). `None` when out of range or expired.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_pop_back`].
    pub async fn deque_get(
        &mut self,
        definition: &Definition,
        index: i64,
    ) -> Result<Option<StateValue>> {
        let name = self.open(definition, StateKind::Deque).await?;
        let (head, tail) = self.bounds(&name).await?;
        let len = tail - head;
        let index = if index < 0 {
            index.saturating_add(len)
        } else {
            index
        };
        if !(0..len).contains(&index) {
            return Ok(None);
        }
        let data = self.read(&name, ENTRIES, &deque_item(head + index)).await?;
        decode(definition, data)
    }

    /// The first live element.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_pop_back`].
    pub async fn deque_first(&mut self, definition: &Definition) -> Result<Option<StateValue>> {
        Ok(self.deque_scan(definition, false, Some(1)).await?.pop())
    }

    /// The last live element.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_pop_back`].
    pub async fn deque_last(&mut self, definition: &Definition) -> Result<Option<StateValue>> {
        Ok(self.deque_scan(definition, true, Some(1)).await?.pop())
    }

    /// How many elements the deque holds: an upper bound when some have expired.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_pop_back`].
    pub async fn deque_len(&mut self, definition: &Definition) -> Result<u64> {
        let name = self.open(definition, StateKind::Deque).await?;
        let (head, tail) = self.bounds(&name).await?;
        Ok(u64::try_from(tail - head).unwrap_or(0))
    }

    /// Removes every element.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_pop_back`].
    pub async fn deque_clear(&mut self, definition: &Definition) -> Result<()> {
        let name = self.open(definition, StateKind::Deque).await?;
        self.clear(&name);
        Ok(())
    }

    /// Live elements from the front (or the back), at most `limit`.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::deque_pop_back`].
    pub async fn deque_scan(
        &mut self,
        definition: &Definition,
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<Vec<StateValue>> {
        let name = self.open(definition, StateKind::Deque).await?;
        self.elements(&name, reverse, limit)
            .await?
            .into_iter()
            .map(|(_, data)| decode_present(definition, data))
            .collect()
    }

    /// Writes `value` past the `back` (or front) end, then evicts from the other end down to
    /// `capacity`.
    async fn push(&mut self, definition: &Definition, value: StateValue, back: bool) -> Result<()> {
        let name = self.open(definition, StateKind::Deque).await?;
        let data = encode(definition, &value)?;
        let ttl = definition.options().ttl;
        let (mut head, mut tail) = self.bounds(&name).await?;
        let index = if back {
            tail += 1;
            tail - 1
        } else {
            head -= 1;
            head
        };
        self.stage(&name, ENTRIES, deque_item(index), Some(data), ttl);
        if let Some(capacity) = capacity(definition) {
            if tail - head > capacity {
                let evicted = if back {
                    let kept = tail - capacity;
                    let evicted = head..kept.min(head + EVICT_MAX);
                    head = kept;
                    evicted
                } else {
                    let kept = head + capacity;
                    let evicted = kept.max(tail - EVICT_MAX)..tail;
                    tail = kept;
                    evicted
                };
                for index in evicted {
                    self.stage(&name, ENTRIES, deque_item(index), None, None);
                }
            }
        }
        self.set_bounds(&name, head, tail, ttl);
        Ok(())
    }

    async fn pop(&mut self, definition: &Definition, back: bool) -> Result<Option<StateValue>> {
        let name = self.open(definition, StateKind::Deque).await?;
        let (mut head, mut tail) = self.bounds(&name).await?;
        if head >= tail {
            return Ok(None);
        }
        let found = self.elements(&name, back, Some(1)).await?.pop();
        let value = match found {
            Some((index, data)) => {
                self.stage(&name, ENTRIES, deque_item(index), None, None);
                if back {
                    tail = index;
                } else {
                    head = index + 1;
                }
                Some(decode_present(definition, data)?)
            }
            // Every element expired.
            None => {
                head = tail;
                None
            }
        };
        self.set_bounds(&name, head, tail, definition.options().ttl);
        Ok(value)
    }

    /// Live elements with their indices, in index order (or reverse).
    async fn elements(
        &mut self,
        name: &str,
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let (head, tail) = self.bounds(name).await?;
        if head >= tail || limit == Some(0) {
            return Ok(Vec::new());
        }
        let range = (
            Bound::Included(deque_item(head)),
            Bound::Excluded(deque_item(tail)),
        );
        let rows = self.scan(name, ENTRIES, range, reverse, limit).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(item, data)| Some((deque_index(&item)?, data)))
            .collect())
    }

    /// `(head, tail)`; `(0, 0)` for a deque never written or cleared.
    async fn bounds(&self, name: &str) -> Result<(i64, i64)> {
        let data = self.read(name, BOUNDS, &[]).await?;
        Ok(data
            .and_then(|data| {
                let head = i64::from_be_bytes(data.get(..8)?.try_into().ok()?);
                let tail = i64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
                Some((head, tail))
            })
            .unwrap_or((0, 0)))
    }

    fn set_bounds(&mut self, name: &str, head: i64, tail: i64, ttl: Option<u32>) {
        let mut data = head.to_be_bytes().to_vec();
        data.extend_from_slice(&tail.to_be_bytes());
        self.stage(name, BOUNDS, Vec::new(), Some(data), ttl);
    }
}

fn capacity(definition: &Definition) -> Option<i64> {
    definition
        .options()
        .capacity
        .map(|capacity| i64::try_from(capacity).unwrap_or(i64::MAX))
}
