use std::borrow::Cow;
use std::fmt;

/// The identity of one handled event for deduplication: a stable 128-bit hash of the consumer
/// group, topic, key, payload `id` and `idempotence_version`.
///
/// The hash is FNV-1a over length-prefixed fields, so it is the same in every process and
/// release and can be stored (for instance as a Cassandra UUID). Changing the version changes
/// every key, which invalidates all earlier records.
///
/// ```
/// use prosody_engine::middleware::DedupKey;
///
/// let key = DedupKey::new("billing", "orders", "order-1", "event-9", "v1");
/// assert_eq!(key, DedupKey::new("billing", "orders", "order-1", "event-9", "v1"));
/// assert_ne!(key, DedupKey::new("billing", "orders", "order-1", "event-9", "v2"));
/// assert_ne!(key, DedupKey::new("billing", "orders", "order-2", "event-9", "v1"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DedupKey(u128);

const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

impl DedupKey {
    /// The key for event `id` on `key` of `topic`, handled by `group` at `version`.
    pub fn new(group: &str, topic: &str, key: &str, id: &str, version: &str) -> Self {
        let mut hash = FNV_OFFSET;
        for field in [version, group, topic, key, id] {
            let length = u64::try_from(field.len()).unwrap_or(u64::MAX);
            for byte in length.to_le_bytes().iter().chain(field.as_bytes()) {
                hash ^= u128::from(*byte);
                hash = hash.wrapping_mul(FNV_PRIME);
            }
        }
        Self(hash)
    }

    /// The hash as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// The hash as 16 little-endian bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }
}

impl fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DedupKey({:032x})", self.0)
    }
}

/// The payload's top-level `id`, when it is a string or a number.
pub(super) fn event_id(payload: &serde_json::Value) -> Option<Cow<'_, str>> {
    match payload.get("id")? {
        serde_json::Value::String(id) => Some(Cow::Borrowed(id)),
        serde_json::Value::Number(id) => Some(Cow::Owned(id.to_string())),
        _ => None,
    }
}
