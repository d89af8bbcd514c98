//! W3C Baggage (`baggage` header) values: application key/value pairs that travel with a trace.
//!
//! A value is checked once, where it enters the engine (a consumed record's header, a stored
//! timer, a Ruby Hash), and kept in its header form, so passing it on costs a pointer copy.
//! Invalid members are dropped one by one, and so are members past the W3C limits
//! ([`MAX_BYTES`] in all, [`MAX_ENTRIES`] members): bad baggage never fails the work that
//! carries it. Each drop logs a warning, at most one per [`WARN_EVERY`] with a count of the
//! rest, since one misbehaving producer can send it on every record.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use crate::rate_limit::RateLimit;

#[cfg(test)]
mod tests;

/// The W3C limit on a whole `baggage` value, in bytes.
pub const MAX_BYTES: usize = 8192;

/// The W3C limit on the number of members in a `baggage` value.
pub const MAX_ENTRIES: usize = 180;

/// How often a warning about dropped baggage is logged at most.
const WARN_EVERY: Duration = Duration::from_secs(60);

static WARNINGS: RateLimit = RateLimit::new(WARN_EVERY);

/// A checked `baggage` header value, never empty and within the W3C limits.
///
/// ```
/// use prosody_engine::Baggage;
/// let baggage = Baggage::parse("tenant=acme, user=J%C3%B6rg;secret, bad key=1").unwrap();
/// assert_eq!(baggage.as_str(), "tenant=acme,user=J%C3%B6rg;secret");
/// assert_eq!(
///     baggage.entries(),
///     [("tenant".to_owned(), "acme".to_owned()), ("user".to_owned(), "Jörg".to_owned())]
/// );
/// let built = Baggage::from_entries([("order id", "1"), ("note", "a, b")]).unwrap();
/// assert_eq!(built.as_str(), "note=a%2C%20b");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baggage(Arc<str>);

impl Baggage {
    /// The valid members of a header value, within the limits; `None` when none is left.
    /// Whatever was dropped is logged (rate-limited), never returned as an error.
    pub fn parse(value: &str) -> Option<Self> {
        let mut kept = Kept::default();
        for member in value.split(',') {
            let member = member.trim_matches(is_ows);
            if member.is_empty() {
                continue;
            }
            if valid_member(member) {
                kept.push(member);
            } else {
                kept.dropped += 1;
            }
        }
        kept.finish("a `baggage` header")
    }

    /// [`Baggage::parse`] of a header's raw bytes; non-UTF-8 bytes make the whole value invalid.
    pub fn from_header(value: &[u8]) -> Option<Self> {
        match std::str::from_utf8(value) {
            Ok(text) => Self::parse(text),
            Err(_) => {
                warn_dropped("a `baggage` header", 1, "it is not UTF-8");
                None
            }
        }
    }

    /// Baggage with `entries`, their values percent-encoded as the header needs. An entry whose
    /// key is not a valid token, and entries past the limits, are dropped with a warning.
    pub fn from_entries<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> Option<Self>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut kept = Kept::default();
        let mut member = String::new();
        for (key, value) in entries {
            let key = key.as_ref();
            if key.is_empty() || !key.bytes().all(is_tchar) {
                kept.dropped += 1;
                continue;
            }
            member.clear();
            member.push_str(key);
            member.push('=');
            percent_encode(value.as_ref(), &mut member);
            kept.push(&member);
        }
        kept.finish("baggage entries")
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The members' keys and percent-decoded values, in order; member properties are left out.
    /// A value that does not decode to UTF-8 is kept as written.
    pub fn entries(&self) -> Vec<(String, String)> {
        self.0
            .split(',')
            .filter_map(|member| {
                let pair = member.split(';').next()?;
                let (key, value) = pair.split_once('=')?;
                let value = value.trim_matches(is_ows);
                let decoded = percent_decode(value).unwrap_or_else(|| value.to_owned());
                Some((key.trim_matches(is_ows).to_owned(), decoded))
            })
            .collect()
    }
}

impl fmt::Display for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The members kept so far, and how many were dropped.
#[derive(Default)]
struct Kept {
    text: String,
    entries: usize,
    dropped: usize,
    over_limit: bool,
}

impl Kept {
    fn push(&mut self, member: &str) {
        let separator = usize::from(!self.text.is_empty());
        if self.entries == MAX_ENTRIES || self.text.len() + separator + member.len() > MAX_BYTES {
            self.dropped += 1;
            self.over_limit = true;
            return;
        }
        if separator == 1 {
            self.text.push(',');
        }
        self.text.push_str(member);
        self.entries += 1;
    }

    fn finish(self, source: &str) -> Option<Baggage> {
        if self.dropped > 0 {
            let why = if self.over_limit {
                "past the W3C limits (8192 bytes, 180 members) or malformed"
            } else {
                "malformed"
            };
            warn_dropped(source, self.dropped, why);
        }
        (!self.text.is_empty()).then(|| Baggage(self.text.into()))
    }
}

fn warn_dropped(source: &str, dropped: usize, why: &str) {
    if let Some(held_back) = WARNINGS.admit() {
        tracing::warn!(
            dropped,
            earlier_warnings_held_back = held_back,
            "dropped baggage members from {source}: {why}"
        );
    }
}

/// `key OWS "=" OWS value *( OWS ";" OWS property )`, a property being `key` or `key=value`.
fn valid_member(member: &str) -> bool {
    let mut parts = member.split(';');
    let Some(pair) = parts.next() else {
        return false;
    };
    let Some((key, value)) = pair.split_once('=') else {
        return false;
    };
    valid_key(key) && valid_value(value) && parts.all(valid_property)
}

fn valid_property(property: &str) -> bool {
    match property.split_once('=') {
        Some((key, value)) => valid_key(key) && valid_value(value),
        None => valid_key(property),
    }
}

fn valid_key(key: &str) -> bool {
    let key = key.trim_matches(is_ows);
    !key.is_empty() && key.bytes().all(is_tchar)
}

fn valid_value(value: &str) -> bool {
    value.trim_matches(is_ows).bytes().all(is_baggage_octet)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 7230 `tchar`: what a key may hold.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// What a value may hold unencoded: printable ASCII but space, `"`, `,`, `;` and `\`.
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn percent_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if is_baggage_octet(byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}
