//! What collections hold: opaque bytes or Kafka message references, and how a reference is
//! laid out in a stored cell.

use super::definition::Payload;

/// Where a Kafka message lives. A `message_*` collection stores this instead of the message,
/// and the reader reloads the message from Kafka (so the topic's retention must outlast the
/// state).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageRef {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

impl MessageRef {
    /// A reference to `topic`/`partition` at `offset`.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        Self {
            topic: topic.into(),
            partition,
            offset,
        }
    }

    /// Offset (8 bytes, big-endian), partition (4 bytes), then the topic's UTF-8.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(12 + self.topic.len());
        bytes.extend_from_slice(&self.offset.to_be_bytes());
        bytes.extend_from_slice(&self.partition.to_be_bytes());
        bytes.extend_from_slice(self.topic.as_bytes());
        bytes
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let offset = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let partition = i32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        let topic = std::str::from_utf8(bytes.get(12..)?).ok()?.to_owned();
        Some(Self {
            topic,
            partition,
            offset,
        })
    }
}

/// A value read from or written to a collection. `None` (absent) is never a value: empty bytes
/// are stored and read back as empty bytes.
///
/// ```
/// use prosody_engine::state::{MessageRef, StateValue};
///
/// let bytes = StateValue::from(&b"{}"[..]);
/// assert_eq!(bytes.as_bytes(), Some(&b"{}"[..]));
/// let message = StateValue::from(MessageRef::new("orders", 3, 42));
/// assert_eq!(message.as_message().map(|m| m.offset), Some(42));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StateValue {
    /// Opaque bytes.
    Bytes(Vec<u8>),
    /// A message reference.
    Message(MessageRef),
}

impl StateValue {
    /// The bytes, if this is a bytes value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            StateValue::Bytes(bytes) => Some(bytes),
            StateValue::Message(_) => None,
        }
    }

    /// The reference, if this is a message value.
    pub fn as_message(&self) -> Option<&MessageRef> {
        match self {
            StateValue::Message(message) => Some(message),
            StateValue::Bytes(_) => None,
        }
    }

    /// The payload format this value belongs to.
    pub fn payload(&self) -> Payload {
        match self {
            StateValue::Bytes(_) => Payload::Bytes,
            StateValue::Message(_) => Payload::Message,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            StateValue::Bytes(bytes) => bytes.clone(),
            StateValue::Message(message) => message.encode(),
        }
    }

    pub(crate) fn decode(payload: Payload, bytes: Vec<u8>) -> Option<Self> {
        match payload {
            Payload::Bytes => Some(StateValue::Bytes(bytes)),
            Payload::Message => MessageRef::decode(&bytes).map(StateValue::Message),
        }
    }
}

impl From<Vec<u8>> for StateValue {
    fn from(bytes: Vec<u8>) -> Self {
        StateValue::Bytes(bytes)
    }
}

impl From<&[u8]> for StateValue {
    fn from(bytes: &[u8]) -> Self {
        StateValue::Bytes(bytes.to_vec())
    }
}

impl From<MessageRef> for StateValue {
    fn from(message: MessageRef) -> Self {
        StateValue::Message(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reference_round_trips() {
        let message = MessageRef::new("orders.v2", -1, i64::MAX);
        assert_eq!(MessageRef::decode(&message.encode()), Some(message));
        assert_eq!(MessageRef::decode(&[0; 11]), None);
    }

    #[test]
    fn empty_bytes_are_a_value() {
        let empty = StateValue::decode(Payload::Bytes, Vec::new());
        assert_eq!(empty, Some(StateValue::Bytes(Vec::new())));
    }
}
