//! [`ScanQuery`]: which part of a map or set an ordered scan reads.

use std::cmp::Ordering;
use std::ops::Bound;

use super::cell::ItemBound;

/// An ordered scan over a map's keys or a set's members, in byte order.
///
/// `lower` and `upper` are in key order whichever the direction, a `prefix` narrows them
/// further, and `limit` counts returned items. An empty range returns nothing.
///
/// ```
/// use prosody_engine::state::ScanQuery;
///
/// let query = ScanQuery::all().after("a").prefix("b").limit(10).reverse();
/// assert!(query.limit == Some(10) && query.reverse);
/// assert!(ScanQuery::all().from("b").before("b").is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanQuery {
    /// The lowest key.
    pub lower: ItemBound,
    /// The highest key.
    pub upper: ItemBound,
    /// Only keys starting with these bytes.
    pub prefix: Option<Vec<u8>>,
    /// At most this many items.
    pub limit: Option<usize>,
    /// Highest key first.
    pub reverse: bool,
}

impl Default for ScanQuery {
    fn default() -> Self {
        Self::all()
    }
}

impl ScanQuery {
    /// Every key, lowest first.
    pub fn all() -> Self {
        Self {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
            prefix: None,
            limit: None,
            reverse: false,
        }
    }

    /// Keys from `key`, inclusive.
    #[must_use]
    pub fn from(mut self, key: impl AsRef<[u8]>) -> Self {
        self.lower = Bound::Included(key.as_ref().to_vec());
        self
    }

    /// Keys after `key`.
    #[must_use]
    pub fn after(mut self, key: impl AsRef<[u8]>) -> Self {
        self.lower = Bound::Excluded(key.as_ref().to_vec());
        self
    }

    /// Keys up to `key`, inclusive.
    #[must_use]
    pub fn to(mut self, key: impl AsRef<[u8]>) -> Self {
        self.upper = Bound::Included(key.as_ref().to_vec());
        self
    }

    /// Keys before `key`.
    #[must_use]
    pub fn before(mut self, key: impl AsRef<[u8]>) -> Self {
        self.upper = Bound::Excluded(key.as_ref().to_vec());
        self
    }

    /// Keys starting with `prefix`.
    #[must_use]
    pub fn prefix(mut self, prefix: impl AsRef<[u8]>) -> Self {
        self.prefix = Some(prefix.as_ref().to_vec());
        self
    }

    /// At most `items`.
    #[must_use]
    pub fn limit(mut self, items: usize) -> Self {
        self.limit = Some(items);
        self
    }

    /// Highest key first.
    #[must_use]
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Whether no key can match.
    pub fn is_empty(&self) -> bool {
        self.limit == Some(0) || self.range().is_none()
    }

    /// The key range with the prefix folded in; `None` when empty.
    pub(crate) fn range(&self) -> Option<(ItemBound, ItemBound)> {
        let (mut lower, mut upper) = (self.lower.clone(), self.upper.clone());
        if let Some(prefix) = &self.prefix {
            lower = tighter(lower, Bound::Included(prefix.clone()), Ordering::Greater);
            let end = successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
            upper = tighter(upper, end, Ordering::Less);
        }
        let empty = match (&lower, &upper) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (Bound::Included(low) | Bound::Excluded(low), Bound::Excluded(high))
            | (Bound::Excluded(low), Bound::Included(high)) => low >= high,
            _ => false,
        };
        (!empty).then_some((lower, upper))
    }
}

/// The tighter of two bounds: the greater for lower bounds (`wanted` = `Greater`), the lesser
/// for upper ones.
fn tighter(a: ItemBound, b: ItemBound, wanted: Ordering) -> ItemBound {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.cmp(y) {
                Ordering::Equal if matches!(a, Bound::Excluded(_)) => a,
                Ordering::Equal => b,
                order if order == wanted => a,
                _ => b,
            }
        }
    }
}

/// The least byte string greater than every string starting with `prefix`; `None` when there
/// is none (empty, or all 0xFF).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn included(bytes: &[u8]) -> ItemBound {
        Bound::Included(bytes.to_vec())
    }

    #[test]
    fn a_prefix_becomes_a_half_open_range() {
        let range = ScanQuery::all().prefix("ab").range();
        assert_eq!(
            range,
            Some((included(b"ab"), Bound::Excluded(b"ac".to_vec())))
        );
        let range = ScanQuery::all().prefix([1, 0xFF]).range();
        assert_eq!(
            range,
            Some((included(&[1, 0xFF]), Bound::Excluded(vec![2])))
        );
        let range = ScanQuery::all().prefix([0xFF]).range();
        assert_eq!(range, Some((included(&[0xFF]), Bound::Unbounded)));
    }

    #[test]
    fn bounds_and_prefix_intersect() {
        let range = ScanQuery::all().after("ab").prefix("ab").range();
        assert_eq!(
            range,
            Some((
                Bound::Excluded(b"ab".to_vec()),
                Bound::Excluded(b"ac".to_vec())
            ))
        );
        assert!(ScanQuery::all().from("b").to("a").is_empty());
        assert!(ScanQuery::all().after("a").to("a").is_empty());
        assert!(!ScanQuery::all().from("a").to("a").is_empty());
        assert!(ScanQuery::all().prefix("b").to("a").is_empty());
    }
}
