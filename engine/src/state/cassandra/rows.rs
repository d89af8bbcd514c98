//! Binding and reading values: TTLs, sections, rows read by column name, and errors.

use std::fmt;

use scylla::response::query_result::QueryResult;
use scylla::value::{CqlValue, Row};

use crate::error::Error;

/// A TTL bound as CQL: 0 means none.
pub(super) fn ttl(seconds: Option<u32>) -> CqlValue {
    CqlValue::Int(seconds.map_or(0, |seconds| i32::try_from(seconds).unwrap_or(i32::MAX)))
}

pub(super) fn section(section: u8) -> i8 {
    i8::try_from(section).unwrap_or(i8::MAX)
}

/// A result row read by column name, for lightweight-transaction answers.
pub(super) struct NamedRow {
    names: Vec<String>,
    row: Row,
}

impl NamedRow {
    fn value(&self, name: &str) -> Option<&CqlValue> {
        let index = self.names.iter().position(|n| n == name)?;
        self.row.columns.get(index)?.as_ref()
    }

    pub(super) fn applied(&self) -> bool {
        matches!(self.value("[applied]"), Some(CqlValue::Boolean(true)))
    }

    pub(super) fn bigint(&self, name: &str) -> Option<i64> {
        match self.value(name)? {
            CqlValue::BigInt(value) => Some(*value),
            _ => None,
        }
    }

    pub(super) fn text(&self, name: &str) -> Option<String> {
        match self.value(name)? {
            CqlValue::Text(value) | CqlValue::Ascii(value) => Some(value.clone()),
            _ => None,
        }
    }
}

pub(super) fn first_row(result: QueryResult) -> std::result::Result<Option<NamedRow>, String> {
    if !result.is_rows() {
        return Ok(None);
    }
    let rows = result.into_rows_result().map_err(|e| e.to_string())?;
    let names = rows
        .column_specs()
        .iter()
        .map(|spec| spec.name().to_owned())
        .collect();
    let row = rows.maybe_first_row::<Row>().map_err(|e| e.to_string())?;
    Ok(row.map(|row| NamedRow { names, row }))
}

pub(super) fn failure(
    operation: &'static str,
    group: &str,
    key: &str,
    error: &dyn fmt::Display,
) -> Error {
    Error::Cassandra {
        operation,
        reason: format!("group {group:?}, key {key:?}: {error}"),
    }
}
