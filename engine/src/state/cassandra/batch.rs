//! The conditional batch of one commit.

use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::SerialConsistency;
use scylla::value::CqlValue;

use super::rows::{section, ttl};
use super::statements::Statements;
use crate::cassandra::REQUEST_TIMEOUT;
use crate::state::cell::Commit;

/// The batch applying `commit` to `group`'s `key`, and its values: first the head row's
/// conditional write (`IF NOT EXISTS` for the key's first commit, else `IF seq = ? AND
/// epoch = ?`), then one insert or delete per cell. Every statement is in the key's partition,
/// so Cassandra applies the batch whole or not at all.
pub(super) fn build(
    statements: &Statements,
    group: &str,
    key: &str,
    commit: &Commit,
) -> (Batch, Vec<Vec<CqlValue>>) {
    let mut batch = Batch::new(BatchType::Unlogged);
    batch.set_serial_consistency(Some(SerialConsistency::LocalSerial));
    batch.set_request_timeout(Some(REQUEST_TIMEOUT));
    let mut values: Vec<Vec<CqlValue>> = Vec::with_capacity(commit.cells.len() + 1);
    let head_ttl = ttl(commit.head_ttl);
    let markers = CqlValue::Map(
        commit
            .event
            .iter()
            .map(|event| {
                (
                    CqlValue::Text(event.source()),
                    CqlValue::BigInt(event.offset),
                )
            })
            .collect(),
    );
    let generations = CqlValue::Map(
        commit
            .generations
            .iter()
            .map(|(name, new, _)| (CqlValue::Text(name.clone()), CqlValue::BigInt(*new)))
            .collect(),
    );
    let (grp, k) = (
        CqlValue::Text(group.to_owned()),
        CqlValue::Text(key.to_owned()),
    );
    let seq = CqlValue::BigInt(commit.expected_seq + 1);
    let epoch = CqlValue::BigInt(commit.epoch);
    if commit.expected_seq == 0 {
        batch.append_statement(statements.head_insert.clone());
        values.push(vec![
            grp.clone(),
            k.clone(),
            seq,
            epoch,
            markers,
            generations,
            head_ttl,
        ]);
    } else {
        batch.append_statement(statements.head_update.clone());
        values.push(vec![
            head_ttl,
            seq,
            epoch,
            markers,
            generations,
            grp.clone(),
            k.clone(),
            CqlValue::BigInt(commit.expected_seq),
            CqlValue::BigInt(commit.expected_epoch),
        ]);
    }
    for write in &commit.cells {
        let cell = &write.cell;
        let mut row = vec![
            grp.clone(),
            k.clone(),
            CqlValue::Text(cell.name.clone()),
            CqlValue::BigInt(cell.generation),
            CqlValue::TinyInt(section(cell.section)),
            CqlValue::Blob(cell.item.clone()),
        ];
        match &write.data {
            Some(data) => {
                row.push(CqlValue::Blob(data.clone()));
                row.push(ttl(write.ttl));
                batch.append_statement(statements.set.clone());
            }
            None => batch.append_statement(statements.delete.clone()),
        }
        values.push(row);
    }
    (batch, values)
}
