//! `load`: lists a segment's slabs, reads the ones overlapping the window, and cleans up.
//!
//! Slabs are read at most `LOAD_PARALLELISM` at once; the result is sorted by time then key,
//! without duplicates (a timer written under two slab sizes is returned once). Index garbage
//! collection and the check of other-sized slabs are described in the parent module.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use futures::{StreamExt, TryStreamExt};
use scylla::client::session::Session;

use super::slab::{self, Slab};
use super::statements::Statements;
use super::{failure, timer_time, CassandraTimerStore, LOAD_PARALLELISM};
use crate::error::{Error, Result};
use crate::timers::{TimerSegment, TimerTime};

/// The rows of one slab: `(key, time)`.
type Rows = Vec<(String, TimerTime)>;

impl CassandraTimerStore {
    pub(super) async fn load_due(
        &self,
        segment: &TimerSegment,
        from: TimerTime,
        until: TimerTime,
    ) -> Result<Rows> {
        let (cassandra, statements) = self.ready().await?;
        let session = cassandra.session();
        let fail = |e: &dyn fmt::Display| {
            failure(
                "timer load",
                format!("segment {segment}, slab index before {until}"),
                e,
            )
        };
        let index: Vec<(i64, i32)> = session
            .execute_iter(
                statements.select_index.clone(),
                (segment.id(), i64::from(until.as_secs())),
            )
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<(i64, i32)>()
            .map_err(|e| fail(&e))?
            .try_collect()
            .await
            .map_err(|e| fail(&e))?;
        let from_secs = i64::from(from.as_secs());
        let slabs = index
            .into_iter()
            .map(|(start, size)| Slab { start, size })
            .filter(|slab| slab.end() > from_secs);
        let mut reads = futures::stream::iter(slabs)
            .map(|slab| self.read_slab(session, statements, segment, slab))
            .buffer_unordered(LOAD_PARALLELISM);
        let mut due = Vec::new();
        let mut other_sizes = Vec::new();
        while let Some((slab, rows)) = reads.try_next().await? {
            let window = rows
                .into_iter()
                .filter(|(_, time)| from <= *time && *time < until);
            if slab.size == self.slab_size {
                due.extend(window);
            } else {
                other_sizes.extend(window.map(|(key, time)| (slab, key, time)));
            }
        }
        drop(reads);
        due.extend(
            self.still_stored(session, statements, segment, other_sizes)
                .await?,
        );
        due.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        due.dedup();
        Ok(due)
    }

    /// Every row of `slab`; collects its index row if the slab is past and empty.
    async fn read_slab(
        &self,
        session: &Session,
        statements: &Statements,
        segment: &TimerSegment,
        slab: Slab,
    ) -> Result<(Slab, Rows)> {
        let fail = |e: &dyn fmt::Display| failure("timer load", slab_name(segment, slab), e);
        let rows: Vec<(String, i64)> = session
            .execute_iter(
                statements.select_slab.clone(),
                (segment.id(), slab.start, slab.size),
            )
            .await
            .map_err(|e| fail(&e))?
            .rows_stream::<(String, i64)>()
            .map_err(|e| fail(&e))?
            .try_collect()
            .await
            .map_err(|e| fail(&e))?;
        if rows.is_empty() && slab.end() <= i64::from(TimerTime::now().as_secs()) {
            self.collect_index_row(session, statements, segment, slab)
                .await?;
        }
        let rows = rows
            .into_iter()
            .filter_map(|(key, time)| Some((key, timer_time(time)?)))
            .collect();
        Ok((slab, rows))
    }

    /// Deletes the index row of a past slab found empty, then writes it back if an insert
    /// raced the deletion (the slab is no longer empty).
    async fn collect_index_row(
        &self,
        session: &Session,
        statements: &Statements,
        segment: &TimerSegment,
        slab: Slab,
    ) -> Result<()> {
        let fail =
            |e: &dyn fmt::Display| failure("timer index cleanup", slab_name(segment, slab), e);
        let partition = (segment.id(), slab.start, slab.size);
        session
            .execute_unpaged(&statements.delete_index, partition)
            .await
            .map_err(|e| fail(&e))?;
        let probe = session
            .execute_unpaged(&statements.probe_slab, partition)
            .await
            .map_err(|e| fail(&e))?
            .into_rows_result()
            .map_err(|e| fail(&e))?;
        if probe.rows_num() > 0 {
            let ttl = slab::ttl(slab.end(), TimerTime::now(), self.retention);
            session
                .execute_unpaged(
                    &statements.insert_index,
                    (segment.id(), slab.start, slab.size, ttl),
                )
                .await
                .map_err(|e| fail(&e))?;
        }
        Ok(())
    }

    /// The rows of slabs of another size whose timer is still in `timer_keys`; deletes the
    /// others, left behind by a `remove` that only knew the configured slab size.
    async fn still_stored(
        &self,
        session: &Session,
        statements: &Statements,
        segment: &TimerSegment,
        rows: Vec<(Slab, String, TimerTime)>,
    ) -> Result<Rows> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let keys: BTreeSet<String> = rows.iter().map(|(_, key, _)| key.clone()).collect();
        let stored: HashMap<String, Vec<TimerTime>> = futures::stream::iter(keys)
            .map(|key| async move {
                let times = self.key_times(segment, &key).await?;
                Ok::<_, Error>((key, times))
            })
            .buffer_unordered(LOAD_PARALLELISM)
            .try_collect()
            .await?;
        let mut kept = Vec::new();
        for (slab, key, time) in rows {
            if stored.get(&key).is_some_and(|t| t.contains(&time)) {
                kept.push((key, time));
                continue;
            }
            let values = (
                segment.id(),
                slab.start,
                slab.size,
                key.as_str(),
                i64::from(time.as_secs()),
            );
            session
                .execute_unpaged(&statements.delete_slab, values)
                .await
                .map_err(|e| failure("timer load", slab_name(segment, slab), e))?;
        }
        Ok(kept)
    }
}

fn slab_name(segment: &TimerSegment, slab: Slab) -> String {
    format!("segment {segment}, slab {}s (+{}s)", slab.start, slab.size)
}
