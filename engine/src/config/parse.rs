//! Parsers turning one option's text into a typed value.
//!
//! Each parser returns either the value or a short noun phrase describing
//! what was expected; the resolver wraps that phrase into a
//! [`ConfigError`](super::ConfigError) naming the option and value source.

use std::time::Duration;

use super::{Mode, SpanRelation};

/// A noun phrase completing the sentence "`value` is not ...".
pub(crate) type Expected = &'static str;

const BOOLEAN: Expected = "a boolean (true/false, yes/no or 1/0)";
const POSITIVE_INTEGER: Expected = "a positive integer";
const NON_NEGATIVE_INTEGER: Expected = "a non-negative integer";
const SMALL_INTEGER: Expected = "a non-negative integer no larger than 4294967295";
const FRACTION: Expected = "a number between 0 and 1";
const NON_NEGATIVE_NUMBER: Expected = "a finite number no smaller than 0";
const DURATION: Expected =
    "a duration such as \"250ms\", \"5m\" or \"7d\", or a non-negative number of seconds";
const POSITIVE_DURATION: Expected =
    "a non-zero duration such as \"250ms\", \"5m\" or \"7d\", or a positive number of seconds";
const TTL: Expected = "a duration from 1s to 7300d (the range Cassandra accepts as a TTL)";
const PORT: Expected = "a port number from 1 to 65535, or \"none\" to disable the probe server";
const MODE: Expected = "one of \"pipeline\", \"low_latency\" or \"best_effort\"";
const SPAN_RELATION: Expected = "either \"child\" or \"follows_from\"";
const NON_EMPTY: Expected = "a non-empty string";
const SERVERS: Expected = "a comma-separated list of at least one broker address (host:port)";
const INSTANCE_ID: Expected =
    "a group instance id: at most 249 letters, digits, '.', '_' or '-', unique in the group";
const KEYSPACE: Expected =
    "a CQL keyspace name (a letter followed by at most 47 letters, digits or underscores)";

/// Cassandra rejects TTLs above 7300 days (630,720,000 seconds).
const MAX_TTL: Duration = Duration::from_secs(630_720_000);

/// Splits a comma-separated list, trimming entries and dropping empty ones. Never fails.
#[allow(clippy::unnecessary_wraps)] // every parser shares one signature
pub(crate) fn list(text: &str) -> Result<Vec<String>, Expected> {
    Ok(text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Like [`list`], but at least one entry: a blank list of brokers is a mistake, not a choice.
pub(crate) fn servers(text: &str) -> Result<Vec<String>, Expected> {
    match list(text) {
        Ok(servers) if !servers.is_empty() => Ok(servers),
        _ => Err(SERVERS),
    }
}

/// An optional name, trimmed; blank means none. Never fails.
#[allow(clippy::unnecessary_wraps)] // every parser shares one signature
pub(crate) fn name(text: &str) -> Result<Option<String>, Expected> {
    Ok(Some(text.trim().to_owned()).filter(|text| !text.is_empty()))
}

/// An optional credential, kept verbatim; empty means none. Never fails.
#[allow(clippy::unnecessary_wraps)] // every parser shares one signature
pub(crate) fn secret(text: &str) -> Result<Option<String>, Expected> {
    Ok(Some(text.to_owned()).filter(|text| !text.is_empty()))
}

/// Parses `true`/`false`, `yes`/`no` or `1`/`0`, ignoring letter case.
pub(crate) fn boolean(text: &str) -> Result<bool, Expected> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(BOOLEAN),
    }
}

/// Parses an integer of at least 1.
pub(crate) fn positive_count(text: &str) -> Result<usize, Expected> {
    match text.trim().parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(POSITIVE_INTEGER),
    }
}

/// Parses an integer of at least 0.
pub(crate) fn count(text: &str) -> Result<usize, Expected> {
    text.trim().parse().map_err(|_| NON_NEGATIVE_INTEGER)
}

/// Parses an integer of at least 0 that fits in 32 bits.
pub(crate) fn small_count(text: &str) -> Result<u32, Expected> {
    text.trim().parse().map_err(|_| SMALL_INTEGER)
}

/// Parses a number within the closed range 0 to 1.
pub(crate) fn fraction(text: &str) -> Result<f64, Expected> {
    match text.trim().parse::<f64>() {
        Ok(number) if (0.0..=1.0).contains(&number) => Ok(number),
        _ => Err(FRACTION),
    }
}

/// Parses a finite number of at least 0.
pub(crate) fn non_negative(text: &str) -> Result<f64, Expected> {
    match text.trim().parse::<f64>() {
        Ok(number) if number.is_finite() && number >= 0.0 => Ok(number),
        _ => Err(NON_NEGATIVE_NUMBER),
    }
}

/// Parses a duration, possibly zero.
///
/// Accepts humantime syntax (`100ms`, `1h 30m`, `7d`, `1y`, where a year is
/// 365.25 days and a month 30.44 days) or a bare number of seconds
/// (`30`, `1.5`, `1.0e-3`), which is how numeric values arrive from Ruby.
pub(crate) fn duration(text: &str) -> Result<Duration, Expected> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return match seconds {
            s if s.is_finite() && s >= 0.0 => Duration::try_from_secs_f64(s).map_err(|_| DURATION),
            _ => Err(DURATION),
        };
    }
    humantime::parse_duration(text).map_err(|_| DURATION)
}

/// Parses a duration that must be greater than zero.
pub(crate) fn positive_duration(text: &str) -> Result<Duration, Expected> {
    match duration(text) {
        Ok(value) if !value.is_zero() => Ok(value),
        _ => Err(POSITIVE_DURATION),
    }
}

/// Parses a duration usable as a Cassandra TTL: 1 second to 7300 days.
///
/// Cassandra truncates TTLs to whole seconds and treats 0 as "never expire",
/// so anything under a second would silently disable expiry.
pub(crate) fn ttl(text: &str) -> Result<Duration, Expected> {
    match duration(text) {
        Ok(value) if value >= Duration::from_secs(1) && value <= MAX_TTL => Ok(value),
        _ => Err(TTL),
    }
}

/// Parses a probe port; `none`, `false`, `nil` or blank disable the probe.
pub(crate) fn port(text: &str) -> Result<Option<u16>, Expected> {
    let text = text.trim();
    if matches!(
        text.to_ascii_lowercase().as_str(),
        "" | "none" | "false" | "nil"
    ) {
        return Ok(None);
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(Some(port)),
        _ => Err(PORT),
    }
}

/// Parses a processing mode name.
pub(crate) fn mode(text: &str) -> Result<Mode, Expected> {
    Mode::from_name(text).ok_or(MODE)
}

/// Parses a span relation name.
pub(crate) fn span_relation(text: &str) -> Result<SpanRelation, Expected> {
    SpanRelation::from_name(text).ok_or(SPAN_RELATION)
}

/// An optional static-membership id, trimmed; blank means none. Kafka takes the characters of
/// a topic name (its `Topic.validate` rule), up to 249 of them.
pub(crate) fn instance_id(text: &str) -> Result<Option<String>, Expected> {
    let id = text.trim();
    if id.is_empty() {
        return Ok(None);
    }
    let legal = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if legal && id.len() <= 249 {
        Ok(Some(id.to_owned()))
    } else {
        Err(INSTANCE_ID)
    }
}

/// Trims the text and requires something to be left.
pub(crate) fn non_empty(text: &str) -> Result<String, Expected> {
    match text.trim() {
        "" => Err(NON_EMPTY),
        trimmed => Ok(trimmed.to_owned()),
    }
}

/// Validates an unquoted CQL identifier usable as a keyspace name.
pub(crate) fn keyspace(text: &str) -> Result<String, Expected> {
    let name = text.trim();
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_valid = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if starts_with_letter && rest_valid && name.len() <= 48 {
        Ok(name.to_owned())
    } else {
        Err(KEYSPACE)
    }
}
