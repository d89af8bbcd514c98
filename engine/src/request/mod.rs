//! Requests across subsystems: one record, one answer from each subsystem asked.
//!
//! A *subsystem* is a consumer that answers: a client built with a subsystem name (the name it
//! keeps keyed state under). A [`Requester`] sends an ordinary keyed record to a topic, with
//! [`headers`] naming the request, the subsystems asked, the deadline and where answers go, and
//! waits. Each subsystem consuming that topic handles the record like any other, in its key's
//! order, and on the event's final attempt (success, permanent failure, or retries used up;
//! never a deferral or a shutdown) writes one answer: the handler's value, or its error's
//! message. Timers never answer.
//!
//! # Transport: Kafka only
//!
//! Answers travel back over Kafka, on `reply_topic` (default `prosody.replies`, created with 16
//! partitions when missing). A requesting client reads one partition of it, picked at random
//! when its first request starts and assigned by hand from its end, and names that partition
//! in each request; a responder writes straight to it. So responders and requesters need to
//! reach only Kafka, mock mode works unchanged, and a responder that restarts mid-request
//! answers once its replacement handles the record, if that is before the deadline.
//!
//! # Failure behaviour
//!
//! - A subsystem that does not answer in time (down, lagging, still retrying, filtered the
//!   event out, or nobody serves that name) is [`ResponseError::Timeout`].
//! - A responder answers nothing once a request's deadline passed.
//! - When the requester dies, its waiting requests die with it. Responders still handle the
//!   records and write their answers, which nobody reads; the topic's retention removes them.
//!   A restarted requester reads from the end of a fresh partition pick, so it never sees
//!   answers meant for its predecessor.
//! - A request is an event like any other: deduplication applies. A record whose payload `id`
//!   was handled before is skipped, and the subsystem answers with a
//!   [`ResponseError::Handler`] saying so, rather than running the handler again.
//! - A record with malformed request headers is handled as a plain message and answered by
//!   nobody; the responder counts it (`prosody_requests_rejected_total`) and warns.

mod error;
pub mod headers;
mod outcome;
mod registry;
mod requester;

pub use error::{RequestError, MAX_REQUEST_TIMEOUT, MAX_SUBSYSTEM_BYTES};
pub use outcome::{Answer, Outcome, ResponseError};
pub use requester::{check_timeout, Request, Requester};
