//! Limits Kafka imposes that the engine works within.

/// The largest record the producer sends, payload, key and headers included: Kafka's default
/// broker limit (`message.max.bytes`, 1,048,588 bytes).
///
/// ```
/// assert_eq!(prosody_engine::MAX_RECORD_BYTES, 1_048_588);
/// ```
pub const MAX_RECORD_BYTES: usize = 1_048_588;
