//! What a subsystem answered, and how an answer travels as a record.

use std::fmt;

use super::headers::{self, RecordHeaders, FORMAT, FORMAT_JSON, OUTCOME, REQUEST_ID, SUBSYSTEM};

/// One subsystem's answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler's value (its return value in Ruby).
    Success(serde_json::Value),
    /// No value: why not.
    Failure(ResponseError),
}

/// Why a subsystem's answer holds no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// The handler failed for good (a permanent error, or retries used up), or its value could
    /// not be encoded; the text is its error's message.
    Handler(String),
    /// No answer came before the request's timeout: the subsystem is down, behind, still
    /// retrying, or nobody serves it.
    Timeout,
    /// The answer was written in a format this version does not read.
    FormatMismatch(String),
    /// The answer could not be decoded.
    Malformed(String),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Handler(message) => f.write_str(message),
            ResponseError::Timeout => f.write_str("no answer before the request's timeout"),
            ResponseError::FormatMismatch(format) => write!(
                f,
                "the answer is in format `{format}`, and this version reads only `{FORMAT_JSON}`"
            ),
            ResponseError::Malformed(reason) => write!(f, "the answer could not be read: {reason}"),
        }
    }
}

/// An answer on its way back: the request it answers, who answers, and the outcome's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The request's id.
    pub request_id: String,
    /// The answering subsystem.
    pub subsystem: String,
    /// The handler's value as JSON text, or the failure's message.
    pub body: Result<Vec<u8>, String>,
}

impl Answer {
    /// The answer record's headers.
    pub fn headers(&self) -> [(&'static str, &[u8]); 4] {
        let outcome: &[u8] = if self.body.is_ok() {
            b"success"
        } else {
            b"failure"
        };
        [
            (REQUEST_ID, self.request_id.as_bytes()),
            (SUBSYSTEM, self.subsystem.as_bytes()),
            (OUTCOME, outcome),
            (FORMAT, FORMAT_JSON.as_bytes()),
        ]
    }

    /// The answer record's payload.
    pub fn payload(&self) -> &[u8] {
        match &self.body {
            Ok(json) => json,
            Err(message) => message.as_bytes(),
        }
    }
}

/// Reads an answer record: its request id, subsystem and outcome; `None` when it names no
/// request or subsystem, which no waiting request could claim.
pub(crate) fn read_answer(
    headers: &RecordHeaders,
    payload: Option<&[u8]>,
) -> Option<(String, String, Outcome)> {
    let id = headers::single(headers, REQUEST_ID).ok()??;
    let subsystem = headers::single(headers, SUBSYSTEM).ok()??;
    Some((id, subsystem, outcome_of(headers, payload)))
}

fn outcome_of(headers: &RecordHeaders, payload: Option<&[u8]>) -> Outcome {
    let malformed = |reason: String| Outcome::Failure(ResponseError::Malformed(reason));
    match headers::single(headers, FORMAT) {
        Ok(Some(format)) if format == FORMAT_JSON => {}
        Ok(Some(format)) => return Outcome::Failure(ResponseError::FormatMismatch(format)),
        Ok(None) => return malformed(format!("header `{FORMAT}` is missing")),
        Err(rejected) => return malformed(rejected.to_string()),
    }
    let payload = payload.unwrap_or_default();
    match headers::single(headers, OUTCOME).ok().flatten().as_deref() {
        Some("success") => serde_json::from_slice(payload).map_or_else(
            |error| malformed(format!("its value is not JSON: {error}")),
            Outcome::Success,
        ),
        Some("failure") => Outcome::Failure(ResponseError::Handler(
            String::from_utf8_lossy(payload).into_owned(),
        )),
        Some(other) => malformed(format!("unknown outcome `{other}`")),
        None => malformed(format!("header `{OUTCOME}` is missing or repeated")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(answer: &Answer) -> Vec<(String, Option<Vec<u8>>)> {
        answer
            .headers()
            .iter()
            .map(|(name, value)| ((*name).to_owned(), Some(value.to_vec())))
            .collect()
    }

    fn answer(body: Result<Vec<u8>, String>) -> Answer {
        Answer {
            request_id: "r-1".into(),
            subsystem: "billing".into(),
            body,
        }
    }

    #[test]
    fn a_written_answer_reads_back_as_its_outcome() {
        let success = answer(Ok(br#"{"paid":true}"#.to_vec()));
        let read = read_answer(&record(&success), Some(success.payload()));
        assert_eq!(
            read,
            Some((
                "r-1".into(),
                "billing".into(),
                Outcome::Success(serde_json::json!({"paid": true}))
            ))
        );
        let failure = answer(Err("no such order".into()));
        let read = read_answer(&record(&failure), Some(failure.payload()));
        assert_eq!(
            read.map(|(_, _, outcome)| outcome),
            Some(Outcome::Failure(ResponseError::Handler(
                "no such order".into()
            )))
        );
    }

    #[test]
    fn an_answer_in_another_format_is_a_format_mismatch() {
        let written = answer(Ok(b"1".to_vec()));
        let mut headers = record(&written);
        for (name, value) in &mut headers {
            if name == FORMAT {
                *value = Some(b"msgpack/2".to_vec());
            }
        }
        let (_, _, outcome) = read_answer(&headers, Some(b"1")).expect("claimed");
        assert_eq!(
            outcome,
            Outcome::Failure(ResponseError::FormatMismatch("msgpack/2".into()))
        );
    }

    #[test]
    fn an_answer_that_does_not_decode_is_malformed() {
        let written = answer(Ok(b"{not json".to_vec()));
        let (_, _, outcome) =
            read_answer(&record(&written), Some(written.payload())).expect("claimed");
        assert!(
            matches!(&outcome, Outcome::Failure(ResponseError::Malformed(reason)) if reason.contains("not JSON")),
            "{outcome:?}"
        );
        let mut headers = record(&written);
        headers.retain(|(name, _)| name != OUTCOME);
        let (_, _, outcome) = read_answer(&headers, Some(b"1")).expect("claimed");
        assert!(matches!(
            outcome,
            Outcome::Failure(ResponseError::Malformed(_))
        ));
        headers.retain(|(name, _)| name != SUBSYSTEM);
        assert_eq!(
            read_answer(&headers, Some(b"1")),
            None,
            "no subsystem to claim it for"
        );
    }
}
