//! Value, map and set operations of a [`StateTxn`].

use super::StateTxn;
use crate::error::Result;
use crate::state::cell::ENTRIES;
use crate::state::definition::{Definition, StateKind};
use crate::state::error::StateError;
use crate::state::query::ScanQuery;
use crate::state::value::StateValue;

impl StateTxn {
    /// The value, `None` when absent.
    ///
    /// # Errors
    ///
    /// A store failure, or a registration, kind or identity error naming the collection.
    pub async fn value_get(&mut self, definition: &Definition) -> Result<Option<StateValue>> {
        let name = self.open(definition, StateKind::Value).await?;
        let data = self.read(&name, ENTRIES, &[]).await?;
        decode(definition, data)
    }

    /// Sets the value, refreshing its TTL.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`], and [`StateError::Usage`] for a value of the wrong format.
    pub async fn value_set(&mut self, definition: &Definition, value: StateValue) -> Result<()> {
        let name = self.open(definition, StateKind::Value).await?;
        let data = encode(definition, &value)?;
        self.stage(
            &name,
            ENTRIES,
            Vec::new(),
            Some(data),
            definition.options().ttl,
        );
        Ok(())
    }

    /// Removes the value.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn value_clear(&mut self, definition: &Definition) -> Result<()> {
        let name = self.open(definition, StateKind::Value).await?;
        self.clear(&name);
        Ok(())
    }

    /// The value at `key`.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn map_get(
        &mut self,
        definition: &Definition,
        key: &[u8],
    ) -> Result<Option<StateValue>> {
        let name = self.open(definition, StateKind::Map).await?;
        let data = self.read(&name, ENTRIES, key).await?;
        decode(definition, data)
    }

    /// The values at `keys`, in the same order, `None` for each absent one.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn map_get_many(
        &mut self,
        definition: &Definition,
        keys: &[&[u8]],
    ) -> Result<Vec<Option<StateValue>>> {
        let name = self.open(definition, StateKind::Map).await?;
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            let data = self.read(&name, ENTRIES, key).await?;
            values.push(decode(definition, data)?);
        }
        Ok(values)
    }

    /// Whether `key` has a value.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn map_contains(&mut self, definition: &Definition, key: &[u8]) -> Result<bool> {
        let name = self.open(definition, StateKind::Map).await?;
        Ok(self.read(&name, ENTRIES, key).await?.is_some())
    }

    /// Sets `key` to `value`, refreshing its TTL.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_set`].
    pub async fn map_set(
        &mut self,
        definition: &Definition,
        key: &[u8],
        value: StateValue,
    ) -> Result<()> {
        let name = self.open(definition, StateKind::Map).await?;
        let data = encode(definition, &value)?;
        self.stage(
            &name,
            ENTRIES,
            key.to_vec(),
            Some(data),
            definition.options().ttl,
        );
        Ok(())
    }

    /// Removes `key`.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn map_delete(&mut self, definition: &Definition, key: &[u8]) -> Result<()> {
        let name = self.open(definition, StateKind::Map).await?;
        self.stage(&name, ENTRIES, key.to_vec(), None, None);
        Ok(())
    }

    /// Removes every key.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn map_clear(&mut self, definition: &Definition) -> Result<()> {
        let name = self.open(definition, StateKind::Map).await?;
        self.clear(&name);
        Ok(())
    }

    /// Keys and values in byte order of the keys (or reverse), as `query` selects.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn map_scan(
        &mut self,
        definition: &Definition,
        query: &ScanQuery,
    ) -> Result<Vec<(Vec<u8>, StateValue)>> {
        let name = self.open(definition, StateKind::Map).await?;
        let Some(range) = query.range().filter(|_| query.limit != Some(0)) else {
            return Ok(Vec::new());
        };
        let rows = self
            .scan(&name, ENTRIES, range, query.reverse, query.limit)
            .await?;
        rows.into_iter()
            .map(|(key, data)| Ok((key, decode_present(definition, data)?)))
            .collect()
    }

    /// Adds `member`; adding it again changes nothing but its TTL.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn set_add(&mut self, definition: &Definition, member: &[u8]) -> Result<()> {
        let name = self.open(definition, StateKind::Set).await?;
        self.stage(
            &name,
            ENTRIES,
            member.to_vec(),
            Some(Vec::new()),
            definition.options().ttl,
        );
        Ok(())
    }

    /// Whether `member` is in the set.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn set_contains(&mut self, definition: &Definition, member: &[u8]) -> Result<bool> {
        let name = self.open(definition, StateKind::Set).await?;
        Ok(self.read(&name, ENTRIES, member).await?.is_some())
    }

    /// Removes `member`.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn set_delete(&mut self, definition: &Definition, member: &[u8]) -> Result<()> {
        let name = self.open(definition, StateKind::Set).await?;
        self.stage(&name, ENTRIES, member.to_vec(), None, None);
        Ok(())
    }

    /// Removes every member.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn set_clear(&mut self, definition: &Definition) -> Result<()> {
        let name = self.open(definition, StateKind::Set).await?;
        self.clear(&name);
        Ok(())
    }

    /// Members in byte order (or reverse), as `query` selects.
    ///
    /// # Errors
    ///
    /// As [`StateTxn::value_get`].
    pub async fn set_scan(
        &mut self,
        definition: &Definition,
        query: &ScanQuery,
    ) -> Result<Vec<Vec<u8>>> {
        let name = self.open(definition, StateKind::Set).await?;
        let Some(range) = query.range().filter(|_| query.limit != Some(0)) else {
            return Ok(Vec::new());
        };
        let rows = self
            .scan(&name, ENTRIES, range, query.reverse, query.limit)
            .await?;
        Ok(rows.into_iter().map(|(member, _)| member).collect())
    }
}

/// `value`'s stored bytes, if its format is the collection's.
pub(super) fn encode(definition: &Definition, value: &StateValue) -> Result<Vec<u8>> {
    if value.payload() != definition.payload() {
        return Err(StateError::Usage {
            name: definition.name().to_owned(),
            reason: format!(
                "it stores {} values, not {}",
                definition.payload().as_str(),
                value.payload().as_str()
            ),
        }
        .into());
    }
    Ok(value.encode())
}

pub(super) fn decode(definition: &Definition, data: Option<Vec<u8>>) -> Result<Option<StateValue>> {
    data.map(|data| decode_present(definition, data))
        .transpose()
}

pub(super) fn decode_present(definition: &Definition, data: Vec<u8>) -> Result<StateValue> {
    StateValue::decode(definition.payload(), data).ok_or_else(|| {
        StateError::Corrupt {
            name: definition.name().to_owned(),
            reason: "a message reference is malformed".into(),
        }
        .into()
    })
}
