//! How an event sees a section: its staged writes merged over a committed scan.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{Staged, StateTxn};
use crate::error::Result;
use crate::state::cell::{CellScan, ItemBound, ItemRows};

impl StateTxn {
    /// A section's items in `range` as this event sees them, ordered, at most `limit`.
    pub(super) async fn scan(
        &self,
        name: &str,
        section: u8,
        (lower, upper): (ItemBound, ItemBound),
        reverse: bool,
        limit: Option<usize>,
    ) -> Result<ItemRows> {
        let within = |item: &Vec<u8>| {
            (match &lower {
                Bound::Included(low) => item >= low,
                Bound::Excluded(low) => item > low,
                Bound::Unbounded => true,
            }) && match &upper {
                Bound::Included(high) => item <= high,
                Bound::Excluded(high) => item < high,
                Bound::Unbounded => true,
            }
        };
        let staged: Vec<(&Vec<u8>, &Staged)> = self
            .staged
            .iter()
            .filter(|((staged, s, item), _)| staged == name && *s == section && within(item))
            .map(|((_, _, item), staged)| (item, staged))
            .collect();
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        if !self.cleared.contains(name) {
            // Each staged item hides at most one committed one, so this many always suffice.
            let scan = CellScan {
                name: name.to_owned(),
                generation: self.head.generation(name),
                section,
                lower: lower.clone(),
                upper: upper.clone(),
                reverse,
                limit: limit.map(|limit| limit.saturating_add(staged.len())),
            };
            let committed = self
                .store
                .scan(&self.scope.group, &self.scope.key, &scan)
                .await?;
            merged.extend(committed);
        }
        for (item, write) in staged {
            match &write.data {
                Some(data) => merged.insert(item.clone(), data.clone()),
                None => merged.remove(item),
            };
        }
        let limit = limit.unwrap_or(usize::MAX);
        Ok(if reverse {
            merged.into_iter().rev().take(limit).collect()
        } else {
            merged.into_iter().take(limit).collect()
        })
    }
}
