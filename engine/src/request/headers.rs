//! The headers that make a record a request, and a reply an answer to one.
//!
//! A request is an ordinary record on its topic: it goes through every layer a message does
//! (filters, deduplication, retries, deferral). Its headers say where answers go and which
//! subsystems are asked. Each header but [`AWAITED`] appears exactly once; [`AWAITED`] appears
//! once per subsystem, since a subsystem name may hold any character but control characters.
//! Every value is UTF-8 text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The request's id: a lowercase hyphenated UUID, echoed by every answer.
pub const REQUEST_ID: &str = "prosody-request-id";
/// The topic answers are written to.
pub const REPLY_TOPIC: &str = "prosody-reply-topic";
/// The partition of [`REPLY_TOPIC`] the requester reads.
pub const REPLY_PARTITION: &str = "prosody-reply-partition";
/// When the requester stops waiting: milliseconds since the Unix epoch, in decimal.
pub const DEADLINE: &str = "prosody-request-deadline";
/// One subsystem asked to answer; repeated once per subsystem.
pub const AWAITED: &str = "prosody-awaited";
/// On an answer: the subsystem that answers.
pub const SUBSYSTEM: &str = "prosody-subsystem";
/// On an answer: `success` (the payload is the handler's JSON value) or `failure` (the
/// payload is the error's message as UTF-8 text).
pub const OUTCOME: &str = "prosody-outcome";
/// On an answer: how its payload is encoded; [`FORMAT_JSON`] is the only format so far.
pub const FORMAT: &str = "prosody-reply-format";
/// The one reply format this version writes and reads.
pub const FORMAT_JSON: &str = "json/1";

/// Header names a request's caller may not set: the engine writes them.
pub const RESERVED: [&str; 8] = [
    REQUEST_ID,
    REPLY_TOPIC,
    REPLY_PARTITION,
    DEADLINE,
    AWAITED,
    SUBSYSTEM,
    OUTCOME,
    FORMAT,
];

/// A record's headers as the consumer reads them.
pub type RecordHeaders = [(String, Option<Vec<u8>>)];

/// What a request's headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    /// The request's id.
    pub id: String,
    /// Where answers go.
    pub reply_topic: String,
    /// Which partition of `reply_topic`.
    pub reply_partition: i32,
    /// When the requester stops waiting, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// The subsystems asked, in the order asked.
    pub awaited: Vec<String>,
}

/// Why a record's request headers were refused; the record is still handled, unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// A request header is missing.
    Missing(&'static str),
    /// A header that must appear once appears more often.
    Repeated(&'static str),
    /// A header's value is not valid (not UTF-8, not a number, empty).
    Invalid(&'static str),
}

impl Rejected {
    /// The reason as a metrics label: `missing`, `repeated` or `invalid`.
    pub fn reason(self) -> &'static str {
        match self {
            Rejected::Missing(_) => "missing",
            Rejected::Repeated(_) => "repeated",
            Rejected::Invalid(_) => "invalid",
        }
    }

    /// The header at fault.
    pub fn header(self) -> &'static str {
        match self {
            Rejected::Missing(name) | Rejected::Repeated(name) | Rejected::Invalid(name) => name,
        }
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Missing(name) => write!(f, "header `{name}` is missing"),
            Rejected::Repeated(name) => write!(f, "header `{name}` appears more than once"),
            Rejected::Invalid(name) => write!(f, "header `{name}` is not valid"),
        }
    }
}

impl RequestHeaders {
    /// The headers to send, in order.
    pub fn encode(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut headers = vec![
            (REQUEST_ID, self.id.clone().into_bytes()),
            (REPLY_TOPIC, self.reply_topic.clone().into_bytes()),
            (
                REPLY_PARTITION,
                self.reply_partition.to_string().into_bytes(),
            ),
            (DEADLINE, self.deadline_ms.to_string().into_bytes()),
        ];
        headers.extend(
            self.awaited
                .iter()
                .map(|name| (AWAITED, name.clone().into_bytes())),
        );
        headers
    }

    /// The request a record's headers describe: `Ok(None)` for a record that is no request
    /// (no [`REQUEST_ID`]).
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the record has a request id but its other headers are missing,
    /// repeated or invalid.
    pub fn parse(headers: &RecordHeaders) -> Result<Option<Self>, Rejected> {
        let Some(id) = single(headers, REQUEST_ID)? else {
            return Ok(None);
        };
        let reply_topic = single(headers, REPLY_TOPIC)?.ok_or(Rejected::Missing(REPLY_TOPIC))?;
        let reply_partition = number(headers, REPLY_PARTITION)?;
        let deadline_ms = number(headers, DEADLINE)?;
        let awaited = headers
            .iter()
            .filter(|(name, _)| name == AWAITED)
            .map(|(_, value)| text(value.as_deref(), AWAITED))
            .collect::<Result<Vec<_>, _>>()?;
        if awaited.is_empty() {
            return Err(Rejected::Missing(AWAITED));
        }
        Ok(Some(Self {
            id,
            reply_topic,
            reply_partition,
            deadline_ms,
            awaited,
        }))
    }

    /// Whether `subsystem` is asked to answer.
    pub fn awaits(&self, subsystem: &str) -> bool {
        self.awaited.iter().any(|name| name == subsystem)
    }

    /// Whether the requester has stopped waiting by `now`.
    pub fn expired(&self, now: SystemTime) -> bool {
        millis_since_epoch(now) > self.deadline_ms
    }
}

/// `time` as whole milliseconds since the Unix epoch (0 before it).
pub fn millis_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The one value of header `name`, if present.
pub(crate) fn single(
    headers: &RecordHeaders,
    name: &'static str,
) -> Result<Option<String>, Rejected> {
    let mut found = headers.iter().filter(|(key, _)| key == name);
    let Some((_, value)) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(Rejected::Repeated(name));
    }
    text(value.as_deref(), name).map(Some)
}

fn number<T: std::str::FromStr>(
    headers: &RecordHeaders,
    name: &'static str,
) -> Result<T, Rejected> {
    single(headers, name)?
        .ok_or(Rejected::Missing(name))?
        .parse()
        .map_err(|_| Rejected::Invalid(name))
}

fn text(value: Option<&[u8]>, name: &'static str) -> Result<String, Rejected> {
    let value = value.ok_or(Rejected::Invalid(name))?;
    let text = std::str::from_utf8(value).map_err(|_| Rejected::Invalid(name))?;
    if text.is_empty() {
        return Err(Rejected::Invalid(name));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestHeaders {
        RequestHeaders {
            id: "r-1".into(),
            reply_topic: "prosody.replies".into(),
            reply_partition: 3,
            deadline_ms: 1_700_000_000_000,
            awaited: vec!["billing".into(), "ship,ping".into()],
        }
    }

    fn as_record(headers: Vec<(&'static str, Vec<u8>)>) -> Vec<(String, Option<Vec<u8>>)> {
        headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Some(value)))
            .collect()
    }

    #[test]
    fn request_headers_read_back_as_written() {
        let record = as_record(request().encode());
        assert_eq!(RequestHeaders::parse(&record), Ok(Some(request())));
        assert!(request().awaits("ship,ping"));
        assert!(!request().awaits("ship"));
        assert_eq!(
            RequestHeaders::parse(&[]),
            Ok(None),
            "no request id: no request"
        );
    }

    #[test]
    fn malformed_request_headers_name_the_header_at_fault() {
        let mut record = as_record(request().encode());
        record.push((DEADLINE.into(), Some(b"1".to_vec())));
        assert_eq!(
            RequestHeaders::parse(&record),
            Err(Rejected::Repeated(DEADLINE))
        );

        let mut record = as_record(request().encode());
        record.retain(|(name, _)| name != AWAITED);
        assert_eq!(
            RequestHeaders::parse(&record),
            Err(Rejected::Missing(AWAITED))
        );

        let mut record = as_record(request().encode());
        for (name, value) in &mut record {
            if name == REPLY_PARTITION {
                *value = Some(b"three".to_vec());
            }
        }
        assert_eq!(
            RequestHeaders::parse(&record),
            Err(Rejected::Invalid(REPLY_PARTITION))
        );

        let mut record = as_record(request().encode());
        record.push((AWAITED.into(), Some(vec![0xff])));
        assert_eq!(
            RequestHeaders::parse(&record),
            Err(Rejected::Invalid(AWAITED))
        );
    }

    #[test]
    fn a_request_expires_after_its_deadline() {
        let deadline = UNIX_EPOCH + Duration::from_millis(request().deadline_ms);
        assert!(!request().expired(deadline));
        assert!(request().expired(deadline + Duration::from_millis(1)));
    }
}
